"""LiteLLM proxy `StandardLoggingPayload` -> `UsageEvent`.

Input: the payload LiteLLM hands every logging callback as
`kwargs["standard_logging_object"]` (and ships to its generic loggers: S3, GCS, SQS,
Kafka-style sinks), decoded from JSON.

Where the field names come from (checked, not guessed):

- `docs/my-website/docs/proxy/logging_spec.md` in BerriAI/litellm ("StandardLoggingPayload
  Specification"): `id`, `call_type`, `status` ("success" | "failure"), `startTime` /
  `endTime` (float unix seconds), `prompt_tokens`, `completion_tokens`, `total_tokens`,
  `model`, `model_group`, `model_id`, `metadata` (`user_api_key_hash`,
  `user_api_key_user_id`, `user_api_key_team_id`, `user_api_key_org_id`, ...),
  `cache_hit`, `end_user`, `response_cost` (float USD), `hidden_params`,
  `model_map_information.model_map_key`;
- `get_standard_logging_object_payload()` in `litellm/litellm_core_utils/litellm_logging.py`:
  `id` is the upstream response id (`chatcmpl-…`, `msg_…`), or `<id>_cache_hit<time>`
  when LiteLLM answered from its own cache; `custom_llm_provider`; `litellm_call_id`;
  `metadata.usage_object` is the full usage dict of the response, the same one the
  top-level `prompt_tokens` / `completion_tokens` / `total_tokens` are read from;
  `metadata.user_api_key_end_user_id`;
- `Usage` in `litellm/types/utils.py` (what `usage_object` is a dump of):
  `prompt_tokens_details.cached_tokens` (also fed from Anthropic's
  `cache_read_input_tokens` and DeepSeek's `prompt_cache_hit_tokens`),
  `prompt_tokens_details.cache_creation_tokens` (litellm 1.110 logs it also as
  `prompt_tokens_details.cache_write_tokens`, checked against a real Router's payload in
  tests/metering/test_litellm_client.py) and top-level
  `cache_creation_input_tokens` / `cache_read_input_tokens` (Anthropic mapping),
  `completion_tokens_details.reasoning_tokens`;
- `calculate_usage()` in `litellm/llms/anthropic/chat/transformation.py`:
  `prompt_tokens = input_tokens + cache_creation_input_tokens + cache_read_input_tokens`.

Token semantics: LiteLLM normalises every provider to OpenAI's convention, and goes one
step further for Anthropic::

    prompt_tokens       all prompt tokens, INCLUDING cache reads AND cache writes
    cached_tokens       cache reads (prompt_tokens_details.cached_tokens,
                        or usage_object.cache_read_input_tokens)
    cache writes        prompt_tokens_details.cache_creation_tokens,
                        or usage_object.cache_creation_input_tokens
    completion_tokens   all generated tokens, INCLUDING reasoning
    reasoning_tokens    completion_tokens_details.reasoning_tokens
    total_tokens        prompt_tokens + completion_tokens

Mapping to the disjoint counts::

    input       = prompt_tokens - cache reads - cache writes
    cache_read  = cache reads
    cache_write = cache writes
    output      = completion_tokens - reasoning_tokens
    reasoning   = reasoning_tokens

Without `metadata.usage_object` only the top-level counts are known: cache and
reasoning read as 0. Where a count is reported twice (both spellings of cache reads,
the top level and `usage_object`) the two must agree. Refused as `inconsistent_usage`:
cache reads + writes > prompt_tokens, reasoning > completion_tokens, totals that do not
add up. Refused as `not_billable`: `status: "failure"` (nothing was served; the consumer
may skip these instead of dead-lettering them).

Whom and what the event is for:

- `customer`: the keyword argument if given, else the field named by `customer_from`
  (default `metadata.user_api_key_team_id`; or `user_api_key_user_id`,
  `user_api_key_org_id`, `end_user`). No silent fallback from one to another: billing a
  team's call to a user is worse than dead-lettering it.
- `api_key`: `metadata.user_api_key_hash` (LiteLLM's SHA-256 of the virtual key, never
  the key itself).
- `provider`: `custom_llm_provider`, LiteLLM's own provider id; `model`: the price-map
  entry LiteLLM priced the call with (`model_map_information.model_map_value.key`, else
  `model_map_key`), else the logged `model` without its provider prefix: a Router or the
  proxy logs the deployment's model ("anthropic/claude-sonnet-4-5", or a deployment's
  own name), which is not how the catalogue spells it (see `_model`). The logged model
  is kept in `metadata["litellm_model"]`.
- `authorization_id`: the keyword argument, else `metadata.spend_logs_metadata.
  authorization_id` (a gateway passes it per request in LiteLLM's `spend_logs_metadata`).
- `occurred_at`: `startTime`, converted exactly via `Decimal(str(x))`.

`response_cost` is LiteLLM's float estimate in USD: never money here. It is kept as text
in `metadata["gateway_reported_cost"]` for reconciliation reports only. A LiteLLM cache
hit is kept (tokens as logged) with `metadata["litellm_cache_hit"] = True`: whether it is
billed is a pricing decision, not an ingestion one.
"""

