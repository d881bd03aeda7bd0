"""The LiteLLM fast path (metering.adapters.litellm_fast) answers exactly as the full
adapter: the same event (every field, metadata in the same order) or the same refusal
(code, reason, fields), over the samples and over mutations of every field the adapter
reads, one at a time and at random; and the plain-digits conversions of seconds and
costs it shares with the other adapters answer as Decimal did."""

import copy
import datetime as dt
import json
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metering.adapters import _json_record, _message_kwargs, adapt_message, litellm, litellm_fast
from metering.adapters._common import number_as_text, unix_seconds_to_datetime
from metering.schema import OCCURRED_AT_MAX, OCCURRED_AT_MIN, TOKENS_MAX, InvalidUsageEvent
from tests.metering.test_adapters import load
from tests.metering.test_native_ingest import litellm_record

SAMPLE = load("litellm_standard_logging_payload.json")
# What the HTTP endpoint and a Kafka producer put in a message's headers.
ARG_SETS = [
    {"source": "litellm-prod"},
    {"source": "litellm-prod", "customer_from": "user_api_key_user_id"},
    {"source": "litellm-prod", "customer_from": "end_user"},
    {"source": "litellm-prod", "customer_from": "user_api_key_org_id"},
    {"source": "litellm-prod", "customer": "acme", "api_key": "key_1", "authorization_id": "a1"},
    {"source": "litellm-prod", "customer": "nul\u0000inside"},  # a header can hold one
]
# Every path the full adapter reads (dotted; `metadata.usage_object...` nested).
PATHS = [
    "id",
    "status",
    "custom_llm_provider",
    "startTime",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "model",
    "model_map_information",
    "model_map_information.model_map_key",
    "model_map_information.model_map_value",
    "model_map_information.model_map_value.key",
    "call_type",
    "model_group",
    "model_id",
    "litellm_call_id",
    "trace_id",
    "cache_hit",
    "stream",
    "end_user",
    "response_cost",
    "metadata",
    "metadata.user_api_key_hash",
    "metadata.user_api_key_team_id",
    "metadata.user_api_key_user_id",
    "metadata.user_api_key_org_id",
    "metadata.user_api_key_end_user_id",
    "metadata.user_api_key_alias",
    "metadata.spend_logs_metadata",
    "metadata.spend_logs_metadata.authorization_id",
    "metadata.usage_object",
    "metadata.usage_object.prompt_tokens",
    "metadata.usage_object.completion_tokens",
    "metadata.usage_object.total_tokens",
    "metadata.usage_object.prompt_tokens_details",
    "metadata.usage_object.prompt_tokens_details.cached_tokens",
    "metadata.usage_object.prompt_tokens_details.cache_creation_tokens",
    "metadata.usage_object.prompt_tokens_details.cache_write_tokens",
    "metadata.usage_object.completion_tokens_details",
    "metadata.usage_object.completion_tokens_details.reasoning_tokens",
    "metadata.usage_object.cache_read_input_tokens",
    "metadata.usage_object.cache_creation_input_tokens",
]
ABSENT = object()
ODD_VALUES = [
    ABSENT,
    None,
    "",
    0,
    1,
    -1,
    12,
    80,
    1024,
    1536,
    2589,
    TOKENS_MAX,
    TOKENS_MAX + 1,
    2**63,
    10**30,
    True,
    False,
    1.0,
    2589.0,
    0.5,
    1718900000,
    1718900000.123456,
    1718900000123.0,
    math.nan,
    math.inf,
    "12",
    "success",
    "failure",
    "anthropic",
    "Google AI Studio",
    "OpenAI/",
    "anthropic/claude-3-5-sonnet-20240620",
    "sk-live-secret",
    "nul\u0000inside",
    "x" * 201,
    "x" * 1001,
    [],
    [1],
    {},
    {"key": "gpt-4o"},
    {"prompt_tokens": 1, "completion_tokens": 1},
    {"authorization_id": 7},
]


def _outcome(call) -> tuple:
    try:
        event = call()
    except InvalidUsageEvent as exc:
        return ("refused", exc.code, exc.reason, exc.fields)
    # model_dump plus the metadata's order, which its stored JSON keeps.
    return ("accepted", event.model_dump(), list(event.metadata.items()))


def _full(value: bytes, args: dict[str, str]) -> tuple:
    """The full adapter alone, as adapt_message called it before the fast path."""

    def call():
        kwargs = _message_kwargs("litellm", tuple(args.items()))
        return litellm.to_usage_event(_json_record(value), **kwargs)

    return _outcome(call)


def _with_fast_path(value: bytes, args: dict[str, str]) -> tuple:
    return _outcome(lambda: adapt_message("litellm", value, args))


def _set(record: dict, path: str, value: Any) -> bool:
    """Put `value` at `path` (ABSENT deletes); False when a parent is not an object."""
    *parents, last = path.split(".")
    container = record
    for name in parents:
        container = container.get(name)
        if not isinstance(container, dict):
            return False
    if value is ABSENT:
        container.pop(last, None)
    else:
        container[last] = copy.deepcopy(value)
    return True


def _bench_record() -> dict:
    """The shape benchmarks/metering_bench.py produces: an OpenAI-style usage object."""
    record = litellm_record()
    record["custom_llm_provider"] = "openai"
    record["model_map_information"] = {"model_map_key": "gpt-4o", "model_map_value": None}
    usage = record["metadata"]["usage_object"]
    usage["prompt_tokens_details"]["cache_creation_tokens"] = 0
    usage["cache_creation_input_tokens"] = 0
    usage.update(prompt_tokens=1024 + 29, total_tokens=1024 + 29 + 80)
    record.update(prompt_tokens=1024 + 29, total_tokens=1024 + 29 + 80)
    return record


