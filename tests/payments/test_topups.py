"""Creating Stripe top-ups: a Checkout session on stripe-mock for amount + platform fee,
our own row with the amounts we asked for, stable error codes, nothing booked yet."""

import pytest
from rest_framework.test import APIClient

from ledger.models import Event
from payments.models import StripeCustomer, TopUp
from tests.wallets.factories import member_client, wallet

pytestmark = pytest.mark.django_db


def test_a_top_up_opens_a_checkout_session_on_stripe_mock(world, stripe_proxy, finance):
    created = finance.post("/api/wallets/customers/acme/topups/", {"amount": "10"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    # The customer pays amount + 5.5 %; the wallet will be credited the amount.
    assert (body["amount"], body["fee"], body["total"]) == ("10.00", "0.55", "10.55")
    assert body["currency"] == "USD" and body["fee_percent"] == "5.5"
    assert body["state"] == "open" and body["source"] == "checkout"
    assert body["checkout_session_id"].startswith("cs_test_")
    assert body["checkout_url"].startswith("https://checkout.stripe.com/")
    topup = TopUp.objects.get(public_id=body["topup_id"])
    assert topup.stripe_checkout_session_id == body["checkout_session_id"]
    assert (topup.amount_minor, topup.fee_minor) == (10 * 10**9, 55 * 10**7)
    # One session request, with an idempotency key derived from our row.
    assert stripe_proxy.idempotency_keys("/v1/checkout/sessions") == [
        f"tokenledger-topup-{topup.public_id}"
    ]
    # Nothing is booked before Stripe says it was paid.
    assert not Event.objects.exists()
    assert wallet(world["acme"]) is None or wallet(world["acme"]).balance == 0
    listed = finance.get("/api/wallets/customers/acme/topups/").json()
    assert [t["topup_id"] for t in listed["results"]] == [body["topup_id"]]


@pytest.mark.parametrize(
    "amount, code",
    [
        ("abc", "invalid_topup"),
        ("10.001", "invalid_topup"),  # below the cent
        ("-5", "invalid_topup"),
        ("0", "invalid_topup"),
        ("4.99", "topup_amount_out_of_range"),
        ("10000.01", "topup_amount_out_of_range"),
    ],
)
def test_bad_amounts_are_refused_with_stable_codes(world, stripe_proxy, finance, amount, code):
    refused = finance.post("/api/wallets/customers/acme/topups/", {"amount": amount}, format="json")
    assert refused.status_code == 400, refused.content
    assert refused.json()["error"]["code"] == code
    assert not TopUp.objects.exists() and stripe_proxy.requests == []


def test_limits_and_fee_are_settings(world, stripe_api, finance, settings):
    settings.WALLETS_TOPUP_MIN, settings.WALLETS_TOPUP_MAX = "1", "20"
    settings.WALLETS_PLATFORM_FEE_PERCENT = "2.9"
    body = finance.post(
        "/api/wallets/customers/acme/topups/", {"amount": "1.50"}, format="json"
    ).json()
    assert (body["amount"], body["fee"], body["total"]) == ("1.50", "0.04", "1.54")  # 4.35c
    refused = finance.post("/api/wallets/customers/acme/topups/", {"amount": "21"}, format="json")
    assert refused.json()["error"] == {
        "code": "topup_amount_out_of_range",
        "message": "a top-up is between 1 and 20 USD",
        "details": {"minimum": "1.00", "maximum": "20.00"},
    }


def test_credit_customers_do_not_top_up(world, stripe_api, finance):
    refused = finance.post("/api/wallets/customers/globex/topups/", {"amount": "10"}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "prepaid_only"


def test_stripe_unreachable_answers_502_and_books_nothing(world, finance, settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:1"
    refused = finance.post("/api/wallets/customers/acme/topups/", {"amount": "10"}, format="json")
    assert refused.status_code == 502
    error = refused.json()["error"]
    assert error["code"] == "stripe_unavailable"
    topup = TopUp.objects.get(public_id=error["details"]["topup_id"])
    assert topup.state == TopUp.State.FAILED and "APIConnectionError" in topup.error
    assert not Event.objects.exists()
    assert not TopUp.objects.filter(state=TopUp.State.CREATING).exists()


@pytest.mark.parametrize("save_card", [False, True])
def test_without_stripe_configured_a_top_up_answers_503_and_writes_nothing(
    world, stripe_api, finance, settings, save_card
):
    settings.STRIPE_API_KEY = ""
    url, body = "/api/wallets/customers/acme/topups/", {"amount": "10"}
    body |= {"save_card_for_auto_topup": True} if save_card else {}
    refused = finance.post(url, body, format="json")
    assert refused.status_code == 503 and refused["Content-Type"] == "application/json"
    error = refused.json()["error"]
    assert error["code"] == "stripe_not_configured"
    assert "STRIPE_API_KEY" in error["message"] and "nothing was created" in error["message"]
    assert not TopUp.objects.exists() and not StripeCustomer.objects.exists()
    assert not Event.objects.exists()
    # A bad amount is still the client's error, whatever the server's Stripe settings.
    invalid = finance.post(url, {"amount": "-1"}, format="json")
    assert invalid.status_code == 400 and invalid.json()["error"]["code"] == "invalid_topup"
    # Configured again (stripe-mock), the same request opens a session.
    settings.STRIPE_API_KEY = "sk_test_123"
    created = finance.post(url, body, format="json")
    assert created.status_code == 201 and created.json()["state"] == "open"
    assert TopUp.objects.get().state == TopUp.State.OPEN


def test_tenants_top_up_and_list_only_their_own_customer(world, stripe_api):
    acme_member = member_client(world["acme"], "alice")
    initech_member = member_client(world["initech"], "bob")
    mine = acme_member.post("/api/wallets/customers/acme/topups/", {"amount": "5"}, format="json")
    assert mine.status_code == 201
    for response in (
        initech_member.get("/api/wallets/customers/acme/topups/"),
        initech_member.post("/api/wallets/customers/acme/topups/", {"amount": "5"}, format="json"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "customer_not_found"
    assert initech_member.get("/api/wallets/customers/initech/topups/").json()["results"] == []
    assert APIClient().get("/api/wallets/customers/acme/topups/").status_code == 401
