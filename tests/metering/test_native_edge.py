"""What we keep of an OpenAI, Anthropic or OpenRouter record (`<adapter>.edge_record`):
the adapter reads nothing else (a record that notes its reads says so), its answer is
the same on the kept part as on the whole record (event, or code, reason and fields;
over the samples, each read field mutated, and random mutations), and the completion
reaches neither the Kafka topic, the DLQ topic nor a DeadLetter row: not through the
HTTP edge, and not when a producer writes whole records straight to Kafka (the consumer
keeps only the edge record of what it dead-letters)."""

import copy
import json
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka import KafkaProducer
from rest_framework.test import APIClient

from metering.adapters import (
    EDGE_RECORDS,
    _message_kwargs,
    adapt_message,
    anthropic,
    edge_value,
    openai,
    openrouter,
)
from metering.models import DeadLetter, UsageRecord
from metering.pipeline import Pipeline, RawMessage
from pricing import services as pricing_services
from tests.metering.test_adapters import load
from tests.metering.test_consumer import consume_all, run_consumer

# One marker for the prompt and the completion, the one LiteLLM's records carry too.
from tests.metering.test_litellm_edge import SECRET, _Reads
from tests.metering.test_litellm_edge import _kept as _kept_by_keys
from tests.metering.test_litellm_edge import _with_content as _litellm_with_content
from tests.metering.test_litellm_fast import _JSON, ABSENT, ODD_VALUES, _outcome, _set
from tests.metering.test_native_ingest import (
    OPENROUTER_QWEN,
    anthropic_record,
    litellm_record,
    openai_record,
    openrouter_record,
)

MODULES = {"openai": openai, "anthropic": anthropic, "openrouter": openrouter}
OCCURRED_AT = "2026-06-01T12:00:00+00:00"
# What the native endpoints (or a producer) put in a message's headers, per kind: with
# and without the arguments each adapter takes, so refusals for a missing one compare too.
ARG_SETS = {
    "openai": [
        {"source": "gw", "customer": "acme"},
        {"source": "gw", "customer": "acme", "occurred_at": OCCURRED_AT, "api_key": "k1"},
        {"source": "gw", "customer": "acme", "authorization_id": "a1"},
        {"source": "gw"},  # no customer: refused, after the record is read
    ],
    "anthropic": [
        {"source": "gw", "customer": "acme", "occurred_at": OCCURRED_AT},
        {"source": "gw", "customer": "acme", "occurred_at": OCCURRED_AT, "api_key": "k1"},
        {"source": "gw", "occurred_at": OCCURRED_AT},
        {"source": "gw", "customer": "acme"},  # no timestamp: refused
    ],
    "openrouter": [
        {"source": "gw", "customer": "acme"},
        {"source": "gw", "customer": "acme", "api_key": "k1", "authorization_id": "a1"},
        {"source": "gw"},
    ],
}


def _data_only(record: dict) -> dict:
    return copy.deepcopy(record["data"])


