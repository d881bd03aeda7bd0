"""The LiteLLM adapter's fast path: a record's raw JSON bytes -> a `UsageEvent`, or None.

A StandardLoggingPayload is about 2 KB, of which the adapter reads a tenth (the counts,
ids, the customer's field, some context); the rest (messages, the response, hidden
params) is skipped. `litellm.to_usage_event` needs the whole record decoded into Python
objects and then checks each field in Python. Here one pydantic-core validator
(`_RECORD`, a TypedDict of only the fields the adapter reads, each typed as a well-formed
record has it) reads the bytes: the skipped fields never become Python objects, and the
type and range checks run in Rust. What is left in Python is the arithmetic and the
consistency checks, on values already known to be of the right type.

Same answers, by construction: this path only ever ACCEPTS. Whenever the validator
refuses the bytes (a field of an unusual type, an odd encoding, anything the narrow
schema does not describe) or a check here fails, it returns None and the caller runs the
full adapter on the same bytes, whose event or refusal (code, reason, fields) stands. An
accepted record goes through the same helpers (`normalise_provider`,
`unix_seconds_to_datetime`, `disjoint_part`, `check_total`, `build`) as the full
adapter, so its event is the full adapter's, field for field, metadata order included.
tests/metering/test_litellm_fast.py holds the two to that over the samples, a real
Router's records and mutations of every field the adapter reads.
"""

import itertools
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal, NotRequired

from pydantic import ConfigDict, Field, Strict, TypeAdapter, ValidationError
from typing_extensions import TypedDict  # pydantic reads TypedDicts from it before 3.12

from config.text import NUL, NUL_ESCAPE
from metering.adapters._common import (
    build,
    check_total,
    disjoint_part,
    fits,
    normalise_provider,
    number_as_text,
    unix_seconds_to_datetime,
)
from metering.schema import (
    METADATA_INT_MAX,
    METADATA_INT_MIN,
    METADATA_KEY_CHARS_MAX,
    METADATA_KEYS_MAX,
    METADATA_VALUE_CHARS_MAX,
    TOKENS_MAX,
    InvalidUsageEvent,
    UsageEvent,
)

# As `_common.token_count` takes them: a JSON integer (never a bool, a float or a
# string) within 0..TOKENS_MAX. null reads as absent.
_Count = Annotated[int, Strict(), Field(ge=0, le=TOKENS_MAX)]
_OptionalCount = NotRequired[_Count | None]
_Text = NotRequired[Annotated[str, Strict()] | None]
# A value `_common.metadata` keeps as it is (a string of at most 1,000 characters, a
# 64-bit integer, a boolean) or drops (null). Another value (a float, a list, a longer
# string) would be dropped there: here it sends the record to the full adapter.
_Fits = NotRequired[
    Annotated[str, Strict(), Field(max_length=METADATA_VALUE_CHARS_MAX)]
    | Annotated[int, Strict(), Field(ge=METADATA_INT_MIN, le=METADATA_INT_MAX)]
    | Annotated[bool, Strict()]
    | None
]
# Extra keys are ignored (the TypedDict default): the record carries many more.
_CONFIG: Final = ConfigDict(strict=True)


class _PromptDetails(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]
    cached_tokens: _OptionalCount
    cache_creation_tokens: _OptionalCount
    cache_write_tokens: _OptionalCount


class _CompletionDetails(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]
    reasoning_tokens: _OptionalCount


class _Usage(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]
    # Required: an empty or partial usage_object is the full adapter's to judge.
    prompt_tokens: _Count
    completion_tokens: _Count
    total_tokens: _OptionalCount
    prompt_tokens_details: NotRequired[_PromptDetails | None]
    completion_tokens_details: NotRequired[_CompletionDetails | None]
    cache_read_input_tokens: _OptionalCount
    cache_creation_input_tokens: _OptionalCount


class _SpendLogsMetadata(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]
    authorization_id: _Text


class _Metadata(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]
    usage_object: NotRequired[_Usage | None]
    user_api_key_hash: _Text
    # Customer fields and context both: a string (at most 1,000 characters) or null.
    user_api_key_team_id: NotRequired[
        Annotated[str, Strict(), Field(max_length=METADATA_VALUE_CHARS_MAX)] | None
    ]
    user_api_key_user_id: NotRequired[
        Annotated[str, Strict(), Field(max_length=METADATA_VALUE_CHARS_MAX)] | None
    ]
    user_api_key_org_id: NotRequired[
        Annotated[str, Strict(), Field(max_length=METADATA_VALUE_CHARS_MAX)] | None
    ]
    user_api_key_end_user_id: _Text
    user_api_key_alias: _Fits
    spend_logs_metadata: NotRequired[_SpendLogsMetadata | None]


