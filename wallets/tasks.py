"""Celery tasks of wallets: thin wrappers that call one service."""

from celery import shared_task

from wallets.lots.services import lots_allocate, lots_expire
from wallets.services import authorizations_expire

AUTHORIZATIONS_EXPIRED_PER_RUN_MAX = 1000


@shared_task(name="wallets.expire_authorizations", acks_late=True)
def expire_authorizations() -> int:
    """Release expired authorization holds (ledger.services.holds_expire) and mark the
    authorizations expired. Scheduled by Celery beat (config.settings CELERY_BEAT_SCHEDULE)."""
    return authorizations_expire(limit=AUTHORIZATIONS_EXPIRED_PER_RUN_MAX)


@shared_task(name="wallets.allocate_lots", acks_late=True)
def allocate_lots() -> int:
    """Attribute new wallet movements to credit lots (every minute; idempotent, and a
    wallet another run holds is skipped). Returns how many movements."""
    return lots_allocate()


@shared_task(name="wallets.expire_lots", acks_late=True)
def expire_lots() -> int:
    """Book the breakage of lots past their expiry, exactly once per lot (every minute).
    Returns how many lots closed."""
    return lots_expire()
