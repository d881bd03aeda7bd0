"""The webhooks API: finance staff manage sellers' endpoints (the secret shown on creation,
retrievable, rotated), list events and deliveries with attempts, and re-send."""

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from tests.webhooks.conftest import Receiver, endpoint_for, invoice_payload
from webhooks import services
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

ENDPOINTS = "/api/webhooks/endpoints/"


def _code(response, status: int) -> str:
    assert response.status_code == status, response.content
    return response.json()["error"]["code"]


def test_create_shows_the_secret_which_staff_can_read_again(books, finance_client, receiver):
    created = finance_client.post(
        ENDPOINTS,
        {"book": "reseller", "url": receiver.url, "event_types": ["invoice.overdue"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    assert body["book"] == "reseller" and body["event_types"] == ["invoice.overdue"]
    assert body["active"] and body["created_by"] == "user:fin"
    assert body["secret_hint"] == f"…{secret[-4:]}"
    endpoint_id = body["id"]
    shown = finance_client.get(f"{ENDPOINTS}{endpoint_id}/").json()
    assert "secret" not in shown and shown["secret_hint"] == f"…{secret[-4:]}"
    again = finance_client.get(f"{ENDPOINTS}{endpoint_id}/secret/").json()
    assert again == {"id": endpoint_id, "secret": secret}
    rotated = finance_client.post(f"{ENDPOINTS}{endpoint_id}/rotate-secret/").json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != secret
    assert rotated["secret_rotated_at"]
    assert WebhookEndpoint.objects.get().secret == rotated["secret"]


def test_list_filter_disable_and_enable(books, finance_client, receiver):
    mine = endpoint_for(books["reseller"], receiver)
    endpoint_for(books["distributor"], receiver)
    assert finance_client.get(ENDPOINTS).json()["count"] == 2
    [listed] = finance_client.get(ENDPOINTS, {"book": "reseller"}).json()["results"]
    assert listed["id"] == mine.pk and "secret" not in listed
    disabled = finance_client.post(f"{ENDPOINTS}{mine.pk}/disable/").json()
    assert disabled["active"] is False and disabled["updated_by"] == "user:fin"
    assert finance_client.post(f"{ENDPOINTS}{mine.pk}/enable/").json()["active"] is True


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"book": "reseller", "url": "ftp://example.com/x"}, "invalid_webhook_url"),
        ({"book": "reseller", "url": "javascript:alert(1)"}, "invalid_webhook_url"),
        ({"book": "nope", "url": "http://127.0.0.1/x"}, "unknown_book"),
        (
            {"book": "reseller", "url": "http://127.0.0.1/x", "event_types": ["invoice.paid"]},
            "invalid_input",
        ),
        ({"book": "reseller"}, "invalid_input"),
    ],
)
def test_bad_input_is_refused_with_a_code(books, finance_client, body, code):
    assert _code(finance_client.post(ENDPOINTS, body, format="json"), 400) == code
    assert not WebhookEndpoint.objects.exists()


def test_unknown_ids_are_404s(books, finance_client):
    assert _code(finance_client.get(f"{ENDPOINTS}987/"), 404) == "webhook_endpoint_not_found"
    assert _code(finance_client.post(f"{ENDPOINTS}987/disable/"), 404) == (
        "webhook_endpoint_not_found"
    )
    resend = finance_client.post("/api/webhooks/deliveries/987/resend/")
    assert _code(resend, 404) == "webhook_delivery_not_found"


