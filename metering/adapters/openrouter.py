"""OpenRouter generation records -> `UsageEvent`.

Input: the body of `GET https://openrouter.ai/api/v1/generation?id=gen-…`, either whole
(`{"data": {...}}`) or its `data` object. Field names as OpenRouter's OpenAPI spec and
SDK docs give them (OpenRouterTeam/python-sdk `docs/components/generationresponsedata.mdx`;
openrouter.ai/docs "Get request & usage metadata for a generation"): `id`, `upstream_id`,
`model`, `created_at` (ISO 8601), `provider_name`, `tokens_prompt`, `tokens_completion`,
`native_tokens_prompt`, `native_tokens_completion`, `native_tokens_reasoning`,
`native_tokens_cached`, `total_cost`, `usage`, `upstream_inference_cost`, `is_byok`,
`cancelled`, `api_type`, `external_user`, ... (all counts nullable).

Why native counts: `tokens_prompt` / `tokens_completion` are OpenRouter's own
normalised counts, made with one tokenizer for every model so that its rankings
compare; `native_tokens_*` are the counts from the serving provider's own tokenizer,
which are what the provider bills and what OpenRouter prices (its usage-accounting docs:
"token counts using the model's native tokenizer"). Rating on normalised counts would
misprice every non-GPT model. Only when both native prompt and completion counts are
null do the normalised ones stand in, and the event says so in
`metadata["token_count_basis"] = "normalized"` (otherwise "native").

Token semantics (OpenRouter follows OpenAI's convention; its usage-accounting example
has prompt_tokens 194 with 100 cache writes and total_tokens = prompt + completion)::

    native_tokens_prompt         all prompt tokens, INCLUDING cache reads (and writes)
    native_tokens_cached         prompt tokens read from the cache
    native_tokens_completion     all generated tokens, INCLUDING reasoning
    native_tokens_reasoning      generated reasoning tokens
    native_tokens_cache_creation prompt tokens written to the cache: NOT in OpenRouter's
                                 spec, but sent by the generation records of
                                 gateways that copy this shape (Vercel AI Gateway)

Mapping to the disjoint counts::

    input       = native_tokens_prompt - native_tokens_cached - native_tokens_cache_creation
    cache_read  = native_tokens_cached
    cache_write = native_tokens_cache_creation (0 when absent, as for OpenRouter)
    output      = native_tokens_completion - native_tokens_reasoning
    reasoning   = native_tokens_reasoning

Refused as `inconsistent_usage` when a part exceeds the whole it belongs to.

`provider` is "openrouter": OpenRouter bills us, so that is whose price list rates the
call and whom we owe; the provider that ran the model is `metadata["served_by"]`
(normalised to LiteLLM ids: "Alibaba" -> "dashscope"). With `is_byok` the upstream
bills us directly and OpenRouter only charges its fee; that flag travels in
`metadata["openrouter_byok"]` for rating. `total_cost` (float USD) is never money here:
it is kept as text in `metadata["gateway_reported_cost"]` for reconciliation.

Event id: the generation id (`gen-…`); `upstream_request_id` is `upstream_id`, the
serving provider's own response id.
"""

from collections.abc import Mapping
from typing import Any

from metering.adapters._common import (
    build,
    disjoint_part,
    iso_datetime,
    metadata,
    normalise_provider,
    number_as_text,
    project,
    require_customer,
    require_mapping,
    text,
    token_count,
)
from metering.schema import UsageEvent

PROVIDER = "openrouter"


