"""Invoice, credit note and receipt PDFs: what they say, the fonts they are set in, and
what the rendering may read (no database: documents are plain values).

The PDFs are read back with Debian's poppler-utils (pdftotext, pdffonts, pdftohtml) and
fontTools, never by looking at our own HTML: a glyph the font lacks fails the test.
"""

from __future__ import annotations

import gettext
import http.server
import io
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from fontTools import subset
from fontTools.ttLib import TTFont

from devservices import system
from invoicing.documents import fonts, formatting, render, samples
from invoicing.documents.model import DocumentInvalid, DocumentLine
from invoicing.documents.paths import ASSETS_DIR

from .pdf_inspect import glyph_problems, pdf_fonts, pdf_text

LOCALE_DIR = Path(render.__file__).resolve().parent.parent / "locale"
PO = LOCALE_DIR / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


@pytest.fixture(scope="module")
def default_faces():
    return fonts.resolve_all()


def _squash(text: str) -> str:
    return " ".join(text.split())


# --- what the documents say ----------------------------------------------------------


def test_english_invoice_states_number_totals_and_every_glyph_is_in_a_noto_font(
    tmp_path, default_faces
):
    document = samples.invoice()
    pdf = render.render_pdf(document)
    assert pdf.startswith(b"%PDF-")
    text = _squash(pdf_text(pdf, tmp_path))
    assert "NW-2026-000042" in text
    # The totals, formatted as the English reader expects, computed from the lines.
    assert document.total == document.subtotal + document.tax
    for figure in (document.subtotal, document.tax, document.total):
        assert formatting.amount(figure, "USD", 2, "en") in text
    assert f"Total {formatting.amount(document.total, 'USD', 2, 'en')}" in text
    assert "1,234,567" in text  # tokens with thousands separators
    assert "0.0000125" in text  # a sub-cent price per million tokens, not rounded away
    assert "VAT (19%)" in text and "Net 30 days" in text and "1 Dec 2026" in text
    assert {font.base_name for font in pdf_fonts(pdf, tmp_path)} <= {
        "Document-Sans",
        "Document-Sans-Bold",
    }
    assert glyph_problems(pdf, default_faces, tmp_path) == []


def test_chinese_invoice_states_the_legal_name_in_noto_sans_cjk_sc(tmp_path, default_faces):
    document = samples.invoice(
        number="SH-2026-000007",
        language="zh-hans",
        seller=samples.CHINESE_SELLER,
        buyer=samples.CHINESE_BUYER,
        tax_label="增值税",
        tax_rate_bp=600,
    )
    pdf = render.render_pdf(document)
    text = _squash(pdf_text(pdf, tmp_path))
    assert "上海示例科技有限公司" in text
    assert "上海市浦东新区世纪大道100号" in text
    assert "北京星河智能有限公司" in text
    assert "SH-2026-000007" in text
    assert f"USD {formatting.number(document.total, 2)}" in text
    assert f"合计 USD {formatting.number(document.total, 2)}" in text
    assert f"增值税 (6%) USD {formatting.number(document.tax, 2)}" in text
    assert "发票" in text and "2026年12月1日" in text and "30 天内付款" in text
    assert "Invoice" not in text and "Subtotal" not in text  # every label is translated
    fonts_used = pdf_fonts(pdf, tmp_path)
    assert {font.base_name for font in fonts_used} >= {"Document-Sans-CJK-SC", "Document-Sans"}
    assert all(font.embedded for font in fonts_used)
    assert glyph_problems(pdf, default_faces, tmp_path) == []


def test_the_chinese_faces_are_the_sc_faces_of_the_debian_collection(default_faces):
    by_name = {face.face.postscript_name: face for face in default_faces}
    for name in ("NotoSansCJKsc-Regular", "NotoSansCJKsc-Bold"):
        face = by_name[name]
        assert face.file.suffix == ".ttc"
        cut = TTFont(io.BytesIO(fonts.font_bytes(face)), lazy=True)
        assert cut["name"].getDebugName(6) == name  # not the JP/KR/TC/HK sibling
    for name in ("NotoSans-Regular", "NotoSans-Bold"):
        assert by_name[name].file.name == f"{name}.ttf"


