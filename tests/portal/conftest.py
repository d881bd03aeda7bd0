"""Portal tests build on metering's small real world (real catalogue prices, a distributor,
a reseller, customers acme / globex (on credit) / initech (the reseller's)), with a login
that is a member of acme only."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.metering import conftest as metering
from tests.payments import conftest as payments
from wallets import selectors, services

# Metering's fixtures, shared (assigned, not imported: pytest finds them by name).
catalogue_subset = metering.catalogue_subset
world = metering.world
# Celery tasks inline (a live server's commits enqueue them; none may reach the shared Redis).
celery_eager = payments.celery_eager

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
def acme_user(world):
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


@pytest.fixture
def profiles(world, settings, tmp_path):
    """Billing profiles: the distributor's, and the reseller Apex's with its logo (a PNG
    under a MEDIA_ROOT of the test's own)."""
    from PIL import Image

    from invoicing import services as invoicing_services

    settings.MEDIA_ROOT = str(tmp_path)
    (tmp_path / "invoicing" / "logos").mkdir(parents=True)
    Image.new("RGB", (120, 40), (200, 30, 60)).save(tmp_path / "invoicing/logos/apex.png")
    return {
        "distributor": invoicing_services.billing_profile_set(
            book=world["distributor"],
            legal_name="TokenDistributor Ltd",
            currency=world["usd"],
            receipt_prefix="TD-R-",
            actor="test",
        ),
        "apex": invoicing_services.billing_profile_set(
            book=world["reseller"],
            legal_name="Apex AI GmbH",
            currency=world["usd"],
            logo="invoicing/logos/apex.png",
            receipt_prefix="APX-R-",
            language="zh-hans",
            actor="test",
        ),
    }
