"""Celery tasks of settlement: thin wrappers that call one service each."""

from celery import shared_task

from settlement.commitments.drawdown import commitments_draw_down, commitments_expire


@shared_task(name="settlement.draw_down_commitments", acks_late=True)
def draw_down_commitments() -> int:
    """Draw commitments down by the usage batches booked since the last run (every
    minute, bounded per run; idempotent). Returns how many batches."""
    return commitments_draw_down().batches


@shared_task(name="settlement.expire_commitments", acks_late=True)
def expire_commitments() -> int:
    """Book the breakage of commitments past their expiry and grace, once each (every
    minute). Returns how many closed."""
    return commitments_expire().closed
