"""Celery tasks of payments: thin wrappers that call one service."""

from celery import shared_task

from payments.alerts.balance_watch import balances_watch
from payments.auto_topup import attempts as auto_topup
from payments.errors import StripeUnavailable
from payments.stripe import fees as stripe_fees

AUTO_TOPUP_TRIES_PER_RUN_MAX = 1000


@shared_task(name="payments.watch_balances", acks_late=True)
def watch_balances(customer_ids: list[int] | None = None) -> dict:
    """Beat, every minute (or after a usage batch, for its customers): make auto top-up
    attempts and low-balance alerts where a threshold was crossed, then enqueue their
    charges and the auto top-up tries that are due again (webhooks sends the alerts)."""
    result = balances_watch(customer_ids=customer_ids)
    due = set(auto_topup.auto_topup_attempts_due(limit=AUTO_TOPUP_TRIES_PER_RUN_MAX))
    due.update(result.attempt_ids)
    for attempt_id in sorted(due):
        charge_auto_topup.delay(attempt_id)
    return {
        "customers_checked": result.customers_checked,
        "attempts": len(result.attempt_ids),
        "tries_enqueued": len(due),
        "alerts": len(result.alert_event_ids),
    }


@shared_task(name="payments.charge_auto_topup", acks_late=True)
def charge_auto_topup(attempt_id: int) -> str:
    """One try of an auto top-up attempt, if one is due (payments.auto_topup.attempts)."""
    return auto_topup.auto_topup_charge(attempt_id=attempt_id).state


@shared_task(
    name="payments.book_processing_fee",
    acks_late=True,
    autoretry_for=(stripe_fees.FeeNotReady, StripeUnavailable),
    retry_backoff=60,
    retry_backoff_max=3600,
    max_retries=12,
)
def book_processing_fee(topup_id: int) -> str:
    """Book Stripe's fee on a paid top-up's charge once Stripe has it (payments.stripe.fees)."""
    return stripe_fees.topup_processing_fee_sync(topup_id=topup_id)


@shared_task(name="payments.sweep_processing_fees", acks_late=True)
def sweep_processing_fees() -> int:
    """Beat: enqueue again the fees still unknown well after payment. Returns how many."""
    missing = stripe_fees.processing_fees_missing()
    for topup_id in missing:
        book_processing_fee.delay(topup_id)
    return len(missing)
