"""Every row lock webhooks takes, in one place.

Webhooks' rows are taken after the caller's (an app enqueues an event inside its own
transaction, after its own and the ledger's locks) and only these: an endpoint row (to
count a book's endpoints, or change one), then delivery rows. A delivery is claimed with
SKIP LOCKED: a worker never waits for another's claim and two never claim the same row.

Each function runs inside the caller's transaction and returns the rows it locked.
"""

from datetime import datetime

from ledger.models import Book
from webhooks.models import WebhookDelivery, WebhookEndpoint


def book_endpoints_lock(*, book: Book) -> Book:
    """The book row, so that two creations of its endpoints count one after the other.
    FOR NO KEY UPDATE: rows that reference the book (the ledger's) can still be written."""
    return Book.objects.select_for_update(no_key=True).get(pk=book.pk)


def endpoint_lock(*, endpoint_id: int) -> WebhookEndpoint | None:
    return (
        WebhookEndpoint.objects.select_for_update(of=("self",))
        .select_related("book")
        .filter(pk=endpoint_id)
        .first()
    )


def deliveries_due_claim(
    *, now: datetime, limit: int, delivery_ids: list[int] | None = None
) -> list[WebhookDelivery]:
    """Pending deliveries due at `now` to active endpoints, oldest due first, that no
    other transaction holds; rows another worker has locked are skipped, not waited for.
    The caller moves their next_attempt_at forward (a lease) before committing."""
    due = WebhookDelivery.objects.filter(
        state=WebhookDelivery.State.PENDING,
        next_attempt_at__lte=now,
        endpoint__active=True,
    )
    if delivery_ids is not None:
        due = due.filter(pk__in=delivery_ids)
    return list(
        due.select_for_update(of=("self",), skip_locked=True)
        .select_related("event", "endpoint")
        .order_by("next_attempt_at", "pk")[:limit]
    )


def delivery_lock(*, delivery_id: int) -> WebhookDelivery | None:
    """One delivery, waited for: to record an attempt's outcome or to re-send it."""
    return (
        WebhookDelivery.objects.select_for_update(of=("self",))
        .select_related("event", "endpoint")
        .filter(pk=delivery_id)
        .first()
    )