from collections.abc import Mapping
from typing import Any, Literal, get_args

from metering.adapters._common import (
    build,
    check_total,
    disjoint_part,
    mapping_or_empty,
    metadata,
    normalise_provider,
    number_as_text,
    optional_mapping,
    project,
    refuse,
    require_mapping,
    text,
    token_count,
    unix_seconds_to_datetime,
)
from metering.schema import INCONSISTENT_USAGE, NOT_BILLABLE, UsageEvent

CustomerField = Literal[
    "user_api_key_team_id", "user_api_key_user_id", "user_api_key_org_id", "end_user"
]
CUSTOMER_FIELDS: tuple[str, ...] = get_args(CustomerField)


def to_usage_event(
    payload: dict,
    *,
    source: str,
    customer: str | None = None,
    customer_from: CustomerField = "user_api_key_team_id",
    api_key: str | None = None,
    authorization_id: str | None = None,
    event_id: str | None = None,
    extra_metadata: Mapping[str, Any] | None = None,
) -> UsageEvent:
    """One StandardLoggingPayload -> one event; `InvalidUsageEvent` on bad input."""
    if customer_from not in CUSTOMER_FIELDS:  # configuration, not input: a bug, so not ours
        raise ValueError(f"customer_from must be one of {CUSTOMER_FIELDS}")
    record = require_mapping(payload, "payload")
    status = record.get("status")
    if status is not None and status != "success":
        raise refuse("status: not a successful call", "status", code=NOT_BILLABLE)
    logged_metadata = optional_mapping(record, "metadata", "metadata")
    counts = _counts(record, logged_metadata)
    provider = normalise_provider(
        text(record, "custom_llm_provider", "custom_llm_provider", required=True),
        "custom_llm_provider",
    )
    response_id = text(record, "id", "id", required=event_id is None)
    return build(
        event_id=event_id if event_id is not None else response_id,
        source=source,
        occurred_at=unix_seconds_to_datetime(record.get("startTime"), "startTime"),
        customer=(
            customer if customer is not None else _customer(record, logged_metadata, customer_from)
        ),
        api_key=api_key if api_key is not None else _hash(logged_metadata),
        model=_model(record, provider),
        provider=provider,
        upstream_request_id=None if record.get("cache_hit") is True else response_id,
        authorization_id=(
            authorization_id if authorization_id is not None else _authorization_id(logged_metadata)
        ),
        context=metadata(_context(record, logged_metadata), extra_metadata),
        **counts,
    )


def _counts(record: Mapping[str, Any], logged_metadata: Mapping[str, Any]) -> dict[str, int]:
    usage = optional_mapping(logged_metadata, "usage_object", "metadata.usage_object")
    # The top-level counts are required only when there is no usage_object to read.
    top_prompt = _optional_count(record, "prompt_tokens", "prompt_tokens", required=not usage)
    top_completion = _optional_count(
        record, "completion_tokens", "completion_tokens", required=not usage
    )
    if usage:
        prefix = "metadata.usage_object"
        prompt = token_count(usage, "prompt_tokens", f"{prefix}.prompt_tokens", required=True)
        completion = token_count(
            usage, "completion_tokens", f"{prefix}.completion_tokens", required=True
        )
        _same("prompt_tokens", top_prompt, f"{prefix}.prompt_tokens", prompt)
        _same("completion_tokens", top_completion, f"{prefix}.completion_tokens", completion)
        check_total(
            _optional_count(usage, "total_tokens", f"{prefix}.total_tokens"),
            prompt + completion,
            f"{prefix}.total_tokens",
            "prompt + completion tokens",
        )
        cache_read, cache_write, reasoning = _details(usage, prefix)
    else:
        assert top_prompt is not None and top_completion is not None
        prompt, completion = top_prompt, top_completion
        cache_read = cache_write = reasoning = 0
    check_total(
        _optional_count(record, "total_tokens", "total_tokens"),
        prompt + completion,
        "total_tokens",
        "prompt + completion tokens",
    )
    return {
        "input_tokens": disjoint_part(
            prompt, cache_read + cache_write, "prompt_tokens", "cache reads + cache writes"
        ),
        "cache_read_tokens": cache_read,
        "cache_write_tokens": cache_write,
        "output_tokens": disjoint_part(
            completion,
            reasoning,
            "completion_tokens",
            "completion_tokens_details.reasoning_tokens",
        ),
        "reasoning_tokens": reasoning,
    }