BASES = {
    "openai": {
        "chat": load("openai_chat_completion.json"),
        "reasoning": load("openai_chat_completion_reasoning.json"),
        "response": load("openai_response.json"),
        "ingest": openai_record(),
    },
    "anthropic": {
        "message": load("anthropic_message.json"),
        "no_cache": load("anthropic_message_no_cache.json"),
        "ingest": anthropic_record(),
    },
    "openrouter": {
        "whole": load("openrouter_generation.json"),
        "data": _data_only(load("openrouter_generation.json")),
        "ingest": openrouter_record(),
    },
}
# Every path each adapter reads (dotted). OpenRouter's are of the generation record,
# under `data.` in the envelope (see _paths); `id` and `data` at its top decide which.
_OPENAI_USAGE = [
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "prompt_tokens_details",
    "prompt_tokens_details.cached_tokens",
    "prompt_tokens_details.audio_tokens",
    "completion_tokens_details",
    "completion_tokens_details.reasoning_tokens",
    "completion_tokens_details.audio_tokens",
    "input_tokens",
    "output_tokens",
    "input_tokens_details",
    "input_tokens_details.cached_tokens",
    "output_tokens_details",
    "output_tokens_details.reasoning_tokens",
]
_ANTHROPIC_USAGE = [
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "cache_creation",
    "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens",
    "server_tool_use",
    "server_tool_use.web_search_requests",
    "output_tokens_details",
    "output_tokens_details.thinking_tokens",
    "service_tier",
    "inference_geo",
]
PATHS = {
    "openai": ["id", "object", "created", "created_at", "status", "model", "service_tier"]
    + ["usage"]
    + [f"usage.{path}" for path in _OPENAI_USAGE],
    "anthropic": ["id", "type", "model", "usage"] + [f"usage.{p}" for p in _ANTHROPIC_USAGE],
    "openrouter": list(openrouter._READ_KEYS),
}
# Where the customer's text is, or could be, beside and inside what is read.
UNREAD = {
    "openai": [
        "choices",
        "output",
        "instructions",
        "tools",
        "metadata",
        "user",
        "system_fingerprint",
        "reasoning",
    ],
    "anthropic": ["content", "stop_sequence", "messages", "system", "container"],
    "openrouter": ["prompt", "completion", "origin", "provider_responses", "finish_reason"],
}


def _paths(kind: str, record: dict, paths: list[str]) -> list[str]:
    if kind == "openrouter" and "id" not in record and "data" in record:
        return ["id", "data"] + [f"data.{path}" for path in paths]
    return paths


def _with_content(kind: str, record: dict) -> dict:
    """The record as a gateway hands it over after a real call: the customer's text in it."""
    record = copy.deepcopy(record)
    inner = record
    if kind == "openrouter" and "data" in record and isinstance(record["data"], dict):
        inner = record["data"]
        record["prompt"] = f"{SECRET} beside the envelope"
    for path in UNREAD[kind]:
        inner[path] = [{"role": "user", "content": f"{SECRET} {path}"}]
    return record


def _answer(kind: str, record, args: dict) -> tuple:
    return _outcome(lambda: adapt_message(kind, json.dumps(record).encode(), args))


def _both_ways(kind: str, record) -> None:
    kept = EDGE_RECORDS[kind](record)
    for args in ARG_SETS[kind]:
        assert _answer(kind, kept, args) == _answer(kind, record, args), args


def _cases():
    return [(kind, name) for kind, bases in BASES.items() for name in bases]


@pytest.mark.parametrize("kind, base", _cases())
def test_the_kept_record_answers_as_the_whole_one_without_the_content(kind, base):
    record = _with_content(kind, BASES[kind][base])
    kept = EDGE_RECORDS[kind](record)
    assert SECRET not in json.dumps(kept)
    assert SECRET in json.dumps(record)
    _both_ways(kind, record)
    answers = [_answer(kind, record, args)[0] for args in ARG_SETS[kind]]
    assert "accepted" in answers and "refused" in answers  # both outcomes compared
    assert EDGE_RECORDS[kind](kept) == kept  # stripping twice keeps the same


@pytest.mark.parametrize("kind", sorted(MODULES))
def test_each_read_field_mutated_answers_the_same_kept_or_whole(kind):
    compared = accepted = 0
    for base in BASES[kind].values():
        record = _with_content(kind, base)
        for path in _paths(kind, record, PATHS[kind] + UNREAD[kind]):
            for value in ODD_VALUES + [{"unread": SECRET}, SECRET]:
                mutated = copy.deepcopy(record)
                if not _set(mutated, path, value):
                    continue
                _both_ways(kind, mutated)
                compared += 1
                accepted += _answer(kind, mutated, ARG_SETS[kind][0])[0] == "accepted"
    assert compared > accepted > 0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_mutations_answer_the_same_kept_or_whole(data):
    kind, base = data.draw(st.sampled_from(_cases()))
    record = _with_content(kind, BASES[kind][base])
    paths = _paths(kind, record, PATHS[kind] + UNREAD[kind])
    mutations = data.draw(
        st.lists(st.tuples(st.sampled_from(paths), _JSON | st.sampled_from(ODD_VALUES)), max_size=4)
    )
    for path, value in mutations:
        _set(record, path, value)
    _both_ways(kind, record)


