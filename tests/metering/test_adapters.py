"""Gateway adapters: every token field maps exactly onto the disjoint counts, and any bad
payload becomes `InvalidUsageEvent` naming the field. Pure tests: no database.

Sample payloads (tests/metering/samples/) copy the shapes of the public references each
adapter's docstring cites (OpenAI and Anthropic API references and SDK types, LiteLLM's
logging spec, OpenRouter's generation schema)."""

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metering.adapters import ADAPTERS, adapt
from metering.adapters import anthropic as anthropic_adapter
from metering.adapters import litellm as litellm_adapter
from metering.adapters import openai as openai_adapter
from metering.adapters import openrouter as openrouter_adapter
from metering.adapters._common import normalise_provider, unix_seconds_to_datetime
from metering.schema import (
    ERROR_CODES,
    INCONSISTENT_USAGE,
    NOT_BILLABLE,
    SCHEMA_VIOLATION,
    TOKENS_MAX,
    UNKNOWN_ADAPTER,
    InvalidUsageEvent,
    TokenCounts,
    UsageEvent,
)

SAMPLES = Path(__file__).parent / "samples"
NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)


def load(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def refusal(function, payload, **kwargs) -> InvalidUsageEvent:
    with pytest.raises(InvalidUsageEvent) as caught:
        function(payload, **kwargs)
    return caught.value


def openai_event(payload: dict, **kwargs: Any) -> UsageEvent:
    return openai_adapter.to_usage_event(
        payload, **{"source": "gw-eu-1", "customer": "cus_42", **kwargs}
    )


def anthropic_event(payload: dict, **kwargs: Any) -> UsageEvent:
    return anthropic_adapter.to_usage_event(
        payload, **{"source": "gw-eu-1", "customer": "cus_42", "occurred_at": NOW, **kwargs}
    )


def litellm_event(payload: dict, **kwargs: Any) -> UsageEvent:
    return litellm_adapter.to_usage_event(payload, **{"source": "litellm-prod", **kwargs})


def openrouter_event(payload: dict, **kwargs: Any) -> UsageEvent:
    return openrouter_adapter.to_usage_event(
        payload, **{"source": "gw-eu-1", "customer": "cus_42", **kwargs}
    )


# -- registry -------------------------------------------------------------------------


def test_registry_names_every_payload_kind():
    assert set(ADAPTERS) == {"openai", "anthropic", "litellm", "openrouter", "usage_event"}


def test_adapt_dispatches_by_kind():
    payload = load("openai_chat_completion.json")
    assert adapt("openai", payload, source="gw-eu-1", customer="cus_42") == openai_event(payload)
    native = adapt("usage_event", load("usage_event.json"))
    assert native.event_id == "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"


@pytest.mark.parametrize("kind", ["bedrock", "OpenAI", "", None, 3])
def test_unknown_kinds_are_refused(kind):
    refused = refusal(lambda payload: adapt(kind, payload), {})
    assert refused.code == UNKNOWN_ADAPTER
    assert "openai" in refused.reason  # lists the known kinds


def test_native_events_from_another_gateway_are_refused():
    payload = load("usage_event.json")
    assert adapt("usage_event", payload, source="gw-eu-1").source == "gw-eu-1"
    refused = refusal(lambda event: adapt("usage_event", event, source="gw-us-2"), payload)
    assert refused.fields == ("source",)


# -- OpenAI Chat Completions ----------------------------------------------------------


def test_openai_chat_sample_maps_every_field():
    event = openai_event(
        load("openai_chat_completion.json"), api_key="key_9", authorization_id="auth_1"
    )
    assert event.event_id == "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
    assert event.upstream_request_id == "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
    assert event.source == "gw-eu-1"
    assert event.customer == "cus_42"
    assert event.api_key == "key_9"
    assert event.authorization_id == "auth_1"
    assert event.model == "gpt-4o-2024-08-06"
    assert event.provider == "openai"
    assert event.occurred_at == dt.datetime(2025, 3, 10, 1, 31, 23, tzinfo=dt.UTC)
    # prompt 1117 of which 1024 cached; completion 46 of which 0 reasoning.
    assert event.tokens == TokenCounts(
        input=93, cache_read=1024, cache_write=0, output=46, reasoning=0
    )
    assert event.tokens.total == 1163  # usage.total_tokens
    assert event.metadata == {"service_tier": "default"}


def test_openai_reasoning_sample_subtracts_cached_and_reasoning_tokens():
    event = openai_event(load("openai_chat_completion_reasoning.json"))
    assert event.tokens == TokenCounts(
        input=2560 - 1536, cache_read=1536, cache_write=0, output=1900 - 1728, reasoning=1728
    )
    assert event.tokens.total == 4460
    assert event.metadata["service_tier"] == "flex"


def chat(usage: Any, **fields: Any) -> dict:
    return {"id": "chatcmpl-1", "created": 1741570283, "model": "gpt-4o", "usage": usage, **fields}


def test_openai_details_may_be_absent_or_null():
    bare = openai_event(chat({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}))
    nulls = openai_event(
        chat(
            {
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "total_tokens": None,
                "prompt_tokens_details": None,
                "completion_tokens_details": {"reasoning_tokens": None},
            }
        )
    )
    expected = TokenCounts(input=10, cache_read=0, cache_write=0, output=5, reasoning=0)
    assert bare.tokens == expected
    assert nulls.tokens == expected


def test_openai_audio_tokens_are_flagged_for_rating():
    event = openai_event(
        chat(
            {
                "prompt_tokens": 100,
                "completion_tokens": 50,
                "prompt_tokens_details": {"audio_tokens": 60},
                "completion_tokens_details": {"audio_tokens": 40},
            }
        )
    )
    assert event.metadata["input_audio_tokens"] == 60
    assert event.metadata["output_audio_tokens"] == 40


@pytest.mark.parametrize(
    ("usage", "field"),
    [
        (None, "usage"),
        ("lots", "usage"),
        ({"completion_tokens": 5}, "usage"),
        ({"prompt_tokens": None, "completion_tokens": 5}, "usage.prompt_tokens"),
        ({"prompt_tokens": 10}, "usage.completion_tokens"),
        ({"prompt_tokens": -1, "completion_tokens": 5}, "usage.prompt_tokens"),
        ({"prompt_tokens": True, "completion_tokens": 5}, "usage.prompt_tokens"),
        ({"prompt_tokens": 10.0, "completion_tokens": 5}, "usage.prompt_tokens"),
        ({"prompt_tokens": "10", "completion_tokens": 5}, "usage.prompt_tokens"),
        ({"prompt_tokens": TOKENS_MAX + 1, "completion_tokens": 5}, "usage.prompt_tokens"),
        (
            {"prompt_tokens": 10, "completion_tokens": 5, "prompt_tokens_details": []},
            "usage.prompt_tokens_details",
        ),
        (
            {
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "prompt_tokens_details": {"cached_tokens": False},
            },
            "usage.prompt_tokens_details.cached_tokens",
        ),
        (
            {
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "completion_tokens_details": {"reasoning_tokens": 2.5},
            },
            "usage.completion_tokens_details.reasoning_tokens",
        ),
        (
            {"prompt_tokens": 10, "completion_tokens": 5, "input_tokens": 10},
            "usage",
        ),
    ],
)
def test_openai_bad_usage_is_refused_naming_the_field(usage, field):
    refused = refusal(openai_event, chat(usage))
    assert refused.code == SCHEMA_VIOLATION
    assert refused.fields == (field,)


def test_openai_cached_beyond_prompt_is_refused_as_inconsistent():
    refused = refusal(
        openai_event,
        chat(
            {
                "prompt_tokens": 100,
                "completion_tokens": 5,
                "prompt_tokens_details": {"cached_tokens": 101},
            }
        ),
    )
    assert refused.code == INCONSISTENT_USAGE
    assert refused.fields == ("usage.prompt_tokens", "usage.prompt_tokens_details.cached_tokens")
    assert "cached_tokens (101) exceeds usage.prompt_tokens (100)" in refused.reason


def test_openai_reasoning_beyond_completion_is_refused_as_inconsistent():
    refused = refusal(
        openai_event,
        chat(
            {
                "prompt_tokens": 100,
                "completion_tokens": 5,
                "completion_tokens_details": {"reasoning_tokens": 6},
            }
        ),
    )
    assert refused.code == INCONSISTENT_USAGE
    assert "usage.completion_tokens_details.reasoning_tokens" in refused.fields


def test_openai_total_that_does_not_add_up_is_refused():
    # e.g. an "OpenAI-compatible" upstream counting reasoning outside completion_tokens
    refused = refusal(
        openai_event,
        chat({"prompt_tokens": 100, "completion_tokens": 5, "total_tokens": 125}),
    )
    assert refused.code == INCONSISTENT_USAGE
    assert refused.fields == ("usage.total_tokens",)


@pytest.mark.parametrize(
    ("created", "field"),
    [
        (None, "created"),
        ("1741570283", "created"),
        (True, "created"),
        (1741570283000, "created"),  # milliseconds
        (-1, "created"),
    ],
)
def test_openai_bad_timestamps_are_refused(created, field):
    assert refusal(
        openai_event, chat({"prompt_tokens": 1, "completion_tokens": 1}, created=created)
    ).fields == (field,)


def test_openai_keyword_overrides():
    payload = chat({"prompt_tokens": 1, "completion_tokens": 1})
    event = openai_event(payload, provider="DeepSeek", event_id="evt-7", occurred_at=NOW)
    assert event.provider == "deepseek"
    assert event.event_id == "evt-7"
    assert event.upstream_request_id == "chatcmpl-1"
    assert event.occurred_at == NOW
    naive = refusal(openai_event, payload, occurred_at=dt.datetime(2025, 6, 1))
    assert naive.fields == ("occurred_at",)


def test_openai_needs_a_customer_and_an_id():
    payload = chat({"prompt_tokens": 1, "completion_tokens": 1})
    assert refusal(openai_event, payload, customer=None).fields == ("customer",)
    del payload["id"]
    assert refusal(openai_event, payload).fields == ("id",)
    assert openai_event(payload, event_id="evt-1").event_id == "evt-1"


@pytest.mark.parametrize("payload", [None, [], "chatcmpl-1", 7])
def test_openai_payload_must_be_an_object(payload):
    assert refusal(openai_event, payload).fields == ("payload",)


# -- OpenAI Responses API -------------------------------------------------------------


def test_openai_responses_sample_maps_every_field():
    event = openai_event(load("openai_response.json"))
    assert event.event_id == "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b"
    assert event.model == "o4-mini-2025-04-16"
    assert event.occurred_at == dt.datetime(2025, 3, 8, 23, 29, 2, tzinfo=dt.UTC)
    assert event.tokens == TokenCounts(
        input=3200 - 2048, cache_read=2048, cache_write=0, output=987 - 832, reasoning=832
    )
    assert event.tokens.total == 4187
    assert event.metadata == {"status": "completed"}


def test_openai_responses_created_at_may_be_a_float():
    payload = load("openai_response.json")
    payload["created_at"] = 1741476542.25
    assert openai_event(payload).occurred_at == dt.datetime(
        2025, 3, 8, 23, 29, 2, 250000, tzinfo=dt.UTC
    )


def test_openai_responses_cached_beyond_input_is_refused():
    payload = load("openai_response.json")
    payload["usage"]["input_tokens_details"]["cached_tokens"] = 3201
    refused = refusal(openai_event, payload)
    assert refused.code == INCONSISTENT_USAGE
    assert "usage.input_tokens_details.cached_tokens" in refused.fields


@st.composite
def openai_usages(draw):
    prompt = draw(st.integers(0, TOKENS_MAX // 2))
    completion = draw(st.integers(0, TOKENS_MAX // 2))
    cached = draw(st.integers(0, prompt))
    reasoning = draw(st.integers(0, completion))
    return prompt, completion, cached, reasoning


@settings(max_examples=300)
@given(openai_usages(), st.booleans())
def test_any_valid_openai_usage_keeps_total_tokens(usage, responses_api):
    prompt, completion, cached, reasoning = usage
    if responses_api:
        payload = {
            "id": "resp_1",
            "created_at": 1741476542,
            "model": "o4-mini",
            "usage": {
                "input_tokens": prompt,
                "input_tokens_details": {"cached_tokens": cached},
                "output_tokens": completion,
                "output_tokens_details": {"reasoning_tokens": reasoning},
                "total_tokens": prompt + completion,
            },
        }
    else:
        payload = chat(
            {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": cached},
                "completion_tokens_details": {"reasoning_tokens": reasoning},
            }
        )
    tokens = openai_event(payload).tokens
    assert tokens.total == payload["usage"]["total_tokens"]
    assert tokens.input + tokens.cache_read == prompt
    assert tokens.output + tokens.reasoning == completion
    assert (tokens.cache_read, tokens.reasoning, tokens.cache_write) == (cached, reasoning, 0)


# -- Anthropic ------------------------------------------------------------------------


def test_anthropic_sample_maps_every_field():
    event = anthropic_event(load("anthropic_message.json"), api_key="key_9")
    assert event.event_id == "msg_013Zva2CMHLNnXjNJJKqJ2EF"
    assert event.upstream_request_id == "msg_013Zva2CMHLNnXjNJJKqJ2EF"
    assert event.model == "claude-sonnet-4-20250514"
    assert event.provider == "anthropic"
    assert event.occurred_at == NOW
    assert event.api_key == "key_9"
    # Anthropic's counts are disjoint already: input excludes cache reads and writes.
    assert event.tokens == TokenCounts(
        input=21, cache_read=4096, cache_write=188086, output=393, reasoning=0
    )
    assert event.tokens.total == 21 + 4096 + 188086 + 393
    assert event.metadata == {
        "cache_write_5m_tokens": 188086,
        "cache_write_1h_tokens": 0,
        "web_search_requests": 0,
        "service_tier": "standard",
    }


def test_anthropic_null_and_absent_cache_counts_read_as_zero():
    nulls = anthropic_event(load("anthropic_message_no_cache.json"))
    absent = load("anthropic_message_no_cache.json")
    del absent["usage"]["cache_creation_input_tokens"]
    del absent["usage"]["cache_read_input_tokens"]
    expected = TokenCounts(input=12, cache_read=0, cache_write=0, output=6, reasoning=0)
    assert nulls.tokens == expected
    assert anthropic_event(absent).tokens == expected


def test_anthropic_thinking_stays_in_output_and_its_estimate_in_metadata():
    payload = load("anthropic_message.json")
    payload["usage"]["output_tokens_details"] = {"thinking_tokens": 300}
    event = anthropic_event(payload)
    assert (event.tokens.output, event.tokens.reasoning) == (393, 0)
    assert event.metadata["thinking_tokens_estimate"] == 300


def test_anthropic_requires_an_aware_timestamp():
    payload = load("anthropic_message.json")
    missing = refusal(anthropic_event, payload, occurred_at=None)
    assert missing.fields == ("occurred_at",)
    assert "no timestamp" in missing.reason
    naive = refusal(anthropic_event, payload, occurred_at=dt.datetime(2025, 6, 1, 12))
    assert naive.fields == ("occurred_at",)
    assert "naive" in naive.reason


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("input_tokens", None, "usage.input_tokens"),
        ("output_tokens", -3, "usage.output_tokens"),
        ("output_tokens", True, "usage.output_tokens"),
        ("input_tokens", 21.0, "usage.input_tokens"),
        ("cache_read_input_tokens", "4096", "usage.cache_read_input_tokens"),
        ("cache_creation_input_tokens", -1, "usage.cache_creation_input_tokens"),
    ],
)
def test_anthropic_bad_counts_are_refused_naming_the_field(key, value, field):
    payload = load("anthropic_message.json")
    payload["usage"][key] = value
    refused = refusal(anthropic_event, payload)
    assert refused.code == SCHEMA_VIOLATION
    assert refused.fields == (field,)


def test_anthropic_other_providers_and_missing_usage():
    payload = load("anthropic_message.json")
    assert anthropic_event(payload, provider="Amazon Bedrock").provider == "bedrock"
    del payload["usage"]
    assert refusal(anthropic_event, payload).fields == ("usage",)


@settings(max_examples=200)
@given(*(st.integers(0, TOKENS_MAX) for _ in range(4)))
def test_anthropic_total_is_every_reported_count(input_, output, cache_write, cache_read):
    payload = {
        "id": "msg_1",
        "model": "claude-sonnet-4",
        "usage": {
            "input_tokens": input_,
            "output_tokens": output,
            "cache_creation_input_tokens": cache_write,
            "cache_read_input_tokens": cache_read,
        },
    }
    assert anthropic_event(payload).tokens.total == input_ + output + cache_write + cache_read


# -- LiteLLM --------------------------------------------------------------------------


def test_litellm_sample_maps_every_field():
    event = litellm_event(load("litellm_standard_logging_payload.json"))
    assert event.event_id == "chatcmpl-2299b6a2-82a3-465a-b47c-04e685a2227f"
    assert event.upstream_request_id == event.event_id
    assert event.source == "litellm-prod"
    assert event.customer == "team_acme"  # metadata.user_api_key_team_id by default
    assert event.api_key == "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"
    assert event.authorization_id == "auth_01J0ZQ8Y3W"  # spend_logs_metadata
    assert event.model == "claude-3-5-sonnet-20240620"
    assert event.provider == "anthropic"
    assert event.occurred_at == dt.datetime(2024, 6, 20, 16, 13, 20, 123456, tzinfo=dt.UTC)
    # prompt 2589 = input + 1024 cache reads + 1536 cache writes; completion 80 = 68 + 12.
    assert event.tokens == TokenCounts(
        input=29, cache_read=1024, cache_write=1536, output=68, reasoning=12
    )
    assert event.tokens.total == 2669
    assert event.metadata["gateway_reported_cost"] == "0.00113925"
    assert event.metadata["litellm_cache_hit"] is False
    assert event.metadata["litellm_model_map_key"] == "claude-3-5-sonnet-20240620"
    assert event.metadata["model_group"] == "claude-3-5-sonnet"
    assert event.metadata["litellm_call_id"] == "c4f3a2b1-5d6e-4f70-8a91-b2c3d4e5f607"


def test_litellm_cost_is_never_a_number_in_the_event():
    event = litellm_event(load("litellm_standard_logging_payload.json"))
    floats = [value for value in event.model_dump().values() if isinstance(value, float)]
    assert floats == []
    assert isinstance(event.metadata["gateway_reported_cost"], str)


def test_litellm_start_time_converts_exactly():
    payload = load("litellm_standard_logging_payload.json")
    # (x % 1) * 1e6 would give 895309 here: the float is just below .895310.
    payload["startTime"] = 1741357375.895310
    assert litellm_event(payload).occurred_at.microsecond == 895310
    payload["startTime"] = 1741357375
    assert litellm_event(payload).occurred_at == dt.datetime(2025, 3, 7, 14, 22, 55, tzinfo=dt.UTC)


@settings(max_examples=300)
@given(st.integers(946_684_800, 4_102_444_799), st.integers(0, 999_999))
def test_float_seconds_keep_their_microseconds(seconds, microseconds):
    moment = unix_seconds_to_datetime(float(f"{seconds}.{microseconds:06d}"), "startTime")
    assert moment.microsecond == microseconds
    assert int(moment.timestamp()) == seconds


@pytest.mark.parametrize(
    "start", [None, "1718900000.1", True, 1718900000123.0, float("nan"), float("inf")]
)
def test_litellm_bad_start_times_are_refused(start):
    payload = load("litellm_standard_logging_payload.json")
    payload["startTime"] = start
    assert refusal(litellm_event, payload).fields == ("startTime",)


def test_litellm_without_usage_object_uses_the_top_level_counts():
    payload = load("litellm_standard_logging_payload.json")
    del payload["metadata"]["usage_object"]
    assert litellm_event(payload).tokens == TokenCounts(
        input=2589, cache_read=0, cache_write=0, output=80, reasoning=0
    )
    payload["prompt_tokens"] = None
    assert refusal(litellm_event, payload).fields == ("prompt_tokens",)


def test_litellm_openai_style_usage_object():
    payload = load("litellm_standard_logging_payload.json")
    payload["custom_llm_provider"] = "openai"
    payload["metadata"]["usage_object"] = {
        "prompt_tokens": 2589,
        "completion_tokens": 80,
        "total_tokens": 2669,
        "prompt_tokens_details": {"cached_tokens": 2048},
        "completion_tokens_details": {"reasoning_tokens": None},
    }
    event = litellm_event(payload)
    assert event.provider == "openai"
    assert event.tokens == TokenCounts(
        input=541, cache_read=2048, cache_write=0, output=80, reasoning=0
    )


def test_litellm_counts_reported_twice_must_agree():
    payload = load("litellm_standard_logging_payload.json")
    payload["metadata"]["usage_object"]["cache_read_input_tokens"] = 1000
    refused = refusal(litellm_event, payload)
    assert refused.code == INCONSISTENT_USAGE
    assert refused.fields == (
        "metadata.usage_object.prompt_tokens_details.cached_tokens",
        "metadata.usage_object.cache_read_input_tokens",
    )
    payload = load("litellm_standard_logging_payload.json")
    payload["prompt_tokens"] = 2590
    refused = refusal(litellm_event, payload)
    assert refused.code == INCONSISTENT_USAGE
    assert refused.fields == ("prompt_tokens", "metadata.usage_object.prompt_tokens")


def test_litellm_cache_beyond_prompt_is_refused():
    payload = load("litellm_standard_logging_payload.json")
    usage = payload["metadata"]["usage_object"]
    usage["prompt_tokens_details"]["cache_creation_tokens"] = 2000
    usage["cache_creation_input_tokens"] = 2000  # 1024 reads + 2000 writes > 2589
    refused = refusal(litellm_event, payload)
    assert refused.code == INCONSISTENT_USAGE
    assert "prompt_tokens" in refused.fields


def test_litellm_failures_are_not_billable():
    payload = load("litellm_standard_logging_payload.json")
    payload["status"] = "failure"
    refused = refusal(litellm_event, payload)
    assert refused.code == NOT_BILLABLE
    assert refused.fields == ("status",)


@pytest.mark.parametrize(
    ("customer_from", "expected"),
    [
        ("user_api_key_team_id", "team_acme"),
        ("user_api_key_user_id", "user_42"),
    ],
)
def test_litellm_customer_from_metadata(customer_from, expected):
    payload = load("litellm_standard_logging_payload.json")
    assert litellm_event(payload, customer_from=customer_from).customer == expected


def test_litellm_customer_never_falls_back_silently():
    payload = load("litellm_standard_logging_payload.json")
    payload["metadata"]["user_api_key_team_id"] = None
    refused = refusal(litellm_event, payload)
    assert refused.fields == ("metadata.user_api_key_team_id",)
    assert litellm_event(payload, customer="cus_7").customer == "cus_7"
    org = refusal(litellm_event, payload, customer_from="user_api_key_org_id")
    assert org.fields == ("metadata.user_api_key_org_id",)


def test_litellm_end_user_as_customer():
    payload = load("litellm_standard_logging_payload.json")
    assert refusal(litellm_event, payload, customer_from="end_user").fields == ("end_user",)
    payload["metadata"]["user_api_key_end_user_id"] = "end-9"
    assert litellm_event(payload, customer_from="end_user").customer == "end-9"
    payload["end_user"] = "end-10"
    assert litellm_event(payload, customer_from="end_user").customer == "end-10"


def test_litellm_unknown_customer_field_is_a_configuration_bug():
    with pytest.raises(ValueError) as caught:
        litellm_event(load("litellm_standard_logging_payload.json"), customer_from="team")
    assert not isinstance(caught.value, InvalidUsageEvent)


def test_litellm_cache_hits_are_marked_not_dropped():
    payload = load("litellm_standard_logging_payload.json")
    payload["cache_hit"] = True
    payload["id"] = "chatcmpl-2299b6a2_cache_hit1718900001.2"
    payload["response_cost"] = 0.0
    event = litellm_event(payload)
    assert event.metadata["litellm_cache_hit"] is True
    assert event.upstream_request_id is None  # no upstream call was made
    assert event.event_id == "chatcmpl-2299b6a2_cache_hit1718900001.2"
    assert event.metadata["gateway_reported_cost"] == "0.0"


def test_litellm_needs_a_provider():
    payload = load("litellm_standard_logging_payload.json")
    payload["custom_llm_provider"] = None
    assert refusal(litellm_event, payload).fields == ("custom_llm_provider",)


# -- OpenRouter -----------------------------------------------------------------------


def test_openrouter_sample_maps_every_field():
    event = openrouter_event(load("openrouter_generation.json"), api_key="key_9")
    assert event.event_id == "gen-3bhGkxlo4XFrqiabUM7NDtwDzWwG"
    assert event.upstream_request_id == "chatcmpl-791bcf62-080e-4568-87d0-94c72e3b4946"
    assert event.model == "qwen/qwen-2.5-72b-instruct"
    assert event.provider == "openrouter"
    assert event.occurred_at == dt.datetime(2024, 7, 15, 23, 33, 19, 433273, tzinfo=dt.UTC)
    # native counts, not the normalised tokens_prompt=10 / tokens_completion=25
    assert event.tokens == TokenCounts(
        input=12 - 3, cache_read=3, cache_write=0, output=27 - 5, reasoning=5
    )
    assert event.tokens.total == 12 + 27
    assert event.metadata == {
        "token_count_basis": "native",
        "served_by": "dashscope",
        "openrouter_byok": False,
        "cancelled": False,
        "api_type": "completions",
        "external_user": "user-123",
        "gateway_reported_cost": "0.0015",
        "upstream_inference_cost": "0.0012",
    }


def test_openrouter_accepts_the_data_object_alone():
    whole = load("openrouter_generation.json")
    assert openrouter_event(whole["data"]) == openrouter_event(whole)


def test_openrouter_falls_back_to_normalised_counts_and_says_so():
    record = load("openrouter_generation.json")["data"]
    record.update(
        native_tokens_prompt=None,
        native_tokens_completion=None,
        native_tokens_cached=None,
        native_tokens_reasoning=None,
    )
    event = openrouter_event(record)
    assert event.tokens == TokenCounts(
        input=10, cache_read=0, cache_write=0, output=25, reasoning=0
    )
    assert event.metadata["token_count_basis"] == "normalized"


def test_openrouter_cache_writes_when_the_record_has_them():
    record = load("openrouter_generation.json")["data"]
    record["native_tokens_cache_creation"] = 4
    assert openrouter_event(record).tokens == TokenCounts(
        input=5, cache_read=3, cache_write=4, output=22, reasoning=5
    )


@pytest.mark.parametrize(
    ("key", "value", "code", "fields"),
    [
        (
            "native_tokens_cached",
            13,
            INCONSISTENT_USAGE,
            ("native_tokens_prompt", "native_tokens_cached + native_tokens_cache_creation"),
        ),
        (
            "native_tokens_reasoning",
            28,
            INCONSISTENT_USAGE,
            ("native_tokens_completion", "native_tokens_reasoning"),
        ),
        ("native_tokens_prompt", 12.0, SCHEMA_VIOLATION, ("native_tokens_prompt",)),
        ("native_tokens_completion", None, SCHEMA_VIOLATION, ("native_tokens_completion",)),
        ("native_tokens_cached", -1, SCHEMA_VIOLATION, ("native_tokens_cached",)),
        ("created_at", "2024-07-15T23:33:19", SCHEMA_VIOLATION, ("created_at",)),
        ("created_at", 1721086399, SCHEMA_VIOLATION, ("created_at",)),
        ("created_at", "yesterday", SCHEMA_VIOLATION, ("created_at",)),
        ("model", None, SCHEMA_VIOLATION, ("model",)),
    ],
)
def test_openrouter_bad_records_are_refused(key, value, code, fields):
    record = load("openrouter_generation.json")["data"]
    record[key] = value
    refused = refusal(openrouter_event, record)
    assert refused.code == code
    assert refused.fields == fields


# -- provider ids ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("OpenAI", "openai"),
        (" Anthropic ", "anthropic"),
        ("Alibaba", "dashscope"),
        ("ByteDance", "volcengine"),
        ("MiniMax", "minimax"),
        ("DeepSeek", "deepseek"),
        ("Google AI Studio", "gemini"),
        ("vertex_ai", "vertex_ai"),
        ("Moonshot AI", "moonshot"),
        ("Some New Host", "some_new_host"),
    ],
)
def test_provider_names_become_litellm_ids(name, expected):
    assert normalise_provider(name, "provider") == expected


@pytest.mark.parametrize("name", ["", "  ", "!!!", None, 7])
def test_provider_names_must_name_something(name):
    with pytest.raises(InvalidUsageEvent) as caught:
        normalise_provider(name, "provider")
    assert caught.value.fields == ("provider",)


# -- metadata: context, never a reason to refuse --------------------------------------


def test_context_that_does_not_fit_is_left_out_not_refused():
    payload = load("openai_chat_completion.json")
    payload["service_tier"] = {"tier": "flex"}
    event = openai_event(payload)
    assert "service_tier" not in event.metadata
    assert event.tokens.total == 1163


def test_extra_metadata_is_merged_and_filtered():
    event = openai_event(
        load("openai_chat_completion.json"),
        extra_metadata={"region": "eu", "service_tier": "priority", "ratio": 0.5, "x" * 65: 1},
    )
    assert event.metadata == {"service_tier": "priority", "region": "eu"}


# -- properties: nothing but InvalidUsageEvent, whatever arrives ------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**66), max_value=2**66)
    | st.floats()
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
CALLS = {
    "openai": (openai_event, "openai_chat_completion.json"),
    "openai-responses": (openai_event, "openai_response.json"),
    "anthropic": (anthropic_event, "anthropic_message.json"),
    "litellm": (litellm_event, "litellm_standard_logging_payload.json"),
    "openrouter": (openrouter_event, "openrouter_generation.json"),
}


def adapts_or_refuses(function, payload) -> UsageEvent | None:
    try:
        return function(payload)
    except InvalidUsageEvent as refused:
        assert refused.code in ERROR_CODES
        assert refused.reason
        return None


def paths(value, prefix=()):
    """Every path into nested dicts, so a mutation can land at any depth."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from paths(child, (*prefix, key))


@settings(max_examples=300)
@given(st.sampled_from(sorted(CALLS)), json_values)
def test_any_json_payload_only_ever_refuses_as_invalid_usage_event(name, payload):
    function, _sample = CALLS[name]
    event = adapts_or_refuses(function, payload)
    assert event is None or isinstance(event, UsageEvent)


@settings(max_examples=500)
@given(st.sampled_from(sorted(CALLS)), st.data(), json_values)
def test_a_sample_with_any_field_replaced_adapts_or_refuses(name, data, value):
    function, sample_name = CALLS[name]
    payload = load(sample_name)
    path = data.draw(st.sampled_from(list(paths(payload))))
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    event = adapts_or_refuses(function, payload)
    if event is not None:
        assert event.tokens.total <= 5 * TOKENS_MAX
        assert event.tokens.input >= 0 and event.tokens.output >= 0
