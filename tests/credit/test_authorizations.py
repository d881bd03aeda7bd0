"""Authorizations of credit customers: wallets asks the credit app's funds policy
(wallets.funding): the limit (the customer's own, else the default) less the exposure
on unbilled:<customer>."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from credit.services import credit_limit_set
from ledger.amounts import from_minor_units
from tests.wallets.factories import ApiKeyFactory, wallet_topup
from tests.wallets.test_authorizations import _pending, authorize, expected_estimate
from tests.wallets.test_decline_reasons import assert_declined_then_approved
from wallets import funding, services
from wallets.models import Customer

pytestmark = pytest.mark.django_db

USD = 10**9


def test_credit_customers_are_approved_up_to_the_default_limit(world, settings):
    globex = world["globex"]  # billing = credit: holds sit on unbilled:globex
    estimate = expected_estimate(globex)
    settings.CREDIT_LIMIT_DEFAULT = str(estimate * 3 / 2 / 10**9)
    key = ApiKeyFactory(customer=globex)
    first = authorize(key.raw)
    assert first.decision == "approved"
    assert first.hold.debit_account.code == "unbilled:globex"
    assert authorize(key.raw).reason == "credit_limit_exceeded"


def test_over_the_customers_own_limit_is_declined_over_http(world, settings):
    """The default limit (1000) would allow it; the customer's own limit does not."""
    settings.CREDIT_LIMIT_DEFAULT = "1000"
    globex = world["globex"]
    estimate = expected_estimate(globex)
    credit_limit_set(customer=globex, credit_limit_minor=estimate - 1, actor="t")
    key = ApiKeyFactory(customer=globex)

    def raise_limit():
        credit_limit_set(customer=globex, credit_limit_minor=estimate, actor="t")

    assert_declined_then_approved("credit_limit_exceeded", key.raw, key.raw, raise_limit)


def test_over_the_default_limit_is_declined_over_http(world, settings):
    globex = world["globex"]
    estimate = expected_estimate(globex)
    settings.CREDIT_LIMIT_DEFAULT = from_minor_units(estimate - 1, 9)
    key = ApiKeyFactory(customer=globex)

    def raise_limit():
        settings.CREDIT_LIMIT_DEFAULT = from_minor_units(estimate, 9)

    assert_declined_then_approved("credit_limit_exceeded", key.raw, key.raw, raise_limit)


def _limit_queries(queries) -> list[str]:
    return [q["sql"] for q in queries if '"credit_creditlimit"' in q["sql"]]


def test_a_batch_reads_the_limits_of_all_its_credit_customers_in_one_query(world):
    globex = world["globex"]
    hooli = Customer.objects.create(
        external_id="hooli",
        book=globex.book,
        currency=globex.currency,
        billing=Customer.Billing.CREDIT,
    )
    estimate = expected_estimate(globex)
    credit_limit_set(customer=globex, credit_limit_minor=estimate, actor="t")  # one hold
    globex_key, hooli_key = ApiKeyFactory(customer=globex), ApiKeyFactory(customer=hooli)
    acme = world["acme"]
    wallet_topup(acme, 10 * USD)
    acme_key = ApiKeyFactory(customer=acme)
    # Accounts are made on first use: make them before counting.
    for customer in (globex, hooli):
        services.authorization_accounts(customer=customer)
    batch = [_pending(k.raw) for k in (globex_key, hooli_key, acme_key, globex_key, hooli_key)]

    with CaptureQueriesContext(connection) as queries:
        answers = services.authorizations_decide(pending=batch)

    assert [(a.decision, a.reason) for a in answers] == [
        ("approved", ""),
        ("approved", ""),  # hooli: the default limit (1000)
        ("approved", ""),
        ("declined", "credit_limit_exceeded"),  # globex's own limit is used up
        ("approved", ""),
    ]
    assert len(_limit_queries(queries.captured_queries)) == 1
    # Nobody here is held back by dunning: the overdue invoices are not even read.
    assert not [q for q in queries.captured_queries if "invoicing_invoice" in q["sql"]]


def test_a_prepaid_batch_asks_nothing_of_credit(world):
    acme, initech = world["acme"], world["initech"]
    wallet_topup(acme, 10 * USD)
    wallet_topup(initech, 10 * USD)
    batch = [_pending(ApiKeyFactory(customer=c).raw) for c in (acme, initech, acme)]
    with CaptureQueriesContext(connection) as queries:
        answers = services.authorizations_decide(pending=batch)
    assert [a.decision for a in answers] == ["approved"] * 3
    assert not [q for q in queries.captured_queries if '"credit_credit' in q["sql"]]


def test_without_the_credit_policy_a_credit_customer_has_no_funds(world, monkeypatch):
    """What happens when the credit app is not installed: nothing registers the policy."""
    monkeypatch.delitem(funding._POLICIES, Customer.Billing.CREDIT)
    wallet_topup(world["acme"], 10 * USD)
    declined = authorize(ApiKeyFactory(customer=world["globex"]).raw)
    assert (declined.decision, declined.reason) == ("declined", "insufficient_funds")
    assert authorize(ApiKeyFactory(customer=world["acme"]).raw).decision == "approved"
