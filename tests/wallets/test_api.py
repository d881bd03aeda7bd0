"""The HTTP API: gateways authorize, capture and void with a gateway key; finance
manages keys; everything is in the OpenAPI schema with stable error codes."""

import json

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from tests.wallets.factories import ApiKeyFactory, gateway_key, wallet, wallet_topup
from wallets.models import ApiKey, Authorization

pytestmark = pytest.mark.django_db

USD = 10**9


@pytest.fixture
def gateway():
    _key, token = gateway_key("test-gw")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def body(raw, **extra):
    return {
        "api_key": raw,
        "provider": "deepseek",
        "model": "deepseek-chat",
        "max_input_tokens": 10_000,
        "max_output_tokens": 2_000,
        **extra,
    }


def test_authorize_capture_over_http(world, gateway):
    acme = world["acme"]
    wallet_topup(acme, USD)
    key = ApiKeyFactory(customer=acme)

    created = gateway.post(
        "/v1/authorizations", body(key.raw), format="json", HTTP_IDEMPOTENCY_KEY="r1"
    )
    assert created.status_code == 201, created.content
    answer = created.json()
    assert answer["decision"] == "approved" and answer["reason"] is None
    assert answer["currency"] == "USD" and answer["expires_at"]
    held = Authorization.objects.get().amount_minor
    assert answer["amount"] == f"{held / USD:.9f}"

    replay = gateway.post(
        "/v1/authorizations", body(key.raw), format="json", HTTP_IDEMPOTENCY_KEY="r1"
    )
    assert replay.status_code == 200 and replay.json() == answer
    conflict = gateway.post(
        "/v1/authorizations",
        body(key.raw, max_output_tokens=1),
        format="json",
        HTTP_IDEMPOTENCY_KEY="r1",
    )
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_conflict"

    auth_id = answer["authorization_id"]
    as_number = gateway.post(
        f"/v1/authorizations/{auth_id}/capture", {"amount": 1e-6}, format="json"
    )
    assert as_number.status_code == 400
    assert as_number.json()["error"]["code"] == "invalid_amount"
    captured = gateway.post(
        f"/v1/authorizations/{auth_id}/capture", {"amount": "0.000001"}, format="json"
    )
    assert captured.status_code == 200, captured.content
    assert captured.json()["state"] == "captured"
    assert captured.json()["captured"] == "0.000001000"
    assert wallet(acme).balance == USD - 1000
    assert gateway.get(f"/v1/authorizations/{auth_id}").json()["state"] == "captured"

    refused = gateway.post(f"/v1/authorizations/{auth_id}/void", format="json")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "authorization_not_open"


def test_declines_are_answers_with_a_stable_reason(world, gateway):
    answer = gateway.post("/v1/authorizations", body("sk_live_x_y"), format="json")
    assert answer.status_code == 201
    assert answer.json() == {
        "decision": "declined",
        "reason": "unknown_key",
        "authorization_id": None,
        "state": "declined",
        "amount": None,
        "captured": None,
        "currency": None,
        "expires_at": None,
    }
    key = ApiKeyFactory(customer=world["acme"])
    poor = gateway.post("/v1/authorizations", body(key.raw), format="json").json()
    assert (poor["decision"], poor["reason"]) == ("declined", "insufficient_funds")


def test_bodies_python_cannot_hold_are_parse_errors_not_500s(world, gateway):
    key = ApiKeyFactory(customer=world["acme"])
    text = json.dumps(body(key.raw, model="MODEL"))
    lone = gateway.post(
        "/v1/authorizations", text.replace("MODEL", "gpt\\ud800"), content_type="application/json"
    )
    assert lone.status_code == 400
    assert lone.json()["error"] == {
        "code": "parse_error",
        "message": "JSON parse error - text holds a lone surrogate (not valid Unicode)",
    }
    deep = gateway.post(
        "/v1/authorizations", "[" * 100_000 + "]" * 100_000, content_type="application/json"
    )
    assert deep.status_code == 400
    assert deep.json()["error"]["message"] == "JSON parse error - nested too deeply"
    # A surrogate PAIR spells a valid character (an emoji): parsed, then judged as a model.
    pair = gateway.post(
        "/v1/authorizations",
        text.replace("MODEL", "gpt\\ud83d\\ude00"),
        content_type="application/json",
    )
    assert pair.status_code == 422 and pair.json()["error"]["code"] == "model_not_priced"


