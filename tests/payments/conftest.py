"""Payments tests build on the wallets tests' world (metering's real catalogue prices, a
distributor, a reseller, customers acme / globex / initech), with Stripe on stripe-mock."""

import pytest

from tests.metering.conftest import catalogue_subset, world  # noqa: F401  (fixtures)
from tests.wallets.conftest import _fresh_process_caches, finance  # noqa: F401  (fixtures)


@pytest.fixture
def stripe_api(stripe_mock, settings) -> str:
    """Stripe calls go to stripe-mock."""
    settings.STRIPE_API_BASE = stripe_mock
    return stripe_mock


@pytest.fixture
def stripe_proxy(stripe_mock, settings):
    """Stripe calls go to stripe-mock through a recording proxy (tests.payments.stripe_helpers)."""
    from tests.payments.stripe_helpers import StripeProxy

    proxy = StripeProxy(stripe_mock)
    settings.STRIPE_API_BASE = proxy.url
    yield proxy
    proxy.close()


@pytest.fixture
def celery_eager():
    """Run tasks inline, so what a task enqueues runs in this process (and this test's
    transaction) instead of waiting in Redis for a worker."""
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False
