"""Signatures of outbound webhooks, Stripe's scheme, for us and for receivers.

    Tokenledger-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

A receiver recomputes the HMAC over the raw body (bytes as received, before any JSON
parsing) with its endpoint's secret, compares in constant time, and refuses a `t` too far
from its clock (replays). Several `v1=` entries may appear; one matching is enough.
This module imports nothing of Django's but the error, so receivers can copy it.
"""

import hashlib
import hmac
import time

from webhooks.errors import InvalidWebhookSignature

SIGNATURE_HEADER = "Tokenledger-Signature"
EVENT_ID_HEADER = "Tokenledger-Event-Id"
SCHEME = "v1"


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else bytes(body)


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes | str) -> str:
    """The header value for `body` sent at `timestamp` (unix seconds)."""
    return f"t={int(timestamp)},{SCHEME}={_digest(secret, int(timestamp), _as_bytes(body))}"


def verify(
    *,
    secret: str,
    header: str | None,
    body: bytes | str,
    tolerance_s: int = 300,
    now: float | None = None,
) -> int:
    """The signed timestamp when `header` signs `body` with `secret` within `tolerance_s`
    of `now` (default: this clock); else InvalidWebhookSignature saying why."""
    if not header:
        raise InvalidWebhookSignature(f"the {SIGNATURE_HEADER} header is missing")
    timestamp, signatures = None, []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == SCHEME:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise InvalidWebhookSignature(f"the {SIGNATURE_HEADER} header is malformed")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise InvalidWebhookSignature(
            f"the signature's timestamp is more than {tolerance_s} s from now"
        )
    expected = _digest(secret, timestamp, _as_bytes(body))
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise InvalidWebhookSignature("no signature matches the body")
    return timestamp