def _router_like_record() -> dict:
    """As a real Router logs it (tests/metering/test_litellm_client.py): the map entry's
    own key, the prefixed deployment model, cache writes under both detail spellings."""
    record = litellm_record()
    record["model"] = "anthropic/claude-sonnet-4-5"
    record["model_map_information"] = {
        "model_map_key": "anthropic/claude-sonnet-4-5",
        "model_map_value": {"key": "claude-sonnet-4-5", "max_tokens": 64000},
    }
    details = record["metadata"]["usage_object"]["prompt_tokens_details"]
    details["cache_write_tokens"] = details["cache_creation_tokens"]
    record["cache_hit"] = None
    # The other customer fields filled, so each `customer_from` has a customer to find.
    record["metadata"].update(user_api_key_org_id="org-1", user_api_key_end_user_id="end-9")
    return record


BASES = {"sample": SAMPLE, "bench": _bench_record(), "router": _router_like_record()}


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("args", ARG_SETS, ids=lambda a: ",".join(sorted(a)))
def test_well_formed_records_take_the_fast_path_to_the_same_event(base, args):
    value = json.dumps(BASES[base]).encode()
    kwargs = _message_kwargs("litellm", tuple(args.items()))
    outcome = _full(value, args)
    fast = litellm_fast.to_usage_event(value, **kwargs)
    if outcome[0] == "accepted":
        assert fast is not None, "a well-formed record fell back to the full adapter"
        assert _outcome(lambda: fast) == outcome
    else:  # the sample has no org id: refused, by the full adapter
        assert fast is None
    assert _with_fast_path(value, args) == outcome


@pytest.mark.parametrize("path", PATHS)
def test_each_field_mutated_answers_as_the_full_adapter(path):
    compared = accepted = fast = 0
    for base in BASES.values():
        for value in ODD_VALUES:
            record = copy.deepcopy(base)
            if not _set(record, path, value):
                continue
            raw = json.dumps(record).encode()
            for args in ARG_SETS:
                expected = _full(raw, args)
                assert _with_fast_path(raw, args) == expected, (path, value, args)
                compared += 1
                accepted += expected[0] == "accepted"
                kwargs = _message_kwargs("litellm", tuple(args.items()))
                fast += litellm_fast.to_usage_event(raw, **kwargs) is not None
    # Each path had both outcomes, and the fast path took part in the accepted ones.
    assert compared > accepted >= fast > 0


@pytest.mark.parametrize(
    "raw",
    [
        b"\xef\xbb\xbf" + json.dumps(SAMPLE).encode(),  # BOM: json's path decides
        json.dumps(SAMPLE).encode("utf-16"),
        json.dumps(SAMPLE, ensure_ascii=False).encode(),
        json.dumps(SAMPLE).encode()[:-1],  # truncated
        json.dumps([SAMPLE]).encode(),  # a list where a record belongs
        b"null",
        b'"a string"',
        # Duplicate keys: the last one wins in both parsers.
        json.dumps(SAMPLE).encode()[:-1] + b', "prompt_tokens": 1}',
        json.dumps(SAMPLE).encode()[:-1] + b', "id": "chatcmpl-second"}',
        json.dumps(SAMPLE).encode().replace(b'"id": "chatcmpl', b'"id": "\\ud800chatcmpl', 1),
        json.dumps(SAMPLE).encode().replace(b'"trace_id": "', b'"trace_id": "\\u0000', 1),
    ],
)
def test_whole_record_oddities_answer_as_the_full_adapter(raw):
    for args in ARG_SETS:
        assert _with_fast_path(raw, args) == _full(raw, args)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(BASES)),
    st.lists(st.tuples(st.sampled_from(PATHS), _JSON | st.sampled_from(ODD_VALUES)), max_size=3),
    st.sampled_from(range(len(ARG_SETS))),
)
def test_random_mutations_answer_as_the_full_adapter(base, mutations, args_index):
    record = copy.deepcopy(BASES[base])
    for path, value in mutations:
        _set(record, path, value)
    raw = json.dumps(record).encode()
    args = ARG_SETS[args_index]
    assert _with_fast_path(raw, args) == _full(raw, args)


def _seconds_by_decimal(value: float) -> dt.datetime:
    """The conversion as it was, all in Decimal: the reference for the plain-digits one."""
    micro = (Decimal(str(value)) * 1_000_000).to_integral_value(rounding="ROUND_FLOOR")
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(micro))


@settings(max_examples=2000, deadline=None)
@given(
    st.floats(
        min_value=OCCURRED_AT_MIN.timestamp(),
        max_value=OCCURRED_AT_MAX.timestamp(),
        exclude_max=True,
    )
)
def test_float_seconds_convert_as_decimal_converts_them(seconds):
    assert unix_seconds_to_datetime(seconds, "startTime") == _seconds_by_decimal(seconds)


@pytest.mark.parametrize(
    "seconds",
    [
        OCCURRED_AT_MIN.timestamp(),
        math.nextafter(OCCURRED_AT_MIN.timestamp(), math.inf),
        math.nextafter(OCCURRED_AT_MAX.timestamp(), 0),
        1741357375.895310,
        1718900000.0000005,
        1718900000.9999999,
    ],
)
def test_float_seconds_at_the_edges_convert_as_decimal_converts_them(seconds):
    assert unix_seconds_to_datetime(seconds, "startTime") == _seconds_by_decimal(seconds)


@settings(max_examples=2000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_reported_costs_read_as_decimal_prints_them(cost):
    assert number_as_text(cost) == format(Decimal(str(cost)), "f")
