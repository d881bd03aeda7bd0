"""Reads of webhooks, for the API and the admin.

`books`: the seller books a login may see (webhooks.permissions.books_in_reach); None is
every book (finance). A row of another book is not found, as if it did not exist.
"""

from django.db.models import Prefetch, QuerySet

from ledger.errors import UnknownBook
from ledger.models import Book
from webhooks.errors import WebhookDeliveryNotFound, WebhookEndpointNotFound
from webhooks.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent


def book_by_code(code: str, *, books: QuerySet[Book] | None = None) -> Book:
    found = (Book.objects.all() if books is None else books).filter(code=code).first()
    if found is None:
        raise UnknownBook(f"book {code!r} does not exist")
    return found


def endpoints_list(
    *, book_code: str | None = None, books: QuerySet[Book] | None = None
) -> QuerySet[WebhookEndpoint]:
    endpoints = WebhookEndpoint.objects.select_related("book").order_by("pk")
    if books is not None:
        endpoints = endpoints.filter(book__in=books)
    return endpoints.filter(book__code=book_code) if book_code else endpoints


def endpoint_get(*, endpoint_id: int, books: QuerySet[Book] | None = None) -> WebhookEndpoint:
    endpoint = endpoints_list(books=books).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise WebhookEndpointNotFound(f"webhook endpoint {endpoint_id} does not exist")
    return endpoint


def events_list(
    *,
    book_code: str | None = None,
    event_type: str | None = None,
    books: QuerySet[Book] | None = None,
) -> QuerySet[WebhookEvent]:
    events = WebhookEvent.objects.select_related("book").order_by("-created_at", "-pk")
    if books is not None:
        events = events.filter(book__in=books)
    if book_code:
        events = events.filter(book__code=book_code)
    if event_type:
        events = events.filter(type=event_type)
    return events


def deliveries_list(
    *,
    book_code: str | None = None,
    state: str | None = None,
    endpoint_id: int | None = None,
    event_id: int | None = None,
    books: QuerySet[Book] | None = None,
) -> QuerySet[WebhookDelivery]:
    deliveries = (
        WebhookDelivery.objects.select_related("event__book", "endpoint")
        .prefetch_related(
            Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("number"))
        )
        .order_by("-created_at", "-pk")
    )
    if books is not None:
        # The endpoint's book is the event's (an event is delivered to its book's
        # endpoints only); filtering on the endpoint keeps to one join.
        deliveries = deliveries.filter(endpoint__book__in=books)
    if book_code:
        deliveries = deliveries.filter(event__book__code=book_code)
    if state:
        deliveries = deliveries.filter(state=state)
    if endpoint_id is not None:
        deliveries = deliveries.filter(endpoint_id=endpoint_id)
    if event_id is not None:
        deliveries = deliveries.filter(event_id=event_id)
    return deliveries


def delivery_get(*, delivery_id: int, books: QuerySet[Book] | None = None) -> WebhookDelivery:
    delivery = deliveries_list(books=books).filter(pk=delivery_id).first()
    if delivery is None:
        raise WebhookDeliveryNotFound(f"webhook delivery {delivery_id} does not exist")
    return delivery
