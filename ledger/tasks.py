"""Celery tasks of the ledger: thin wrappers that call one service."""

from celery import shared_task

from ledger.services import holds_expire

HOLDS_EXPIRED_PER_RUN_MAX = 1000


@shared_task(name="ledger.expire_holds", acks_late=True)
def expire_holds() -> int:
    """Release holds past their expiry (scheduled by Celery beat every minute)."""
    return holds_expire(limit=HOLDS_EXPIRED_PER_RUN_MAX)