def _kept(kind: str, path: str) -> bool:
    """Whether edge_record keeps what the dotted `path` reads."""
    if kind == "openrouter":
        if path in ("id", "data"):  # the envelope is kept whenever the adapter opens it
            return True
        path = path.removeprefix("data.")
    return _kept_by_keys(path, MODULES[kind]._READ_KEYS)


@pytest.mark.parametrize("kind", sorted(MODULES))
def test_the_adapter_reads_only_the_kept_keys(kind):
    records = []
    for base in BASES[kind].values():
        record = _with_content(kind, base)
        records.append(record)
        for path in _paths(kind, record, PATHS[kind]):
            for value in (ABSENT, {}, {"prompt_tokens": 1, "input_tokens": 1}, None):
                mutated = copy.deepcopy(record)
                if _set(mutated, path, value):
                    records.append(mutated)
    seen: set[str] = set()
    adapter = MODULES[kind].to_usage_event
    for record in records:
        for args in ARG_SETS[kind]:
            kwargs = _message_kwargs(kind, tuple(args.items()))
            _outcome(lambda r=record, k=kwargs: adapter(_Reads(r, "", seen), **k))
    assert "id" in seen  # it did read
    assert {path for path in seen if not _kept(kind, path)} == set()


@pytest.mark.parametrize("kind, base", _cases())
def test_the_size_each_sample_keeps(kind, base, capsys):
    """Bytes of a sample's compact JSON, as is and with the content _with_content adds,
    against what the edge keeps (printed; run with -s to see them)."""
    for label, record in (("sample", BASES[kind][base]), ("+content", None)):
        record = record if record is not None else _with_content(kind, BASES[kind][base])
        whole = len(json.dumps(record, separators=(",", ":")))
        kept = len(json.dumps(EDGE_RECORDS[kind](record), separators=(",", ":")))
        assert kept < whole
        with capsys.disabled():
            print(
                f"\nedge size {kind}/{base} {label}: {whole:,} B -> {kept:,} B "
                f"({1 - kept / whole:.0%} dropped)",
                end="",
            )


def _qwen_priced() -> None:
    pricing_services.catalog_import(
        data={"qwen/qwen-2.5-72b-instruct": OPENROUTER_QWEN},
        effective_from=datetime(2026, 3, 1, tzinfo=UTC),
        actor="test",
    )


def _spoiled(kind: str, record: dict) -> dict:
    """A record its adapter refuses, content and all."""
    if kind == "openrouter":
        return {"data": {**record["data"], "native_tokens_prompt": -1}}
    if kind == "litellm":
        return {**record, "status": "failure"}
    return {key: value for key, value in record.items() if key != "usage"}


FRESH = {
    "openai": openai_record,
    "anthropic": anthropic_record,
    "openrouter": openrouter_record,
}


def _producer_args(kind: str) -> dict[str, str]:
    """The headers a producer of ours sets for `kind` (only those its adapter takes)."""
    if kind == "litellm":  # the customer is the record's team id
        return {"source": "test-gw"}
    if kind == "openrouter":  # the record has its own timestamp
        return {"source": "test-gw", "customer": "acme"}
    return {"source": "test-gw", "customer": "acme", "occurred_at": OCCURRED_AT}


def _native_message(kind: str, value: bytes, offset: int, **args: str) -> RawMessage:
    headers = (("kind", kind.encode()), *((k, v.encode()) for k, v in args.items()))
    return RawMessage("usage.events", 0, offset, b"k", value, headers)


