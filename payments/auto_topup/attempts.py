"""Auto top-up attempts: below a threshold, charge the customer's saved payment method
off-session up to a target balance (the settings: payments.auto_topup.configuration).
Keyword-only arguments, one transaction per write.

One trigger, one attempt. `AutoTopUpSettings.armed` is cleared when an attempt is made
and set again only once the available balance is back at or above the threshold (or the
customer saves the settings again), and the database allows one open attempt per
customer. An attempt owns one TopUp (amount + platform fee, like a Checkout top-up).

Charging. Each try is a PaymentIntent created with confirm=True, off_session=True and a
Stripe idempotency key derived from the attempt and its `charge_sequence`: a try repeated
after a crash or a network error reuses the key, so Stripe answers as before and charges
once; after a definitive refusal (a declined card, an invalid request) the sequence moves
on, so the next try is a new charge. Tries are bounded (WALLETS_AUTO_TOPUP_TRIES_MAX) and
spaced exponentially (WALLETS_AUTO_TOPUP_RETRY_BACKOFF_S · 2^(n-1)); then the attempt
gives up, recorded. `next_try_at` is also the lease of a try in flight, so duplicate
task deliveries do not charge concurrently.

Booking. Money is booked only when Stripe says the charge succeeded: in the synchronous
answer (status "succeeded") or by the webhook payment_intent.succeeded, whichever comes
first; both go through topups.topup_book, which books a payment once. Real Stripe
reports a failed off-session confirmation as an error (HTTP 402), so any other
successful answer ("processing", ...) leaves the attempt submitted until the webhook.

Lock order: the attempt row, then its top-up row, then the ledger (as topup_book).
"""

import logging
from datetime import datetime, timedelta

import stripe
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.stripe_client import stripe_client
from payments import locks
from payments.alerts.thresholds import threshold_crossed
from payments.models import AutoTopUpAttempt, AutoTopUpSettings, TopUp
from payments.stripe.checkout import stripe_error_text
from payments.topups import amounts as topup_amounts
from payments.topups import services as topups

logger = logging.getLogger(__name__)

ACTOR = "system:auto-topup"
# A try in flight holds the attempt this long; after it, the watch task may try again
# (with the same idempotency key, so Stripe answers as before).
TRY_LEASE_S = 300
# Stripe's answers that refuse this charge for good: retrying the same key would only
# replay them, so the next try is a new charge.
DEFINITIVE_ERRORS = (
    stripe.CardError,
    stripe.InvalidRequestError,
    stripe.AuthenticationError,
    stripe.PermissionError,
    stripe.IdempotencyError,
)


def tries_max() -> int:
    return max(1, int(settings.WALLETS_AUTO_TOPUP_TRIES_MAX))


def retry_delay(tries: int) -> timedelta:
    """Before the try after the `tries`-th: BACKOFF · 2^(tries-1) seconds."""
    return timedelta(seconds=settings.WALLETS_AUTO_TOPUP_RETRY_BACKOFF_S * 2 ** (tries - 1))


# --- triggering (called by payments.alerts.balance_watch under the settings row's lock) ----


def auto_topup_trigger(
    *, config: AutoTopUpSettings, available_minor: int, now: datetime
) -> AutoTopUpAttempt | None:
    """One attempt per crossing of the threshold; re-armed at or above it.

    The charge is what brings the available balance to the target, rounded up to Stripe's
    unit, within the top-up limits. `config` must be locked by the caller.
    """
    if not threshold_crossed(row=config, available_minor=available_minor):
        return None
    customer = config.customer
    if AutoTopUpAttempt.objects.filter(
        customer=customer, state__in=AutoTopUpAttempt.OPEN_STATES
    ).exists():
        return None
    unit = topup_amounts.ledger_units_per_stripe_unit(
        customer.currency.code, customer.currency.scale
    )
    minimum, maximum = topups.topup_limits_stripe(customer.currency.code)
    wanted = topup_amounts.ceil_to_stripe_units(config.target_minor - available_minor, unit)
    topup = topups.topup_new(
        customer=customer,
        amount_stripe=min(max(wanted, minimum), maximum),
        source=TopUp.Source.AUTO,
        actor=ACTOR,
    )
    attempt = AutoTopUpAttempt.objects.create(
        customer=customer,
        topup=topup,
        available_minor=available_minor,
        threshold_minor=config.threshold_minor,
        target_minor=config.target_minor,
        next_try_at=now,
        created_at=now,
    )
    logger.info(
        "auto top-up %s for %s: available %s < threshold %s",
        attempt.public_id,
        customer.external_id,
        available_minor,
        config.threshold_minor,
    )
    return attempt


