"""Stripe's processing fee on a top-up's charge, booked once as expense:stripe_fees
against cash:stripe, so cash:stripe follows what Stripe actually holds for us.

The fee is on the charge's balance transaction, which Stripe may create after the
payment event (some payment methods settle later): so it is read after the top-up is
booked and committed, by a Celery task that retries with backoff until Stripe has it,
never inside the webhook that books the payment (a slow Stripe must not delay booking).
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from config.celery import delay_after_commit
from config.stripe_client import stripe_client
from payments.errors import StripeUnavailable
from payments.models import TopUp
from payments.stripe.checkout import stripe_read
from payments.topups import services as topups

logger = logging.getLogger(__name__)

ACTOR = "stripe:fees"
# A paid top-up whose fee is still unknown this long after payment is enqueued again by
# the sweep (its task may have been lost: Redis down at the time, retries exhausted).
SWEEP_AFTER = timedelta(minutes=30)


class FeeNotReady(Exception):
    """The charge has no balance transaction yet: ask again later."""


@dataclass(frozen=True, slots=True)
class ChargeFee:
    fee_stripe: int
    currency: str


def charge_fee_get(*, payment_intent_id: str) -> ChargeFee | None:
    """The fee of the payment's latest charge, from its balance transaction; None while
    Stripe has not made one."""
    intent = stripe_read(
        lambda: stripe_client().v1.payment_intents.retrieve(
            payment_intent_id, params={"expand": ["latest_charge.balance_transaction"]}
        )
    )
    charge = intent.get("latest_charge")
    transaction_ = charge.get("balance_transaction") if isinstance(charge, dict) else None
    if not isinstance(transaction_, dict):
        return None
    fee = transaction_.get("fee")
    if type(fee) is not int or fee < 0:
        raise StripeUnavailable(f"Stripe's balance transaction for {payment_intent_id} has no fee")
    return ChargeFee(fee, str(transaction_.get("currency", "")).upper())


def topup_processing_fee_sync(*, topup_id: int) -> str:
    """Read and book the fee of one paid top-up (the Celery task's body). Raises
    FeeNotReady or StripeUnavailable for the task to retry."""
    topup = TopUp.objects.select_related("currency").filter(pk=topup_id).first()
    if topup is None or topup.state != TopUp.State.PAID or not topup.stripe_payment_intent_id:
        return "no paid top-up with a payment intent"
    if topup.processing_fee_stripe is not None:
        return "booked before"
    found = charge_fee_get(payment_intent_id=topup.stripe_payment_intent_id)
    if found is None:
        raise FeeNotReady(f"top-up {topup.public_id}: no balance transaction yet")
    booked = topups.topup_processing_fee_book(
        topup_id=topup.pk, fee_stripe=found.fee_stripe, currency=found.currency, actor=ACTOR
    )
    if booked is None:
        return "booked before"
    if found.currency != topup.currency.code:
        logger.warning(
            "top-up %s: Stripe fee %s %s not booked (the top-up is in %s)",
            topup.public_id,
            found.fee_stripe,
            found.currency,
            topup.currency.code,
        )
        return f"fee in {found.currency} recorded, not booked"
    return f"fee {found.fee_stripe} booked ({booked} minor units)"


def processing_fee_book_later(*, topup_id: int) -> None:
    """After the booking commits, enqueue the fee's task (best effort: a top-up whose
    fee could not be enqueued is found by `processing_fees_missing` and retried)."""
    delay_after_commit("payments.tasks.book_processing_fee", topup_id)


def processing_fees_missing(*, limit: int = 1000) -> list[int]:
    """Paid top-ups whose fee is unknown well after payment (for the sweep)."""
    return list(
        TopUp.objects.filter(
            state=TopUp.State.PAID,
            processing_fee_stripe__isnull=True,
            paid_at__lt=timezone.now() - SWEEP_AFTER,
        )
        .exclude(stripe_payment_intent_id="")
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
