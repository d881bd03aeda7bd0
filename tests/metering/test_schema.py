"""The usage event schema: what it accepts, exactly, and that bad input only ever becomes
`InvalidUsageEvent` with a stable code. Pure tests: no database."""

import datetime as dt
import json
import pickle
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from config.errors import DomainError
from metering.schema import (
    ERROR_CODES,
    MALFORMED_JSON,
    REASON_CHARS_MAX,
    SCHEMA_VIOLATION,
    TOKENS_MAX,
    UNSUPPORTED_SCHEMA_VERSION,
    InvalidUsageEvent,
    TokenCounts,
    UsageEvent,
    build_usage_event,
    parse_usage_event,
)

SAMPLE = Path(__file__).parent / "samples" / "usage_event.json"


def sample() -> dict:
    return json.loads(SAMPLE.read_text())


def refusal(raw) -> InvalidUsageEvent:
    with pytest.raises(InvalidUsageEvent) as caught:
        parse_usage_event(raw)
    return caught.value


def with_change(path: str, value) -> bytes:
    """The sample with one dotted path set (or removed, for value=DELETE), as JSON bytes."""
    event = sample()
    *parents, last = path.split(".")
    target = event
    for part in parents:
        target = target[part]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return json.dumps(event).encode()


DELETE = object()


# -- what a valid event reads as ---------------------------------------------------------


def test_sample_event_reads_field_by_field():
    event = parse_usage_event(SAMPLE.read_bytes())

    assert event.schema_version == 1
    assert event.event_id == "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
    assert event.source == "gw-eu-1"
    assert event.occurred_at == dt.datetime(2025, 3, 9, 17, 31, 23, 123456, tzinfo=dt.UTC)
    assert event.occurred_at.utcoffset() == dt.timedelta(hours=8)  # kept as sent
    assert event.customer == "cus_8f3a2c"
    assert event.api_key == "key_01HZX3K9"
    assert event.model == "gpt-4o-2024-08-06"
    assert event.provider == "openai"
    assert event.upstream_request_id == "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
    assert event.tokens == TokenCounts(
        input=93, output=46, cache_read=1024, cache_write=0, reasoning=0
    )
    assert event.authorization_id == "auth_01J0ZQ8Y3W"
    assert event.metadata == {
        "call_type": "chat",
        "service_tier": "default",
        "streamed": False,
        "retries": 0,
        "trace": None,
    }
    assert type(event.metadata["streamed"]) is bool
    assert type(event.metadata["retries"]) is int


def test_total_is_the_sum_of_the_disjoint_counts():
    tokens = TokenCounts(input=1, output=20, cache_read=300, cache_write=4000, reasoning=50000)
    assert tokens.total == 54321


def test_dedupe_key_is_source_and_event_id():
    event = parse_usage_event(SAMPLE.read_bytes())
    assert event.dedupe_key == ("gw-eu-1", "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG")


def test_bytes_str_bytearray_and_dict_read_the_same():
    raw = SAMPLE.read_bytes()
    expected = parse_usage_event(raw)
    assert parse_usage_event(raw.decode()) == expected
    assert parse_usage_event(bytearray(raw)) == expected
    assert parse_usage_event(memoryview(raw)) == expected
    assert parse_usage_event(sample()) == expected


def test_a_dict_may_carry_a_datetime_object():
    event = sample()
    event["occurred_at"] = dt.datetime(2025, 3, 9, 17, 31, 23, tzinfo=dt.UTC)
    assert parse_usage_event(event).occurred_at == event["occurred_at"]


def test_optional_fields_default_and_schema_version_defaults_to_1():
    event = sample()
    for key in ("schema_version", "api_key", "upstream_request_id", "authorization_id", "metadata"):
        del event[key]
    parsed = parse_usage_event(json.dumps(event))
    assert parsed.schema_version == 1
    assert parsed.api_key is None
    assert parsed.upstream_request_id is None
    assert parsed.authorization_id is None
    assert parsed.metadata == {}


