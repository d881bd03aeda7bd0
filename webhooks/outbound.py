"""Where we may POST, and the POST itself (bounded in time and in what we read).

Only http and https URLs with a host and no credentials. Unless WEBHOOK_ALLOW_PRIVATE
(on in local.py and test.py, off by default and so in production), the host must resolve
to public addresses only: a seller cannot make us POST into our own network (loopback,
private ranges, link-local such as a cloud's metadata service). It is checked when the
endpoint is saved and again before every attempt, as DNS answers change; redirects are
not followed (a 3xx is a failed attempt), so they cannot lead elsewhere. Left open: a
name that resolves to a public address at the check and a private one at the connect
(DNS rebinding within the same second).
"""

import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from config.outbound import default_port, refused_address
from webhooks.errors import InvalidWebhookUrl

URL_LENGTH_MAX = 2000
RESPONSE_EXCERPT_MAX = 1000  # characters of the answer kept with the attempt
RESPONSE_READ_MAX_BYTES = 4096  # what we read of an answer at most
ERROR_TEXT_MAX = 500


def private_addresses_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE", False))


def url_check(url: object) -> str:
    """`url` if we may POST to it; else InvalidWebhookUrl saying why."""
    if not isinstance(url, str) or not 0 < len(url) <= URL_LENGTH_MAX:
        raise InvalidWebhookUrl(f"the URL must be 1..{URL_LENGTH_MAX} characters")
    if "\x00" in url or any(ch.isspace() for ch in url):
        raise InvalidWebhookUrl("the URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port or default_port(parts.scheme)
    except ValueError as exc:
        raise InvalidWebhookUrl(f"the URL is not valid: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebhookUrl("the URL must be http:// or https:// with a host")
    if parts.username or parts.password:
        raise InvalidWebhookUrl("the URL must not carry credentials")
    if not private_addresses_allowed():
        refused = refused_address(parts.hostname, port)
        if refused:
            raise InvalidWebhookUrl(refused)
    return url


@dataclass(frozen=True)
class PostResult:
    status_code: int | None  # None: no HTTP answer (refused, timeout, connection error)
    error: str  # "" when the answer was 2xx
    duration_ms: int
    response_excerpt: str

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a failed attempt: following it could lead to any address."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _storable(text: str, limit: int) -> str:
    """PostgreSQL text cannot hold NUL; the rest is kept, cut to `limit`."""
    return text.replace("\x00", "\ufffd")[:limit]


def _excerpt(raw: bytes) -> str:
    return _storable(raw.decode("utf-8", errors="replace"), RESPONSE_EXCERPT_MAX)


def post(url: str, body: bytes, headers: dict[str, str]) -> PostResult:
    """One POST within WEBHOOK_TIMEOUT_S (per socket operation, as urllib bounds it)."""
    clock = time.monotonic()

    def result(status_code: int | None, error: str, raw: bytes = b"") -> PostResult:
        duration_ms = int((time.monotonic() - clock) * 1000)
        return PostResult(status_code, _storable(error, ERROR_TEXT_MAX), duration_ms, _excerpt(raw))

    if not private_addresses_allowed():
        parts = urlsplit(url)
        refused = refused_address(parts.hostname or "", parts.port or default_port(parts.scheme))
        if refused:
            return result(None, f"refused: {refused}")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_S) as response:
            return result(response.status, "", response.read(RESPONSE_READ_MAX_BYTES))
    except urllib.error.HTTPError as exc:  # non-2xx answers, redirects included
        try:
            raw = exc.read(RESPONSE_READ_MAX_BYTES)
        except OSError:
            raw = b""
        return result(exc.code, f"HTTP {exc.code} {exc.reason}", raw)
    except TimeoutError as exc:
        return result(None, f"timeout after {settings.WEBHOOK_TIMEOUT_S} s ({exc})")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            return result(None, f"timeout after {settings.WEBHOOK_TIMEOUT_S} s ({reason})")
        return result(None, f"{type(exc).__name__}: {reason}")
