"""Celery tasks of webhooks: thin wrappers that call one service."""

from celery import shared_task

from webhooks import services

DUE_PER_RUN_MAX = 500
# A run stops claiming after this, well within CELERY_TASK_TIME_LIMIT (a killed run would
# leave its claimed delivery leased); the next minute's run goes on where it stopped.
DUE_RUN_BUDGET_S = 50.0


@shared_task(name="webhooks.deliver", acks_late=True)
def deliver(delivery_id: int) -> dict:
    """The first attempt (or a re-send) of one delivery, enqueued after its commit; does
    nothing if it is not due (another worker has it, or it was delivered)."""
    return vars(services.deliveries_send(delivery_ids=[delivery_id], limit=1))


@shared_task(name="webhooks.deliver_due", acks_late=True)
def deliver_due() -> dict:
    """Beat, every minute: attempt every due delivery (retries, and first attempts whose
    enqueue was lost), at most DUE_PER_RUN_MAX per run and DUE_RUN_BUDGET_S seconds."""
    return vars(services.deliveries_send(limit=DUE_PER_RUN_MAX, budget_s=DUE_RUN_BUDGET_S))
