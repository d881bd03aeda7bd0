"""Wallets tests build on metering's small real world (real catalogue prices, a
distributor, a reseller, customers acme / globex / initech)."""

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from tests.metering.conftest import catalogue_subset, world  # noqa: F401  (fixtures)
from wallets import selectors


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    """Prices and keys are cached per process; each test has its own database (the
    ledger's account cache is cleared for every test by tests/conftest.py)."""
    selectors.retail_prices.reset()
    selectors.known_keys.reset()
    yield
    selectors.retail_prices.reset()
    selectors.known_keys.reset()


@pytest.fixture
def finance():
    """An API client logged in as a superuser (finance staff: every permission)."""
    user = User.objects.create_superuser("boss", password="pw")
    client = APIClient()
    client.force_authenticate(user)
    return client