def test_credit_note_names_the_invoice_it_credits_and_its_reason(tmp_path, default_faces):
    for language, credits, reason_label in (
        ("en", "Credits invoice", "Notes"),
        ("zh-hans", "对应发票", "备注"),
    ):
        document = replace(samples.credit_note(), language=language)
        pdf = render.render_pdf(document)
        text = _squash(pdf_text(pdf, tmp_path))
        assert "NW-CN-2026-000003" in text
        assert f"{credits} NW-2026-000042" in text
        # Section headings are set in capitals (CSS text-transform).
        assert reason_label.upper() in text and "Reason: duplicate" in text
        assert formatting.amount(Decimal("143.40"), "USD", 2, language) in text
        assert glyph_problems(pdf, default_faces, tmp_path) == []


def test_receipt_says_paid_amount_and_method(tmp_path, default_faces):
    pdf = render.render_pdf(samples.receipt())
    text = _squash(pdf_text(pdf, tmp_path))
    assert "Receipt" in text and "NW-R-2026-000017" in text and "PAID" in text
    assert "Received 500.00 USD on 2 Dec 2026" in text
    assert "Payment method: card (Stripe)" in text
    assert glyph_problems(pdf, default_faces, tmp_path) == []
    zh = _squash(pdf_text(render.render_pdf(samples.receipt(language="zh-hans")), tmp_path))
    assert "收据" in zh and "已于 2026年12月2日 收到 USD 500.00" in zh


