"""Celery tasks of invoicing: thin wrappers around its services, scheduled by Celery
beat (config.settings CELERY_BEAT_SCHEDULE)."""

from celery import shared_task
from django.utils import timezone

from invoicing.services import (
    OVERDUE_BATCH_MAX,
    invoices_draft_period,
    invoices_finalize_due,
    invoices_overdue_mark,
    month_bounds,
    receipts_issue_pending,
)
from ledger.models import Book

ACTOR = "system:invoicing"
OVERDUE_RUNS_MAX = 20


def previous_month(now=None) -> str:
    now = now or timezone.now()
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return f"{year:04d}-{month:02d}"


@shared_task(name="invoicing.close_previous_month", acks_late=True)
def close_previous_month() -> dict:
    """Draft the invoices of the month just closed, for every seller book with a billing
    profile (a draft made twice is regenerated, so a retry is harmless)."""
    start, end = month_bounds(previous_month())
    result = {}
    for book in Book.objects.filter(billing_profile__isnull=False).order_by("pk"):
        report = invoices_draft_period(
            seller_book=book, period_start=start, period_end=end, actor=ACTOR
        )
        result[book.code] = {
            "drafted": report.done,
            "empty": report.skipped,
            "failed": report.failed,
        }
    return result


@shared_task(name="invoicing.finalize_due", acks_late=True)
def finalize_due() -> dict:
    """Finalize the drafts past INVOICE_GRACE_DAYS."""
    report = invoices_finalize_due(actor=ACTOR)
    return {"finalized": report.done, "failed": report.failed}


@shared_task(name="invoicing.issue_receipts", acks_late=True)
def issue_receipts() -> dict:
    """A receipt for every paid top-up that has none yet."""
    report = receipts_issue_pending(actor=ACTOR)
    return {"issued": report.done, "failed": report.failed}


@shared_task(name="invoicing.mark_overdue", acks_late=True)
def mark_overdue() -> dict:
    """Mark invoices past their due date overdue (once each: invoice.overdue webhooks)."""
    marked = 0
    for _ in range(OVERDUE_RUNS_MAX):  # bounded: a backlog beyond it waits an hour
        report = invoices_overdue_mark(actor=ACTOR)
        marked += report.done
        if report.done < OVERDUE_BATCH_MAX:
            break
    return {"marked": marked}
