"""Anthropic Messages responses -> `UsageEvent`.

Input: the final Message object (`type: "message"`, `id: "msg_…"`, `model`, `usage`) as
the gateway got it, or as it assembled it from a stream (`message_start` usage updated
by the cumulative counts of the last `message_delta`). The Message carries no
timestamp, so `occurred_at` (an aware datetime) is a required keyword argument, as are
the customer, key id and hold the gateway knows. Anthropic-shaped upstreams (Claude on
Bedrock or Vertex, Anthropic-compatible endpoints) map the same way: pass `provider=`.

Token semantics (Anthropic's Messages API reference and prompt-caching guide; field
names as in `anthropic-sdk-python` `types/usage.py`)::

    usage.input_tokens                  input tokens read fresh: EXCLUDES cache reads and writes
    usage.cache_creation_input_tokens   input tokens written to the cache (may be null/absent)
    usage.cache_read_input_tokens       input tokens read from the cache (may be null/absent)
    usage.output_tokens                 all generated tokens, INCLUDING extended thinking
    usage.cache_creation.ephemeral_5m_input_tokens / ephemeral_1h_input_tokens
                                        the cache writes split by TTL (optional)
    usage.output_tokens_details.thinking_tokens
                                        an estimate of the thinking share of output_tokens
                                        (re-tokenised, "may differ by a small number")

Anthropic's three input counts are already disjoint, and there is no `total_tokens`::

    input       = input_tokens
    cache_read  = cache_read_input_tokens or 0
    cache_write = cache_creation_input_tokens or 0
    output      = output_tokens
    reasoning   = 0

Reasoning is 0 because Anthropic bills thinking as output tokens and reports no exact
count apart: `output_tokens` is the authoritative, billed total. The thinking estimate is
kept in `metadata["thinking_tokens_estimate"]` for reports, never for rating.

Kept in `metadata` because the five counts cannot say it and prices depend on it:
`cache_write_5m_tokens` / `cache_write_1h_tokens` (a 1-hour write costs more than a
5-minute one), `web_search_requests` (billed per request), `service_tier` and
`inference_geo`.

Event id: the message id (`msg_…`), so a re-sent record dedupes.
"""

from collections.abc import Mapping
from typing import Any

from metering.adapters._common import (
    aware,
    build,
    mapping_or_empty,
    metadata,
    normalise_provider,
    project,
    refuse,
    require_customer,
    require_mapping,
    text,
    token_count,
)
from metering.schema import UsageEvent


def to_usage_event(
    payload: dict,
    *,
    source: str,
    occurred_at: Any = None,
    customer: str | None = None,
    api_key: str | None = None,
    authorization_id: str | None = None,
    provider: str = "anthropic",
    event_id: str | None = None,
    extra_metadata: Mapping[str, Any] | None = None,
) -> UsageEvent:
    """One Anthropic Message -> one event; `InvalidUsageEvent` on bad input."""
    message = require_mapping(payload, "payload")
    if occurred_at is None:
        raise refuse(
            "occurred_at: required (an Anthropic Message carries no timestamp)", "occurred_at"
        )
    moment = aware(occurred_at, "occurred_at")
    usage = require_mapping(message.get("usage"), "usage")
    input_ = token_count(usage, "input_tokens", "usage.input_tokens", required=True)
    output = token_count(usage, "output_tokens", "usage.output_tokens", required=True)
    cache_write = token_count(
        usage,
        "cache_creation_input_tokens",
        "usage.cache_creation_input_tokens",
        required=False,
    )
    cache_read = token_count(
        usage, "cache_read_input_tokens", "usage.cache_read_input_tokens", required=False
    )
    message_id = text(message, "id", "id", required=event_id is None)
    return build(
        event_id=event_id if event_id is not None else message_id,
        source=source,
        occurred_at=moment,
        customer=require_customer(customer),
        api_key=api_key,
        model=text(message, "model", "model", required=True),
        provider=normalise_provider(provider, "provider"),
        upstream_request_id=message_id,
        input_tokens=input_,
        output_tokens=output,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=0,
        authorization_id=authorization_id,
        context=metadata(_context(usage), extra_metadata),
    )


def _context(usage: Mapping[str, Any]) -> dict[str, Any]:
    by_ttl = mapping_or_empty(usage.get("cache_creation"))
    server_tools = mapping_or_empty(usage.get("server_tool_use"))
    output_details = mapping_or_empty(usage.get("output_tokens_details"))
    return {
        "cache_write_5m_tokens": by_ttl.get("ephemeral_5m_input_tokens"),
        "cache_write_1h_tokens": by_ttl.get("ephemeral_1h_input_tokens"),
        "web_search_requests": server_tools.get("web_search_requests"),
        "thinking_tokens_estimate": output_details.get("thinking_tokens"),
        "service_tier": usage.get("service_tier"),
        "inference_geo": usage.get("inference_geo"),
    }


# What `to_usage_event` ever reads of a Message, plus `type` (the shape's own name, for a
# replay after an adapter fix): the completion (`content`, thinking blocks and tool calls
# included), `stop_sequence` and the rest are never read. `usage` is kept whole: counts,
# the cache split by TTL, server-tool requests, tier and region, nothing the customer wrote.
_READ_KEYS: dict[str, Any] = {"id": None, "type": None, "model": None, "usage": None}


def edge_record(record: Any) -> Any:
    """The Message with only the keys the adapter reads (the same event or refusal as on
    the whole one), without its content: what the HTTP ingest path and the consumer's dead
    letters keep."""
    return project(record, _READ_KEYS)