def test_a_resellers_invoice_shows_the_reseller_and_no_trace_of_the_distributor(tmp_path):
    logo = tmp_path / "northwind.png"
    _write_png(logo)
    seller = replace(samples.RESELLER, logo_path=str(logo))
    document = samples.invoice(seller=seller)
    html = render.render_html(document)
    pdf = render.render_pdf(document)
    text = pdf_text(pdf, tmp_path)
    assert "Northwind AI Reseller GmbH" in text
    for trace in ("Demo Distributor", "distributor", "tokenledger", "TokenLedger", "Apex"):
        for where, content in (("html", html), ("pdf text", text)):
            assert trace.lower() not in content.lower(), (trace, where)
        assert trace.lower().encode() not in pdf.lower(), trace  # metadata, names, anything
    images = subprocess.run(
        ["pdfimages", "-list", str(tmp_path / "document.pdf")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()[2:]
    # One image, the reseller's logo (120 x 40 px), and no other.
    assert len(images) == 1 and images[0].split()[3:5] == ["120", "40"], images


def test_amounts_dates_and_unit_prices_are_formatted_exactly():
    assert formatting.amount(Decimal("1234.56"), "USD", 2, "en") == "1,234.56 USD"
    assert formatting.amount(Decimal("1234.56"), "USD", 2, "zh-hans") == "USD 1,234.56"
    assert formatting.amount(Decimal("1234567"), "JPY", 0, "en") == "1,234,567 JPY"
    assert formatting.unit_price(Decimal("0.0000125"), 2) == "0.0000125"
    assert formatting.unit_price(Decimal("3"), 2) == "3.00"
    assert formatting.unit_price(Decimal("1500.075"), 2) == "1,500.075"
    assert formatting.tokens(12_345_678) == "12,345,678"
    assert formatting.tax_rate(650) == "6.5%"
    assert formatting.day(date(2026, 2, 3), "zh-hans") == "2026年2月3日"
    with pytest.raises(ValueError, match="more than 2 decimals"):
        formatting.amount(Decimal("1.005"), "USD", 2, "en")


# --- the glyph check catches a missing glyph ---------------------------------------------


def _limited_font(tmp_path: Path) -> fonts.FontFace:
    """Noto Sans cut down to ASCII letters, digits and a few signs, renamed."""
    source = fonts.resolve(fonts.DEFAULT_FACES[0]).file
    font = TTFont(source)
    options = subset.Options()
    options.name_IDs = ["*"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,:-")
    subsetter.subset(font)
    for record in font["name"].names:
        if record.nameID in (1, 4, 16):
            record.string = "Limited Sans"
        elif record.nameID == 6:
            record.string = "LimitedSans-Regular"
    path = tmp_path / "LimitedSans-Regular.ttf"
    font.save(path)
    return fonts.FontFace(fonts.LATIN_FAMILY, 400, "LimitedSans-Regular", "none", str(path))


def _html(body: str) -> str:
    return f'<!DOCTYPE html><html lang="en"><body><p>{body}</p></body></html>'


def test_the_check_fails_on_a_character_the_font_lacks(tmp_path):
    face = _limited_font(tmp_path)
    faces = (face,)
    resolved = fonts.resolve_all(faces)
    # Covered: the check passes, so a failure below is the missing glyph's.
    ok = render.html_to_pdf(_html("Invoice 42"), faces=faces)
    assert glyph_problems(ok, resolved, tmp_path) == []
    # U+10FFFD is in no font on the machine: drawn as .notdef in the limited font.
    pdf = render.html_to_pdf(_html("Invoice 42 \U0010fffd"), faces=faces)
    assert "\U0010fffd" in pdf_text(pdf, tmp_path)  # the text still reads right...
    problems = glyph_problems(pdf, resolved, tmp_path)
    assert problems and "U+10FFFD" in problems[0], problems  # ...but the glyph is missing
    # Chinese with a Latin-only font: fontconfig falls back to some other font, or draws
    # .notdef; either way the check fails.
    pdf = render.html_to_pdf(_html("上海示例科技有限公司"), faces=faces)
    # (Here fontconfig picks Noto Sans CJK JP: exactly the fallback the SC faces rule out.)
    problems = glyph_problems(pdf, resolved, tmp_path)
    assert problems, "a Chinese name set with a Latin-only font passed the glyph check"
    assert all("is not one of ours" in p or "has no glyph" in p for p in problems), problems


def test_a_missing_font_is_a_clear_error():
    face = fonts.FontFace("X", 400, "NoSuchFont-Regular", "fonts-nothing")
    with pytest.raises(fonts.FontMissing, match="NoSuchFont-Regular.*fonts-nothing"):
        fonts.resolve(face)
    with pytest.raises(fonts.FontMissing, match="does not exist"):
        fonts.resolve(fonts.FontFace("X", 400, "X", "x", "/nonexistent/font.ttf"))


# --- nothing but local assets is read -------------------------------------------------------


@pytest.fixture
def loopback_server():
    hits = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/css")
            self.end_headers()
            self.wfile.write(b"body { color: red; }")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_the_loopback_server_answers_so_a_fetch_would_be_seen(loopback_server):
    import urllib.request

    base, hits = loopback_server
    with urllib.request.urlopen(f"{base}/probe", timeout=5) as response:
        assert response.status == 200
    assert hits == ["/probe"]


@pytest.mark.parametrize(
    "snippet",
    [
        '<img src="{base}/logo.png">',
        '<link rel="stylesheet" href="{base}/style.css">',
        "<style>@import url('{base}/import.css');</style>",
        "<style>@font-face {{ font-family: R; src: url('{base}/font.woff2'); }}"
        " p {{ font-family: R; }}</style>",
        "<style>p {{ background: url('{base}/bg.png'); }}</style>",
    ],
)
def test_remote_urls_in_a_template_are_refused_and_never_fetched(loopback_server, snippet):
    base, hits = loopback_server
    html = (
        f"<!DOCTYPE html><html><head>{snippet.format(base=base)}</head><body><p>x</p></body></html>"
    )
    with pytest.raises(render.DocumentRenderRefused, match="refused to fetch http://127.0.0.1"):
        render.html_to_pdf(html)
    assert hits == []


def test_local_files_outside_the_assets_and_the_logo_are_refused(tmp_path):
    outside = tmp_path / "other-company-logo.png"
    _write_png(outside)
    for src in (outside.as_uri(), "../fonts.py", "file:///etc/passwd"):
        with pytest.raises(render.DocumentRenderRefused, match="neither under"):
            render.html_to_pdf(_html(f'<img src="{src}">'))
    # The same file is read when it is the seller's logo.
    pdf = render.html_to_pdf(
        _html(f'<img src="{outside.as_uri()}">'), allowed_files=(str(outside),)
    )
    assert pdf.startswith(b"%PDF-")
    assert (ASSETS_DIR / "document.css").is_file()


def test_a_logo_given_as_a_url_is_refused_when_the_party_is_built():
    with pytest.raises(DocumentInvalid, match="local file path, not a URL"):
        replace(samples.RESELLER, logo_path="http://127.0.0.1:9/logo.png")


# --- bad documents -------------------------------------------------------------------------


def test_a_float_amount_is_refused():
    with pytest.raises(DocumentInvalid, match="is a float"):
        DocumentLine(description="x", amount=1.5)
    with pytest.raises(DocumentInvalid, match="total is a float"):
        replace(samples.receipt(), total=500.0)
    with pytest.raises(DocumentInvalid, match="unit price of input is a float"):
        DocumentLine(
            description="x", amount=Decimal("1.00"), unit_prices_per_million={"input": 0.1}
        )


def test_lines_that_do_not_add_up_to_the_subtotal_are_refused():
    document = samples.invoice()
    wrong_line = replace(document.lines[0], amount=document.lines[0].amount + Decimal("0.01"))
    with pytest.raises(DocumentInvalid, match="the lines add up to .* but subtotal is"):
        replace(document, lines=(wrong_line, *document.lines[1:]))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"total": Decimal("1.00")}, "is not subtotal \\+ tax"),
        ({"amount_due": Decimal("1.00")}, "amount_due .* is not total"),
        ({"tax": Decimal("1.001")}, "more decimals than the currency's 2"),
        ({"currency": "XYZ"}, "currency 'XYZ' is not supported"),
        ({"kind": "quote"}, "kind 'quote'"),
        ({"language": "fr"}, "language 'fr'"),
        ({"lines": ()}, "has no lines"),
        ({"lines": []}, "tuple of DocumentLine"),
        ({"tax_rate_bp": 1.5}, "tax_rate_bp must be an int"),
        ({"due_at": date(2020, 1, 1)}, "before issued_at"),
        ({"period_end": None}, "go together"),
        ({"number": " "}, "document number"),
    ],
)
def test_inconsistent_documents_are_refused_with_a_clear_message(change, message):
    with pytest.raises(DocumentInvalid, match=message):
        replace(samples.invoice(), **change)


