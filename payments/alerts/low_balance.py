"""Low-balance alerts: signed JSON POSTs to the customer's URL when the available balance
falls below its threshold. Keyword-only arguments, one transaction per write.

One alert per crossing: `LowBalanceAlert.armed` is cleared when an alert is made and set
again once the available balance is back at or above the threshold.

Delivery. The same body (with the alert's id, so receivers can drop duplicates) is POSTed
on every attempt, signed as Stripe signs its webhooks:

    X-Tokenledger-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

The receiver recomputes the HMAC over the raw body with its signing secret, compares in
constant time, and refuses a `t` too far from its clock. Every attempt is recorded (status
code, error, duration); a non-2xx answer, a redirect, a timeout or a refused address is a
failure, retried by Celery with exponential backoff (payments.tasks.send_low_balance_alert)
until WALLETS_ALERT_ATTEMPTS_MAX attempts, then the delivery is marked failed.

Outbound addresses. Only http and https; unless WALLETS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES,
the host must resolve to public addresses only, checked when the URL is saved and again
before each attempt (redirects are not followed, so they cannot lead elsewhere).
"""

import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.outbound import default_port, refused_address
from ledger.amounts import from_minor_units
from payments import locks
from payments.alerts.thresholds import threshold_crossed
from payments.errors import InvalidAlertSettings, InvalidWebhookUrl, PrepaidOnly
from payments.models import AlertDelivery, AlertDeliveryAttempt, LowBalanceAlert
from wallets.models import Customer

logger = logging.getLogger(__name__)

BALANCE_LOW = "wallet.balance_low"
SIGNATURE_HEADER = "X-Tokenledger-Signature"
SECRET_PREFIX = "whsec_"
URL_LENGTH_MAX = 2000
RESPONSE_READ_MAX_BYTES = 4096  # we read (and ignore) at most this much of an answer
ERROR_TEXT_MAX = 500


class AlertDeliveryRetry(Exception):
    """This attempt failed and another is allowed: Celery retries with backoff."""


# --- outbound URLs -------------------------------------------------------------------------


