"""Low-balance alerts: a `wallet.balance_low` webhooks event, sent to the customer's URL
when its available balance falls below the threshold. Keyword-only arguments, one
transaction per write.

One alert per crossing: `LowBalanceAlert.armed` is cleared when an alert is made and set
again once the available balance is back at or above the threshold.

The customer's URL and signing secret are a webhooks endpoint of its seller's book
(`LowBalanceAlert.endpoint`, audience `customer:<pk>`, type `wallet.balance_low`): the
alert is enqueued with webhooks.services.webhook_event_enqueue in the watch's transaction,
so it exists iff the crossing it reports was committed, and webhooks delivers it (the same
signed body on every attempt, its retry schedule, every attempt recorded) under its one
URL policy (webhooks.outbound, WEBHOOK_ALLOW_PRIVATE). The seller's own endpoints of the
book that subscribe to the type receive it too.
"""

import logging
import uuid
from datetime import datetime

from django.db import transaction

from ledger.amounts import from_minor_units
from payments import locks
from payments.alerts.thresholds import threshold_crossed
from payments.errors import InvalidAlertSettings, PrepaidOnly
from payments.models import LowBalanceAlert
from wallets.models import Customer
from webhooks import outbound
from webhooks import services as webhooks
from webhooks.models import WebhookEvent

logger = logging.getLogger(__name__)

BALANCE_LOW = "wallet.balance_low"
URL_LENGTH_MAX = outbound.URL_LENGTH_MAX


def audience_of(customer: Customer) -> str:
    """The webhooks audience of a customer's own endpoint (opaque to webhooks)."""
    return f"customer:{customer.pk}"


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
    generated now: the first time, or when rotated; else None). Saving re-arms it. The
    URL is checked by webhooks' policy (invalid_webhook_url)."""
    if customer.billing != Customer.Billing.PREPAID:
        raise PrepaidOnly(f"customer {customer.external_id} is billed on credit, not prepaid")
    if type(threshold_minor) is not int or threshold_minor < 0:
        raise InvalidAlertSettings("the threshold must be a non-negative amount")
    outbound.url_check(url)
    with transaction.atomic():
        alert = locks.low_balance_alert_lock(customer=customer)
        new_secret = None
        if alert is None:
            endpoint = webhooks.webhook_endpoint_create(
                book=customer.book,
                url=url,
                event_types=[BALANCE_LOW],
                description=f"low-balance alert of {customer.external_id}",
                audience=audience_of(customer),
                actor=actor,
            )
            alert, new_secret = (
                LowBalanceAlert(customer=customer, endpoint=endpoint),
                endpoint.secret,
            )
        else:
            endpoint = webhooks.webhook_endpoint_url_set(
                endpoint_id=alert.endpoint_id, url=url, actor=actor
            )
            if rotate_secret:
                endpoint = webhooks.webhook_endpoint_secret_rotate(
                    endpoint_id=alert.endpoint_id, actor=actor
                )
                new_secret = endpoint.secret
            alert.endpoint = endpoint
        alert.threshold_minor, alert.enabled = threshold_minor, bool(enabled)
        alert.armed, alert.updated_by = True, actor
        alert.save()
    logger.info("low-balance alert of %s set by %s", customer.external_id, actor)
    return alert, new_secret


# --- triggering (called by payments.alerts.balance_watch under the alert row's lock) ------


def low_balance_alert_trigger(
    *, alert: LowBalanceAlert, available_minor: int, now: datetime
) -> WebhookEvent | None:
    """One alert per crossing below the threshold; re-armed at or above it. The event
    is enqueued in the caller's transaction (webhooks sends it once that commits)."""
    if not threshold_crossed(row=alert, available_minor=available_minor):
        return None
    customer = alert.customer
    scale = customer.currency.scale
    return webhooks.webhook_event_enqueue(
        book_id=customer.book_id,
        event_type=BALANCE_LOW,
        payload={
            "customer": customer.external_id,
            "currency": customer.currency.code,
            "available": from_minor_units(available_minor, scale),
            "threshold": from_minor_units(alert.threshold_minor, scale),
        },
        # Each crossing is one alert: made once, under the alert row's lock.
        idempotency_key=f"payments.low_balance:{uuid.uuid4()}",
        audience=audience_of(customer),
    )