def test_a_credit_note_must_name_its_invoice_and_tokens_must_be_known_kinds():
    with pytest.raises(DocumentInvalid, match="names no reference invoice"):
        replace(samples.credit_note(), reference_number=None)
    with pytest.raises(DocumentInvalid, match="unknown token kind 'audio'"):
        DocumentLine(description="x", amount=Decimal("0"), tokens={"audio": 5})
    with pytest.raises(DocumentInvalid, match="non-negative int"):
        DocumentLine(description="x", amount=Decimal("0"), tokens={"input": -5})


def test_tax_inclusive_totals_equal_the_subtotal():
    document = samples.receipt()
    inclusive = replace(document, tax_inclusive=True, tax_rate_bp=1900, tax=Decimal("79.83"))
    assert inclusive.total == inclusive.subtotal
    with pytest.raises(DocumentInvalid, match="subtotal \\(tax inclusive\\)"):
        replace(inclusive, total=Decimal("579.83"), amount_due=Decimal("79.83"))


# --- translations ------------------------------------------------------------------------


def _po_entries(path: Path = PO) -> list[tuple[str, list[str]]]:
    """(msgid, [msgstr, ...]) of every entry but the header, read from the .po."""
    entries, msgid, msgstrs, current = [], None, [], None
    for raw in path.read_text().splitlines() + [""]:
        line = raw.strip()
        if not line or line.startswith("#"):
            if msgid is not None:
                entries.append((msgid, msgstrs))
            msgid, msgstrs, current = None, [], None
            continue
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            value = line[1:-1]
            if current == "msgid":
                msgid += value
            elif current == "msgstr":
                msgstrs[-1] += value
            continue
        value = rest[1:-1]
        if keyword == "msgid":
            msgid, current = value, "msgid"
        elif keyword.startswith("msgstr"):
            msgstrs.append(value)
            current = "msgstr"
        else:
            current = None  # msgid_plural: not a translation
    return [(msgid, strs) for msgid, strs in entries if msgid]