def test_events_are_frozen():
    event = parse_usage_event(SAMPLE.read_bytes())
    with pytest.raises(ValidationError):
        event.customer = "someone-else"
    with pytest.raises(ValidationError):
        event.tokens.input = 0


def test_a_dump_reads_back_equal():
    event = parse_usage_event(SAMPLE.read_bytes())
    assert parse_usage_event(event.model_dump_json()) == event
    assert parse_usage_event(event.model_dump(mode="json")) == event


def test_build_usage_event_applies_the_same_rules_in_python():
    event = sample()
    event["occurred_at"] = dt.datetime(2025, 1, 1)  # naive
    with pytest.raises(InvalidUsageEvent) as caught:
        build_usage_event(event)
    assert caught.value.code == SCHEMA_VIOLATION
    assert caught.value.fields == ("occurred_at",)


# -- strictness: each refusal names its field -----------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("tokens.input", True, "tokens.input"),
        ("tokens.output", 46.0, "tokens.output"),
        ("tokens.reasoning", "0", "tokens.reasoning"),
        ("tokens.cache_read", -1, "tokens.cache_read"),
        ("tokens.cache_write", TOKENS_MAX + 1, "tokens.cache_write"),
        ("tokens.reasoning", DELETE, "tokens.reasoning"),
        ("tokens.audio", 5, "tokens.audio"),
        ("tokens", [93, 46], "tokens"),
        ("occurred_at", "2025-03-10T01:31:23", "occurred_at"),
        ("occurred_at", 1741541483, "occurred_at"),
        ("occurred_at", "2025-03-10", "occurred_at"),
        ("occurred_at", "1999-12-31T23:59:59Z", "occurred_at"),
        ("occurred_at", "2100-01-01T00:00:00Z", "occurred_at"),
        ("occurred_at", "0001-01-01T00:00:00+01:00", "occurred_at"),
        ("event_id", "", "event_id"),
        ("event_id", "x" * 201, "event_id"),
        ("event_id", 42, "event_id"),
        ("source", "litellm prod", "source"),
        ("source", "x" * 65, "source"),
        ("provider", "OpenAI", "provider"),
        ("provider", "", "provider"),
        ("customer", DELETE, "customer"),
        ("customer", 123, "customer"),
        ("model", None, "model"),
        ("api_key", "", "api_key"),
        ("authorization_id", "x" * 201, "authorization_id"),
        ("metadata.cost", 0.0025, "metadata.cost"),
        ("metadata.tags", ["a"], "metadata.tags"),
        ("metadata.nested", {"a": 1}, "metadata.nested"),
        ("metadata.big", 2**63, "metadata.big"),
        ("metadata.long", "x" * 1001, "metadata.long"),
        ("metadata", [], "metadata"),
        ("surprise", 1, "surprise"),
    ],
)
def test_schema_violations_are_refused_naming_the_field(path, value, field):
    refused = refusal(with_change(path, value))
    assert refused.code == SCHEMA_VIOLATION
    assert refused.fields == (field,)
    assert refused.reason.startswith(f"{field}: ")


def test_naive_timestamps_are_refused_with_a_clear_reason():
    refused = refusal(with_change("occurred_at", "2025-03-10T01:31:23"))
    assert "timezone" in refused.reason


def test_metadata_limits():
    event = sample()
    event["metadata"] = {f"k{i}": i for i in range(32)}
    assert len(parse_usage_event(event).metadata) == 32
    event["metadata"]["k32"] = 32
    assert refusal(event).fields == ("metadata",)
    event["metadata"] = {"k" * 64: "v" * 1000}
    assert parse_usage_event(event).metadata == {"k" * 64: "v" * 1000}
    event["metadata"] = {"k" * 65: "v"}
    refused = refusal(event)
    assert refused.code == SCHEMA_VIOLATION
    assert "key must have" in refused.reason


