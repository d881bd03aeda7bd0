"""Reads of webhooks, for the API and the admin."""

from django.db.models import Prefetch, QuerySet

from ledger.errors import UnknownBook
from ledger.models import Book
from webhooks.errors import WebhookDeliveryNotFound, WebhookEndpointNotFound
from webhooks.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent


def book_by_code(code: str) -> Book:
    book = Book.objects.filter(code=code).first()
    if book is None:
        raise UnknownBook(f"book {code!r} does not exist")
    return book


def endpoints_list(*, book_code: str | None = None) -> QuerySet[WebhookEndpoint]:
    endpoints = WebhookEndpoint.objects.select_related("book").order_by("pk")
    return endpoints.filter(book__code=book_code) if book_code else endpoints


def endpoint_get(*, endpoint_id: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.select_related("book").filter(pk=endpoint_id).first()
    if endpoint is None:
        raise WebhookEndpointNotFound(f"webhook endpoint {endpoint_id} does not exist")
    return endpoint


def events_list(
    *, book_code: str | None = None, event_type: str | None = None
) -> QuerySet[WebhookEvent]:
    events = WebhookEvent.objects.select_related("book").order_by("-created_at", "-pk")
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
) -> QuerySet[WebhookDelivery]:
    deliveries = (
        WebhookDelivery.objects.select_related("event__book", "endpoint")
        .prefetch_related(
            Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("number"))
        )
        .order_by("-created_at", "-pk")
    )
    if book_code:
        deliveries = deliveries.filter(event__book__code=book_code)
    if state:
        deliveries = deliveries.filter(state=state)
    if endpoint_id is not None:
        deliveries = deliveries.filter(endpoint_id=endpoint_id)
    if event_id is not None:
        deliveries = deliveries.filter(event_id=event_id)
    return deliveries


def delivery_get(*, delivery_id: int) -> WebhookDelivery:
    delivery = deliveries_list().filter(pk=delivery_id).first()
    if delivery is None:
        raise WebhookDeliveryNotFound(f"webhook delivery {delivery_id} does not exist")
    return delivery