def _private_addresses_allowed() -> bool:
    return bool(getattr(settings, "WALLETS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False))


def outbound_url_check(url: str) -> str:
    """An http(s) URL we may POST to; refuses others with invalid_webhook_url."""
    if not isinstance(url, str) or not 0 < len(url) <= URL_LENGTH_MAX:
        raise InvalidWebhookUrl(f"the URL must be 1..{URL_LENGTH_MAX} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebhookUrl("the URL must be http:// or https:// with a host")
    if parts.username or parts.password:
        raise InvalidWebhookUrl("the URL must not carry credentials")
    try:
        port = parts.port or default_port(parts.scheme)
    except ValueError as exc:
        raise InvalidWebhookUrl(f"the URL's port is invalid: {exc}") from exc
    if not _private_addresses_allowed():
        refused = refused_address(parts.hostname, port)
        if refused:
            raise InvalidWebhookUrl(refused)
    return url


# --- settings ------------------------------------------------------------------------------


def low_balance_alert_set(
    *,
    customer: Customer,
    url: str,
    threshold_minor: int,
    actor: str,
    enabled: bool = True,
    rotate_secret: bool = False,
) -> tuple[LowBalanceAlert, str | None]:
    """Create or replace a customer's alert. Returns (alert, the signing secret when it was
    generated now: the first time, or when rotated; else None). Saving re-arms it."""
    if customer.billing != Customer.Billing.PREPAID:
        raise PrepaidOnly(f"customer {customer.external_id} is billed on credit, not prepaid")
    if type(threshold_minor) is not int or threshold_minor < 0:
        raise InvalidAlertSettings("the threshold must be a non-negative amount")
    outbound_url_check(url)
    with transaction.atomic():
        alert = locks.low_balance_alert_lock(customer=customer)
        new_secret = None
        if alert is None or rotate_secret:
            new_secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        if alert is None:
            alert = LowBalanceAlert(customer=customer, signing_secret=new_secret)
        elif new_secret:
            alert.signing_secret = new_secret
        alert.url, alert.threshold_minor, alert.enabled = url, threshold_minor, bool(enabled)
        alert.armed, alert.updated_by = True, actor
        alert.save()
    logger.info("low-balance alert of %s set by %s", customer.external_id, actor)
    return alert, new_secret


# --- triggering (called by payments.alerts.balance_watch under the alert row's lock) ------


def low_balance_alert_trigger(
    *, alert: LowBalanceAlert, available_minor: int, now: datetime
) -> AlertDelivery | None:
    """One alert per crossing below the threshold; re-armed at or above it."""
    if not threshold_crossed(row=alert, available_minor=available_minor):
        return None
    customer = alert.customer
    scale = customer.currency.scale
    delivery = AlertDelivery(
        customer=customer, kind=BALANCE_LOW, url=alert.url, payload={}, created_at=now
    )
    delivery.payload = {
        "id": str(delivery.public_id),
        "type": BALANCE_LOW,
        "created_at": now.isoformat(),
        "customer": customer.external_id,
        "currency": customer.currency.code,
        "available": from_minor_units(available_minor, scale),
        "threshold": from_minor_units(alert.threshold_minor, scale),
    }
    delivery.save()
    return delivery


# --- delivery ------------------------------------------------------------------------------


def signature_header(*, secret: str, body: bytes, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a failed delivery: following it could lead to any address."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _post(url: str, body: bytes, headers: dict) -> tuple[int | None, str]:
    """(status code or None, error text or "")."""
    if not _private_addresses_allowed():
        parts = urlsplit(url)
        refused = refused_address(
            parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        )
        if refused:
            return None, f"refused: {refused}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=settings.WALLETS_ALERT_TIMEOUT_S) as response:
            response.read(RESPONSE_READ_MAX_BYTES)
            return response.status, ""
    except urllib.error.HTTPError as exc:  # non-2xx answers, redirects included
        return exc.code, f"HTTP {exc.code} {exc.reason}"[:ERROR_TEXT_MAX]
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"{type(exc).__name__}: {reason}"[:ERROR_TEXT_MAX]


def _attempt_start(delivery_id: int) -> tuple[AlertDelivery, int, str] | None:
    with transaction.atomic():
        delivery = locks.alert_delivery_lock(delivery_id=delivery_id)
        if delivery.state != AlertDelivery.State.PENDING:
            return None
        delivery.attempts += 1
        delivery.save(update_fields=["attempts"])
        return delivery, delivery.attempts, delivery.customer.low_balance_alert.signing_secret


def alert_delivery_send(*, delivery_id: int) -> AlertDelivery:
    """One attempt to deliver an alert, recorded. Raises AlertDeliveryRetry when it failed
    and another attempt is allowed; after the last, the delivery is marked failed."""
    started = _attempt_start(delivery_id)
    if started is None:
        return AlertDelivery.objects.get(pk=delivery_id)
    delivery, number, secret = started
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "tokenledger-webhooks/1",
        "X-Tokenledger-Delivery": str(delivery.public_id),
        SIGNATURE_HEADER: signature_header(secret=secret, body=body, timestamp=int(time.time())),
    }
    attempted_at = timezone.now()
    clock = time.monotonic()
    status_code, error = _post(delivery.url, body, headers)
    duration_ms = int((time.monotonic() - clock) * 1000)
    delivered = status_code is not None and 200 <= status_code < 300
    with transaction.atomic():
        AlertDeliveryAttempt.objects.create(
            delivery=delivery,
            number=number,
            attempted_at=attempted_at,
            status_code=status_code,
            error="" if delivered else error or f"HTTP {status_code}",
            duration_ms=duration_ms,
        )
        last = number >= settings.WALLETS_ALERT_ATTEMPTS_MAX
        if delivered or last:
            delivery.state = (
                AlertDelivery.State.DELIVERED if delivered else AlertDelivery.State.FAILED
            )
            delivery.resolved_at = timezone.now()
            AlertDelivery.objects.filter(pk=delivery.pk).update(
                state=delivery.state, resolved_at=delivery.resolved_at
            )
    if not (delivered or last):
        raise AlertDeliveryRetry(f"attempt {number} of alert {delivery.public_id}: {error}")
    if not delivered:
        logger.warning("alert %s failed after %s attempts", delivery.public_id, number)
    return delivery
