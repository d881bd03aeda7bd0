"""Celery tasks of wallets: thin wrappers that call one service."""

from celery import shared_task

from wallets.services import authorizations_expire

AUTHORIZATIONS_EXPIRED_PER_RUN_MAX = 1000


@shared_task(name="wallets.expire_authorizations", acks_late=True)
def expire_authorizations() -> int:
    """Release expired authorization holds (ledger.services.holds_expire) and mark the
    authorizations expired. Scheduled by Celery beat (wallets.apps registers it)."""
    return authorizations_expire(limit=AUTHORIZATIONS_EXPIRED_PER_RUN_MAX)