def _model(record: Mapping[str, Any], provider: str) -> str:
    """The price-map entry LiteLLM priced the call with, else the model as logged.

    The logged `model` is the deployment's: through a Router or the proxy it carries the
    provider prefix ("anthropic/claude-sonnet-4-5") or is a deployment's own name
    ("azure/my-gpt4o"). `model_map_information` says what LiteLLM priced
    (`get_model_cost_information` in litellm/litellm_core_utils/litellm_logging.py):
    `model_map_key` is the name it looked up (the base_model when a deployment names
    one) and `model_map_value` the entry `litellm.get_model_info` found for it, whose
    `key` is the entry's own key in the map, which is our catalogue's key too. So the
    entry's key, else the looked-up name, else the logged model without a leading
    "<custom_llm_provider>/" (the resolver puts a prefix back where the catalogue spells
    the model with one: PriceResolver.catalogue_model).
    """
    model_map = mapping_or_empty(record.get("model_map_information"))
    entry = mapping_or_empty(model_map.get("model_map_value"))
    for container, key, path in (
        (entry, "key", "model_map_information.model_map_value.key"),
        (model_map, "model_map_key", "model_map_information.model_map_key"),
    ):
        found = text(container, key, path, required=False)
        if found is not None:
            return found
    logged = text(record, "model", "model", required=True)
    assert logged is not None
    prefix = f"{provider}/"
    return logged.removeprefix(prefix) if len(logged) > len(prefix) else logged


def _same(top_path: str, top: int | None, detail_path: str, detail: int) -> None:
    if top is not None and top != detail:
        raise refuse(
            f"{top_path} ({top}) differs from {detail_path} ({detail})",
            top_path,
            detail_path,
            code=INCONSISTENT_USAGE,
        )


def _details(usage: Mapping[str, Any], prefix: str) -> tuple[int, int, int]:
    prompt_details = optional_mapping(
        usage, "prompt_tokens_details", f"{prefix}.prompt_tokens_details"
    )
    completion_details = optional_mapping(
        usage, "completion_tokens_details", f"{prefix}.completion_tokens_details"
    )
    cache_read = _agreeing(
        (prompt_details, "cached_tokens", f"{prefix}.prompt_tokens_details.cached_tokens"),
        (usage, "cache_read_input_tokens", f"{prefix}.cache_read_input_tokens"),
    )
    cache_write = _agreeing(
        (
            prompt_details,
            "cache_creation_tokens",
            f"{prefix}.prompt_tokens_details.cache_creation_tokens",
        ),
        # The spelling some OpenAI-compatible providers use (kimi-k2); LiteLLM's Usage
        # mirrors the two, and its cost calculator reads either
        # (parse_prompt_tokens_details in litellm_core_utils/llm_cost_calc/utils.py).
        (
            prompt_details,
            "cache_write_tokens",
            f"{prefix}.prompt_tokens_details.cache_write_tokens",
        ),
        (usage, "cache_creation_input_tokens", f"{prefix}.cache_creation_input_tokens"),
    )
    reasoning = token_count(
        completion_details,
        "reasoning_tokens",
        f"{prefix}.completion_tokens_details.reasoning_tokens",
        required=False,
    )
    return cache_read, cache_write, reasoning


def _agreeing(*spellings: tuple[Mapping[str, Any], str, str]) -> int:
    """One count LiteLLM may report under two names: absent ones read as 0, others agree."""
    found = [
        (path, token_count(container, key, path, required=True))
        for container, key, path in spellings
        if container.get(key) is not None
    ]
    if len({value for _, value in found}) > 1:
        raise refuse(
            " and ".join(f"{path} ({value})" for path, value in found) + " disagree",
            *(path for path, _ in found),
            code=INCONSISTENT_USAGE,
        )
    return found[0][1] if found else 0


