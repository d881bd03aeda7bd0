"""The only way a rendering reaches a file: local assets, the seller's logo, our fonts.

WeasyPrint would otherwise follow any URL a template or a stylesheet names (http, https,
ftp, any file on the machine). This fetcher answers from an allow-list and stops the
rendering on anything else, so a PDF never depends on the network and never embeds a
file it was not meant to (a white-label invoice cannot pull in another company's logo).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from .fonts import ResolvedFace, font_bytes
from .paths import ASSETS_DIR, FONT_SCHEME

_CONTENT_TYPES = {
    ".css": "text/css",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".svg": "image/svg+xml",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


class RefusedURL(FatalURLFetchingError):
    """WeasyPrint asked for a URL outside the allow-list; the rendering stops.

    A FatalURLFetchingError, so WeasyPrint does not swallow it into a warning and go on
    with a hole in the page; render.py turns it into DocumentRenderRefused.
    """

    def __init__(self, url: str, reason: str):
        super().__init__(f"refused to fetch {url}: {reason}")
        self.url = url
        self.reason = reason


class LocalOnlyFetcher(URLFetcher):
    """Serves files under ASSETS_DIR, the listed extra files (a logo) and our fonts."""

    def __init__(self, *, fonts: tuple[ResolvedFace, ...], allowed_files: tuple[str, ...] = ()):
        super().__init__(allowed_protocols=("file", FONT_SCHEME), allow_redirects=False)
        self._fonts = {face.url: face for face in fonts}
        self._allowed_files = {Path(path).resolve() for path in allowed_files}
        self.served: list[str] = []  # what the rendering read, for tests and debugging

    def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
        parts = urlsplit(url)
        if parts.scheme == FONT_SCHEME:
            face = self._fonts.get(url)
            if face is None:
                raise RefusedURL(url, "not one of the document's fonts")
            self.served.append(url)
            return URLFetcherResponse(url, font_bytes(face), {"Content-Type": "font/otf"})
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            raise RefusedURL(url, "only local asset files are read while rendering")
        path = Path(url2pathname(unquote(parts.path))).resolve()  # resolves ../ and symlinks
        if not (path.is_relative_to(ASSETS_DIR) or path in self._allowed_files):
            raise RefusedURL(url, f"{path} is neither under {ASSETS_DIR} nor the logo")
        if not path.is_file():
            raise RefusedURL(url, f"{path} does not exist")
        self.served.append(url)
        content_type = _CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return URLFetcherResponse(path.as_uri(), path.read_bytes(), {"Content-Type": content_type})