def test_every_chinese_message_is_translated():
    entries = _po_entries()
    assert len(entries) >= 30
    untranslated = [msgid for msgid, strs in entries if not strs or not all(strs)]
    assert untranslated == []
    assert "#, fuzzy" not in PO.read_text()  # a fuzzy entry is left out of the .mo


def test_every_message_the_templates_use_is_in_the_catalogue(tmp_path):
    # makemessages' extraction run over our templates and code, compared with the .po.
    root = Path(render.__file__).resolve().parent.parent
    pot = tmp_path / "django.pot"
    sources = sorted(
        str(path)
        for path in [
            *root.glob("documents/*.py"),
            *root.glob("templates/invoicing/documents/*.html"),
        ]
    )
    from django.utils.translation import template

    python_like = tmp_path / "sources"
    python_like.mkdir()
    inputs = []
    for index, source in enumerate(sources):
        text = Path(source).read_text()
        if source.endswith(".html"):
            text = template.templatize(text)
        target = python_like / f"{index}.py"
        target.write_text(text)
        inputs.append(str(target))
    subprocess.run(
        [
            "xgettext",
            "--language=Python",
            "--from-code=UTF-8",
            "-o",
            str(pot),
            "--keyword=gettext",
            "--keyword=pgettext:1c,2",
            "--keyword=ngettext:1,2",
            *inputs,
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    catalogue = {msgid for msgid, _ in _po_entries()}
    used = {msgid for msgid, _ in _po_entries(pot)}
    assert used and used <= catalogue, sorted(used - catalogue)


def test_the_committed_mo_is_the_compiled_po(tmp_path):
    compiled = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check", "-o", str(compiled), str(PO)], check=True, timeout=60)
    with open(compiled, "rb") as fresh, open(MO, "rb") as committed:
        fresh_catalogue = gettext.GNUTranslations(fresh)._catalog
        committed_catalogue = gettext.GNUTranslations(committed)._catalog
    assert committed_catalogue == fresh_catalogue, (
        "django.mo is stale: run `manage.py compilemessages` in invoicing/ and commit it"
    )


# --- the system packages the project installs itself ------------------------------------------


def test_system_packages_are_found_installed_and_a_missing_one_is_named():
    assert system.missing_packages() == []  # `make install` / scripts/test.sh installed them
    assert "libharfbuzz-subset0" in system.PACKAGES and "fonts-noto-cjk" in system.PACKAGES
    probe = {"fonts-noto-cjk": "", "tokenledger-no-such-package": ""}
    assert system.missing_packages(probe) == ["tokenledger-no-such-package"]


def test_importing_render_does_not_load_weasyprint():
    code = "import sys, invoicing.documents.render; print('weasyprint' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"


# --- helpers -------------------------------------------------------------------------------


def _write_png(path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (120, 40), (20, 90, 160)).save(path, format="PNG")