def test_the_pipeline_dead_letters_only_the_edge_record_and_it_replays(world):
    """Records produced straight to Kafka come whole; their dead letters keep the edge
    record (the same refusal when replayed) or, when unreadable, no bytes at all."""
    _qwen_priced()
    records = {kind: _with_content(kind, _spoiled(kind, fresh())) for kind, fresh in FRESH.items()}
    records["litellm"] = _spoiled("litellm", _litellm_with_content(litellm_record()))
    args = _producer_args("openai")
    messages = [
        _native_message(kind, json.dumps(record).encode(), offset, **_producer_args(kind))
        for offset, (kind, record) in enumerate(records.items())
    ]
    good = _with_content("openai", openai_record())
    unknown_customer = _with_content("anthropic", anthropic_record())
    messages += [
        _native_message("openai", json.dumps(good).encode(), 10, **args),
        # Valid, but no such customer: dead-lettered by rating, after the adapter.
        _native_message(
            "anthropic", json.dumps(unknown_customer).encode(), 11, **{**args, "customer": "nobody"}
        ),
        _native_message("openai", f'{{"choices": "{SECRET}", '.encode(), 12, **args),
        _native_message("gemini", json.dumps(good).encode(), 13, **args),  # no such adapter
    ]
    result = Pipeline().process(messages, group="edge-test")
    assert (result.processed, result.rejected) == (1, 7)
    letters = {letter.offset: letter for letter in DeadLetter.objects.all()}
    assert sorted(letters) == [0, 1, 2, 3, 11, 12, 13]
    for letter in letters.values():
        assert SECRET.encode() not in bytes(letter.value)
    for offset, (kind, record) in enumerate(records.items()):
        assert json.loads(bytes(letters[offset].value)) == EDGE_RECORDS[kind](record)
    assert json.loads(bytes(letters[11].value)) == anthropic.edge_record(unknown_customer)
    assert letters[11].reason_code == "unknown_customer"
    for offset in (12, 13):  # nothing of them is kept, and the reason says why
        assert bytes(letters[offset].value) == b""
        assert f"its {len(messages[offset - 6].value)} bytes are not kept" in (
            letters[offset].reason
        )
    assert letters[12].reason.startswith("the record is not JSON")
    assert letters[13].reason_code == "unknown_adapter"
    assert UsageRecord.objects.get().event_id == good["id"]

    # Replayed as stored (value and headers), a dead letter is refused for the same reason.
    replay = [
        RawMessage(
            "replay",
            0,
            offset,
            b"k",
            bytes(letters[offset].value),
            tuple((name, value.encode()) for name, value in letters[offset].headers),
        )
        for offset in (0, 1, 2, 3, 11)
    ]
    again = Pipeline().process(replay, group="edge-replay")
    assert {row.message.offset: (row.reason_code, row.reason) for row in again.dead_letters} == {
        offset: (letters[offset].reason_code, letters[offset].reason) for offset in (0, 1, 2, 3, 11)
    }


def test_edge_value_reencodes_so_a_shadowed_key_does_not_survive():
    value = f'{{"id": "{SECRET}", "id": "msg_1", "content": "{SECRET}"}}'.encode()
    kept = edge_value("anthropic", value)
    assert kept is not None and SECRET.encode() not in kept
    assert json.loads(kept) == {"id": "msg_1"}
    assert edge_value("anthropic", b"\xff not json") is None
    assert edge_value("usage_event", b"{}") is None  # not a native kind: no shape to keep


