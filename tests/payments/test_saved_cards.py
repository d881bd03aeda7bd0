"""Saving a customer's card for auto top-up through Stripe: a Stripe Customer per
customer (stripe-mock), Checkout in setup mode, top-ups that keep their card, the card
stored from signed webhooks (once; a tampered one stores nothing), then charged
off-session by auto top-up."""

import json

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from payments.alerts.balance_watch import balances_watch
from payments.auto_topup import attempts
from payments.models import (
    AutoTopUpAttempt,
    AutoTopUpSettings,
    CardSetup,
    StripeCustomer,
    StripeEvent,
    TopUp,
)
from tests.payments.stripe_helpers import (
    checkout_session,
    payment_intent,
    post_event,
    setup_intent,
    setup_session,
    signature,
    stripe_event,
)
from tests.wallets.factories import member_client, wallet, wallet_topup

pytestmark = pytest.mark.django_db

USD = 10**9
SETUP_URL = "/api/wallets/customers/acme/auto-topup/payment-method/"
SETTINGS_URL = "/api/wallets/customers/acme/auto-topup/"
# stripe-mock answers every retrieve with its fixture card: a visa ending in 4242.
FIXTURE_CARD = ("visa", "4242")


@pytest.fixture
def alice(world):
    return member_client(world["acme"], "alice")


def _setup(client) -> CardSetup:
    created = client.post(SETUP_URL)
    assert created.status_code == 201, created.content
    return CardSetup.objects.select_related("customer").get(
        public_id=created.json()["card_setup_id"]
    )


def _settings() -> AutoTopUpSettings:
    return AutoTopUpSettings.objects.get()


def test_a_setup_session_is_opened_on_stripe_mock_for_our_stripe_customer(
    world, stripe_proxy, alice
):
    created = alice.post(SETUP_URL)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["state"] == "open" and body["customer"] == "acme"
    assert body["checkout_session_id"].startswith("cs_test_")
    assert body["checkout_url"].startswith("https://checkout.stripe.com/")
    stripe_customer = StripeCustomer.objects.get(customer=world["acme"])
    assert body["stripe_customer_id"] == stripe_customer.stripe_customer_id
    assert stripe_customer.stripe_customer_id.startswith("cus_")
    acme = world["acme"]
    assert stripe_proxy.idempotency_keys("/v1/customers") == [
        f"tokenledger-customer-{acme.pk}-acme"
    ]
    [session] = stripe_proxy.posted("/v1/checkout/sessions")
    assert session["mode"] == "setup"
    assert session["customer"] == stripe_customer.stripe_customer_id
    assert session["currency"] == "usd"
    assert session["setup_intent_data[metadata][tokenledger_card_setup]"] == body["card_setup_id"]
    assert stripe_proxy.idempotency_keys("/v1/checkout/sessions") == [
        f"tokenledger-card-setup-{body['card_setup_id']}"
    ]

    # The Stripe customer is created once and reused by every Checkout session.
    alice.post(SETUP_URL)
    alice.post("/api/wallets/customers/acme/topups/", {"amount": "10"}, format="json")
    assert len(stripe_proxy.posted("/v1/customers")) == 1
    sessions = stripe_proxy.posted("/v1/checkout/sessions")
    assert [s["customer"] for s in sessions] == [stripe_customer.stripe_customer_id] * 3
    assert "payment_intent_data[setup_future_usage]" not in sessions[2]  # not asked
    assert StripeCustomer.objects.count() == 1
    assert not AutoTopUpSettings.objects.exists()  # nothing saved before Stripe says so