def _optional_count(
    container: Mapping[str, Any], key: str, path: str, *, required: bool = False
) -> int | None:
    if container.get(key) is None and not required:
        return None
    return token_count(container, key, path, required=True)


def _customer(
    record: Mapping[str, Any], logged_metadata: Mapping[str, Any], customer_from: str
) -> str:
    if customer_from == "end_user":
        # Both spellings name the same end user (LiteLLM copies one into the other).
        value = text(record, "end_user", "end_user", required=False)
        if value is None:
            value = text(
                logged_metadata,
                "user_api_key_end_user_id",
                "metadata.user_api_key_end_user_id",
                required=False,
            )
        if value is None:
            raise refuse("customer: end_user is empty (or pass customer=...)", "end_user")
        return value
    path = f"metadata.{customer_from}"
    value = text(logged_metadata, customer_from, path, required=False)
    if value is None:
        raise refuse(f"customer: {path} is empty (or pass customer=...)", path)
    return value


def _hash(logged_metadata: Mapping[str, Any]) -> str | None:
    return text(logged_metadata, "user_api_key_hash", "metadata.user_api_key_hash", required=False)


def _authorization_id(logged_metadata: Mapping[str, Any]) -> str | None:
    spend = mapping_or_empty(logged_metadata.get("spend_logs_metadata"))
    return text(
        spend,
        "authorization_id",
        "metadata.spend_logs_metadata.authorization_id",
        required=False,
    )


def _context(record: Mapping[str, Any], logged_metadata: Mapping[str, Any]) -> dict[str, Any]:
    model_map = mapping_or_empty(record.get("model_map_information"))
    return {
        "call_type": record.get("call_type"),
        "litellm_model": record.get("model"),
        "model_group": record.get("model_group"),
        "model_id": record.get("model_id"),
        "litellm_model_map_key": model_map.get("model_map_key"),
        "litellm_call_id": record.get("litellm_call_id"),
        "litellm_trace_id": record.get("trace_id"),
        "litellm_cache_hit": record.get("cache_hit") is True,
        "stream": record.get("stream"),
        "end_user": record.get("end_user") or None,
        "team_id": logged_metadata.get("user_api_key_team_id"),
        "user_id": logged_metadata.get("user_api_key_user_id"),
        "org_id": logged_metadata.get("user_api_key_org_id"),
        "key_alias": logged_metadata.get("user_api_key_alias"),
        "gateway_reported_cost": number_as_text(record.get("response_cost")),
    }


# What `to_usage_event` (and the fast path, which reads a subset) ever reads of a record:
# the top-level keys, and within them the keys of the nested objects named here. A key
# of the record that is not listed is never read, so dropping it changes no outcome.
_READ_KEYS: dict[str, Any] = {
    "id": None,
    "status": None,
    "custom_llm_provider": None,
    "startTime": None,
    "prompt_tokens": None,
    "completion_tokens": None,
    "total_tokens": None,
    "model": None,
    "model_map_information": {"model_map_key": None, "model_map_value": {"key": None}},
    "metadata": {
        "usage_object": None,  # kept whole: counts only, a few hundred bytes
        "user_api_key_hash": None,
        "user_api_key_team_id": None,
        "user_api_key_user_id": None,
        "user_api_key_org_id": None,
        "user_api_key_end_user_id": None,
        "user_api_key_alias": None,
        "spend_logs_metadata": {"authorization_id": None},
    },
    "call_type": None,
    "model_group": None,
    "model_id": None,
    "litellm_call_id": None,
    "trace_id": None,
    "cache_hit": None,
    "stream": None,
    "end_user": None,
    "response_cost": None,
}


def edge_record(record: Any) -> Any:
    """The record with only the keys the adapter reads: still a StandardLoggingPayload
    (this adapter, on it, gives the same event or refusal as on the whole record), but
    without the prompt (`messages`), the completion (`response`), the price entry in
    `model_map_value` and the rest, about nine tenths of its bytes. The HTTP ingest path
    keeps this and never the whole record, in Kafka and in dead letters alike, so the
    customer's content is never stored. A value that is not an object where one is read
    is kept as sent: the adapter's answer to it stands."""
    return project(record, _READ_KEYS)
