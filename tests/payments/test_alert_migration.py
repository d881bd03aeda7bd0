"""payments 0004..0005 on real PostgreSQL: alerts configured and sent before the move
onto webhooks/ (their URL and secret on the alert row, deliveries in payments' own
tables) come out as webhooks endpoints, events, deliveries and attempts; nothing lost,
and the customer's receiver, with the secret it already has, gets the pending alert."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from payments.models import LowBalanceAlert
from tests.webhooks.conftest import Receiver
from webhooks import services as webhooks
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

BEFORE = [("payments", "0003_alert_endpoint")]
SECRET = "whsec_configured_before_the_move"


def _migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection)


def _latest() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_old_alerts_and_their_deliveries_move_onto_webhooks(world):
    acme, initech = world["acme"], world["initech"]
    latest = _latest()
    try:
        old = _migrate(BEFORE).loader.project_state(BEFORE).apps
        OldAlert = old.get_model("payments", "LowBalanceAlert")
        OldDelivery = old.get_model("payments", "AlertDelivery")
        OldAttempt = old.get_model("payments", "AlertDeliveryAttempt")
        with Receiver(200) as receiver:
            receiver.secret = SECRET
            OldAlert.objects.create(
                customer_id=acme.pk,
                url=receiver.url,
                signing_secret=SECRET,
                threshold_minor=5 * 10**9,
                enabled=True,
                armed=False,
                updated_by="user:alice",
            )
            OldAlert.objects.create(
                customer_id=initech.pk,
                url="https://93.184.216.34/hook",
                signing_secret="whsec_initech",
                threshold_minor=1,
                enabled=False,
                updated_by="user:bob",
            )
            sent_at = timezone.now() - timedelta(days=2)
            delivered = OldDelivery.objects.create(
                customer_id=acme.pk,
                kind="wallet.balance_low",
                url=receiver.url,
                payload={
                    "id": "x",
                    "type": "wallet.balance_low",
                    "created_at": sent_at.isoformat(),
                    "customer": "acme",
                    "currency": "USD",
                    "available": "3.000000000",
                    "threshold": "5.000000000",
                },
                state="delivered",
                attempts=2,
                created_at=sent_at,
                resolved_at=sent_at + timedelta(minutes=1),
            )
            for number, status in ((1, 500), (2, 204)):
                OldAttempt.objects.create(
                    delivery=delivered,
                    number=number,
                    attempted_at=sent_at + timedelta(seconds=30 * number),
                    status_code=status,
                    error="HTTP 500 Internal Server Error" if status == 500 else "",
                    duration_ms=12,
                )
            pending = OldDelivery.objects.create(
                customer_id=acme.pk,
                kind="wallet.balance_low",
                url=receiver.url,
                payload={
                    "customer": "acme",
                    "currency": "USD",
                    "available": "1.000000000",
                    "threshold": "5.000000000",
                },
                state="pending",
                attempts=1,
                created_at=timezone.now() - timedelta(minutes=5),
            )
            OldAttempt.objects.create(
                delivery=pending,
                number=1,
                attempted_at=timezone.now() - timedelta(minutes=4),
                status_code=None,
                error="URLError: connection refused",
                duration_ms=3,
            )

            _migrate(latest)

            alert = LowBalanceAlert.objects.select_related("endpoint").get(customer=acme)
            endpoint = alert.endpoint
            assert (endpoint.book_id, endpoint.url, endpoint.secret) == (
                acme.book_id,
                receiver.url,
                SECRET,
            )
            assert endpoint.audience == f"customer:{acme.pk}" and endpoint.active
            assert endpoint.event_types == ["wallet.balance_low"]
            assert (alert.threshold_minor, alert.armed, alert.updated_by) == (
                5 * 10**9,
                False,
                "user:alice",
            )
            other = LowBalanceAlert.objects.get(customer=initech)
            assert (other.enabled, other.endpoint.secret) == (False, "whsec_initech")
            assert WebhookEndpoint.objects.count() == 2

            moved = WebhookEvent.objects.get(public_id=delivered.public_id)
            assert (moved.type, moved.book_id, moved.created_at) == (
                "wallet.balance_low",
                acme.book_id,
                sent_at,
            )
            assert moved.payload == {
                "customer": "acme",
                "currency": "USD",
                "available": "3.000000000",
                "threshold": "5.000000000",
            }
            done = WebhookDelivery.objects.get(event=moved)
            assert (done.state, done.attempts, done.endpoint_id) == ("delivered", 2, endpoint.pk)
            assert done.next_attempt_at is None and done.resolved_at
            assert list(
                done.attempt_log.order_by("number").values_list("status_code", flat=True)
            ) == [
                500,
                204,
            ]
            waiting = WebhookDelivery.objects.get(event__public_id=pending.public_id)
            assert waiting.state == "pending" and waiting.next_attempt_at <= timezone.now()
            assert waiting.attempt_log.get().error == "URLError: connection refused"

            # The receiver keeps its URL and secret: webhooks sends it the pending alert.
            assert webhooks.deliveries_send().delivered == 1
            [request] = receiver.received
            assert request["signature_valid"]
            assert request["json"]["id"] == f"evt_{pending.public_id.hex}"
            assert request["json"]["data"]["available"] == "1.000000000"
            waiting.refresh_from_db()
            assert waiting.state == "delivered" and waiting.attempts == 2
    finally:
        _migrate(latest)


@pytest.mark.django_db(transaction=True)
def test_the_move_reverses_and_runs_again_without_doubling(world):
    acme = world["acme"]
    latest = _latest()
    try:
        old = _migrate(BEFORE).loader.project_state(BEFORE).apps
        old.get_model("payments", "LowBalanceAlert").objects.create(
            customer_id=acme.pk,
            url="https://93.184.216.34/hook",
            signing_secret=SECRET,
            threshold_minor=1,
            updated_by="t",
        )
        _migrate(latest)
        first = LowBalanceAlert.objects.get().endpoint_id
        back = _migrate(BEFORE).loader.project_state(BEFORE).apps
        restored = back.get_model("payments", "LowBalanceAlert").objects.get()
        assert (restored.url, restored.signing_secret) == ("https://93.184.216.34/hook", SECRET)
        _migrate(latest)
        assert LowBalanceAlert.objects.get().endpoint_id == first
        assert WebhookEndpoint.objects.count() == 1
    finally:
        _migrate(latest)
