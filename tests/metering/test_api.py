"""POST /v1/usage: gateway keys, bounded batches, Kafka when configured, direct otherwise."""

import json
import uuid

import pytest
from kafka import KafkaConsumer
from rest_framework.test import APIClient

from metering import ingest
from metering.models import DeadLetter, UsageRecord
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
    assert body["mode"] == "direct" and body["accepted"] == 2 and body["refused"] == 1
    assert [item["status"] for item in body["items"]] == ["accepted", "refused", "accepted"]
    assert body["items"][1]["code"] == "schema_violation"
    assert UsageRecord.objects.filter(source="test-gw").count() == 2
    single = gateway["client"].post("/v1/usage", usage(), format="json")
    assert single.status_code == 200 and single.json()["accepted"] == 1
    for unnamed in ({k: v for k, v in usage().items() if k != "source"}, usage(source=None)):
        answer = gateway["client"].post("/v1/usage", unnamed, format="json").json()
        assert answer["accepted"] == 1, answer  # the gateway key's source


def _zero(**kwargs):
    return usage(input=0, output=0, **kwargs)


def test_an_all_zero_event_is_not_billable_alone_or_in_a_batch(world, gateway, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    alone = gateway["client"].post("/v1/usage", _zero(), format="json")
    body = alone.json()
    assert alone.status_code == 200, body
    assert body["accepted"] == 0 and body["refused"] == 1
    [item] = body["items"]
    assert item["status"] == "refused" and item["code"] == "not_billable"
    assert "entries" not in item["reason"]  # the ledger's wording does not leak

    batch = (
        gateway["client"]
        .post("/v1/usage", {"events": [usage(), _zero(), usage()]}, format="json")
        .json()
    )
    assert batch["accepted"] == 2 and batch["refused"] == 1
    assert batch["items"][1] == {**item, "index": 1}
    # Kept, never booked: two dead letters, no usage record with zero amounts.
    assert DeadLetter.objects.filter(reason_code="not_billable").count() == 2
    assert not UsageRecord.objects.filter(input_tokens=0, output_tokens=0).exists()
    assert UsageRecord.objects.count() == 2


def test_duplicates_are_answered_per_item(world, gateway, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    first, second = usage(), usage()
    gateway["client"].post("/v1/usage", first, format="json")
    body = (
        gateway["client"]
        .post("/v1/usage", {"events": [first, second, second]}, format="json")
        .json()
    )
    assert [item["status"] for item in body["items"]] == ["duplicate", "accepted", "duplicate"]
    assert (body["accepted"], body["duplicates"], body["refused"]) == (1, 2, 0)
    assert UsageRecord.objects.count() == 2


@pytest.mark.parametrize("body", [None, {}, {"events": []}])
def test_an_empty_request_is_refused(world, gateway, settings, body):
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    if body is None:
        response = gateway["client"].post("/v1/usage", content_type="application/json")
    else:
        response = gateway["client"].post("/v1/usage", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "no_usage_events"
    assert UsageRecord.objects.count() == 0 and DeadLetter.objects.count() == 0


def test_events_must_be_a_list(world, gateway, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    response = gateway["client"].post("/v1/usage", {"events": usage()}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_usage_request"


def test_the_schema_types_the_usage_events(world):
    schema = APIClient().get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    body = schema["paths"]["/v1/usage"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/UsageRequest"}
    batch = components["UsageEventBatch"]["properties"]["events"]
    assert batch["items"] == {"$ref": "#/components/schemas/ReportedUsageEvent"}
    event = components["ReportedUsageEvent"]
    assert event["additionalProperties"] is False
    assert {"event_id", "customer", "model", "provider", "tokens"} <= set(event["required"])
    assert "source" not in event["required"]  # the gateway key's source by default
    assert set(components["TokenCounts"]["required"]) == {
        "input",
        "output",
        "cache_read",
        "cache_write",
        "reasoning",
    }
    result = components["UsageIngestResult"]["properties"]
    assert {"accepted", "duplicates", "refused", "items"} <= set(result)


def test_kafka_mode_produces_keyed_by_customer(world, gateway, settings, kafka_bootstrap):
    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_bootstrap
    event = usage(event_id=f"kafka-{uuid.uuid4().hex}")
    response = gateway["client"].post("/v1/usage", {"events": [event]}, format="json")
    assert response.status_code == 202
    assert response.json() == {
        "mode": "kafka",
        "accepted": 1,
        "duplicates": 0,
        "refused": 0,
        "items": [{"index": 0, "status": "accepted"}],
    }
    consumer = KafkaConsumer(
        settings.METERING_USAGE_TOPIC,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
        group_id=f"read-{uuid.uuid4().hex[:8]}",
    )
    try:
        # The shared topic may also hold native records (a `kind` header): not UsageEvents.
        found = [
            m
            for m in consumer
            if not any(name == "kind" for name, _value in m.headers or ())
            and json.loads(m.value).get("event_id") == event["event_id"]
        ]
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
    top_level_list = client.post("/v1/usage", [usage()], format="json")
    assert top_level_list.json()["error"]["code"] == "invalid_usage_request"


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


def test_usage_summary_rows_match_the_schema_for_every_grouping(world, gateway, settings):
    from django.contrib.auth.models import Group, User

    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    gateway["client"].post(
        "/v1/usage", {"events": [usage(), usage("initech", "gpt-4o", "openai")]}, format="json"
    )
    finance = APIClient()
    user = User.objects.create_user("fin")
    user.groups.add(Group.objects.get(name="finance"))
    finance.force_authenticate(user)
    schema = APIClient().get("/api/schema/?format=json").json()
    documented = set(schema["components"]["schemas"]["UsageSummaryRow"]["properties"])
    keys = {"model": {"provider", "model"}, "customer": {"customer"}, "book": {"book"}}
    for group_by, group_keys in keys.items():
        rows = finance.get(f"/v1/usage/summary?group_by={group_by}").json()
        assert rows, group_by
        for row in rows:
            assert set(row) <= documented, (group_by, set(row) - documented)
            assert group_keys <= set(row)
    books = {row["book"] for row in finance.get("/v1/usage/summary?group_by=book").json()}
    assert books == {"distributor", "apex"}


def test_kafka_mode_answers_the_edge_checks_per_item(world, gateway, settings, kafka_bootstrap):
    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_bootstrap
    bad = usage()
    del bad["tokens"]
    response = gateway["client"].post(
        "/v1/usage", {"events": [usage(), _zero(), bad]}, format="json"
    )
    body = response.json()
    assert response.status_code == 202, body
    assert (body["accepted"], body["refused"]) == (1, 2)
    assert [item.get("code") for item in body["items"]] == [
        None,
        "not_billable",
        "schema_violation",
    ]
