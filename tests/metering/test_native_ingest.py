"""Native ingestion: POST /v1/usage/{openai,anthropic,openrouter,litellm} and Kafka's
`kind` header. Provider records (the adapters' samples) book through the same pipeline;
a record the adapter refuses is a per-item refusal and a dead letter with its reason."""

import dataclasses
import json
import uuid
from datetime import UTC, datetime

import pytest

from ledger.integrity import verify_ledger
from ledger.selectors import trial_balance_list
from metering.adapters import EDGE_RECORDS
from metering.models import DeadLetter, UsageRecord
from metering.pipeline import Pipeline, RawMessage
from pricing import services as pricing_services
from tests.metering.conftest import raw, usage
from tests.metering.test_adapters import load
from tests.metering.test_api import fresh_direct_pipeline, gateway  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

JUNE_2026 = 1780315200  # 2026-06-01T12:00:00Z, inside the world's prices
OPENROUTER_QWEN = {
    "litellm_provider": "openrouter",
    "mode": "chat",
    "input_cost_per_token": 3.5e-07,
    "output_cost_per_token": 4e-07,
}


@pytest.fixture(autouse=True)
def embedded(settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = ""


@pytest.fixture
def client(gateway):  # noqa: F811 (the imported fixture)
    return gateway["client"]


def openai_record() -> dict:
    record = load("openai_chat_completion.json")
    return {**record, "id": f"chatcmpl-{uuid.uuid4().hex}", "model": "gpt-4o", "created": JUNE_2026}


def anthropic_record() -> dict:
    record = load("anthropic_message.json")
    return {**record, "id": f"msg_{uuid.uuid4().hex}", "model": "claude-sonnet-4-5"}


def openrouter_record() -> dict:
    record = load("openrouter_generation.json")
    data = {**record["data"], "id": f"gen-{uuid.uuid4().hex}"}
    return {"data": {**data, "created_at": "2026-06-01T12:00:00+00:00"}}


def litellm_record() -> dict:
    record = load("litellm_standard_logging_payload.json")
    metadata = {**record["metadata"], "user_api_key_team_id": "acme"}
    return {
        **record,
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "model": "claude-sonnet-4-5",
        "model_map_information": {"model_map_key": "claude-sonnet-4-5", "model_map_value": None},
        "metadata": metadata,
        "startTime": JUNE_2026 + 0.25,
        "endTime": JUNE_2026 + 1.5,
    }


def _without_usage(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "usage"}


def _negative_prompt(record: dict) -> dict:
    data = {**record["data"], "native_tokens_prompt": -1}
    return {"data": data}


def _failed(record: dict) -> dict:
    return {**record, "status": "failure"}


CASES = {
    "openai": (openai_record, _without_usage, {"HTTP_X_CUSTOMER_ID": "acme"}, "usage"),
    "anthropic": (anthropic_record, _without_usage, {"HTTP_X_CUSTOMER_ID": "acme"}, "usage"),
    "openrouter": (
        openrouter_record,
        _negative_prompt,
        {"HTTP_X_CUSTOMER_ID": "acme"},
        "native_tokens_prompt",
    ),
    "litellm": (litellm_record, _failed, {}, "status"),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_endpoint_books_a_good_record_and_dead_letters_a_bad_one(
    world, catalogue_subset, client, kind
):
    pricing_services.catalog_import(
        data={**catalogue_subset, "qwen/qwen-2.5-72b-instruct": OPENROUTER_QWEN},
        effective_from=datetime(2026, 3, 1, tzinfo=UTC),
        actor="test",
    )
    good, spoil, headers, field = CASES[kind]
    bad = spoil(good())
    response = client.post(f"/v1/usage/{kind}", [good(), bad, good()], format="json", **headers)
    body = response.json()
    assert response.status_code == 200, body
    assert [item["status"] for item in body["items"]] == ["accepted", "refused", "accepted"], body
    refusal = body["items"][1]
    assert field in refusal["reason"], refusal
    [letter] = DeadLetter.objects.all()
    assert (letter.reason_code, letter.reason) == (refusal["code"], refusal["reason"])
    # Kept in its provider's format (a LiteLLM record as its adapter reads it).
    assert json.loads(bytes(letter.value)) == EDGE_RECORDS.get(kind, lambda r: r)(bad)
    records = UsageRecord.objects.filter(source="test-gw")
    assert records.count() == 2
    assert {r.customer for r in records} == {"acme"}
    assert {r.metadata["adapter"] for r in records} == {kind}
    assert all(r.price_minor > 0 for r in records)
    # Re-sent: the provider's own ids dedupe.
    again = client.post(f"/v1/usage/{kind}", good(), format="json", **headers).json()
    assert again["accepted"] == 1
    assert all(row.difference == 0 for row in trial_balance_list())
    assert verify_ledger().ok


def test_one_record_object_and_its_resend_dedupe(world, client):
    record = openai_record()
    first = client.post("/v1/usage/openai", record, format="json", HTTP_X_CUSTOMER_ID="acme")
    again = client.post("/v1/usage/openai", record, format="json", HTTP_X_CUSTOMER_ID="acme")
    assert first.json()["accepted"] == 1, first.json()["items"]
    assert again.json()["duplicates"] == 1 and again.json()["items"][0]["status"] == "duplicate"
    assert UsageRecord.objects.get().event_id == record["id"]


def test_a_dead_letter_keeps_the_arguments_it_needs_to_be_replayed(world, client):
    """The HTTP path's dead letter stores the record and its headers (kind, customer...)."""
    spoiled = _without_usage(openai_record())
    response = client.post("/v1/usage/openai", spoiled, format="json", HTTP_X_CUSTOMER_ID="acme")
    assert response.json()["refused"] == 1, response.json()
    headers = dict(DeadLetter.objects.get().headers)
    assert (headers["kind"], headers["customer"]) == ("openai", "acme")


def test_headers_postgresql_cannot_store_do_not_fail_the_batch(world):
    """A producer's header with NUL or bytes that are not UTF-8 is stored visibly."""
    odd = _native("openai", _without_usage(openai_record()), 0, source="test-gw")
    odd = dataclasses.replace(odd, headers=(*odd.headers, ("note", b"a\x00b\xff")))
    result = Pipeline().process([odd, raw(usage(), offset=1, partition=0)], group="odd")
    assert result.processed == 1 and result.rejected == 1
    assert dict(DeadLetter.objects.get().headers)["note"] == "a\\u0000b\ufffd"


def test_without_a_customer_the_record_is_refused_not_booked(world, client):
    body = client.post("/v1/usage/anthropic", anthropic_record(), format="json").json()
    assert body["refused"] == 1 and "customer" in body["items"][0]["reason"]
    assert DeadLetter.objects.get().reason_code == "schema_violation"
    assert not UsageRecord.objects.exists()


def test_bad_requests_are_answered_with_their_codes(world, client):
    empty = client.post("/v1/usage/openai", [], format="json")
    assert (empty.status_code, empty.json()["error"]["code"]) == (400, "no_usage_events"), (
        empty.json()
    )
    late = client.post(
        "/v1/usage/openai", openai_record(), format="json", HTTP_X_OCCURRED_AT="yesterday"
    )
    assert (late.status_code, late.json()["error"]["code"]) == (400, "invalid_usage_request")
    who = client.post("/v1/usage/litellm?customer_from=nobody", litellm_record(), format="json")
    assert (who.status_code, who.json()["error"]["code"]) == (400, "invalid_usage_request")
    big = client.post("/v1/usage/openrouter", [{}] * 1001, format="json")
    assert (big.status_code, big.json()["error"]["code"]) == (413, "batch_too_large")
    assert not DeadLetter.objects.exists()


def test_litellm_customer_from_picks_the_field(world, client):
    record = litellm_record()
    record["metadata"] = {**record["metadata"], "user_api_key_team_id": "not-a-customer"}
    record["end_user"] = "acme"
    body = client.post("/v1/usage/litellm?customer_from=end_user", record, format="json").json()
    assert body["accepted"] == 1, body
    assert UsageRecord.objects.get().customer == "acme"


def _native(kind: str, record: dict, offset: int, **args: str) -> RawMessage:
    headers = (("kind", kind.encode()), *((k, v.encode()) for k, v in args.items()))
    return RawMessage("usage.events", 0, offset, b"k", json.dumps(record).encode(), headers)


def test_the_kind_header_adapts_before_validation(world):
    messages = [
        _native("openai", openai_record(), 0, source="test-gw", customer="acme"),
        raw(usage(), offset=1, partition=0),  # no header: a UsageEvent, as before
        _native("openai", _without_usage(openai_record()), 2, source="test-gw", customer="acme"),
        _native("gemini", openai_record(), 3, source="test-gw"),
        _native("openai", openai_record(), 4, customer="acme"),  # no source
        _native("litellm", litellm_record(), 5, source="test-gw", occurred_at="2026-06-01"),
    ]
    result = Pipeline().process(messages, group="native-test")
    assert result.processed == 2
    reasons = {row.message.offset: (row.reason_code, row.reason) for row in result.dead_letters}
    assert sorted(reasons) == [2, 3, 4, 5]
    assert reasons[2][0] == "schema_violation" and "usage" in reasons[2][1]
    assert reasons[3][0] == "unknown_adapter"
    assert "source" in reasons[4][1] and "occurred_at" in reasons[5][1]
    assert DeadLetter.objects.count() == 4
    booked = UsageRecord.objects.order_by("model")
    assert [r.metadata.get("adapter") for r in booked] == [None, "openai"]
    assert all(row.difference == 0 for row in trial_balance_list())
