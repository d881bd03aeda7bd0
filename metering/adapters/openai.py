"""OpenAI responses (Chat Completions and Responses API) -> `UsageEvent`.

Input: the full response object the gateway got back from upstream, as JSON. Customer,
API key id and wallet hold come from keyword arguments, because OpenAI's response does
not carry them. The same shape is spoken by OpenAI-compatible upstreams (DeepSeek,
DashScope, Volcengine Ark, MiniMax, ...): pass `provider=` to name the one that served.

Token semantics (the OpenAI API reference and the `openai-python` types
`types/completion_usage.py`, `types/responses/response_usage.py`):

Chat Completions, `object: "chat.completion"`, timestamp `created` (unix seconds)::

    usage.prompt_tokens                                 all prompt tokens, INCLUDING cached
    usage.prompt_tokens_details.cached_tokens           prompt tokens read from the cache
    usage.completion_tokens                             all generated tokens, INCLUDING reasoning
    usage.completion_tokens_details.reasoning_tokens    generated reasoning tokens
    usage.total_tokens                                  prompt_tokens + completion_tokens

Responses API, `object: "response"`, timestamp `created_at` (unix seconds, a number)::

    usage.input_tokens                                  all input tokens, INCLUDING cached
    usage.input_tokens_details.cached_tokens            input tokens read from the cache
    usage.output_tokens                                 all output tokens, INCLUDING reasoning
    usage.output_tokens_details.reasoning_tokens        reasoning tokens
    usage.total_tokens                                  input_tokens + output_tokens

Mapping to the disjoint counts::

    input       = prompt_tokens - cached_tokens
    cache_read  = cached_tokens
    cache_write = 0              OpenAI reports no cache writes (it does not bill them)
    output      = completion_tokens - reasoning_tokens
    reasoning   = reasoning_tokens

so `tokens.total == total_tokens`. Refused as `inconsistent_usage`: cached_tokens >
prompt_tokens, reasoning_tokens > completion_tokens, or a `total_tokens` that is not
prompt + completion (some "compatible" upstreams count reasoning outside
completion_tokens; billing must not guess which). Prompt and completion counts are
required; the details objects and their counts may be absent or null (read as 0).

Not representable in the five counts, so kept in `metadata` for rating to see:
`service_tier` (flex and priority tiers are priced differently), audio tokens
(`input_audio_tokens`, `output_audio_tokens`, included in the counts above but priced
apart by audio models), and the Responses API `status`. Rejected prediction tokens
stay in `output`: OpenAI bills them as completion tokens.

Event id: the response id (`chatcmpl-…`, `resp_…`), so a re-sent record dedupes.
"""

from collections.abc import Mapping
from typing import Any

from metering.adapters._common import (
    aware,
    build,
    check_total,
    disjoint_part,
    metadata,
    normalise_provider,
    optional_mapping,
    project,
    refuse,
    require_customer,
    require_mapping,
    text,
    token_count,
    unix_seconds_to_datetime,
)
from metering.schema import UsageEvent


def to_usage_event(
    payload: dict,
    *,
    source: str,
    customer: str | None = None,
    api_key: str | None = None,
    authorization_id: str | None = None,
    provider: str = "openai",
    event_id: str | None = None,
    occurred_at: Any = None,
    extra_metadata: Mapping[str, Any] | None = None,
) -> UsageEvent:
    """One OpenAI-shaped response -> one event; `InvalidUsageEvent` on bad input.

    `occurred_at` (an aware datetime) overrides the response's own timestamp.
    """
    response = require_mapping(payload, "payload")
    usage = require_mapping(response.get("usage"), "usage")
    if "input_tokens" in usage and "prompt_tokens" not in usage:
        counts, context = _responses_usage(usage)
        timestamp_field = "created_at"
        context["status"] = response.get("status")
    elif "prompt_tokens" in usage and "input_tokens" not in usage:
        counts, context = _chat_usage(usage)
        timestamp_field = "created"
    else:
        raise refuse(
            "usage: expected Chat Completions (prompt_tokens, completion_tokens) or "
            "Responses API (input_tokens, output_tokens) counts",
            "usage",
        )
    if occurred_at is None:
        moment = unix_seconds_to_datetime(response.get(timestamp_field), timestamp_field)
    else:
        moment = aware(occurred_at, "occurred_at")
    response_id = text(response, "id", "id", required=event_id is None)
    context["service_tier"] = response.get("service_tier")
    return build(
        event_id=event_id if event_id is not None else response_id,
        source=source,
        occurred_at=moment,
        customer=require_customer(customer),
        api_key=api_key,
        model=text(response, "model", "model", required=True),
        provider=normalise_provider(provider, "provider"),
        upstream_request_id=response_id,
        authorization_id=authorization_id,
        context=metadata(context, extra_metadata),
        **counts,
    )


