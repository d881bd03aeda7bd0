"""webhooks.signing: Stripe's scheme, and what verify() refuses (no database)."""

import hashlib
import hmac

import pytest

from webhooks.errors import InvalidWebhookSignature
from webhooks.signing import sign, verify

SECRET = "whsec_test_0123456789"
BODY = b'{"data":{"total":"12.50"},"id":"evt_1","type":"invoice.finalized"}'
T = 1_767_000_000


def test_sign_is_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, T, BODY) == f"t={T},v1={expected}"
    assert sign(SECRET, T, BODY.decode()) == sign(SECRET, T, BODY)  # str or bytes


def test_verify_accepts_a_fresh_signature_and_returns_its_time():
    header = sign(SECRET, T, BODY)
    assert verify(secret=SECRET, header=header, body=BODY, now=T + 299) == T
    # Several v1 entries (as during a rotation): one matching is enough.
    other = sign("whsec_other", T, BODY).split(",")[1]
    assert verify(secret=SECRET, header=f"{header},{other}", body=BODY, now=T) == T


@pytest.mark.parametrize(
    ("header", "body", "now", "reason"),
    [
        (sign("whsec_wrong", T, BODY), BODY, T, "no signature matches"),
        (sign(SECRET, T, BODY), BODY.replace(b"12.50", b"99.50"), T, "no signature matches"),
        (sign(SECRET, T, BODY), BODY, T + 301, "more than 300 s"),
        (sign(SECRET, T, BODY), BODY, T - 301, "more than 300 s"),
        (None, BODY, T, "missing"),
        ("", BODY, T, "missing"),
        ("v1=abc", BODY, T, "malformed"),
        (f"t={T}", BODY, T, "malformed"),
        ("t=soon,v1=abc", BODY, T, "malformed"),
    ],
    ids=[
        "wrong-secret",
        "tampered-body",
        "stale",
        "future",
        "no-header",
        "empty-header",
        "no-timestamp",
        "no-signature",
        "bad-timestamp",
    ],
)
def test_verify_refuses(header, body, now, reason):
    with pytest.raises(InvalidWebhookSignature, match=reason) as refused:
        verify(secret=SECRET, header=header, body=body, now=now)
    assert refused.value.code == "invalid_webhook_signature"


def test_the_tolerance_is_the_receivers_choice():
    header = sign(SECRET, T, BODY)
    with pytest.raises(InvalidWebhookSignature):
        verify(secret=SECRET, header=header, body=BODY, now=T + 61, tolerance_s=60)
    assert verify(secret=SECRET, header=header, body=BODY, now=T + 61, tolerance_s=3600) == T
