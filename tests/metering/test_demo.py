"""manage.py seed_demo: every app's demo in one run, twice without booking anything twice,
and the gateway flow it prints works as printed."""

import io

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from ledger.integrity import verify_ledger
from ledger.models import Account, Event
from ledger.selectors import trial_balance_list
from metering import demo, ingest
from metering.models import UsageRecord
from payments.models import TopUp
from wallets import selectors as wallets_selectors
from wallets.models import ApiKey, Authorization, Lot

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def embedded(settings):
    settings.DEBUG = True
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # Process caches outlive each test's rolled-back rows.
    for reset in (
        ingest.reset_direct_pipeline,
        wallets_selectors.known_keys.reset,
        wallets_selectors.retail_prices.reset,
    ):
        reset()
    yield
    for reset in (
        ingest.reset_direct_pipeline,
        wallets_selectors.known_keys.reset,
        wallets_selectors.retail_prices.reset,
    ):
        reset()


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def _state() -> dict:
    return {
        "events": Event.objects.count(),
        "accounts": Account.objects.count(),
        "topups": list(TopUp.objects.values_list("state", "amount_minor")),
        "lots": Lot.objects.count(),
        "authorizations": Authorization.objects.count(),
        "api_keys": ApiKey.objects.count(),
    }


def test_seed_demo_twice_books_once_and_balances():
    first = _seed()
    seeded = _state()
    assert _seed() and _state() == seeded  # the second run books nothing twice

    assert seeded["topups"] == [("paid", 20 * 10**9)]
    assert Lot.objects.filter(kind=Lot.Kind.PROMOTIONAL, customer__external_id="acme").exists()
    assert Lot.objects.filter(kind=Lot.Kind.PAID, customer__external_id="acme").exists()
    [authorization] = Authorization.objects.all()
    assert authorization.state == Authorization.State.OPEN
    assert not Account.objects.filter(name="").exists()
    assert Account.objects.get(book__code="distributor", code="wallet:acme").name == (
        "Prepaid wallet of Acme"
    )
    assert all(row.difference == 0 for row in trial_balance_list())
    assert verify_ledger().ok
    verified = io.StringIO()
    call_command("ledger_verify", "--no-progress", stdout=verified)
    assert "ledger OK" in verified.getvalue()
    # What a newcomer needs is printed: both keys and the open authorization.
    assert demo.DEMO_API_KEY in first and demo.DEMO_GATEWAY_KEY in first
    assert str(authorization.public_id) in first


def test_the_printed_gateway_flow_works():
    # The steps seed_demo prints, through the API: authorize, report usage naming the
    # authorization (its batch captures the hold), read it back; a capture by hand.
    printed = _seed()
    assert "/v1/authorizations" in printed and "/v1/usage" in printed
    gateway = APIClient()
    gateway.credentials(HTTP_AUTHORIZATION=f"Bearer {demo.DEMO_GATEWAY_KEY}")

    def authorize(key: str) -> str:
        answer = gateway.post(
            "/v1/authorizations",
            {
                "api_key": demo.DEMO_API_KEY,
                "provider": demo.DEMO_PROVIDER,
                "model": demo.DEMO_MODEL,
                "max_input_tokens": 1000,
                "max_output_tokens": 500,
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY=key,
        )
        assert answer.status_code == 201, answer.content
        assert answer.json()["decision"] == "approved"
        return answer.json()["authorization_id"]

    auth_id = authorize("try-1")
    tokens = {"input": 800, "output": 200, "cache_read": 0, "cache_write": 0, "reasoning": 0}
    reported = gateway.post(
        "/v1/usage",
        {
            "event_id": f"try-{auth_id}",
            "occurred_at": "2026-06-01T12:00:00Z",
            "customer": demo.DEMO_CUSTOMER,
            "provider": demo.DEMO_PROVIDER,
            "model": demo.DEMO_MODEL,
            "authorization_id": auth_id,
            "tokens": tokens,
        },
        format="json",
    )
    assert reported.status_code == 200 and reported.json()["accepted"] == 1, reported.json()
    assert UsageRecord.objects.filter(event_id=f"try-{auth_id}").exists()
    settled = gateway.get(f"/v1/authorizations/{auth_id}").json()
    assert settled["state"] == "captured_by_usage", settled

    by_hand = authorize("try-2")
    captured = gateway.post(
        f"/v1/authorizations/{by_hand}/capture", {"amount": "0.0001"}, format="json"
    )
    assert captured.status_code == 200 and captured.json()["state"] == "captured"
    assert all(row.difference == 0 for row in trial_balance_list())
    assert verify_ledger().ok