@pytest.mark.django_db(transaction=True)  # the consumer commits and closes its connection
@pytest.mark.slow
def test_no_completion_reaches_kafka_or_a_dead_letter_through_the_edge(
    world, kafka_bootstrap, kafka_topic, settings
):
    from wallets.gateways.keys import gateway_key_create

    _qwen_priced()
    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_bootstrap
    settings.METERING_USAGE_TOPIC = kafka_topic  # a topic of this test's own
    _key, secret = gateway_key_create(name="native", source="test-gw", actor="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    sent, refusals = {}, {}
    for kind, fresh in FRESH.items():
        good = _with_content(kind, fresh())
        bad = _with_content(kind, _spoiled(kind, fresh()))
        response = client.post(
            f"/v1/usage/{kind}",
            [good, bad],
            format="json",
            HTTP_X_CUSTOMER_ID="acme",
            HTTP_X_OCCURRED_AT=OCCURRED_AT,
        )
        body = response.json()
        assert response.status_code == 202, body
        assert [item["status"] for item in body["items"]] == ["accepted", "refused"], body
        sent[kind] = (good, bad)
        refusals[_id(bad)] = body["items"][1]["reason"]

    produced = consume_all(kafka_bootstrap, kafka_topic)
    assert len(produced) == 6
    assert all(SECRET.encode() not in m.value for m in produced)
    by_id = {_id(json.loads(m.value)): (m, json.loads(m.value)) for m in produced}
    for kind, pair in sent.items():
        for record in pair:
            message, kept = by_id[_id(record)]
            assert kept == EDGE_RECORDS[kind](record)
            assert dict(message.headers)["kind"] == kind.encode()

    counters = run_consumer(kafka_bootstrap, kafka_topic, f"metering-{uuid.uuid4().hex[:8]}")
    assert (counters.processed, counters.rejected) == (3, 3)
    assert {r.metadata["adapter"] for r in UsageRecord.objects.all()} == set(FRESH)
    _assert_dead_letters_kept(kafka_bootstrap, kafka_topic, sent, refusals)


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_records_produced_straight_to_kafka_are_dead_lettered_without_the_completion(
    world, kafka_bootstrap, kafka_topic
):
    """A producer of our own that bypasses the HTTP edge sends whole records; the
    consumer books the good ones and keeps only the edge record of the refused ones."""
    _qwen_priced()
    sent, refusals = {}, {}
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    fresh_kinds = {**FRESH, "litellm": lambda: _litellm_with_content(litellm_record())}
    for kind, fresh in fresh_kinds.items():
        good = _with_content(kind, fresh()) if kind in FRESH else fresh()
        bad = _spoiled(kind, good)
        args = _producer_args(kind)
        headers = [("kind", kind.encode()), *((k, v.encode()) for k, v in args.items())]
        for record in (good, bad):
            assert SECRET in json.dumps(record)
            producer.send(
                kafka_topic, key=b"acme", value=json.dumps(record).encode(), headers=headers
            )
        sent[kind] = (good, bad)
        refusals[_id(bad)] = _answer(kind, bad, args)[2]
    producer.flush(timeout=30)
    producer.close()

    counters = run_consumer(kafka_bootstrap, kafka_topic, f"metering-{uuid.uuid4().hex[:8]}")
    assert (counters.processed, counters.rejected) == (4, 4)
    _assert_dead_letters_kept(kafka_bootstrap, kafka_topic, sent, refusals)


def _id(record: dict) -> str:
    return record["data"]["id"] if "data" in record else record["id"]


def _assert_dead_letters_kept(bootstrap: str, topic: str, sent: dict, refusals: dict) -> None:
    """The refused record of each kind is a DeadLetter row and a DLQ message holding its
    edge record (no SECRET), with its headers to replay it and the edge's reason."""
    kinds = {_id(bad): (kind, bad) for kind, (_good, bad) in sent.items()}
    letters = list(DeadLetter.objects.all())
    dead = consume_all(bootstrap, f"{topic}.dlq")
    assert len(letters) == len(dead) == len(kinds)
    for letter in letters:
        value = bytes(letter.value)
        assert SECRET.encode() not in value
        kind, bad = kinds[_id(json.loads(value))]
        assert json.loads(value) == EDGE_RECORDS[kind](bad)
        assert letter.reason == refusals[_id(bad)]
        assert ["kind", kind] in letter.headers
    for message in dead:
        assert SECRET.encode() not in message.value
        kind, bad = kinds[_id(json.loads(message.value))]
        assert json.loads(message.value) == EDGE_RECORDS[kind](bad)
        assert dict(message.headers)["kind"] == kind.encode()