def test_a_signed_setup_webhook_stores_the_card_once_and_auto_topup_charges_it(
    world, stripe_proxy, alice
):
    acme = world["acme"]
    setup = _setup(alice)
    event = stripe_event("checkout.session.completed", setup_session(setup))

    # Tampered: the body no longer matches its signature. Nothing is stored.
    body = json.dumps(event).encode()
    tampered = body.replace(b"seti_test_card", b"seti_attacker1")
    refused = post_event(payload=tampered, header=signature(body, settings.STRIPE_WEBHOOK_SECRET))
    assert refused.status_code == 400, refused.content
    assert refused.json()["error"]["code"] == "invalid_signature"
    assert not StripeEvent.objects.exists() and not AutoTopUpSettings.objects.exists()

    answer = post_event(event)
    assert answer.status_code == 200, answer.content
    assert answer.json()["outcome"] == "card_saved"
    # The card is read from stripe-mock: the session's SetupIntent, its method expanded.
    retrieve = [r for r in stripe_proxy.requests if r["method"] == "GET"]
    assert retrieve[0]["path"].startswith("/v1/setup_intents/seti_test_card?")
    config = _settings()
    stripe_customer_id = StripeCustomer.objects.get().stripe_customer_id
    assert config.stripe_customer_id == stripe_customer_id
    assert config.stripe_payment_method_id.startswith("pm_")
    assert (config.card_brand, config.card_last4) == FIXTURE_CARD
    assert config.payment_method_source == "card_setup"
    assert config.payment_method_reference == str(setup.public_id)
    assert config.payment_method_saved_at is not None
    assert not config.enabled  # created off: the customer chooses threshold and target
    setup.refresh_from_db()
    assert setup.state == CardSetup.State.COMPLETED and setup.completed_at
    assert setup.stripe_setup_intent_id == "seti_test_card"
    assert setup.stripe_payment_method_id == config.stripe_payment_method_id

    # A replay changes nothing; setup_intent.succeeded for the same setup finds it stored.
    replay = post_event(event).json()
    assert replay["duplicate"] is True and replay["outcome"] == "card_saved"
    later = stripe_event(
        "setup_intent.succeeded",
        setup_intent(setup, payment_method=config.stripe_payment_method_id),
    )
    assert post_event(later).json()["outcome"] == "recorded"
    assert _settings().updated_at == config.updated_at
    assert StripeEvent.objects.count() == 2

    # What the tenant sees, and enabling it without typing any Stripe id.
    shown = alice.get(SETTINGS_URL).json()
    assert (shown["card_brand"], shown["card_last4"]) == FIXTURE_CARD
    assert shown["payment_method_source"] == "card_setup"
    assert shown["payment_method_reference"] == str(setup.public_id)
    enabled = alice.put(
        SETTINGS_URL, {"enabled": True, "threshold": "5", "target": "20"}, format="json"
    )
    assert enabled.status_code == 200, enabled.content
    assert enabled.json()["stripe_payment_method_id"] == config.stripe_payment_method_id
    assert enabled.json()["card_last4"] == "4242"  # the saved card is kept

    # Auto top-up charges that card off-session.
    wallet_topup(acme, 3 * USD)
    [attempt_id] = balances_watch().attempt_ids
    attempts.auto_topup_charge(attempt_id=attempt_id)
    [charge] = stripe_proxy.posted("/v1/payment_intents")
    assert charge["customer"] == stripe_customer_id
    assert charge["payment_method"] == config.stripe_payment_method_id
    assert (charge["off_session"], charge["confirm"]) == ("true", "true")
    assert charge["amount"] == "1794"  # $17 to the target + 5.5 % fee
    assert AutoTopUpAttempt.objects.get().state == AutoTopUpAttempt.State.SUBMITTED


def test_setup_intent_succeeded_alone_stores_the_card_and_a_foreign_one_is_refused(
    world, stripe_proxy, alice
):
    setup = _setup(alice)
    foreign = setup_intent(setup, customer="cus_someoneelse", payment_method="pm_stolen")
    answer = post_event(stripe_event("setup_intent.succeeded", foreign)).json()
    assert answer["outcome"] == "mismatch"
    assert not AutoTopUpSettings.objects.exists()

    event = stripe_event("setup_intent.succeeded", setup_intent(setup))
    assert post_event(event).json()["outcome"] == "card_saved"
    config = _settings()
    assert config.stripe_payment_method_id == "pm_card_visa"
    # The event names the method only; its card is read from stripe-mock.
    assert (config.card_brand, config.card_last4) == FIXTURE_CARD
    assert [r["path"] for r in stripe_proxy.requests if r["method"] == "GET"] == [
        "/v1/payment_methods/pm_card_visa"
    ]
    # The completed session that follows names the same SetupIntent: stored before.
    completed = stripe_event("checkout.session.completed", setup_session(setup))
    assert post_event(completed).json()["outcome"] == "recorded"
    assert _settings().updated_at == config.updated_at


def test_setup_events_that_match_nothing_are_recorded_and_acknowledged(world, stripe_proxy):
    stranger = CardSetup(
        stripe_checkout_session_id="cs_test_unknown", stripe_customer_id="cus_unknown"
    )
    for event_type, obj, outcome in (
        ("checkout.session.completed", setup_session(stranger), "unmatched"),
        ("setup_intent.succeeded", setup_intent(stranger, "seti_unknown"), "unmatched"),
    ):
        answer = post_event(stripe_event(event_type, obj))
        assert answer.status_code == 200, answer.content
        assert answer.json()["outcome"] == outcome, event_type
    assert StripeEvent.objects.filter(outcome="unmatched").count() == 2
    assert not AutoTopUpSettings.objects.exists() and stripe_proxy.requests == []