def test_several_errors_are_all_named():
    event = sample()
    event["tokens"]["input"] = True
    event["customer"] = ""
    del event["model"]
    refused = refusal(event)
    assert set(refused.fields) == {"tokens.input", "customer", "model"}


def test_a_secret_key_in_api_key_is_refused_and_not_echoed():
    secret = "sk-proj-4Xq9T3BlbkFJ2example7c1d"
    refused = refusal(with_change("api_key", secret))
    assert refused.fields == ("api_key",)
    assert "secret" in refused.reason
    assert secret not in refused.reason
    assert secret not in str(refused)


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"event_id": "chatcmpl-\x00"}, ("event_id",)),
        ({"customer": "acme\x00", "model": "\x00gpt-4o"}, ("customer", "model")),
        ({"metadata": {"team": "a\x00b"}}, ("metadata.team",)),
        ({"metadata": {"te\x00am": "a"}}, ("metadata.te\x00am",)),
    ],
)
def test_the_nul_character_is_refused_wherever_text_goes(change, fields):
    """PostgreSQL text cannot store U+0000: such an event must be refused here, not fail
    its whole batch at COPY (and again after every restart)."""
    event = {**sample(), **change}
    as_json = json.dumps(event)
    assert "\\u0000" in as_json
    for raw in (as_json, as_json.encode(), event):
        refused = refusal(raw)
        assert (refused.code, refused.fields) == (SCHEMA_VIOLATION, fields)
        assert "NUL" in refused.reason
    occurred_at = dt.datetime.fromisoformat(event["occurred_at"])
    with pytest.raises(InvalidUsageEvent, match="NUL"):
        build_usage_event({**event, "occurred_at": occurred_at})


def test_an_escaped_backslash_before_u0000_is_plain_text():
    event = {**sample(), "event_id": "chatcmpl-\\u0000"}  # a backslash, then "u0000"
    assert parse_usage_event(json.dumps(event)).event_id == "chatcmpl-\\u0000"


def test_reasons_never_echo_values():
    event = sample()
    event["tokens"]["input"] = "confidential-value-123"
    event["leaked_password"] = "hunter2-confidential"
    refused = refusal(event)
    assert "confidential" not in refused.reason
    assert set(refused.fields) == {"tokens.input", "leaked_password"}


def test_reasons_stay_short_whatever_the_input():
    event = sample()
    event.update({("x" * 500) + str(i): i for i in range(100)})
    refused = refusal(event)
    assert len(refused.reason) <= REASON_CHARS_MAX
    assert "(+" in refused.reason  # says how many more it left out
    assert len(refused.fields) == 8


@pytest.mark.parametrize("version", [2, 0, "1", True, 1.0, None, [1]])
def test_other_schema_versions_are_refused_as_unsupported(version):
    refused = refusal(with_change("schema_version", version))
    assert refused.code == UNSUPPORTED_SCHEMA_VERSION
    assert refused.fields == ("schema_version",)


def test_a_future_version_is_unsupported_even_with_fields_we_do_not_know():
    event = sample()
    event["schema_version"] = 2
    event["tokens"]["audio_input"] = 5
    event["region"] = "eu"
    assert refusal(event).code == UNSUPPORTED_SCHEMA_VERSION


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", MALFORMED_JSON),
        (b"{", MALFORMED_JSON),
        (b'{"event_id": "a",}', MALFORMED_JSON),
        (b"\xff\xfe{}", MALFORMED_JSON),
        ('{"event_id": "\\ud800"}', MALFORMED_JSON),
        (b"null", SCHEMA_VIOLATION),
        (b"[]", SCHEMA_VIOLATION),
        (b'"an event"', SCHEMA_VIOLATION),
        (b"{}", SCHEMA_VIOLATION),
        (42, MALFORMED_JSON),
        (None, MALFORMED_JSON),
        ({"occurred_at": object()}, SCHEMA_VIOLATION),
    ],
)
def test_malformed_input(raw, code):
    assert refusal(raw).code == code


