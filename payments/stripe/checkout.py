"""What every Stripe Checkout session of ours shares: the customer's Stripe Customer
(created once, on demand) and opening the session for a committed row of ours.

Used by top-ups (payments.topups.services, mode payment) and card setups
(payments.auto_topup.saved_cards, mode setup). Stripe is called outside any transaction
of ours, with idempotency keys derived from our rows, so a retry by the Stripe client (or
by a caller) creates nothing twice.
"""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import stripe
from django.db import IntegrityError, transaction

from config.public_ids import public_id_parse
from config.stripe_client import stripe_client
from payments.errors import StripeUnavailable
from payments.models import CardSetup, StripeCustomer, TopUp
from wallets.models import Customer

logger = logging.getLogger(__name__)

STRIPE_ERROR_TEXT_MAX = 500
METADATA_CUSTOMER = "tokenledger_customer"


def stripe_error_text(exc: Exception) -> str:
    """What to record of a Stripe failure: its type and code, and Stripe's message."""
    code = getattr(exc, "code", None) or ""
    message = getattr(exc, "user_message", None) or str(exc)
    return f"{type(exc).__name__} {code}: {message}".strip()[:STRIPE_ERROR_TEXT_MAX]


def stripe_id(value) -> str | None:
    """An expandable field of a Stripe object: an id string, or the expanded object's id."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def metadata_uuid(obj: dict, key: str) -> uuid.UUID | None:
    """One of our row ids put in a Stripe object's metadata, if it is there and valid."""
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    return public_id_parse(metadata.get(key))


def _stored_stripe_customer_id(customer: Customer) -> str | None:
    return (
        StripeCustomer.objects.filter(customer=customer)
        .values_list("stripe_customer_id", flat=True)
        .first()
    )


def stripe_customer_ensure(*, customer: Customer, actor: str) -> str:
    """The id of our customer's Stripe Customer, created on Stripe the first time.

    The idempotency key is derived from our customer, so two concurrent first calls get
    the same Stripe customer (Stripe keeps keys 24 h); the one-to-one row stores the first
    id and the other caller reads it. Raises stripe.StripeError when Stripe fails.
    """
    found = _stored_stripe_customer_id(customer)
    if found:
        return found
    created = stripe_client().v1.customers.create(
        params={
            "name": customer.name or customer.external_id,
            "metadata": {METADATA_CUSTOMER: customer.external_id},
        },
        options={"idempotency_key": f"tokenledger-customer-{customer.pk}-{customer.external_id}"},
    )
    try:
        with transaction.atomic():
            StripeCustomer.objects.create(
                customer=customer, stripe_customer_id=created.id, created_by=actor
            )
    except IntegrityError:
        found = _stored_stripe_customer_id(customer)
        if found is None:
            raise
        return found
    logger.info("stripe customer %s created for %s", created.id, customer.external_id)
    return created.id


def checkout_session_open(
    *, row: TopUp | CardSetup, params: dict, idempotency_key: str, actor: str
) -> str:
    """Open a Checkout session for a committed `row` (state creating), for the row's
    customer's Stripe customer; returns that Stripe customer's id.

    On a Stripe failure the row is marked failed with Stripe's error and
    StripeUnavailable (502) is raised; else the row is open with the session's id and URL.
    """
    assert row.state == row.State.CREATING, row.state
    reference = "topup_id" if isinstance(row, TopUp) else "card_setup_id"
    try:
        stripe_customer_id = stripe_customer_ensure(customer=row.customer, actor=actor)
        session = stripe_client().v1.checkout.sessions.create(
            params=params | {"customer": stripe_customer_id},
            options={"idempotency_key": idempotency_key},
        )
    except stripe.StripeError as exc:
        row.state, row.error = row.State.FAILED, stripe_error_text(exc)
        type(row).objects.filter(pk=row.pk).update(state=row.state, error=row.error)
        logger.warning("checkout for %s failed: %s", row, row.error)
        raise StripeUnavailable(
            "Stripe could not open a checkout session; nothing was charged",
            details={reference: str(row.public_id), "stripe_error": row.error},
        ) from exc
    row.stripe_checkout_session_id = session.id
    row.checkout_url = session.url or ""
    row.state = row.State.OPEN
    with transaction.atomic():
        row.save(update_fields=["stripe_checkout_session_id", "checkout_url", "state"])
    return stripe_customer_id


def stripe_read(call: Callable[[], stripe.StripeObject]) -> dict:
    """Read one Stripe object as a dict; a refusal or a network failure is
    StripeUnavailable (502: a webhook is redelivered, a task retried)."""
    try:
        return call().to_dict()
    except stripe.StripeError as exc:
        raise StripeUnavailable(stripe_error_text(exc)) from exc


@dataclass(frozen=True, slots=True)
class ChargeRefunds:
    """What Stripe says of a charge's refunds now."""

    amount_refunded: int  # cumulative, without refunds that failed or were canceled
    payment_intent: str | None
    currency: str


def charge_refunds_get(charge_id: str) -> ChargeRefunds:
    """Ask Stripe for a charge's refunded amount now: a refund event is a snapshot that
    may arrive late or out of order, and a refund that fails makes the amount go down."""
    charge = stripe_read(lambda: stripe_client().v1.charges.retrieve(charge_id))
    amount = charge.get("amount_refunded")
    if type(amount) is not int or amount < 0:
        raise StripeUnavailable(f"Stripe answered charge {charge_id} without amount_refunded")
    return ChargeRefunds(
        amount_refunded=amount,
        payment_intent=stripe_id(charge.get("payment_intent")),
        currency=str(charge.get("currency", "")).upper(),
    )