def test_a_setup_session_without_its_setup_intent_is_malformed(world, stripe_proxy, alice):
    setup = _setup(alice)
    event = stripe_event("checkout.session.completed", setup_session(setup, setup_intent=None))
    answer = post_event(event).json()
    assert answer["outcome"] == "malformed"
    assert StripeEvent.objects.get(event_id=event["id"]).detail.startswith("a completed setup")
    assert not AutoTopUpSettings.objects.exists()


def test_a_top_up_keeps_the_card_it_paid_with(world, stripe_proxy, alice):
    acme = world["acme"]
    created = alice.post(
        "/api/wallets/customers/acme/topups/",
        {"amount": "10", "save_card_for_auto_topup": True},
        format="json",
    )
    assert created.status_code == 201, created.content
    topup = TopUp.objects.get(public_id=created.json()["topup_id"])
    assert topup.save_card
    [session] = stripe_proxy.posted("/v1/checkout/sessions")
    stripe_customer_id = StripeCustomer.objects.get().stripe_customer_id
    assert session["payment_intent_data[setup_future_usage]"] == "off_session"
    assert session["customer"] == stripe_customer_id and session["mode"] == "payment"

    completed = stripe_event(
        "checkout.session.completed", checkout_session(topup, payment_intent="pi_test_saved")
    )
    answer = post_event(completed).json()
    assert answer["outcome"] == "booked"  # the money first; the card beside it
    assert wallet(acme).balance == 10 * USD
    # The card is the payment's: its PaymentIntent is read from stripe-mock.
    gets = [r["path"] for r in stripe_proxy.requests if r["method"] == "GET"]
    assert gets[0].startswith("/v1/payment_intents/pi_test_saved?")
    config = _settings()
    assert config.stripe_customer_id == stripe_customer_id
    assert config.stripe_payment_method_id.startswith("pm_")
    assert (config.payment_method_source, config.payment_method_reference) == (
        "topup",
        str(topup.public_id),
    )
    assert (config.card_brand, config.card_last4) == FIXTURE_CARD
    assert not config.enabled

    # payment_intent.succeeded for the same payment: booked and stored before.
    succeeded = stripe_event(
        "payment_intent.succeeded",
        payment_intent(topup, "pi_test_saved", payment_method=config.stripe_payment_method_id),
    )
    assert post_event(succeeded).json()["outcome"] == "already_booked"
    assert _settings().updated_at == config.updated_at
    assert wallet(acme).balance == 10 * USD


def test_a_top_up_paid_first_reported_by_its_payment_intent_keeps_its_card(
    world, stripe_proxy, alice
):
    created = alice.post(
        "/api/wallets/customers/acme/topups/",
        {"amount": "10", "save_card_for_auto_topup": True},
        format="json",
    ).json()
    topup = TopUp.objects.get(public_id=created["topup_id"])
    event = stripe_event(
        "payment_intent.succeeded",
        payment_intent(topup, "pi_test_first", payment_method="pm_card_mastercard"),
    )
    answer = post_event(event).json()
    assert answer["outcome"] == "booked"
    config = _settings()
    assert config.stripe_payment_method_id == "pm_card_mastercard"
    assert config.payment_method_source == "topup"
    # A top-up that did not ask keeps nothing.
    plain = alice.post("/api/wallets/customers/acme/topups/", {"amount": "5"}, format="json")
    plain_topup = TopUp.objects.get(public_id=plain.json()["topup_id"])
    paid = stripe_event(
        "payment_intent.succeeded",
        payment_intent(plain_topup, "pi_test_plain", payment_method="pm_card_amex"),
    )
    assert post_event(paid).json()["outcome"] == "booked"
    assert _settings().stripe_payment_method_id == "pm_card_mastercard"


def test_settings_without_a_saved_card_and_typed_ids(world, stripe_api, alice, finance):
    body = {"enabled": True, "threshold": "5", "target": "20"}
    missing = alice.put(SETTINGS_URL, body, format="json")
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "payment_method_required"
    # A tenant cannot name Stripe ids: it could point auto top-up at another's card.
    typed_by_tenant = alice.put(
        SETTINGS_URL,
        body | {"stripe_customer_id": "cus_other", "stripe_payment_method_id": "pm_other"},
        format="json",
    )
    assert typed_by_tenant.status_code == 403
    assert typed_by_tenant.json()["error"]["code"] == "stripe_ids_finance_only"
    half = finance.put(SETTINGS_URL, body | {"stripe_payment_method_id": "pm_x"}, format="json")
    assert half.json()["error"]["code"] == "invalid_auto_topup_settings"
    assert not AutoTopUpSettings.objects.exists()

    # A saved card, then the same ids PUT back (a client echoing what it read) keep it;
    # other ids (finance only) are a manual card.
    setup = _setup(alice)
    post_event(stripe_event("setup_intent.succeeded", setup_intent(setup)))
    saved = _settings()
    echoed = body | {
        "stripe_customer_id": saved.stripe_customer_id,
        "stripe_payment_method_id": saved.stripe_payment_method_id,
    }
    kept = alice.put(SETTINGS_URL, echoed, format="json").json()
    assert (kept["payment_method_source"], kept["card_last4"]) == ("card_setup", "4242")
    typed = echoed | {"stripe_payment_method_id": "pm_card_amex"}
    assert alice.put(SETTINGS_URL, typed, format="json").status_code == 403
    manual = finance.put(SETTINGS_URL, typed, format="json").json()
    assert manual["payment_method_source"] == "manual"
    assert (manual["card_brand"], manual["card_last4"], manual["payment_method_reference"]) == (
        None,
        None,
        None,
    )


