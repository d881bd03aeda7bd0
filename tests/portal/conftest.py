"""Portal tests build on metering's small real world (real catalogue prices, a distributor,
a reseller, customers acme / globex (on credit) / initech (the reseller's)), with a login
that is a member of acme only."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.metering.conftest import catalogue_subset, world  # noqa: F401  (fixtures)
from wallets import selectors, services

PASSWORD = "portal-test-pw-1"


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    selectors.retail_prices.reset()
    selectors.known_keys.reset()
    yield
    selectors.retail_prices.reset()
    selectors.known_keys.reset()


def member(customer, username: str, email: str = "") -> User:
    user = User.objects.create_user(username, email=email, password=PASSWORD)
    services.customer_member_add(customer=customer, user=user, actor="test")
    return user


@pytest.fixture
def acme_user(world):  # noqa: F811  (the imported fixture)
    return member(world["acme"], "alice", "alice@acme.example")


@pytest.fixture
def acme_client(acme_user):
    client = Client()
    client.force_login(acme_user)
    return client


def book_usage(*events) -> None:
    """Book usage events as the consumer does (metering's pipeline, real rating)."""
    from metering.pipeline import Pipeline
    from tests.metering.conftest import raw

    result = Pipeline().process([raw(event) for event in events])
    assert result.rejected == 0, result.dead_letters