def _chat_usage(usage: Mapping[str, Any]) -> tuple[dict[str, int], dict[str, Any]]:
    prompt = token_count(usage, "prompt_tokens", "usage.prompt_tokens", required=True)
    completion = token_count(usage, "completion_tokens", "usage.completion_tokens", required=True)
    total = _optional_count(usage, "total_tokens", "usage.total_tokens")
    prompt_details = optional_mapping(usage, "prompt_tokens_details", "usage.prompt_tokens_details")
    completion_details = optional_mapping(
        usage, "completion_tokens_details", "usage.completion_tokens_details"
    )
    cached_path = "usage.prompt_tokens_details.cached_tokens"
    reasoning_path = "usage.completion_tokens_details.reasoning_tokens"
    cached = token_count(prompt_details, "cached_tokens", cached_path, required=False)
    reasoning = token_count(completion_details, "reasoning_tokens", reasoning_path, required=False)
    counts = {
        "input_tokens": disjoint_part(prompt, cached, "usage.prompt_tokens", cached_path),
        "cache_read_tokens": cached,
        "cache_write_tokens": 0,
        "output_tokens": disjoint_part(
            completion, reasoning, "usage.completion_tokens", reasoning_path
        ),
        "reasoning_tokens": reasoning,
    }
    check_total(total, prompt + completion, "usage.total_tokens", "prompt + completion tokens")
    context = {
        "input_audio_tokens": _positive_or_none(prompt_details, "audio_tokens"),
        "output_audio_tokens": _positive_or_none(completion_details, "audio_tokens"),
    }
    return counts, context


def _responses_usage(usage: Mapping[str, Any]) -> tuple[dict[str, int], dict[str, Any]]:
    input_ = token_count(usage, "input_tokens", "usage.input_tokens", required=True)
    output = token_count(usage, "output_tokens", "usage.output_tokens", required=True)
    total = _optional_count(usage, "total_tokens", "usage.total_tokens")
    input_details = optional_mapping(usage, "input_tokens_details", "usage.input_tokens_details")
    output_details = optional_mapping(usage, "output_tokens_details", "usage.output_tokens_details")
    cached_path = "usage.input_tokens_details.cached_tokens"
    reasoning_path = "usage.output_tokens_details.reasoning_tokens"
    cached = token_count(input_details, "cached_tokens", cached_path, required=False)
    reasoning = token_count(output_details, "reasoning_tokens", reasoning_path, required=False)
    counts = {
        "input_tokens": disjoint_part(input_, cached, "usage.input_tokens", cached_path),
        "cache_read_tokens": cached,
        "cache_write_tokens": 0,
        "output_tokens": disjoint_part(output, reasoning, "usage.output_tokens", reasoning_path),
        "reasoning_tokens": reasoning,
    }
    check_total(total, input_ + output, "usage.total_tokens", "input + output tokens")
    return counts, {}


def _optional_count(container: Mapping[str, Any], key: str, path: str) -> int | None:
    if container.get(key) is None:
        return None
    return token_count(container, key, path, required=True)


def _positive_or_none(container: Mapping[str, Any], key: str) -> int | None:
    value = container.get(key)
    return value if type(value) is int and value > 0 else None


# What `to_usage_event` ever reads of a response, plus `object` (the shape's own name,
# which a replay after an adapter fix may want to dispatch on): everything else of a
# response, above all the completion (`choices`, `output`) and what echoes the request
# (`instructions`, `tools`, `metadata`, `user`), is never read, so dropping it changes no
# outcome. `usage` is kept whole: counts and their details, nothing the customer wrote.
_READ_KEYS: dict[str, Any] = {
    "id": None,
    "object": None,
    "created": None,
    "created_at": None,
    "status": None,
    "model": None,
    "service_tier": None,
    "usage": None,
}


def edge_record(record: Any) -> Any:
    """The response with only the keys the adapter reads: still an OpenAI response (this
    adapter, on it, gives the same event or refusal as on the whole one), without the
    completion or the request's echo. The HTTP ingest path keeps this and never the whole
    response, in Kafka and in dead letters alike; so does the consumer's dead letter of a
    record produced straight to Kafka."""
    return project(record, _READ_KEYS)