class _ModelMapValue(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]
    key: _Text


class _ModelMap(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]
    model_map_key: NotRequired[
        Annotated[str, Strict(), Field(max_length=METADATA_VALUE_CHARS_MAX)] | None
    ]
    model_map_value: NotRequired[_ModelMapValue | None]


class _Record(TypedDict):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]
    id: _Text
    status: NotRequired[Literal["success"] | None]
    custom_llm_provider: _Text
    startTime: Annotated[int, Strict()] | Annotated[float, Strict()]
    prompt_tokens: _OptionalCount
    completion_tokens: _OptionalCount
    total_tokens: _OptionalCount
    model: NotRequired[Annotated[str, Strict(), Field(max_length=METADATA_VALUE_CHARS_MAX)] | None]
    model_map_information: NotRequired[_ModelMap | None]
    metadata: NotRequired[_Metadata | None]
    # Context only, kept as metadata when it fits.
    call_type: _Fits
    model_group: _Fits
    model_id: _Fits
    litellm_call_id: _Fits
    trace_id: _Fits
    stream: _Fits
    end_user: _Fits
    # Read as the full adapter reads them (`is True`, `number_as_text`): any JSON value.
    cache_hit: NotRequired[Any]
    response_cost: NotRequired[Any]


_RECORD: Final = TypeAdapter(_Record)
_EMPTY: Final[Mapping[str, Any]] = {}
_NUL_ESCAPE: Final = NUL_ESCAPE.encode()


class _Undecided(Exception):
    """This path cannot accept the record: the full adapter decides."""


def to_usage_event(
    value: bytes,
    *,
    source: str,
    customer: str | None = None,
    customer_from: str = "user_api_key_team_id",
    api_key: str | None = None,
    authorization_id: str | None = None,
    extra_metadata: Mapping[str, Any] | None = None,
) -> UsageEvent | None:
    """The event `litellm.to_usage_event` makes of the decoded `value`, or None where
    this path leaves the record to it (see the module docstring). Never raises for bad
    input."""
    if _NUL_ESCAPE in value:  # JSON carries U+0000 only escaped: the full adapter refuses
        return None
    try:
        record = _RECORD.validate_json(value)
    except ValidationError:
        return None
    try:
        return _event(
            record,
            source=source,
            customer=customer,
            customer_from=customer_from,
            api_key=api_key,
            authorization_id=authorization_id,
            extra_metadata=extra_metadata,
        )
    except (_Undecided, InvalidUsageEvent):
        return None


def _text(value: Any) -> str | None:
    """As `_common.text` reads a string: null and "" are absent; any other non-string
    (the schema lets some through, as context) is the full adapter's to refuse."""
    if value is None or value == "":
        return None
    if type(value) is not str:
        raise _Undecided
    return value


