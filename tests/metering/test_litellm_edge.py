"""What the HTTP path keeps of a LiteLLM record (litellm.edge_record): the adapter reads
nothing else (a record that records its reads says so), its answer is the same on the
kept part as on the whole record (the fast path's differential cases, both ways), and
the prompt and the completion reach neither the Kafka topic nor a dead letter."""

import copy
import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from metering.adapters import _message_kwargs, litellm
from metering.adapters.litellm import _READ_KEYS, edge_record
from metering.models import DeadLetter, UsageRecord
from tests.metering.test_consumer import consume_all, run_consumer
from tests.metering.test_litellm_fast import (
    _JSON,
    ARG_SETS,
    BASES,
    ODD_VALUES,
    PATHS,
    _full,
    _outcome,
    _set,
    _with_fast_path,
)
from tests.metering.test_native_ingest import litellm_record

SECRET = "the-customer-prompt-7f3a"  # stands for the prompt and the completion
# Keys the adapter does not read, beside and inside the ones it does.
UNREAD = [
    "messages",
    "response",
    "hidden_params",
    "model_parameters",
    "metadata.requester_metadata",
    "metadata.usage_object_extra",
    "model_map_information.model_map_value",  # replaced by an entry of unread keys
    "model_map_information.model_map_value.input_cost_per_token",
    "metadata.spend_logs_metadata.note",
]


def _with_content(record: dict) -> dict:
    """The record as a gateway logs a real call: the customer's text in it."""
    record = copy.deepcopy(record)
    record["messages"] = [{"role": "user", "content": f"{SECRET} question"}]
    record["response"] = {"choices": [{"message": {"content": f"{SECRET} answer"}}]}
    record["hidden_params"] = {"additional_headers": {"x-echo": SECRET}}
    record["model_parameters"] = {"user": SECRET}
    return record


def _both_ways(record: dict) -> None:
    whole, kept = json.dumps(record).encode(), json.dumps(edge_record(record)).encode()
    for args in ARG_SETS:
        expected = _full(whole, args)
        assert _with_fast_path(whole, args) == expected
        assert _with_fast_path(kept, args) == expected, args
        assert _full(kept, args) == expected, args


@pytest.mark.parametrize("base", BASES)
def test_the_kept_record_answers_as_the_whole_one(base):
    record = _with_content(BASES[base])
    assert SECRET not in json.dumps(edge_record(record))
    _both_ways(record)
    assert len(json.dumps(edge_record(record))) < len(json.dumps(record)) * 0.75


@pytest.mark.parametrize("path", PATHS + UNREAD)
def test_each_field_mutated_answers_the_same_kept_or_whole(path):
    for base in BASES.values():
        for value in ODD_VALUES + [{"unread": SECRET}, SECRET]:
            record = _with_content(base)
            if _set(record, path, value):
                _both_ways(record)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(BASES)),
    st.lists(
        st.tuples(st.sampled_from(PATHS + UNREAD), _JSON | st.sampled_from(ODD_VALUES)),
        max_size=4,
    ),
)
def test_random_mutations_answer_the_same_kept_or_whole(base, mutations):
    record = _with_content(BASES[base])
    for path, value in mutations:
        _set(record, path, value)
    _both_ways(record)


class _Reads(dict):
    """A record's object that notes each key the adapter reads of it, by dotted path."""

    def __init__(self, value: dict, path: str, seen: set[str]):
        super().__init__(
            (k, _Reads(v, f"{path}{k}.", seen) if isinstance(v, dict) else v)
            for k, v in value.items()
        )
        self._path, self._seen = path, seen

    def get(self, key, default=None):
        self._seen.add(self._path + key)
        return super().get(key, default)

    def __getitem__(self, key):
        self._seen.add(self._path + key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self._seen.add(self._path + key)
        return super().__contains__(key)

    def __iter__(self):  # reading every key: allowed only where the value is kept whole
        self._seen.add(self._path + "*")
        return super().__iter__()

    def items(self):
        self._seen.add(self._path + "*")
        return super().items()

    def keys(self):
        self._seen.add(self._path + "*")
        return super().keys()

    def values(self):
        self._seen.add(self._path + "*")
        return super().values()


def _kept(path: str, keys: object = _READ_KEYS) -> bool:
    """Whether edge_record keeps what the dotted `path` reads (by an adapter's read keys)."""
    for name in path.split("."):
        if keys is None:  # inside a value kept whole
            return True
        if not isinstance(keys, dict) or name not in keys:
            return False
        keys = keys[name]
    return True


@pytest.mark.parametrize("base", BASES)
def test_the_adapter_reads_only_the_kept_keys(base):
    records = [_with_content(BASES[base])]
    for path in PATHS:
        for value in ({}, {"key": "gpt-4o"}, {"prompt_tokens": 1, "completion_tokens": 1}):
            record = _with_content(BASES[base])
            if _set(record, path, value):
                records.append(record)
    seen: set[str] = set()
    for record in records:
        for args in ARG_SETS:
            kwargs = _message_kwargs("litellm", tuple(args.items()))
            _outcome(lambda r=record, k=kwargs: litellm.to_usage_event(_Reads(r, "", seen), **k))
    assert "id" in seen and "metadata.usage_object.prompt_tokens" in seen  # it did read
    assert {path for path in seen if not _kept(path)} == set()


@pytest.mark.django_db(transaction=True)  # the consumer commits and closes its connection
@pytest.mark.slow
def test_no_prompt_or_completion_reaches_kafka_or_a_dead_letter(
    world, kafka_bootstrap, kafka_topic, settings
):
    from wallets.gateways.keys import gateway_key_create

    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_bootstrap
    settings.METERING_USAGE_TOPIC = kafka_topic  # a topic of this test's own
    _key, secret = gateway_key_create(name="litellm", source="test-gw", actor="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    good = _with_content(litellm_record())
    bad = {**_with_content(litellm_record()), "status": "failure"}
    response = client.post("/v1/usage/litellm", [good, bad], format="json")
    body = response.json()
    assert response.status_code == 202, body
    assert [item["status"] for item in body["items"]] == ["accepted", "refused"]

    produced = consume_all(kafka_bootstrap, kafka_topic)
    by_id = {json.loads(m.value)["id"]: json.loads(m.value) for m in produced}
    assert by_id == {good["id"]: edge_record(good), bad["id"]: edge_record(bad)}
    assert all(SECRET.encode() not in m.value for m in produced)

    counters = run_consumer(kafka_bootstrap, kafka_topic, f"metering-{uuid.uuid4().hex[:8]}")
    assert (counters.processed, counters.rejected) == (1, 1)
    assert UsageRecord.objects.get().event_id == good["id"]
    [letter] = DeadLetter.objects.all()
    assert letter.reason == body["items"][1]["reason"]
    [dead] = consume_all(kafka_bootstrap, f"{kafka_topic}.dlq")
    for stored in (bytes(letter.value), dead.value):
        assert SECRET.encode() not in stored
        assert json.loads(stored) == edge_record(bad)  # still a LiteLLM record: replayable
    assert dict(dead.headers)["kind"] == b"litellm"