def test_a_card_detached_on_stripe_is_forgotten_and_its_auto_topup_switched_off(
    world, stripe_proxy, alice
):
    acme = world["acme"]
    setup = _setup(alice)
    post_event(stripe_event("setup_intent.succeeded", setup_intent(setup)))
    body = {"enabled": True, "threshold": "5", "target": "20"}
    assert alice.put(SETTINGS_URL, body, format="json").status_code == 200
    card_id = _settings().stripe_payment_method_id
    detached = {"id": card_id, "object": "payment_method", "type": "card", "customer": None}
    event = stripe_event("payment_method.detached", detached)

    answer = post_event(event).json()

    assert answer["outcome"] == "recorded"
    config = _settings()
    assert (config.enabled, config.stripe_payment_method_id, config.card_last4) == (False, "", "")
    assert StripeEvent.objects.get(event_id=event["id"]).detail == (
        f"card {card_id} detached: auto top-up of acme switched off"
    )
    # No charge is attempted below the threshold now, and the tenant is told a card is due.
    wallet_topup(acme, 3 * USD)
    assert balances_watch().attempt_ids == []
    again = alice.put(SETTINGS_URL, body, format="json")
    assert again.json()["error"]["code"] == "payment_method_required"
    assert post_event(event).json()["duplicate"] is True
    other = stripe_event("payment_method.detached", detached | {"id": "pm_not_ours"})
    assert post_event(other).json()["outcome"] == "unmatched"


def test_tenants_save_cards_for_their_own_customer_only(world, stripe_api):
    bob = member_client(world["initech"], "bob")
    refused = bob.post(SETUP_URL)
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "customer_not_found"
    assert APIClient().post(SETUP_URL).status_code == 401
    viewer = User.objects.create_user("viewer", password="pw")
    viewer.user_permissions.add(Permission.objects.get(codename="view_autotopupsettings"))
    client = APIClient()
    client.force_authenticate(viewer)
    assert client.post(SETUP_URL).status_code == 404  # viewing is not changing
    assert not CardSetup.objects.exists() and not StripeCustomer.objects.exists()
    assert bob.post("/api/wallets/customers/initech/auto-topup/payment-method/").status_code == 201
    credit = member_client(world["globex"], "carol")
    prepaid_only = credit.post("/api/wallets/customers/globex/auto-topup/payment-method/")
    assert prepaid_only.json()["error"]["code"] == "prepaid_only"


def test_stripe_unreachable_answers_502_and_the_setup_failed(world, alice, settings):  # noqa: F811
    settings.STRIPE_API_BASE = "http://127.0.0.1:1"
    refused = alice.post(SETUP_URL)
    assert refused.status_code == 502
    error = refused.json()["error"]
    assert error["code"] == "stripe_unavailable"
    setup = CardSetup.objects.get(public_id=error["details"]["card_setup_id"])
    assert setup.state == CardSetup.State.FAILED and "APIConnectionError" in setup.error
    assert not StripeCustomer.objects.exists()
    assert not CardSetup.objects.filter(state=CardSetup.State.CREATING).exists()


def test_without_stripe_configured_a_card_setup_answers_503_and_writes_nothing(
    world, stripe_api, settings
):
    settings.STRIPE_API_KEY = ""
    client = member_client(world["acme"], "alice")
    refused = client.post(SETUP_URL)
    assert refused.status_code == 503 and refused["Content-Type"] == "application/json"
    error = refused.json()["error"]
    assert error["code"] == "stripe_not_configured" and "STRIPE_API_KEY" in error["message"]
    assert not CardSetup.objects.exists() and not StripeCustomer.objects.exists()
    assert not AutoTopUpSettings.objects.exists()
    settings.STRIPE_API_KEY = "sk_test_123"
    created = client.post(SETUP_URL)
    assert created.status_code == 201 and created.json()["checkout_url"]
    assert CardSetup.objects.get().state == CardSetup.State.OPEN
