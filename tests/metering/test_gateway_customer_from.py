"""Whom a LiteLLM record is for, per gateway key: X-Customer-Id > ?customer_from= > the
key's `litellm_customer_from` > its default (user_api_key_team_id), in direct mode and
through Kafka (where the producer's headers carry the choice to the consumer)."""

import json
import re
import uuid

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from ledger.integrity import verify_ledger
from metering.adapters.litellm import CUSTOMER_FIELDS
from metering.models import UsageRecord
from tests.metering.test_api import fresh_direct_pipeline  # noqa: F401 (fixture)
from tests.metering.test_consumer import consume_all, run_consumer
from tests.metering.test_native_ingest import litellm_record
from wallets.gateways.keys import gateway_key_create
from wallets.models import GatewayKey

# The record names a different world customer in each field a key may map.
FIELDS = {"user_api_key_team_id": "acme", "user_api_key_user_id": "globex", "end_user": "initech"}
# (the key's setting or None for the default, ?customer_from=, X-Customer-Id) -> customer
LEVELS = {
    "default": (None, None, None, "acme"),
    "key setting": ("user_api_key_user_id", None, None, "globex"),
    "query over key": ("user_api_key_user_id", "end_user", None, "initech"),
    "header over all": ("user_api_key_user_id", "end_user", "acme", "acme"),
}


def test_wallets_declares_the_fields_the_litellm_adapter_reads():
    # wallets may not import metering, so it declares the choices; they must agree.
    assert tuple(GatewayKey.LiteLLMCustomerField.values) == CUSTOMER_FIELDS


def _record() -> dict:
    record = litellm_record()
    record["metadata"] = {
        **record["metadata"],
        "user_api_key_team_id": FIELDS["user_api_key_team_id"],
        "user_api_key_user_id": FIELDS["user_api_key_user_id"],
    }
    record["end_user"] = FIELDS["end_user"]
    return record


def _client(setting: str | None) -> tuple[GatewayKey, APIClient]:
    options = {} if setting is None else {"litellm_customer_from": setting}
    key, token = gateway_key_create(name="litellm", source="test-gw", actor="test", **options)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return key, client


def _post(client: APIClient, record: dict, query: str | None, header: str | None):
    url = "/v1/usage/litellm" + (f"?customer_from={query}" if query else "")
    headers = {"HTTP_X_CUSTOMER_ID": header} if header else {}
    return client.post(url, [record], format="json", **headers)


@pytest.mark.django_db
@pytest.mark.parametrize("level", list(LEVELS))
def test_direct_mode_follows_the_precedence(world, settings, level):
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    setting, query, header, expected = LEVELS[level]
    key, client = _client(setting)
    assert key.litellm_customer_from == (setting or "user_api_key_team_id")
    record = _record()
    response = _post(client, record, query, header)
    assert response.status_code == 200, response.json()
    assert response.json()["accepted"] == 1, response.json()
    assert UsageRecord.objects.get(event_id=record["id"]).customer == expected


@pytest.mark.django_db
def test_a_key_mapping_an_empty_field_refuses_rather_than_falls_back(world, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    _key, client = _client("user_api_key_org_id")  # the record has no org id
    body = _post(client, _record(), None, None).json()
    assert body["refused"] == 1 and "user_api_key_org_id" in body["items"][0]["reason"], body
    assert not UsageRecord.objects.exists()


def test_a_key_cannot_be_created_with_an_unknown_field(db):
    with pytest.raises(ValueError, match="litellm_customer_from"):
        gateway_key_create(name="x", source="x", actor="test", litellm_customer_from="team")


@pytest.fixture
def finance_admin(db):
    User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(User.objects.get(username="root"))
    return client


@pytest.mark.django_db
def test_the_admin_sets_it_and_the_next_request_uses_it(world, settings, finance_admin):
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    key, client = _client(None)
    assert _post(client, _record(), None, None).json()["accepted"] == 1  # caches the key
    response = finance_admin.post(
        f"/admin/wallets/gatewaykey/{key.pk}/change/",
        {"name": key.name, "source": key.source, "litellm_customer_from": "end_user"},
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    record = _record()
    assert _post(client, record, None, None).json()["accepted"] == 1
    assert UsageRecord.objects.get(event_id=record["id"]).customer == "initech"


@pytest.mark.django_db
def test_the_admin_creates_a_working_key_shown_once(world, settings, finance_admin):
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    response = finance_admin.post(
        "/admin/wallets/gatewaykey/add/",
        {"name": "proxy", "source": "test-gw", "litellm_customer_from": "user_api_key_user_id"},
        follow=True,
    )
    shown = [str(message) for message in response.context["messages"]]
    [token] = [m for text in shown for m in re.findall(r"gw_[0-9a-f]+_\S+", text)]
    key = GatewayKey.objects.get()
    assert token.startswith(f"gw_{key.prefix}_") and token not in key.secret_hash
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    record = _record()
    assert _post(client, record, None, None).json()["accepted"] == 1
    assert UsageRecord.objects.get(event_id=record["id"]).customer == "globex"


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_kafka_mode_carries_the_resolved_field_to_the_consumer(
    world, kafka_bootstrap, kafka_topic, settings
):
    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_bootstrap
    settings.METERING_USAGE_TOPIC = kafka_topic  # a topic of this test's own
    sent = {}
    for level, (setting, query, header, expected) in LEVELS.items():
        key, client = _client(setting)
        record = _record()
        response = _post(client, record, query, header)
        assert response.status_code == 202, response.json()
        assert response.json()["accepted"] == 1, response.json()
        sent[record["id"]] = (level, expected)
        # Edited after producing: the message already says which field to read.
        GatewayKey.objects.filter(pk=key.pk).update(litellm_customer_from="user_api_key_org_id")
    produced = {
        json.loads(m.value)["id"]: dict(m.headers)
        for m in consume_all(kafka_bootstrap, kafka_topic)
    }
    assert {produced[i]["customer_from"] for i in sent} == {
        b"user_api_key_team_id",
        b"user_api_key_user_id",
        b"end_user",
    }
    counters = run_consumer(kafka_bootstrap, kafka_topic, f"metering-{uuid.uuid4().hex[:8]}")
    assert (counters.processed, counters.rejected) == (len(LEVELS), 0)
    booked = dict(UsageRecord.objects.values_list("event_id", "customer"))
    assert {event_id: booked[event_id] for event_id in sent} == {
        event_id: expected for event_id, (_level, expected) in sent.items()
    }
    assert verify_ledger().ok
