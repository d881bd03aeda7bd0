"""A Document to HTML (a Django template, in the document's language) and to PDF.

The PDF is WeasyPrint's rendering of that HTML with fonts named explicitly (fonts.py)
and a URL fetcher that reads only our assets, the seller's logo and those fonts
(fetcher.py). The seller is the only company on the page: the templates name no company,
so a reseller's invoice shows the reseller and nobody else.
"""

from __future__ import annotations

import atexit
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext

from . import formatting
from .fonts import DEFAULT_FACES, FontFace, font_face_css, resolve_all
from .model import Document, DocumentLine
from .paths import ASSETS_DIR

TEMPLATES = {
    "invoice": "invoicing/documents/invoice.html",
    "credit_note": "invoicing/documents/credit_note.html",
    "receipt": "invoicing/documents/receipt.html",
}
# WeasyPrint logs each of its 7 steps at INFO for every document; a batch of invoices would
# bury the application's own log lines.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)

# Relative links in the templates (the stylesheet) resolve against the assets folder.
BASE_URL = ASSETS_DIR.as_uri() + "/"


class DocumentRenderRefused(RuntimeError):
    """The rendering asked for a URL outside the allow-list (a remote or foreign file)."""

    code = "document_render_refused"

    def __init__(self, url: str, reason: str):
        super().__init__(f"document rendering refused to fetch {url}: {reason}")
        self.url = url


def _token_kind_labels() -> dict[str, str]:
    # Called inside translation.override: the labels come out in the document's language.
    return {
        "input": gettext("Input"),
        "output": gettext("Output"),
        "cache_read": gettext("Cache read"),
        "cache_write": gettext("Cache write"),
        "reasoning": gettext("Reasoning"),
    }


def _line_context(line: DocumentLine, document: Document) -> dict:
    exponent = document.minor_unit_exponent
    labels = _token_kind_labels()
    return {
        "description": line.description,
        "model": line.model,
        "provider": line.provider,
        "requests": formatting.tokens(line.requests) if line.requests is not None else None,
        "tokens": [
            {
                "kind": labels[kind],
                "count": formatting.tokens(count),
                "unit_price": formatting.unit_price(price, exponent) if price is not None else "",
            }
            for kind, count, price in line.token_rows
        ],
        "amount": formatting.number(line.amount, exponent),
    }


def _context(document: Document) -> dict:
    language = document.language
    exponent = document.minor_unit_exponent

    def money(value):
        return formatting.amount(value, document.currency, exponent, language)

    return {
        "document": document,
        "html_lang": "zh-Hans" if language == "zh-hans" else "en",
        "seller": document.seller,
        "buyer": document.buyer,
        "seller_logo_url": (
            _file_url(document.seller.logo_path) if document.seller.logo_path else None
        ),
        "issued_at": formatting.day(document.issued_at, language),
        "due_at": formatting.day(document.due_at, language) if document.due_at else None,
        "period": (
            (
                formatting.day(document.period_start, language),
                formatting.day(document.period_end, language),
            )
            if document.period_start and document.period_end
            else None
        ),
        "currency": document.currency,
        "lines": [_line_context(line, document) for line in document.lines],
        "has_tokens": any(line.tokens for line in document.lines),
        "subtotal": money(document.subtotal),
        "tax": money(document.tax),
        "tax_rate": (
            formatting.tax_rate(document.tax_rate_bp) if document.tax_rate_bp is not None else None
        ),
        "total": money(document.total),
        "amount_paid": money(document.amount_paid),
        "amount_due": money(document.amount_due),
        "amount_credited": money(document.amount_credited) if document.amount_credited else None,
    }


def _file_url(path: str) -> str:
    return Path(path).resolve().as_uri()


def render_html(document: Document) -> str:
    """The document as HTML, in its own language (whatever the request's language is)."""
    with translation.override(document.language):
        return render_to_string(TEMPLATES[document.kind], _context(document))


@dataclass
class _FontSetup:
    font_config: object
    stylesheet: object
    faces: tuple


# One FontConfiguration per font set, kept for the process: registering the faces writes
# them to a temporary folder and has fontconfig scan them (~16 MB each for the CJK faces),
# which would otherwise dominate every rendering. Pango's font map is not safe to share
# between threads, so renderings that use it take turns.
_font_setups: dict[tuple[FontFace, ...], _FontSetup] = {}
_render_lock = threading.Lock()
# A FontConfiguration deletes its temporary copies of the fonts when it is collected; at
# interpreter exit that would run after its module is torn down (and fail, leaving ~40 MB
# in /tmp), so the cache is emptied while everything still works.
atexit.register(_font_setups.clear)


def _font_setup(faces: tuple[FontFace, ...]) -> _FontSetup:
    setup = _font_setups.get(faces)
    if setup is None:
        from weasyprint import CSS
        from weasyprint.text.fonts import FontConfiguration

        from .fetcher import LocalOnlyFetcher

        resolved = resolve_all(faces)
        font_config = FontConfiguration()
        fetcher = LocalOnlyFetcher(fonts=resolved)
        stylesheet = CSS(
            string=font_face_css(resolved), font_config=font_config, url_fetcher=fetcher
        )
        setup = _font_setups[faces] = _FontSetup(font_config, stylesheet, resolved)
    return setup


def warm_up(faces: tuple[FontFace, ...] = DEFAULT_FACES) -> None:
    """Find, cut and register the fonts now (a worker's start) rather than on its first PDF."""
    with _render_lock:
        _font_setup(faces)


def html_to_pdf(
    html: str, *, allowed_files: tuple[str, ...] = (), faces: tuple[FontFace, ...] = DEFAULT_FACES
) -> bytes:
    """Any of our HTML to PDF, reading only the assets, `allowed_files` and the fonts."""
    from weasyprint import HTML

    from .fetcher import LocalOnlyFetcher, RefusedURL

    with _render_lock:
        setup = _font_setup(faces)
        fetcher = LocalOnlyFetcher(fonts=setup.faces, allowed_files=allowed_files)
        try:
            return HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher).write_pdf(
                stylesheets=[setup.stylesheet], font_config=setup.font_config
            )
        except RefusedURL as refused:
            raise DocumentRenderRefused(refused.url, refused.reason) from None


def render_pdf(document: Document, *, faces: tuple[FontFace, ...] = DEFAULT_FACES) -> bytes:
    """The document as an A4 PDF in its language, set in the Noto faces only."""
    allowed = (document.seller.logo_path,) if document.seller.logo_path else ()
    return html_to_pdf(render_html(document), allowed_files=allowed, faces=faces)