def _event(
    record: dict,
    *,
    source: str,
    customer: str | None,
    customer_from: str,
    api_key: str | None,
    authorization_id: str | None,
    extra_metadata: Mapping[str, Any] | None,
) -> UsageEvent:
    logged = record.get("metadata") or _EMPTY
    counts = _counts(record, logged)
    provider_name = _text(record.get("custom_llm_provider"))
    if provider_name is None:
        raise _Undecided
    provider = normalise_provider(provider_name, "custom_llm_provider")
    response_id = _text(record.get("id"))
    if response_id is None:
        raise _Undecided
    model_map = record.get("model_map_information") or _EMPTY
    cache_hit = record.get("cache_hit") is True
    if customer is None:
        customer = _customer(record, logged, customer_from)
    if api_key is None:
        api_key = _text(logged.get("user_api_key_hash"))
    if authorization_id is None:
        spend = logged.get("spend_logs_metadata") or _EMPTY
        authorization_id = _text(spend.get("authorization_id"))
    # `litellm._context`'s keys in its order, then `extra_metadata`: every value fits
    # (the schema says so), so `_common.metadata` would keep exactly the non-null ones.
    context = {
        "call_type": record.get("call_type"),
        "litellm_model": record.get("model"),
        "model_group": record.get("model_group"),
        "model_id": record.get("model_id"),
        "litellm_model_map_key": model_map.get("model_map_key"),
        "litellm_call_id": record.get("litellm_call_id"),
        "litellm_trace_id": record.get("trace_id"),
        "litellm_cache_hit": cache_hit,
        "stream": record.get("stream"),
        "end_user": record.get("end_user") or None,
        "team_id": logged.get("user_api_key_team_id"),
        "user_id": logged.get("user_api_key_user_id"),
        "org_id": logged.get("user_api_key_org_id"),
        "key_alias": logged.get("user_api_key_alias"),
        "gateway_reported_cost": _fitting(number_as_text(record.get("response_cost"))),
    }
    if extra_metadata:
        for key, value in extra_metadata.items():
            if type(key) is str and 0 < len(key) <= METADATA_KEY_CHARS_MAX and fits(value):
                if NUL in key or (type(value) is str and NUL in value):
                    raise _Undecided
                context[key] = value  # in place where the key was, as dict assignment is
    kept = {key: value for key, value in context.items() if value is not None}
    if len(kept) > METADATA_KEYS_MAX:
        kept = dict(itertools.islice(kept.items(), METADATA_KEYS_MAX))
    return build(
        event_id=response_id,
        source=source,
        occurred_at=unix_seconds_to_datetime(record["startTime"], "startTime"),
        customer=customer,
        api_key=api_key,
        model=_model(record, model_map, provider),
        provider=provider,
        upstream_request_id=None if cache_hit else response_id,
        authorization_id=authorization_id,
        context=kept,
        # The record's strings cannot hold U+0000 (no escape in its bytes), nor can
        # extra_metadata's (checked above); the arguments from headers are checked here.
        may_hold_nul=any(
            NUL in text for text in (source, customer, api_key, authorization_id) if text
        ),
        **counts,
    )


def _fitting(value: str | None) -> str | None:
    return value if fits(value) else None  # `_common.metadata` leaves it out


def _counts(record: dict, logged: Mapping[str, Any]) -> dict[str, int]:
    usage = logged.get("usage_object")
    top_prompt, top_completion = record.get("prompt_tokens"), record.get("completion_tokens")
    if usage is not None:
        prompt, completion = usage["prompt_tokens"], usage["completion_tokens"]
        if (top_prompt is not None and top_prompt != prompt) or (
            top_completion is not None and top_completion != completion
        ):
            raise _Undecided
        usage_total = usage.get("total_tokens")
        if usage_total is not None and usage_total != prompt + completion:
            raise _Undecided
        prompt_details = usage.get("prompt_tokens_details") or _EMPTY
        completion_details = usage.get("completion_tokens_details") or _EMPTY
        cache_read = _agreeing(
            prompt_details.get("cached_tokens"), usage.get("cache_read_input_tokens")
        )
        cache_write = _agreeing(
            prompt_details.get("cache_creation_tokens"),
            prompt_details.get("cache_write_tokens"),
            usage.get("cache_creation_input_tokens"),
        )
        reasoning = completion_details.get("reasoning_tokens") or 0
    else:
        if top_prompt is None or top_completion is None:
            raise _Undecided
        prompt, completion = top_prompt, top_completion
        cache_read = cache_write = reasoning = 0
    check_total(
        record.get("total_tokens"), prompt + completion, "total_tokens", "prompt + completion"
    )
    return {
        "input_tokens": disjoint_part(prompt, cache_read + cache_write, "", ""),
        "cache_read_tokens": cache_read,
        "cache_write_tokens": cache_write,
        "output_tokens": disjoint_part(completion, reasoning, "", ""),
        "reasoning_tokens": reasoning,
    }


def _agreeing(*values: int | None) -> int:
    found = {value for value in values if value is not None}
    if len(found) > 1:
        raise _Undecided
    return found.pop() if found else 0


def _model(record: dict, model_map: Mapping[str, Any], provider: str) -> str:
    entry = model_map.get("model_map_value") or _EMPTY
    found = _text(entry.get("key")) or _text(model_map.get("model_map_key"))
    if found is not None:
        return found
    logged = _text(record.get("model"))
    if logged is None:
        raise _Undecided
    prefix = f"{provider}/"
    return logged.removeprefix(prefix) if len(logged) > len(prefix) else logged


def _customer(record: dict, logged: Mapping[str, Any], customer_from: str) -> str:
    if customer_from == "end_user":
        value = _text(record.get("end_user")) or _text(logged.get("user_api_key_end_user_id"))
    else:
        value = _text(logged.get(customer_from))
    if value is None:
        raise _Undecided
    return value
