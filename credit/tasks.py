"""Celery tasks of credit: thin wrappers around its services, scheduled by Celery beat
(config.settings CELERY_BEAT_SCHEDULE)."""

from datetime import date, timedelta

from celery import shared_task
from django.utils import timezone

ACTOR = "system:credit"


def last_period_end(today: date) -> date:
    """The last day of the month before `today`'s."""
    return today.replace(day=1) - timedelta(days=1)


@shared_task(name="credit.dunning_evaluate", acks_late=True)
def dunning_evaluate() -> dict:
    """Walk every overdue customer down its book's ladder; reinstate those who paid."""
    from credit.dunning.services import dunning_evaluate_all

    return dunning_evaluate_all()


@shared_task(name="credit.dunning_card_charge", bind=True, acks_late=True)
def dunning_card_charge(self, action_id: int) -> str:
    """One try of a card-retry step; a soft failure comes back after its backoff (the
    tries are bounded by the step, so are the redeliveries)."""
    from credit.dunning.cards import dunning_card_charge as charge

    action, retry_s = charge(action_id=action_id)
    if retry_s is not None:
        self.apply_async(args=[action_id], countdown=retry_s)
    return action.outcome


@shared_task(name="credit.allowance_period_end", acks_late=True)
def allowance_period_end() -> dict:
    """Book the allowance at the last month end (once per book, currency and period:
    run daily, it books on the first run after the month closed)."""
    from credit.losses.services import allowances_book_period_end

    period_end = last_period_end(timezone.now().date())
    bookings = allowances_book_period_end(period_end=period_end, actor=ACTOR)
    return {"period_end": period_end.isoformat(), "bookings": len(bookings)}
