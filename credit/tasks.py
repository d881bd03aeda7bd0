"""Celery tasks of credit: thin wrappers around its services, scheduled by Celery beat
(config.settings CELERY_BEAT_SCHEDULE)."""

from datetime import date, datetime, timedelta

from celery import shared_task
from django.utils import timezone

from credit.dunning.services import dunning_evaluate_all
from credit.losses.services import allowances_book_period_end

ACTOR = "system:credit"


def last_period_end(today: date) -> date:
    """The last day of the month before `today`'s."""
    return today.replace(day=1) - timedelta(days=1)


def _now(now: str | None) -> datetime:
    """A task's clock: now, or the ISO time a caller gives (a replay, a test's frozen day)."""
    return datetime.fromisoformat(now) if now else timezone.now()


@shared_task(name="credit.dunning_evaluate", acks_late=True)
def dunning_evaluate(now: str | None = None) -> dict:
    """Walk every overdue customer down its book's ladder, reinstate those who paid, and
    try the card retries that are due."""
    return dunning_evaluate_all(now=_now(now))


@shared_task(name="credit.allowance_period_end", acks_late=True)
def allowance_period_end(now: str | None = None) -> dict:
    """Book the allowance at the last month end (once per book, currency and period:
    run daily, it books on the first run after the month closed)."""
    period_end = last_period_end(_now(now).date())
    bookings = allowances_book_period_end(period_end=period_end, actor=ACTOR)
    return {"period_end": period_end.isoformat(), "bookings": len(bookings)}