def test_errors_have_stable_codes(world, gateway):
    key = ApiKeyFactory(customer=world["acme"])
    bad = gateway.post("/v1/authorizations", body(key.raw, max_input_tokens=-1), format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_input"
    nul = gateway.post("/v1/authorizations", body(key.raw, model="gpt\x00"), format="json")
    assert nul.status_code == 400 and nul.json()["error"]["code"] == "invalid_input"
    unpriced = gateway.post("/v1/authorizations", body(key.raw, model="nope"), format="json")
    assert unpriced.status_code == 422
    assert unpriced.json()["error"]["code"] == "model_not_priced"
    missing = gateway.post(
        "/v1/authorizations/00000000-0000-0000-0000-000000000000/void", format="json"
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "authorization_not_found"
    anonymous = APIClient().post("/v1/authorizations", body(key.raw), format="json")
    assert anonymous.status_code in (401, 403)


def test_a_gateway_sees_only_its_own_sources_authorizations(world, gateway):
    acme = world["acme"]
    wallet_topup(acme, USD)
    key = ApiKeyFactory(customer=acme)
    auth_id = gateway.post("/v1/authorizations", body(key.raw), format="json").json()[
        "authorization_id"
    ]
    _other, token = gateway_key("other-gw")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert other.post(f"/v1/authorizations/{auth_id}/void", format="json").status_code == 404
    voided = gateway.post(f"/v1/authorizations/{auth_id}/void", format="json")
    assert voided.status_code == 200 and voided.json()["state"] == "voided"
    assert wallet(acme).available == USD


def test_finance_manages_keys(world, finance):
    created = finance.post(
        "/api/wallets/customers/acme/keys/",
        {"name": "prod", "daily_limit_minor": 5000, "allowed_models": ["gpt-4o"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    key = created.json()["key"]
    assert secret.startswith(f"sk_live_{key['prefix']}_")
    assert key["daily_limit_minor"] == 5000 and key["monthly_limit_minor"] is None

    listed = finance.get("/api/wallets/customers/acme/keys/").json()
    assert [k["id"] for k in listed] == [key["id"]]
    assert secret not in str(listed)
    assert finance.get("/api/wallets/customers/globex/keys/").json() == []

    patched = finance.patch(
        f"/api/wallets/keys/{key['id']}/", {"total_limit_minor": 10}, format="json"
    )
    assert patched.json()["total_limit_minor"] == 10 and patched.json()["daily_limit_minor"] == 5000
    revoked = finance.post(f"/api/wallets/keys/{key['id']}/revoke/")
    assert revoked.json()["revoked_at"] and revoked.json()["revoked_by"] == "user:boss"
    assert ApiKey.objects.get().revoked_at is not None

    suspended = finance.post(
        "/api/wallets/customers/acme/suspension/", {"suspended": True}, format="json"
    )
    assert suspended.json() == {"customer": "acme", "suspended": True}
    shown = finance.get("/api/wallets/customers/acme/wallet/").json()
    assert shown["suspended"] is True and shown["balance"] == "0.000000000"
    missing = finance.get("/api/wallets/customers/nobody/keys/")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "customer_not_found"
    assert finance.get("/api/wallets/authorizations/?customer=acme").status_code == 200


def test_a_login_without_permissions_or_membership_sees_no_customer(world):
    user = User.objects.create_user("nobody", password="pw")
    client = APIClient()
    client.force_authenticate(user)
    for response in (
        client.get("/api/wallets/customers/acme/keys/"),
        client.post("/api/wallets/customers/acme/keys/", {}),
        client.get("/api/wallets/customers/acme/wallet/"),
        client.get("/api/wallets/authorizations/?customer=acme"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "customer_not_found"
    assert client.get("/api/wallets/customers/").json()["results"] == []
    assert APIClient().get("/api/wallets/customers/").status_code == 401


def _member_of(customer, username: str) -> APIClient:
    from wallets.services import customer_member_add

    user = User.objects.create_user(username, password="pw")
    customer_member_add(customer=customer, user=user, actor="test")
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_tenants_see_and_manage_only_their_own_customer(world, gateway):
    acme, globex = world["acme"], world["globex"]
    wallet_topup(acme, USD)
    wallet_topup(globex, 2 * USD)
    acme_client = _member_of(acme, "alice")
    globex_key = ApiKeyFactory(customer=globex)
    gateway.post("/v1/authorizations", body(globex_key.raw), format="json")

    listed = acme_client.get("/api/wallets/customers/").json()["results"]
    assert [c["customer"] for c in listed] == ["acme"]
    created = acme_client.post(
        "/api/wallets/customers/acme/keys/", {"name": "ci", "daily_limit_minor": 5}, format="json"
    )
    assert created.status_code == 201, created.content
    own_key = created.json()["key"]["id"]
    assert [k["id"] for k in acme_client.get("/api/wallets/customers/acme/keys/").json()] == [
        own_key
    ]
    assert acme_client.get("/api/wallets/customers/acme/wallet/").json()["balance"] == (
        "1.000000000"
    )
    changed = acme_client.patch(
        f"/api/wallets/keys/{own_key}/", {"monthly_limit_minor": 9}, format="json"
    )
    assert changed.json()["monthly_limit_minor"] == 9
    assert acme_client.post(f"/api/wallets/keys/{own_key}/revoke/").json()["revoked_at"]

    # Another tenant's things answer exactly like things that do not exist.
    for response in (
        acme_client.get("/api/wallets/customers/globex/wallet/"),
        acme_client.get("/api/wallets/customers/globex/keys/"),
        acme_client.get(f"/api/wallets/keys/{globex_key.pk}/"),
        acme_client.post(f"/api/wallets/keys/{globex_key.pk}/revoke/"),
    ):
        assert response.status_code == 404, response.content
    assert acme_client.get("/api/wallets/authorizations/").json()["results"] == []
    assert ApiKey.objects.get(pk=globex_key.pk).revoked_at is None
    # Suspension stays with finance.
    refused = acme_client.post(
        "/api/wallets/customers/acme/suspension/", {"suspended": False}, format="json"
    )
    assert refused.status_code == 403


def test_openapi_schema_lists_the_wallets_api():
    response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    for path in (
        b"/v1/authorizations",
        b"/v1/authorizations/{public_id}/capture",
        b"/v1/authorizations/{public_id}/void",
        b"/api/wallets/customers/{external_id}/keys/",
        b"/api/wallets/keys/{id}/revoke/",
        b"/api/wallets/customers/{external_id}/lots/",
        b"CustomerLots",
        b"LotGrantInput",
    ):
        assert path in response.content, path


def test_admin_lists_keys_and_authorizations(world, finance):
    from django.test import Client

    ApiKeyFactory(customer=world["acme"])
    client = Client()
    client.force_login(User.objects.get(username="boss"))
    gateway_key("admin-gw")
    for url in (
        "/admin/wallets/apikey/",
        "/admin/wallets/authorization/",
        "/admin/wallets/gatewaykey/",
    ):
        assert client.get(url).status_code == 200