def test_invalid_usage_event_is_a_value_error_and_a_domain_error_with_a_stable_code():
    refused = refusal(b"{")
    assert isinstance(refused, ValueError)
    assert isinstance(refused, DomainError)  # so the HTTP API maps it like any other
    assert refused.code == "malformed_json"
    assert refused.message == refused.reason
    assert str(refused).startswith("malformed_json: ")


def test_invalid_usage_event_survives_pickling():
    original = refusal(with_change("tokens.input", -5))
    copied = pickle.loads(pickle.dumps(original))
    assert (copied.code, copied.reason, copied.fields) == (
        original.code,
        original.reason,
        original.fields,
    )


def test_unknown_error_codes_are_a_bug():
    with pytest.raises(AssertionError):
        InvalidUsageEvent("x", code="something_new")


# -- properties: nothing but InvalidUsageEvent, whatever arrives ------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = list(sample()) + ["tokens.input", "tokens.output", "tokens.cache_read"]


def parses_or_refuses(raw) -> UsageEvent | None:
    try:
        return parse_usage_event(raw)
    except InvalidUsageEvent as refused:
        assert refused.code in ERROR_CODES
        assert 0 < len(refused.reason) <= REASON_CHARS_MAX
        return None


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_any_bytes_only_ever_refuse_as_invalid_usage_event(raw):
    assert parses_or_refuses(raw) is None


@settings(max_examples=300)
@given(json_values)
def test_any_json_only_ever_refuses_as_invalid_usage_event(value):
    assert parses_or_refuses(json.dumps(value).encode()) is None
    if isinstance(value, dict):
        assert parses_or_refuses(value) is None


@settings(max_examples=400)
@given(st.sampled_from(FIELDS), json_values)
def test_one_field_set_to_any_json_parses_or_refuses(path, value):
    event = sample()
    if "." in path:
        parent, key = path.split(".")
        event[parent][key] = value
    else:
        event[path] = value
    parsed = parses_or_refuses(json.dumps(event).encode())
    if parsed is not None:  # accepted: then it must be what was sent
        assert parsed.model_dump(mode="json")["event_id"] == event["event_id"]


token_counts = st.integers(min_value=0, max_value=TOKENS_MAX)
# Any text PostgreSQL can store: everything but U+0000 (refused, see the NUL test).
storable_text = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
identifiers = st.text(storable_text, min_size=1, max_size=200)
valid_events = st.builds(
    dict,
    event_id=identifiers,
    source=st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}\Z"),
    occurred_at=st.datetimes(
        min_value=dt.datetime(2000, 1, 2), max_value=dt.datetime(2099, 12, 30)
    ).map(lambda moment: moment.replace(tzinfo=dt.UTC).isoformat()),
    customer=identifiers,
    model=identifiers,
    provider=st.from_regex(r"\A[a-z0-9][a-z0-9_.\-]{0,63}\Z"),
    tokens=st.fixed_dictionaries(
        {
            "input": token_counts,
            "output": token_counts,
            "cache_read": token_counts,
            "cache_write": token_counts,
            "reasoning": token_counts,
        }
    ),
    metadata=st.dictionaries(
        st.text(storable_text, min_size=1, max_size=64),
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63 - 1)
        | st.text(storable_text, max_size=1000),
        max_size=32,
    ),
)


@settings(max_examples=200)
@given(valid_events)
def test_any_valid_event_is_accepted_and_reads_back_equal(event):
    parsed = parse_usage_event(json.dumps(event).encode())
    assert parsed.event_id == event["event_id"]
    assert parsed.tokens.total == sum(event["tokens"].values())
    assert parsed.metadata == event["metadata"]
    assert parse_usage_event(parsed.model_dump_json()) == parsed
