"""Every decline reason of POST /v1/authorizations, through HTTP, with one case per way
to reach it (each key limit; prepaid funds; credit customers' limits: tests/credit). A
case also shows the same request approved once its cause is removed, so a decline cannot
pass for the wrong reason. The table must name every reason."""

import pytest
from rest_framework.test import APIClient

from tests.wallets.factories import ApiKeyFactory, gateway_key, wallet_topup
from tests.wallets.test_authorizations import expected_estimate
from wallets import services

pytestmark = pytest.mark.django_db

USD = 10**9
REQUEST = {
    "provider": "deepseek",
    "model": "deepseek-chat",
    "max_input_tokens": 10_000,
    "max_output_tokens": 2_000,
}


def _unknown_key(world):
    key = ApiKeyFactory(customer=world["acme"])
    wallet_topup(world["acme"], USD)
    return "sk_live_nope_nope", key.raw


def _key_revoked(world):
    wallet_topup(world["acme"], USD)
    revoked, fine = ApiKeyFactory(customer=world["acme"]), ApiKeyFactory(customer=world["acme"])
    services.api_key_revoke(api_key=revoked, actor="test")
    return revoked.raw, fine.raw


def _customer_suspended(world):
    wallet_topup(world["acme"], USD)
    wallet_topup(world["initech"], USD)
    services.customer_suspend(customer=world["acme"], actor="test")
    return ApiKeyFactory(customer=world["acme"]).raw, ApiKeyFactory(customer=world["initech"]).raw


def _model_not_allowed(world):
    wallet_topup(world["acme"], USD)
    barred = ApiKeyFactory(customer=world["acme"], allowed_models=["gpt-4o"])
    allowed = ApiKeyFactory(customer=world["acme"], allowed_models=["deepseek/deepseek-chat"])
    return barred.raw, allowed.raw


def _key_limit(limit_field):
    def setup(world):
        acme = world["acme"]
        wallet_topup(acme, 10 * USD)
        estimate = expected_estimate(acme)
        tight = ApiKeyFactory(customer=acme, **{limit_field: estimate - 1})
        enough = ApiKeyFactory(customer=acme, **{limit_field: estimate})
        return tight.raw, enough.raw

    return setup


def _prepaid_funds(world):
    acme, initech = world["acme"], world["initech"]
    estimate = expected_estimate(acme)
    wallet_topup(acme, estimate - 1)
    wallet_topup(initech, 10 * USD)
    return ApiKeyFactory(customer=acme).raw, ApiKeyFactory(customer=initech).raw


CASES = {
    "unknown_key": ("unknown_key", _unknown_key),
    "key_revoked": ("key_revoked", _key_revoked),
    "customer_suspended": ("customer_suspended", _customer_suspended),
    "model_not_allowed": ("model_not_allowed", _model_not_allowed),
    "daily_limit": ("key_limit_exceeded", _key_limit("daily_limit_minor")),
    "monthly_limit": ("key_limit_exceeded", _key_limit("monthly_limit_minor")),
    "total_limit": ("key_limit_exceeded", _key_limit("total_limit_minor")),
    "prepaid_funds": ("insufficient_funds", _prepaid_funds),
}


# Given by the credit app's funds policy (wallets.funding.Funds): its tests' cases
# (tests/credit/test_authorizations.py, over HTTP with assert_declined_then_approved).
CREDIT_POLICY_REASONS = {services.CREDIT_LIMIT_EXCEEDED, services.CUSTOMER_RESTRICTED}


def test_the_table_covers_every_decline_reason():
    assert {reason for reason, _setup in CASES.values()} == (
        set(services.DECLINE_REASONS) - CREDIT_POLICY_REASONS
    )


@pytest.mark.parametrize("case", list(CASES))
def test_each_decline_reason_over_http(world, case):
    reason, setup = CASES[case]
    assert_declined_then_approved(reason, *setup(world))


def assert_declined_then_approved(reason, declined_key, approved_key, *fix):
    """The request with `declined_key` is declined for `reason`; after the `fix` calls,
    the same request with `approved_key` is approved."""
    _key, token = gateway_key("test-gw")
    gateway = APIClient()
    gateway.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    answer = gateway.post("/v1/authorizations", REQUEST | {"api_key": declined_key}, format="json")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["decision"], body["reason"], body["authorization_id"]) == (
        "declined",
        reason,
        None,
    )

    for change in fix:
        change()
    control = gateway.post("/v1/authorizations", REQUEST | {"api_key": approved_key}, format="json")
    assert control.json()["decision"] == "approved", control.json()
