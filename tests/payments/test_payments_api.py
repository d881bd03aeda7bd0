"""The payments API is in the OpenAPI schema; finance acts by permission on every
customer; the admin shows money records read-only."""

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from rest_framework.test import APIClient

from payments.alerts import low_balance as alerts
from payments.alerts.balance_watch import balances_watch
from payments.auto_topup import configuration
from payments.topups import services as topups
from tests.payments.stripe_helpers import checkout_session, post_event, stripe_event
from tests.wallets.factories import wallet_topup
from tests.webhooks.conftest import Receiver
from webhooks import services as webhooks

pytestmark = pytest.mark.django_db

USD = 10**9


def test_openapi_schema_lists_the_payments_api():
    response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    for path in (
        b"/v1/stripe/webhook",
        b"/api/wallets/customers/{external_id}/topups/",
        b"/api/wallets/customers/{external_id}/auto-topup/",
        b"/api/wallets/customers/{external_id}/auto-topup/attempts/",
        b"/api/wallets/customers/{external_id}/low-balance-alert/",
        b"/api/wallets/customers/{external_id}/low-balance-alert/deliveries/",
        b"Stripe-Signature",
        b"Tokenledger-Signature",
        b"wallet.balance_low",
    ):
        assert path in response.content, path


def _staff(*codenames: str) -> APIClient:
    user = User.objects.create_user("finance", password="pw")
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_finance_by_permission_sees_every_customers_payments(world, stripe_api):
    topups.topup_checkout_create(customer=world["acme"], amount="10", actor="test")
    topups.topup_checkout_create(customer=world["initech"], amount="7", actor="test")
    viewer = _staff("view_topup", "view_autotopupattempt", "view_webhookdelivery")
    for customer, amount in (("acme", "10.00"), ("initech", "7.00")):
        [listed] = viewer.get(f"/api/wallets/customers/{customer}/topups/").json()["results"]
        assert listed["amount"] == amount
    assert viewer.get("/api/wallets/customers/acme/auto-topup/attempts/").status_code == 200
    alerts_sent = viewer.get("/api/wallets/customers/acme/low-balance-alert/deliveries/")
    assert alerts_sent.status_code == 200 and alerts_sent.json()["results"] == []
    # Viewing is not creating: without add_topup a non-member gets the customer hidden.
    refused = viewer.post("/api/wallets/customers/acme/topups/", {"amount": "5"}, format="json")
    assert refused.status_code == 404
    assert viewer.get("/api/wallets/customers/acme/auto-topup/").status_code == 404


def test_admin_shows_payments_read_only(world, stripe_api):
    acme = world["acme"]
    topup = topups.topup_checkout_create(customer=acme, amount="10", actor="test")
    post_event(stripe_event("checkout.session.completed", checkout_session(topup)))
    wallet_topup(acme, USD)
    configuration.auto_topup_settings_set(
        customer=acme,
        enabled=True,
        threshold_minor=20 * USD,
        target_minor=30 * USD,
        stripe_customer_id="cus_acme",
        stripe_payment_method_id="pm_card_visa",
        actor="test",
    )
    with Receiver() as receiver:
        _alert, receiver.secret = alerts.low_balance_alert_set(
            customer=acme, url=receiver.url, threshold_minor=20 * USD, actor="test"
        )
        assert len(balances_watch().alert_event_ids) == 1
        assert webhooks.deliveries_send().delivered == 1
    client = Client()
    client.force_login(User.objects.create_superuser("boss", password="pw"))
    for name in (
        "topup",
        "stripeevent",
        "autotopupsettings",
        "autotopupattempt",
        "lowbalancealert",
    ):
        listing = client.get(f"/admin/payments/{name}/")
        assert listing.status_code == 200, name
    detail = client.get(f"/admin/payments/topup/{topup.pk}/change/")
    assert detail.status_code == 200 and b"Save" not in detail.content  # read-only
    assert client.get("/admin/payments/topup/add/").status_code == 403
    alert_page = client.get(f"/admin/payments/lowbalancealert/{acme.low_balance_alert.pk}/change/")
    assert alert_page.status_code == 200
    assert acme.low_balance_alert.endpoint.secret.encode() not in alert_page.content
