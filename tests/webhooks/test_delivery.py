"""Delivery to a real HTTP server on 127.0.0.1: the body and headers, signatures that
verify, retries with backoff driven by an explicit `now`, timeouts, the bound on
attempts, URLs we refuse, and the caller's transaction deciding whether anything is sent."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from tests.webhooks.conftest import Receiver, endpoint_for, invoice_payload, run_in_threads
from webhooks import outbound, services
from webhooks.errors import InvalidWebhookUrl
from webhooks.models import DeliveryAttempt, WebhookDelivery, WebhookEvent
from webhooks.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, verify

pytestmark = pytest.mark.django_db


def _event(book, key="inv-1:finalized", payload=None):
    return services.webhook_event_enqueue(
        book_id=book.pk,
        event_type="invoice.finalized",
        payload=payload or invoice_payload(),
        idempotency_key=key,
    )


def test_the_post_is_the_event_signed(books, receiver):
    endpoint = endpoint_for(books["reseller"], receiver)
    event = _event(books["reseller"])
    report = services.deliveries_send(now=event.created_at)
    assert (report.delivered, report.retrying, report.failed) == (1, 0, 0)
    [request] = receiver.received
    assert request["json"] == {
        "id": f"evt_{event.public_id.hex}",
        "type": "invoice.finalized",
        "created": int(event.created_at.timestamp()),
        "data": invoice_payload(),
    }
    headers = request["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers[EVENT_ID_HEADER] == f"evt_{event.public_id.hex}"
    # The receiver verified it; so does verify() here, over the raw bytes it received.
    assert request["signature_valid"]
    assert verify(secret=endpoint.secret, header=headers[SIGNATURE_HEADER], body=request["body"])
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "delivered" and delivery.next_attempt_at is None
    [attempt] = delivery.attempt_log.all()
    assert (attempt.number, attempt.status_code, attempt.error) == (1, 200, "")
    assert attempt.response_excerpt == '{"ok": true}' and attempt.attempted_at == event.created_at
    assert services.deliveries_send(now=event.created_at + timedelta(days=2)).attempts == 0


def test_a_500_then_a_200_is_delivered_on_the_second_attempt(books):
    with Receiver(500, 200) as receiver:
        endpoint_for(books["reseller"], receiver)
        event = _event(books["reseller"])
        t0 = event.created_at
        assert services.deliveries_send(now=t0).retrying == 1
        delivery = WebhookDelivery.objects.get()
        assert delivery.state == "pending" and delivery.next_attempt_at == t0 + timedelta(minutes=1)
        # Not due yet 59 s later: nothing is sent.
        assert services.deliveries_send(now=t0 + timedelta(seconds=59)).attempts == 0
        assert services.deliveries_send(now=t0 + timedelta(seconds=60)).delivered == 1
    delivery.refresh_from_db()
    assert delivery.state == "delivered" and delivery.attempts == 2
    attempts = list(delivery.attempt_log.order_by("number"))
    assert [(a.number, a.status_code) for a in attempts] == [(1, 500), (2, 200)]
    assert attempts[0].error == "HTTP 500 Internal Server Error" and attempts[1].error == ""
    assert attempts[1].attempted_at == t0 + timedelta(seconds=60)
    # The same bytes both times, each signed afresh; both verified.
    assert len({r["body"] for r in receiver.received}) == 1
    assert [r["signature_valid"] for r in receiver.received] == [True, True]


def test_the_backoff_schedule_then_failed_after_max_attempts(books, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 8
    with Receiver(*[503] * 8) as receiver:
        endpoint_for(books["reseller"], receiver)
        event = _event(books["reseller"])
        now, gaps = event.created_at, []
        for _ in range(8):
            assert services.deliveries_send(now=now).attempts == 1
            delivery = WebhookDelivery.objects.get()
            if delivery.next_attempt_at:
                gaps.append((delivery.next_attempt_at - now).total_seconds())
                assert (
                    services.deliveries_send(
                        now=delivery.next_attempt_at - timedelta(seconds=1)
                    ).attempts
                    == 0
                )
                now = delivery.next_attempt_at
    assert gaps == [60, 300, 1800, 7200, 28800, 86400, 86400]
    assert delivery.state == "failed" and delivery.resolved_at == now
    assert delivery.attempts == 8 and delivery.next_attempt_at is None
    assert list(delivery.attempt_log.values_list("status_code", flat=True)) == [503] * 8
    assert len(receiver.received) == 8
    assert services.deliveries_send(now=now + timedelta(days=30)).attempts == 0


def test_max_attempts_is_a_setting(books, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    with Receiver(500, 500, 200) as receiver:
        endpoint_for(books["reseller"], receiver)
        event = _event(books["reseller"])
        services.deliveries_send(now=event.created_at)
        assert services.deliveries_send(now=event.created_at + timedelta(hours=1)).failed == 1
    assert len(receiver.received) == 2
    assert WebhookDelivery.objects.get().state == "failed"


def test_a_timeout_is_an_error_attempt(books, settings):
    settings.WEBHOOK_TIMEOUT_S = 0.3
    with Receiver(("sleep", 1.5, 200)) as receiver:
        endpoint_for(books["reseller"], receiver)
        event = _event(books["reseller"])
        assert services.deliveries_send(now=event.created_at).retrying == 1
    [attempt] = DeliveryAttempt.objects.all()
    assert attempt.status_code is None and attempt.error.startswith("timeout after 0.3 s")
    assert 250 <= attempt.duration_ms < 1500
    assert WebhookDelivery.objects.get().state == "pending"


def test_connection_refused_redirects_and_bad_signatures_are_failed_attempts(books):
    with Receiver(302) as receiver:
        endpoint = endpoint_for(books["reseller"], receiver)
        event = _event(books["reseller"])
        services.deliveries_send(now=event.created_at)
        receiver.secret = "whsec_not_this_endpoints"  # it answers 401 to our signature
        services.deliveries_send(now=event.created_at + timedelta(minutes=1))
    # The server is gone: the next attempt cannot connect.
    services.deliveries_send(now=event.created_at + timedelta(minutes=6))
    attempts = list(DeliveryAttempt.objects.order_by("number").values_list("status_code", "error"))
    assert attempts[:2] == [(302, "HTTP 302 Found"), (401, "HTTP 401 Unauthorized")]
    assert attempts[2][0] is None and "Connection refused" in attempts[2][1]
    assert len(receiver.received) == 2  # the redirect was not followed
    assert WebhookDelivery.objects.get(endpoint=endpoint).attempts == 3


def test_a_disabled_endpoint_gets_nothing_until_enabled(books, receiver):
    endpoint = endpoint_for(books["reseller"], receiver)
    event = _event(books["reseller"])
    services.webhook_endpoint_activate(endpoint_id=endpoint.pk, active=False, actor="test")
    assert services.deliveries_send(now=event.created_at).attempts == 0
    services.webhook_endpoint_activate(endpoint_id=endpoint.pk, active=True, actor="test")
    assert services.deliveries_send(now=event.created_at).delivered == 1


def test_a_rotated_secret_signs_the_next_attempt(books):
    with Receiver(500, 200) as receiver:
        endpoint = endpoint_for(books["reseller"], receiver)
        event = _event(books["reseller"])
        services.deliveries_send(now=event.created_at)
        rotated = services.webhook_endpoint_secret_rotate(endpoint_id=endpoint.pk, actor="test")
        assert rotated.secret.startswith("whsec_") and rotated.secret != endpoint.secret
        receiver.secret = rotated.secret
        assert services.deliveries_send(now=event.created_at + timedelta(minutes=1)).delivered
    assert verify(
        secret=rotated.secret,
        header=receiver.received[1]["headers"][SIGNATURE_HEADER],
        body=receiver.received[1]["body"],
    )


def test_a_resend_is_a_new_round_with_the_history_kept(books, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    with Receiver(500, 200) as receiver:
        endpoint_for(books["reseller"], receiver)
        event = _event(books["reseller"])
        assert services.deliveries_send(now=event.created_at).failed == 1
        delivery = WebhookDelivery.objects.get()
        later = event.created_at + timedelta(hours=3)
        services.webhook_delivery_resend(delivery_id=delivery.pk, actor="test", now=later)
        assert services.deliveries_send(now=later).delivered == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.attempts_in_round, delivery.resends) == (
        "delivered",
        2,
        1,
        1,
    )
    assert list(delivery.attempt_log.order_by("number").values_list("status_code", flat=True)) == [
        500,
        200,
    ]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/",
        "http://",
        "not a url",
        "http://user:pw@example.com/hook",
        "http://example.com:99999/hook",
        "",
        "https://" + "a" * 2000 + ".com/",
    ],
)
def test_non_http_urls_are_refused(books, url):
    with pytest.raises(InvalidWebhookUrl) as refused:
        services.webhook_endpoint_create(
            book=books["reseller"], url=url, event_types=[], actor="test"
        )
    assert refused.value.code == "invalid_webhook_url"


def test_private_addresses_are_refused_unless_allowed(settings, books):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    for url in (
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "https://10.1.2.3/hook",
        "http://192.168.0.1/hook",
        "http://169.254.169.254/latest/meta-data",  # a cloud's metadata service
        "http://[::1]/hook",
        "http://0.0.0.0/hook",
    ):
        with pytest.raises(InvalidWebhookUrl):
            outbound.url_check(url)
    assert outbound.url_check("https://93.184.216.34/hook")  # a public address


def test_an_address_refused_at_send_time_is_a_recorded_attempt(books, receiver, settings):
    endpoint_for(books["reseller"], receiver)
    event = _event(books["reseller"])
    settings.WEBHOOK_ALLOW_PRIVATE = False  # e.g. production, or the DNS name moved
    assert services.deliveries_send(now=event.created_at).retrying == 1
    [attempt] = DeliveryAttempt.objects.all()
    assert attempt.status_code is None and attempt.error.startswith("refused: 127.0.0.1")
    assert receiver.received == []


def test_the_answer_kept_is_bounded(books):
    class Chatty(Receiver):
        def _handle(self, handler):
            handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
            answer = b"\x00" + b"x" * 100_000
            handler.send_response(500)
            handler.send_header("Content-Length", str(len(answer)))
            handler.end_headers()
            handler.wfile.write(answer)

    with Chatty() as receiver:
        endpoint_for(books["reseller"], receiver)
        event = _event(books["reseller"])
        services.deliveries_send(now=event.created_at)
    [attempt] = DeliveryAttempt.objects.all()
    assert attempt.status_code == 500
    assert len(attempt.response_excerpt) == 1000 and attempt.response_excerpt[0] == "\ufffd"


# --- the caller's transaction, and concurrent workers (committed data) -------------------


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_caller_leaves_no_event_and_sends_nothing(books, receiver, celery_eager):
    endpoint_for(books["reseller"], receiver)

    class BookingFailed(Exception):
        pass

    with pytest.raises(BookingFailed), transaction.atomic():
        _event(books["reseller"])
        assert WebhookEvent.objects.count() == 1  # visible inside the caller's transaction
        raise BookingFailed
    assert not WebhookEvent.objects.exists() and not WebhookDelivery.objects.exists()
    assert services.deliveries_send().attempts == 0
    assert receiver.received == []
    # Committed, the first attempt is made at once (the on_commit task, eager here).
    with transaction.atomic():
        event = _event(books["reseller"])
        assert receiver.received == []  # not before the commit
    assert receiver.event_ids() == [f"evt_{event.public_id.hex}"]
    assert WebhookDelivery.objects.get().state == "delivered"


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_deliver_each_delivery_once(books):
    with Receiver(delay_s=0.05) as receiver:
        endpoint_for(books["reseller"], receiver)
        events = [_event(books["reseller"], key=f"inv-{n}") for n in range(20)]
        now = timezone.now()
        reports = run_in_threads(
            lambda: services.deliveries_send(now=now), lambda: services.deliveries_send(now=now)
        )
    assert sum(r.delivered for r in reports) == 20
    assert all(r.attempts > 0 for r in reports), reports  # both took part
    assert receiver.most_in_flight == 2  # and they did at the same time
    # Each delivery reached the server exactly once, signed, and has one attempt.
    assert sorted(receiver.event_ids()) == sorted(f"evt_{e.public_id.hex}" for e in events)
    assert all(r["signature_valid"] for r in receiver.received)
    assert WebhookDelivery.objects.filter(state="delivered", attempts=1).count() == 20
    assert DeliveryAttempt.objects.count() == 20


def test_a_run_stops_claiming_after_its_time_budget(books):
    with Receiver(delay_s=0.3) as receiver:
        endpoint_for(books["reseller"], receiver)
        for key in "abc":
            _event(books["reseller"], key=key)
        now = timezone.now()
        report = services.deliveries_send(now=now, budget_s=0.1)
        assert report.attempts == 1  # the first took 0.3 s: past the budget
        assert services.deliveries_send(now=now).delivered == 2
    assert len(receiver.received) == 3
