"""Credit limits over HTTP (GET / PUT customers/{id}/credit-limit/, mounted by credit
under /api/wallets/), the credit position in the wallet view, and the admin screens."""

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from rest_framework.test import APIClient

from credit.models import CreditLimit, CreditLimitChange
from credit.services import credit_limit_set
from tests.wallets.factories import ApiKeyFactory
from tests.wallets.test_api import _member_of
from tests.wallets.test_authorizations import authorize

pytestmark = pytest.mark.django_db

USD = 10**9
URL = "/api/wallets/customers/{}/credit-limit/"


def test_finance_sets_a_credit_limit_and_tenants_only_read_it(world, finance, settings):
    settings.CREDIT_LIMIT_DEFAULT = "1000"
    globex = world["globex"]
    shown = finance.get(URL.format("globex")).json()
    assert (shown["customer"], shown["billing"], shown["currency"]) == ("globex", "credit", "USD")
    assert shown["credit_limit_minor"] is None and shown["limit_is_default"] is True
    assert shown["effective_credit_limit"] == "1000.000000000"
    assert (shown["exposure_minor"], shown["available_credit_minor"]) == (0, 1000 * USD)

    changed = finance.put(URL.format("globex"), {"credit_limit_minor": 5 * USD}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["credit_limit_minor"] == 5 * USD
    assert changed.json()["limit_is_default"] is False
    assert CreditLimit.objects.get(customer=globex).credit_limit_minor == 5 * USD
    audit = CreditLimitChange.objects.get()
    assert (audit.previous_minor, audit.credit_limit_minor, audit.changed_by) == (
        None,
        5 * USD,
        "user:boss",
    )

    tenant = _member_of(globex, "gina")
    assert tenant.get(URL.format("globex")).json()["credit_limit_minor"] == 5 * USD
    refused = tenant.put(URL.format("globex"), {"credit_limit_minor": 10**15}, format="json")
    assert refused.status_code == 403
    assert tenant.get(URL.format("acme")).status_code == 404

    back = finance.put(URL.format("globex"), {"credit_limit_minor": None}, format="json")
    assert back.json()["limit_is_default"] is True
    assert back.json()["effective_credit_limit_minor"] == 1000 * USD
    for bad in ({"credit_limit_minor": -1}, {"credit_limit_minor": "x"}, {}):
        response = finance.put(URL.format("globex"), bad, format="json")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_input"
    assert list(
        CreditLimitChange.objects.order_by("pk").values_list("previous_minor", "credit_limit_minor")
    ) == [(None, 5 * USD), (5 * USD, None)]


def test_staff_with_only_view_permissions_cannot_set_a_limit(world):
    clerk = User.objects.create_user("clerk", password="pw")
    clerk.user_permissions.add(*Permission.objects.filter(codename="view_customer"))
    client = APIClient()
    client.force_authenticate(clerk)
    assert client.get(URL.format("globex")).status_code == 200
    refused = client.put(URL.format("globex"), {"credit_limit_minor": 1}, format="json")
    assert refused.status_code == 403
    assert not CreditLimit.objects.exists()


def test_the_wallet_endpoint_shows_exposure_and_available_credit(world, finance, settings):
    settings.CREDIT_LIMIT_DEFAULT = "1000"
    globex = world["globex"]
    credit_limit_set(customer=globex, credit_limit_minor=2 * USD, actor="test")
    held = authorize(ApiKeyFactory(customer=globex).raw)
    assert held.decision == "approved"
    shown = finance.get("/api/wallets/customers/globex/wallet/").json()
    assert list(shown)[:4] == ["customer", "billing", "currency", "credit_limit_minor"]
    assert list(shown)[-4:] == ["account_id", "balance", "available", "suspended"]
    assert shown["billing"] == "credit"
    assert shown["effective_credit_limit_minor"] == 2 * USD
    assert shown["exposure_minor"] == held.amount_minor  # an open hold, nothing unbilled yet
    assert shown["available_credit_minor"] == 2 * USD - held.amount_minor
    prepaid = finance.get("/api/wallets/customers/acme/wallet/").json()
    assert prepaid["exposure"] is None and prepaid["available_credit"] is None
    assert prepaid["effective_credit_limit"] == "1000.000000000"


def test_openapi_schema_lists_the_credit_limit_api_and_the_wallets_credit_fields():
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert "/api/wallets/customers/{external_id}/credit-limit/" in schema["paths"]
    components = schema["components"]["schemas"]
    assert "CreditLimitInput" in components
    credit = list(components["CreditOutput"]["properties"])
    wallet = list(components["CustomerWalletOutput"]["properties"])
    assert credit[:3] == ["customer", "billing", "currency"] and "available_credit" in credit
    assert wallet == credit + ["account_id", "balance", "available", "suspended"]


def test_admin_shows_limits_and_their_changes_read_only(world):
    globex = world["globex"]
    credit_limit_set(customer=globex, credit_limit_minor=7 * USD, actor="test")
    User.objects.create_superuser("admin", password="pw")
    client = Client()
    client.login(username="admin", password="pw")
    for page in ("creditlimit", "creditlimitchange"):
        listed = client.get(f"/admin/credit/{page}/")
        assert listed.status_code == 200, page
        assert client.get(f"/admin/credit/{page}/add/").status_code == 403, page
    customer_page = client.get(f"/admin/wallets/customer/{globex.pk}/change/")
    assert customer_page.status_code == 200
    assert str(7 * USD).encode() in customer_page.content  # the limit, shown read-only