def auto_topup_attempts_due(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Attempts whose next try is due: retries after their backoff, and tries whose lease
    ran out (a worker died mid-try, or the first enqueue was lost)."""
    now = now or timezone.now()
    return list(
        AutoTopUpAttempt.objects.filter(
            state__in=(AutoTopUpAttempt.State.PENDING, AutoTopUpAttempt.State.RETRYING),
            next_try_at__lte=now,
        )
        .order_by("next_try_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


# --- charging ---------------------------------------------------------------------------------


def _intent_params(attempt: AutoTopUpAttempt, config: AutoTopUpSettings) -> dict:
    topup = attempt.topup
    return {
        "amount": topup.total_stripe,
        "currency": attempt.customer.currency.code.lower(),
        "customer": config.stripe_customer_id,
        "payment_method": config.stripe_payment_method_id,
        "confirm": True,
        "off_session": True,
        "description": f"Auto top-up for {attempt.customer.external_id}",
        "metadata": {
            topups.METADATA_TOPUP: str(topup.public_id),
            "customer": attempt.customer.external_id,
            "auto_topup_attempt": str(attempt.public_id),
        },
    }


def _give_up(attempt: AutoTopUpAttempt, now: datetime) -> None:
    attempt.state = AutoTopUpAttempt.State.FAILED
    attempt.resolved_at = now
    attempt.next_try_at = None
    TopUp.objects.filter(
        pk=attempt.topup_id, state__in=(TopUp.State.CREATING, TopUp.State.OPEN)
    ).update(state=TopUp.State.FAILED, error=attempt.failures[-1]["error"][:500])


def _record_failure(
    attempt: AutoTopUpAttempt, *, error: str, definitive: bool, now: datetime
) -> None:
    """Note a failed try; retry after the backoff, or give up after the last try."""
    attempt.failures = [
        *attempt.failures,
        {"try": attempt.tries, "at": now.isoformat(), "error": error, "definitive": definitive},
    ]
    if definitive:
        attempt.charge_sequence += 1
    if attempt.tries >= tries_max():
        _give_up(attempt, now)
        logger.warning("auto top-up %s gave up after %s tries", attempt.public_id, attempt.tries)
    else:
        attempt.state = AutoTopUpAttempt.State.RETRYING
        attempt.next_try_at = now + retry_delay(attempt.tries)
    attempt.save()


def _start_try(attempt_id: int, now: datetime) -> tuple[AutoTopUpAttempt, dict | None]:
    """Claim the attempt for one try (the lease); (attempt, None) when none is due."""
    with transaction.atomic():
        attempt = locks.auto_topup_attempt_lock(attempt_id=attempt_id)
        due = attempt.next_try_at is not None and attempt.next_try_at <= now
        if attempt.state not in (AutoTopUpAttempt.State.PENDING, AutoTopUpAttempt.State.RETRYING):
            return attempt, None
        if not due:
            return attempt, None
        config = AutoTopUpSettings.objects.filter(customer_id=attempt.customer_id).first()
        if config is None or not config.enabled:
            attempt.failures = [
                *attempt.failures,
                {"try": attempt.tries, "at": now.isoformat(), "error": "auto top-up disabled"},
            ]
            _give_up(attempt, now)
            attempt.save()
            return attempt, None
        attempt.tries += 1
        attempt.idempotency_key = (
            f"tokenledger-autotopup-{attempt.public_id}-{attempt.charge_sequence}"
        )
        attempt.state = AutoTopUpAttempt.State.PENDING
        attempt.next_try_at = now + timedelta(seconds=TRY_LEASE_S)
        attempt.save()
        return attempt, _intent_params(attempt, config)


def auto_topup_charge(*, attempt_id: int, now: datetime | None = None) -> AutoTopUpAttempt:
    """One try of an attempt, if one is due at `now`: charge off-session, record the
    answer (a failure's backoff counts from `now`). The Stripe call runs between two short
    transactions, never inside one."""
    now = now or timezone.now()
    attempt, params = _start_try(attempt_id, now)
    if params is None:
        return attempt
    try:
        intent = stripe_client().v1.payment_intents.create(
            params=params, options={"idempotency_key": attempt.idempotency_key}
        )
    except stripe.StripeError as exc:
        error = stripe_error_text(exc)
        logger.warning("auto top-up %s try %s failed: %s", attempt.public_id, attempt.tries, error)
        with transaction.atomic():
            attempt = locks.auto_topup_attempt_lock(attempt_id=attempt_id)
            if attempt.state == AutoTopUpAttempt.State.PENDING:
                _record_failure(
                    attempt, error=error, definitive=isinstance(exc, DEFINITIVE_ERRORS), now=now
                )
        return attempt
    return _submitted(attempt_id, intent.id, intent.status)


def _submitted(attempt_id: int, payment_intent_id: str, status: str) -> AutoTopUpAttempt:
    with transaction.atomic():
        attempt = locks.auto_topup_attempt_lock(attempt_id=attempt_id)
        if attempt.state != AutoTopUpAttempt.State.PENDING:
            return attempt  # the webhook got here first
        TopUp.objects.filter(
            pk=attempt.topup_id, state__in=(TopUp.State.CREATING, TopUp.State.OPEN)
        ).update(stripe_payment_intent_id=payment_intent_id, state=TopUp.State.OPEN)
        attempt.state = AutoTopUpAttempt.State.SUBMITTED
        attempt.next_try_at = None
        attempt.save(update_fields=["state", "next_try_at"])
        if status == "succeeded":
            _book(attempt, payment_intent_id)
    return attempt


def _book(attempt: AutoTopUpAttempt, payment_intent_id: str) -> topups.TopUpBooking:
    booking = topups.topup_book(
        topup_id=attempt.topup_id, actor=ACTOR, stripe_payment_intent_id=payment_intent_id
    )
    if attempt.state != AutoTopUpAttempt.State.SUCCEEDED:
        attempt.state = AutoTopUpAttempt.State.SUCCEEDED
        attempt.resolved_at = timezone.now()
        attempt.next_try_at = None
        attempt.save(update_fields=["state", "resolved_at", "next_try_at"])
    return booking


# --- Stripe's webhooks (called by payments.stripe.webhooks in the event's transaction) -----


def auto_topup_payment_succeeded(*, topup: TopUp, payment_intent_id: str) -> topups.TopUpBooking:
    """Stripe says the charge succeeded: book it (once) and close the attempt. Money that
    arrived is booked whatever state the attempt was in."""
    attempt = locks.auto_topup_attempt_lock(attempt_id=topup.auto_attempt.pk)
    return _book(attempt, payment_intent_id)


def auto_topup_payment_failed(*, topup: TopUp, payment_intent_id: str, error: str) -> bool:
    """Stripe says the submitted charge failed: a definitive failure of that try. Events
    about an older try's intent change nothing. Returns whether it was recorded."""
    attempt = locks.auto_topup_attempt_lock(attempt_id=topup.auto_attempt.pk)
    current = TopUp.objects.filter(pk=topup.pk).values_list("stripe_payment_intent_id", flat=True)
    if attempt.state != AutoTopUpAttempt.State.SUBMITTED or current[0] != payment_intent_id:
        return False
    _record_failure(attempt, error=error, definitive=True, now=timezone.now())
    return True
