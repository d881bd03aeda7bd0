"""Test scaffolding shared by every app's tests.

The README's test command starts PostgreSQL, Kafka, Redis and stripe-mock before pytest
and stops them after. Run alone, pytest starts what a test needs itself (idempotent, a
no-op when the service already runs), so `pytest tests/ledger` works on a fresh shell.
"""

import contextlib
import os
import uuid

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

import devservices

# LiteLLM (a dev dependency, tests/litellm_support.py) fetches its price map from the
# network when first imported unless told to use its bundled one: never from a test.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

# Connection settings for the services come from devservices unless already given.
for _name, _value in devservices.env().items():
    os.environ.setdefault(_name, _value)


def pytest_configure(config):
    # Django's test database is created before any fixture runs: PostgreSQL first.
    devservices.up(["postgres"])


@pytest.fixture(autouse=True)
def _fresh_account_cache():
    """The ledger caches account ids per process; each test has its own database."""
    from ledger.accounts import account_cache

    account_cache.clear()
    yield
    account_cache.clear()


@pytest.fixture(autouse=True)
def _fresh_ttl_caches():
    """Per-process lookups (gateway and API keys by prefix) hold rows of the test that
    cached them, which its rollback removes: a later test that makes the same key anew
    (the demo's, seeded again) must not be handed the old row's id."""
    from config.ttl_cache import TtlCache

    TtlCache.clear_all()
    yield
    TtlCache.clear_all()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    devservices.up(["kafka"])
    return os.environ["KAFKA_BOOTSTRAP_SERVERS"]


@pytest.fixture(scope="session")
def redis_url() -> str:
    devservices.up(["redis"])
    return os.environ["REDIS_URL"]


@pytest.fixture(scope="session")
def stripe_mock() -> str:
    devservices.up(["stripe"])
    return os.environ["STRIPE_API_BASE"]


@contextlib.contextmanager
def fresh_topic(bootstrap: str, partitions: int = 4):
    """A topic of its own, deleted afterwards, so tests never see each other's data."""
    from kafka.admin import KafkaAdminClient, NewTopic

    name = f"test-{uuid.uuid4().hex[:12]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="tests")
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    try:
        yield name
    finally:
        admin.delete_topics([name])
        admin.close()


@pytest.fixture
def kafka_topic(kafka_bootstrap):
    with fresh_topic(kafka_bootstrap) as name:
        yield name


@pytest.fixture
def finance_client():
    """An API client logged in as a member of the "finance" group."""
    user = User.objects.create_user("fin", password="pw")
    user.groups.add(Group.objects.get(name="finance"))
    client = APIClient()
    client.force_authenticate(user)
    return client
