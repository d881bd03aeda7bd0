"""POST /v1/usage: gateway keys, bounded batches, Kafka when configured, direct otherwise."""

import json
import uuid

import pytest
from kafka import KafkaConsumer
from rest_framework.test import APIClient

from metering import ingest
from metering.models import UsageRecord
from tests.metering.conftest import usage
from wallets.gateways.keys import gateway_key_create, gateway_key_revoke

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_direct_pipeline():
    # Its caches outlive a test's rolled-back rows; each test starts clean.
    ingest.reset_direct_pipeline()
    yield
    ingest.reset_direct_pipeline()


@pytest.fixture
def gateway():
    key, secret = gateway_key_create(name="LiteLLM prod", source="test-gw", actor="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return {"key": key, "client": client}


def test_embedded_mode_books_directly(world, gateway, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    bad = usage()
    del bad["tokens"]
    response = gateway["client"].post(
        "/v1/usage", {"events": [usage(), bad, usage()]}, format="json"
    )
    body = response.json()
    assert response.status_code == 200, body
    assert body["mode"] == "direct" and body["processed"] == 2
    assert body["rejected"][0]["index"] == 1
    assert body["rejected"][0]["code"] == "schema_violation"
    assert UsageRecord.objects.filter(source="test-gw").count() == 2
    single = gateway["client"].post("/v1/usage", usage(), format="json")
    assert single.status_code == 200 and single.json()["processed"] == 1


def test_kafka_mode_produces_keyed_by_customer(world, gateway, settings, kafka_bootstrap):
    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_bootstrap
    event = usage(event_id=f"kafka-{uuid.uuid4().hex}")
    response = gateway["client"].post("/v1/usage", {"events": [event]}, format="json")
    assert response.status_code == 202 and response.json() == {"accepted": 1, "mode": "kafka"}
    consumer = KafkaConsumer(
        ingest.USAGE_TOPIC,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
        group_id=f"read-{uuid.uuid4().hex[:8]}",
    )
    try:
        found = [m for m in consumer if json.loads(m.value)["event_id"] == event["event_id"]]
    finally:
        consumer.close()
    assert len(found) == 1 and found[0].key == b"acme"
    assert UsageRecord.objects.count() == 0  # the consumer books it, not the request


def test_keys_are_checked(world, gateway, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    anonymous = APIClient().post("/v1/usage", usage(), format="json")
    assert anonymous.status_code in (401, 403)
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Bearer gw_nope_nope")
    assert wrong.post("/v1/usage", usage(), format="json").status_code == 401
    gateway_key_revoke(key=gateway["key"], actor="test")
    assert gateway["client"].post("/v1/usage", usage(), format="json").status_code == 401


def test_bad_requests_get_clear_errors(world, gateway, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    client = gateway["client"]
    too_many = client.post("/v1/usage", {"events": [usage()] * 1001}, format="json")
    assert too_many.status_code == 413
    assert too_many.json()["error"]["code"] == "batch_too_large"
    other_source = client.post("/v1/usage", usage(source="someone-else"), format="json")
    assert other_source.status_code == 400
    assert "may only report source" in other_source.json()["error"]["message"]
    empty = client.post("/v1/usage", {"events": []}, format="json")
    assert empty.json()["error"]["code"] == "invalid_usage_request"


def test_usage_summary_shows_margin_per_model_for_finance(world, gateway, settings):
    from django.contrib.auth.models import Group, User

    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    gateway["client"].post(
        "/v1/usage",
        {"events": [usage(), usage(), usage(model="gpt-4o", provider="openai")]},
        format="json",
    )
    finance = APIClient()
    user = User.objects.create_user("fin")
    user.groups.add(Group.objects.get(name="finance"))
    finance.force_authenticate(user)
    rows = finance.get("/v1/usage/summary?group_by=model").json()
    deepseek = next(row for row in rows if row["model"] == "deepseek-chat")
    assert deepseek["requests"] == 2
    assert deepseek["cost"] == "0.000980000" and deepseek["price"] == "0.001176000"
    assert deepseek["margin"] == "0.000196000"
    outsider = APIClient()
    outsider.force_authenticate(User.objects.create_user("nobody"))
    assert outsider.get("/v1/usage/summary").status_code == 403
    assert finance.get("/v1/usage/summary?group_by=nonsense").status_code == 400
