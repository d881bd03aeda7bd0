"""Celery tasks of webhooks: thin wrappers that call one service."""

from celery import shared_task

from webhooks import services

DUE_PER_RUN_MAX = 500


@shared_task(name="webhooks.deliver", acks_late=True)
def deliver(delivery_id: int) -> dict:
    """The first attempt (or a re-send) of one delivery, enqueued after its commit; does
    nothing if it is not due (another worker has it, or it was delivered)."""
    return vars(services.deliveries_send(delivery_ids=[delivery_id], limit=1))


@shared_task(name="webhooks.deliver_due", acks_late=True)
def deliver_due() -> dict:
    """Beat, every minute: attempt every due delivery (retries, and first attempts whose
    enqueue was lost), at most DUE_PER_RUN_MAX per run."""
    return vars(services.deliveries_send(limit=DUE_PER_RUN_MAX))
