"""Lots over HTTP: finance grants, tenants read their own customer only, and every error
has a stable code (the schema: test_api). Credit limits: tests/credit."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.wallets.factories import paid_topup, spend
from tests.wallets.test_api import _member_of
from wallets.lots import services as lots
from wallets.models import Lot

pytestmark = pytest.mark.django_db

USD = 10**9


def _client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def grant(client, customer="acme", key="g1", **body):
    return client.post(
        f"/api/wallets/customers/{customer}/lots/",
        {"amount": "2.50", **body},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_finance_grants_promotional_credit_and_everyone_sees_the_lots(world, finance):
    acme = world["acme"]
    expires = (timezone.now() + timedelta(days=30)).isoformat()
    created = grant(finance, priority=5, expires_at=expires, source="spring-2026", memo="hi")
    assert created.status_code == 201, created.content
    lot = created.json()
    assert (lot["kind"], lot["status"], lot["priority"]) == ("promotional", "open", 5)
    assert (lot["amount"], lot["remaining"], lot["amount_minor"]) == (
        "2.500000000",
        "2.500000000",
        2_500_000_000,
    )
    assert lot["source"] == "spring-2026" and lot["created_by"] == "user:boss"
    replay = grant(finance, priority=5, expires_at=expires, source="spring-2026", memo="hi")
    assert replay.status_code == 200 and replay.json()["id"] == lot["id"]
    conflict = grant(finance, amount="3")
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_conflict"

    paid_topup(acme, USD)
    spend(acme, 4 * USD)  # 3.50 in lots: 0.50 unfunded
    lots.lots_allocate()
    listed = finance.get("/api/wallets/customers/acme/lots/").json()
    assert listed["customer"] == "acme" and listed["count"] == 2
    # Consumption order: the promotion (priority 5) first, then the paid lot (50).
    assert [r["kind"] for r in listed["results"]] == ["promotional", "paid"]
    assert [r["status"] for r in listed["results"]] == ["exhausted", "exhausted"]
    assert listed["unfunded"] == "0.500000000" and listed["unfunded_minor"] == USD // 2
    assert listed["allocated_through_sequence"] > 0
    only_open = finance.get("/api/wallets/customers/acme/lots/?status=open").json()
    assert only_open["count"] == 0
    bad = finance.get("/api/wallets/customers/acme/lots/?status=nope")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_lot_input"

    tenant = _member_of(acme, "alice")
    mine = tenant.get("/api/wallets/customers/acme/lots/")
    assert mine.status_code == 200 and mine.json()["count"] == 2
    assert tenant.get("/api/wallets/customers/initech/lots/").status_code == 404
    refused = grant(tenant, key="tenant-try")
    assert refused.status_code == 403
    assert Lot.objects.filter(kind="promotional").count() == 1


def test_expired_lots_are_listed_last_with_their_breakage(world, finance):
    acme = world["acme"]
    paid_topup(acme, 100, expires_at=timezone.now() + timedelta(days=1))
    paid_topup(acme, 100)
    spend(acme, 30)
    lots.lots_expire(now=timezone.now() + timedelta(days=2))
    results = finance.get("/api/wallets/customers/acme/lots/").json()["results"]
    assert [r["status"] for r in results] == ["open", "expired"]
    assert (results[1]["consumed_minor"], results[1]["expired_minor"]) == (30, 70)
    assert results[1]["closed_sequence"] and results[1]["closed_at"]
    expired = finance.get("/api/wallets/customers/acme/lots/?status=expired").json()
    assert [r["id"] for r in expired["results"]] == [results[1]["id"]]


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        ({"amount": "1"}, {}, 400, "idempotency_key_required"),
        ({"amount": "0"}, {"HTTP_IDEMPOTENCY_KEY": "a"}, 400, "invalid_lot_input"),
        ({"amount": "-1"}, {"HTTP_IDEMPOTENCY_KEY": "a"}, 400, "invalid_lot_input"),
        ({"amount": "0.0000000001"}, {"HTTP_IDEMPOTENCY_KEY": "a"}, 400, "invalid_amount"),
        ({"amount": "abc"}, {"HTTP_IDEMPOTENCY_KEY": "a"}, 400, "invalid_amount"),
        ({"amount": "1", "priority": 500}, {"HTTP_IDEMPOTENCY_KEY": "a"}, 400, "invalid_input"),
        (
            {"amount": "1", "expires_at": "2001-01-01T00:00:00Z"},
            {"HTTP_IDEMPOTENCY_KEY": "a"},
            400,
            "invalid_lot_input",
        ),
        ({}, {"HTTP_IDEMPOTENCY_KEY": "a"}, 400, "invalid_input"),
    ],
)
def test_bad_grants_have_stable_error_codes(world, finance, body, headers, status, code):
    response = finance.post("/api/wallets/customers/acme/lots/", body, format="json", **headers)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert not Lot.objects.exists()


def test_granting_to_a_credit_customer_is_refused(world, finance):
    response = grant(finance, customer="globex")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "wallet_not_prepaid"


def test_staff_with_only_view_permissions_cannot_grant(world):
    clerk = User.objects.create_user("clerk", password="pw")
    clerk.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_lot", "view_customer"])
    )
    client = _client_for(clerk)
    assert client.get("/api/wallets/customers/globex/lots/").status_code == 200
    assert grant(client).status_code == 403


def test_admin_shows_lots_and_allocations_read_only(world):
    acme = world["acme"]
    paid_topup(acme, 100)
    spend(acme, 30)
    lots.lots_allocate()
    User.objects.create_superuser("admin", password="pw")
    client = Client()
    client.login(username="admin", password="pw")
    for page in ("lot", "lotallocation", "lotcursor", "lotreversal"):
        listed = client.get(f"/admin/wallets/{page}/")
        assert listed.status_code == 200, page
        assert client.get(f"/admin/wallets/{page}/add/").status_code == 403, page
    lot = Lot.objects.get()
    detail = client.get(f"/admin/wallets/lot/{lot.pk}/change/")
    assert detail.status_code == 200 and b"Save" not in detail.content
