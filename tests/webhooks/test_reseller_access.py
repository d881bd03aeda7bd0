"""A reseller's staff (members of its seller book, wallets.BookMembership) manage their own
book's webhook endpoints through /api/webhooks/ and see only their book's events and
deliveries; finance sees every book; another book's ids answer 404, as if they did not
exist; a login that is neither gets 403."""

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from ledger import services as ledger_services
from ledger.models import Book
from tests.webhooks.conftest import Receiver, endpoint_for, invoice_payload
from wallets import services as wallets_services
from webhooks import services
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

API = "/api/webhooks"


def _book_member(username: str, book: Book) -> APIClient:
    user = User.objects.create_user(username, password="pw")
    wallets_services.book_member_add(book=book, user=user, actor="test")
    client = APIClient()
    client.force_authenticate(user)
    return client


def _code(response, status: int) -> str:
    assert response.status_code == status, response.content
    return response.json()["error"]["code"]


@pytest.fixture
def two_resellers(books, settings):
    """apex (the `reseller` book) and bolt, each with an endpoint on its own receiver and
    one failed delivery of an invoice event."""
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    bolt = ledger_services.book_create(code="bolt", name="Bolt", kind=Book.Kind.RESELLER)
    with Receiver(500) as apex_receiver, Receiver(500) as bolt_receiver:
        rows = {}
        for name, book, receiver in (
            ("apex", books["reseller"], apex_receiver),
            ("bolt", bolt, bolt_receiver),
        ):
            endpoint = endpoint_for(book, receiver)
            event = services.webhook_event_enqueue(
                book_id=book.pk,
                event_type="invoice.finalized",
                payload=invoice_payload(f"{name.upper()}-1"),
                idempotency_key=f"{name}-inv-1:finalized",
            )
            services.deliveries_send(now=event.created_at)
            delivery = WebhookDelivery.objects.get(endpoint=endpoint)
            assert delivery.state == "failed"
            rows[name] = {"book": book, "endpoint": endpoint, "event": event, "delivery": delivery}
        yield rows


def test_reseller_staff_manage_their_own_books_endpoints(two_resellers, receiver):
    apex = _book_member("apex-staff", two_resellers["apex"]["book"])
    mine = two_resellers["apex"]["endpoint"]
    [listed] = apex.get(f"{API}/endpoints/").json()["results"]
    assert listed["id"] == mine.pk and listed["book"] == "reseller"
    assert apex.get(f"{API}/endpoints/", {"book": "bolt"}).json()["count"] == 0
    created = apex.post(
        f"{API}/endpoints/",
        {"book": "reseller", "url": receiver.url, "event_types": ["invoice.overdue"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["secret"].startswith("whsec_")
    assert created.json()["created_by"] == "user:apex-staff"
    new_id = created.json()["id"]
    assert apex.get(f"{API}/endpoints/{new_id}/").status_code == 200
    secret = apex.get(f"{API}/endpoints/{new_id}/secret/").json()["secret"]
    rotated = apex.post(f"{API}/endpoints/{new_id}/rotate-secret/").json()["secret"]
    assert rotated != secret and WebhookEndpoint.objects.get(pk=new_id).secret == rotated
    assert apex.post(f"{API}/endpoints/{new_id}/disable/").json()["active"] is False
    assert apex.post(f"{API}/endpoints/{new_id}/enable/").json()["active"] is True
    assert apex.get(f"{API}/endpoints/").json()["count"] == 2


def test_another_books_endpoints_are_404s_and_cannot_be_made(two_resellers, receiver):
    apex = _book_member("apex-staff", two_resellers["apex"]["book"])
    theirs = two_resellers["bolt"]["endpoint"]
    before = WebhookEndpoint.objects.get(pk=theirs.pk)
    for method, path in (
        ("get", f"{API}/endpoints/{theirs.pk}/"),
        ("get", f"{API}/endpoints/{theirs.pk}/secret/"),
        ("post", f"{API}/endpoints/{theirs.pk}/rotate-secret/"),
        ("post", f"{API}/endpoints/{theirs.pk}/disable/"),
        ("post", f"{API}/endpoints/{theirs.pk}/enable/"),
    ):
        response = getattr(apex, method)(path)
        assert _code(response, 404) == "webhook_endpoint_not_found", path
    after = WebhookEndpoint.objects.get(pk=theirs.pk)
    assert (after.secret, after.active, after.updated_by) == (
        before.secret,
        before.active,
        before.updated_by,
    )
    # Naming another book (or the distributor's) is naming no book.
    for code in ("bolt", "distributor"):
        made = apex.post(f"{API}/endpoints/", {"book": code, "url": receiver.url}, format="json")
        assert _code(made, 400) == "unknown_book"
    assert WebhookEndpoint.objects.count() == 2


def test_reseller_staff_see_only_their_books_events_and_deliveries(two_resellers):
    apex = _book_member("apex-staff", two_resellers["apex"]["book"])
    mine, theirs = two_resellers["apex"], two_resellers["bolt"]
    [event] = apex.get(f"{API}/events/").json()["results"]
    assert event["id"] == f"evt_{mine['event'].public_id.hex}"
    assert apex.get(f"{API}/events/", {"book": "bolt"}).json()["count"] == 0
    [delivery] = apex.get(f"{API}/deliveries/").json()["results"]
    assert delivery["id"] == mine["delivery"].pk and delivery["book"] == "reseller"
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500]
    for query in ({"book": "bolt"}, {"endpoint": theirs["endpoint"].pk}):
        assert apex.get(f"{API}/deliveries/", query).json()["count"] == 0
    their_delivery = theirs["delivery"].pk
    assert _code(apex.get(f"{API}/deliveries/{their_delivery}/"), 404) == (
        "webhook_delivery_not_found"
    )
    refused = apex.post(f"{API}/deliveries/{their_delivery}/resend/")
    assert _code(refused, 404) == "webhook_delivery_not_found"
    assert WebhookDelivery.objects.get(pk=their_delivery).state == "failed"
    # Its own failed delivery it may send again.
    resent = apex.post(f"{API}/deliveries/{mine['delivery'].pk}/resend/")
    assert resent.status_code == 202 and resent.json()["state"] == "pending"


def test_finance_sees_every_book_and_a_stranger_nothing(two_resellers, finance_client):
    assert finance_client.get(f"{API}/endpoints/").json()["count"] == 2
    assert finance_client.get(f"{API}/deliveries/").json()["count"] == 2
    assert finance_client.get(f"{API}/events/").json()["count"] == 2
    bolt_endpoint = two_resellers["bolt"]["endpoint"].pk
    assert finance_client.get(f"{API}/endpoints/{bolt_endpoint}/secret/").status_code == 200
    stranger = APIClient()
    stranger.force_authenticate(User.objects.create_user("nobody", password="pw"))
    for path in ("endpoints/", "events/", "deliveries/", f"endpoints/{bolt_endpoint}/"):
        assert _code(stranger.get(f"{API}/{path}"), 403) == "permission_denied", path
    # A member of two books sees both.
    both = User.objects.create_user("both", password="pw")
    for name in ("apex", "bolt"):
        wallets_services.book_member_add(book=two_resellers[name]["book"], user=both, actor="t")
    client = APIClient()
    client.force_authenticate(both)
    assert client.get(f"{API}/deliveries/").json()["count"] == 2