def to_usage_event(
    payload: dict,
    *,
    source: str,
    customer: str | None = None,
    api_key: str | None = None,
    authorization_id: str | None = None,
    event_id: str | None = None,
    extra_metadata: Mapping[str, Any] | None = None,
) -> UsageEvent:
    """One generation record -> one event; `InvalidUsageEvent` on bad input."""
    record = require_mapping(payload, "payload")
    if "id" not in record and "data" in record:
        record = require_mapping(record["data"], "data")
    counts, basis = _counts(record)
    generation_id = text(record, "id", "id", required=event_id is None)
    provider_name = text(record, "provider_name", "provider_name", required=False)
    context = {
        "token_count_basis": basis,
        "served_by": (
            normalise_provider(provider_name, "provider_name") if provider_name else None
        ),
        "openrouter_byok": record.get("is_byok"),
        "cancelled": record.get("cancelled"),
        "api_type": record.get("api_type"),
        "external_user": record.get("external_user"),
        "service_tier": record.get("service_tier"),
        "gateway_reported_cost": number_as_text(record.get("total_cost")),
        "upstream_inference_cost": number_as_text(record.get("upstream_inference_cost")),
    }
    return build(
        event_id=event_id if event_id is not None else generation_id,
        source=source,
        occurred_at=iso_datetime(record.get("created_at"), "created_at"),
        customer=require_customer(customer),
        api_key=api_key,
        model=text(record, "model", "model", required=True),
        provider=PROVIDER,
        upstream_request_id=text(record, "upstream_id", "upstream_id", required=False),
        authorization_id=authorization_id,
        context=metadata(context, extra_metadata),
        **counts,
    )


def _counts(record: Mapping[str, Any]) -> tuple[dict[str, int], str]:
    native = record.get("native_tokens_prompt") is not None or (
        record.get("native_tokens_completion") is not None
    )
    basis = "native" if native else "normalized"
    prefix = "native_tokens_" if native else "tokens_"
    prompt_key, completion_key = f"{prefix}prompt", f"{prefix}completion"
    prompt = token_count(record, prompt_key, prompt_key, required=True)
    completion = token_count(record, completion_key, completion_key, required=True)
    cached = token_count(record, "native_tokens_cached", "native_tokens_cached", required=False)
    cache_write = token_count(
        record, "native_tokens_cache_creation", "native_tokens_cache_creation", required=False
    )
    reasoning = token_count(
        record, "native_tokens_reasoning", "native_tokens_reasoning", required=False
    )
    counts = {
        "input_tokens": disjoint_part(
            prompt,
            cached + cache_write,
            prompt_key,
            "native_tokens_cached + native_tokens_cache_creation",
        ),
        "cache_read_tokens": cached,
        "cache_write_tokens": cache_write,
        "output_tokens": disjoint_part(
            completion, reasoning, completion_key, "native_tokens_reasoning"
        ),
        "reasoning_tokens": reasoning,
    }
    return counts, basis


# What `to_usage_event` ever reads of a generation record (of `data`, when it comes
# whole): its ids, model, timestamp, counts and the context kept in metadata. The rest
# (`origin`, `app_id`, latencies, finish reasons, `provider_responses`, and whatever a
# gateway copying this shape adds, such as the prompt or the completion) is never read.
_READ_KEYS: dict[str, Any] = dict.fromkeys(
    (
        "id",
        "upstream_id",
        "model",
        "created_at",
        "provider_name",
        "tokens_prompt",
        "tokens_completion",
        "native_tokens_prompt",
        "native_tokens_completion",
        "native_tokens_cached",
        "native_tokens_cache_creation",
        "native_tokens_reasoning",
        "is_byok",
        "cancelled",
        "api_type",
        "external_user",
        "service_tier",
        "total_cost",
        "upstream_inference_cost",
    )
)


def edge_record(record: Any) -> Any:
    """The record with only the keys the adapter reads, in the same envelope (`{"data":
    ...}` stays so, for the adapter reads `data` exactly when the top level has no `id`):
    the same event or refusal as on the whole record. What the HTTP ingest path and the
    consumer's dead letters keep."""
    if isinstance(record, dict) and "id" not in record and "data" in record:
        return {"data": project(record["data"], _READ_KEYS)}
    return project(record, _READ_KEYS)