def test_events_and_deliveries_with_attempts_then_a_resend(books, finance_client, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    with Receiver(500, 200) as receiver:
        endpoint = endpoint_for(books["reseller"], receiver)
        event = services.webhook_event_enqueue(
            book_id=books["reseller"].pk,
            event_type="invoice.finalized",
            payload=invoice_payload(),
            idempotency_key="inv-1:finalized",
        )
        services.deliveries_send(now=event.created_at)
        [listed_event] = finance_client.get(
            "/api/webhooks/events/", {"book": "reseller", "type": "invoice.finalized"}
        ).json()["results"]
        assert listed_event["id"] == f"evt_{event.public_id.hex}"
        assert listed_event["payload"] == invoice_payload()
        deliveries = finance_client.get(
            "/api/webhooks/deliveries/", {"state": "failed", "endpoint": endpoint.pk}
        ).json()
        [delivery] = deliveries["results"]
        assert delivery["event"] == listed_event["id"] and delivery["state"] == "failed"
        [attempt] = delivery["attempt_log"]
        assert attempt["status_code"] == 500 and attempt["error"].startswith("HTTP 500")
        resent = finance_client.post(f"/api/webhooks/deliveries/{delivery['id']}/resend/")
        assert resent.status_code == 202, resent.content
        assert resent.json()["state"] == "pending" and resent.json()["resends"] == 1
        # Pending now: a second re-send is refused, it is scheduled already.
        again = finance_client.post(f"/api/webhooks/deliveries/{delivery['id']}/resend/")
        assert _code(again, 409) == "webhook_delivery_pending"
        services.deliveries_send()
    shown = finance_client.get(f"/api/webhooks/deliveries/{delivery['id']}/").json()
    assert shown["state"] == "delivered"
    assert [a["status_code"] for a in shown["attempt_log"]] == [500, 200]
    bad_state = finance_client.get("/api/webhooks/deliveries/", {"state": "lost"})
    assert _code(bad_state, 400) == "invalid_input"


def test_a_delivery_to_a_disabled_endpoint_is_not_resent(books, finance_client, receiver):
    endpoint = endpoint_for(books["reseller"], receiver)
    event = services.webhook_event_enqueue(
        book_id=books["reseller"].pk,
        event_type="invoice.finalized",
        payload=invoice_payload(),
        idempotency_key="k",
    )
    services.deliveries_send(now=event.created_at)
    services.webhook_endpoint_activate(endpoint_id=endpoint.pk, active=False, actor="test")
    delivery = WebhookDelivery.objects.get()
    refused = finance_client.post(f"/api/webhooks/deliveries/{delivery.pk}/resend/")
    assert _code(refused, 409) == "webhook_endpoint_disabled"


def test_permissions_are_the_webhooks_models(books, receiver):
    endpoint = endpoint_for(books["reseller"], receiver)
    user = User.objects.create_user("clerk", password="pw")
    client = APIClient()
    client.force_authenticate(user)
    assert _code(client.get(ENDPOINTS), 403) == "permission_denied"
    user.user_permissions.add(Permission.objects.get(codename="view_webhookendpoint"))
    user = User.objects.get(pk=user.pk)  # a fresh permission cache
    client.force_authenticate(user)
    assert client.get(ENDPOINTS).status_code == 200
    # Viewing is not managing: the secret, creating and disabling need more.
    assert _code(client.get(f"{ENDPOINTS}{endpoint.pk}/secret/"), 403) == "permission_denied"
    assert _code(client.post(f"{ENDPOINTS}{endpoint.pk}/disable/"), 403) == "permission_denied"
    created = client.post(ENDPOINTS, {"book": "reseller", "url": receiver.url}, format="json")
    assert _code(created, 403) == "permission_denied"
    assert _code(client.get("/api/webhooks/deliveries/"), 403) == "permission_denied"
    assert _code(APIClient().get(ENDPOINTS), 401) == "not_authenticated"


def test_the_admin_lists_every_model(books, receiver, admin_client):
    endpoint_for(books["reseller"], receiver)
    event = services.webhook_event_enqueue(
        book_id=books["reseller"].pk,
        event_type="invoice.finalized",
        payload=invoice_payload(),
        idempotency_key="k",
    )
    services.deliveries_send(now=event.created_at)
    delivery = WebhookDelivery.objects.get()
    for path in (
        "/admin/webhooks/webhookendpoint/",
        "/admin/webhooks/webhookevent/",
        "/admin/webhooks/webhookdelivery/",
        "/admin/webhooks/deliveryattempt/",
        f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/",
    ):
        assert admin_client.get(path).status_code == 200, path
    assert admin_client.get("/admin/webhooks/deliveryattempt/add/").status_code == 403
