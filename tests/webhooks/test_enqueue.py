"""webhook_event_enqueue: in the caller's transaction, idempotent, exact JSON only, one
delivery per active endpoint that wants the type."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from ledger.errors import UnknownBook
from tests.webhooks.conftest import endpoint_for, invoice_payload
from webhooks import services
from webhooks.errors import (
    InvalidWebhookEvent,
    InvalidWebhookPayload,
    UnknownWebhookEventType,
    WebhookEndpointLimit,
    WebhookIdempotencyConflict,
)
from webhooks.models import WebhookDelivery, WebhookEvent

pytestmark = pytest.mark.django_db


def _enqueue(book, key="inv-1:finalized", payload=None, event_type="invoice.finalized"):
    return services.webhook_event_enqueue(
        book_id=book.pk,
        event_type=event_type,
        payload=invoice_payload() if payload is None else payload,
        idempotency_key=key,
    )


def test_one_delivery_per_active_endpoint_that_wants_the_type(books, receiver):
    book = books["reseller"]
    every = endpoint_for(book, receiver)
    invoices = endpoint_for(book, receiver, ["invoice.finalized", "invoice.overdue"])
    reminders = endpoint_for(book, receiver, ["customer.reminder"])
    off = endpoint_for(book, receiver)
    services.webhook_endpoint_activate(endpoint_id=off.pk, active=False, actor="test")
    endpoint_for(books["distributor"], receiver)  # another seller's
    event = _enqueue(book)
    assert event.payload == invoice_payload() and event.type == "invoice.finalized"
    assert {d.endpoint_id for d in event.deliveries.all()} == {every.pk, invoices.pk}
    assert all(
        d.state == "pending" and d.next_attempt_at == event.created_at and d.attempts == 0
        for d in event.deliveries.all()
    )
    reminder = _enqueue(book, key="reminder-1", event_type="customer.reminder")
    assert {d.endpoint_id for d in reminder.deliveries.all()} == {every.pk, reminders.pk}


def test_the_same_key_and_payload_is_the_same_event(books, receiver):
    endpoint_for(books["reseller"], receiver)
    first = _enqueue(books["reseller"])
    again = _enqueue(books["reseller"])
    assert again.pk == first.pk
    assert WebhookEvent.objects.count() == 1 and WebhookDelivery.objects.count() == 1
    # Keys are per book: the distributor's own event with the same key is another.
    assert _enqueue(books["distributor"]).pk != first.pk


@pytest.mark.parametrize(
    "change",
    [
        {"payload": invoice_payload(total="12.6")},
        {"event_type": "invoice.overdue"},
    ],
    ids=["other-payload", "other-type"],
)
def test_the_same_key_with_another_event_is_a_conflict(books, change):
    first = _enqueue(books["reseller"])
    with pytest.raises(WebhookIdempotencyConflict) as conflict:
        _enqueue(books["reseller"], **change)
    assert conflict.value.code == "webhook_idempotency_conflict"
    assert conflict.value.http_status == 409
    assert conflict.value.details == {"event_id": f"evt_{first.public_id.hex}"}
    assert WebhookEvent.objects.count() == 1


def test_the_same_key_twice_in_one_transaction(books):
    with transaction.atomic():
        first = _enqueue(books["reseller"])
        assert _enqueue(books["reseller"]).pk == first.pk
        with pytest.raises(WebhookIdempotencyConflict):
            _enqueue(books["reseller"], payload={"other": "1"})
        # The caller's transaction is still usable after the refused one.
        assert WebhookEvent.objects.filter(pk=first.pk).exists()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"total": 12.5}, "data.total is a float"),
        ({"lines": [{"amount": "1.00"}, {"amount": 0.1}]}, r"data.lines\[1\].amount is a float"),
        ({"total": Decimal("12.50")}, "data.total is a Decimal"),
        ({"total": float("nan")}, "is a float"),
        ({"memo": "a\x00b"}, "U\\+0000"),
        ({1: "x"}, "keys must be strings"),
        (["not", "an", "object"], "JSON object"),
        ({"blob": "x" * (services.PAYLOAD_BYTES_MAX + 1)}, "bytes; at most"),
    ],
    ids=["float", "nested-float", "decimal", "nan", "nul", "int-key", "list", "too-large"],
)
def test_payloads_that_are_not_exact_json_are_refused(books, payload, message):
    with pytest.raises(InvalidWebhookPayload, match=message) as refused:
        _enqueue(books["reseller"], payload=payload)
    assert refused.value.code == "invalid_webhook_payload"
    assert not WebhookEvent.objects.exists()


def test_floats_are_refused_with_the_way_out():
    with pytest.raises(InvalidWebhookPayload, match='send exact decimals as strings, e.g. "12.50"'):
        services.payload_validate({"total": 12.5})


def test_bad_types_keys_and_books_are_refused(books):
    with pytest.raises(UnknownWebhookEventType) as unknown:
        _enqueue(books["reseller"], event_type="invoice.finalised")
    assert "invoice.finalized" in unknown.value.details["known"]
    for key in ("", "has space", "x" * 201, None):
        with pytest.raises(InvalidWebhookEvent):
            _enqueue(books["reseller"], key=key)
    with pytest.raises(UnknownBook):
        services.webhook_event_enqueue(
            book_id=987654, event_type="invoice.finalized", payload={}, idempotency_key="k"
        )
    with pytest.raises(InvalidWebhookEvent):
        services.webhook_event_enqueue(
            book_id="1", event_type="invoice.finalized", payload={}, idempotency_key="k"
        )


def test_events_and_attempts_are_append_only(books):
    from django.db import DatabaseError

    event = _enqueue(books["reseller"])
    for statement in (
        "UPDATE webhooks_webhookevent SET type = 'x' WHERE id = %s",
        "DELETE FROM webhooks_webhookevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement, [event.pk])


@pytest.mark.django_db(transaction=True)
def test_two_callers_racing_with_one_key_make_one_event(books, receiver):
    from tests.webhooks.conftest import run_in_threads

    endpoint_for(books["reseller"], receiver)

    def caller():
        # Started together: the second insert waits on the first's key until it commits,
        # then finds its event.
        with transaction.atomic():
            return _enqueue(books["reseller"]).pk

    first, second = run_in_threads(caller, caller)
    assert first == second
    assert WebhookEvent.objects.count() == 1 and WebhookDelivery.objects.count() == 1


def _audience_endpoint(book, receiver, audience: str, event_types=("customer.reminder",)):
    return services.webhook_endpoint_create(
        book=book, url=receiver.url, event_types=list(event_types), audience=audience, actor="t"
    )


def test_an_audiences_endpoint_receives_only_its_audiences_events(books, receiver):
    book = books["reseller"]
    seller = endpoint_for(book, receiver)
    mine = _audience_endpoint(book, receiver, "customer:1")
    theirs = _audience_endpoint(book, receiver, "customer:2")
    for_one = services.webhook_event_enqueue(
        book_id=book.pk,
        event_type="customer.reminder",
        payload={"customer": "one"},
        idempotency_key="r-1",
        audience="customer:1",
    )
    assert {d.endpoint_id for d in for_one.deliveries.all()} == {seller.pk, mine.pk}
    assert for_one.audience == "customer:1"
    for_the_seller = _enqueue(book, key="r-2", event_type="customer.reminder")
    assert {d.endpoint_id for d in for_the_seller.deliveries.all()} == {seller.pk}
    assert theirs.deliveries.count() == 0
    # The same key for another audience is another event: refused.
    with pytest.raises(WebhookIdempotencyConflict):
        services.webhook_event_enqueue(
            book_id=book.pk,
            event_type="customer.reminder",
            payload={"customer": "one"},
            idempotency_key="r-1",
            audience="customer:2",
        )


def test_one_endpoint_per_audience_outside_the_sellers_limit(books, receiver, monkeypatch):
    book = books["reseller"]
    monkeypatch.setattr(services, "ENDPOINTS_PER_BOOK_MAX", 1)
    endpoint_for(book, receiver)
    with pytest.raises(WebhookEndpointLimit):
        endpoint_for(book, receiver)
    for n in range(3):  # a book's customers' endpoints are not counted against it
        _audience_endpoint(book, receiver, f"customer:{n}")
    with pytest.raises(IntegrityError), transaction.atomic():
        _audience_endpoint(book, receiver, "customer:0")
    for bad in ("has space", "x" * 101, "\x00"):
        with pytest.raises(InvalidWebhookEvent):
            _audience_endpoint(book, receiver, bad)
