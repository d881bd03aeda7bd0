"""Small pure helpers the adapters share: reading untrusted JSON, exactly.

Every helper either returns a value of the promised type or raises `InvalidUsageEvent`
naming the payload field, so an adapter cannot leak a `KeyError` or `TypeError` to the
consumer. Counts are strict: a bool, a float (even 3.0) or a numeric string is refused,
because a gateway that sends those has a bug we want to see, not paper over.
"""

import datetime as dt
import itertools
import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from metering.schema import (
    INCONSISTENT_USAGE,
    METADATA_INT_MAX,
    METADATA_INT_MIN,
    METADATA_KEY_CHARS_MAX,
    METADATA_KEYS_MAX,
    METADATA_VALUE_CHARS_MAX,
    OCCURRED_AT_MAX,
    OCCURRED_AT_MIN,
    SCHEMA_VIOLATION,
    TOKENS_MAX,
    InvalidUsageEvent,
    UsageEvent,
    build_usage_event,
)

_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECONDS: Final = Decimal(1_000_000)
_WINDOW_SECONDS: Final = tuple(
    (moment - _EPOCH) // dt.timedelta(seconds=1) for moment in (OCCURRED_AT_MIN, OCCURRED_AT_MAX)
)

# Display names gateways use for providers -> LiteLLM's `litellm_provider` ids. Only
# names whose mapping is unambiguous; anything else is lower-cased and slugged.
PROVIDER_ALIASES: Final = {
    "openai": "openai",
    "azure": "azure",
    "azure openai": "azure",
    "anthropic": "anthropic",
    "google": "vertex_ai",
    "google vertex": "vertex_ai",
    "google ai studio": "gemini",
    "amazon bedrock": "bedrock",
    "aws bedrock": "bedrock",
    "deepseek": "deepseek",
    "alibaba": "dashscope",
    "alibaba cloud": "dashscope",
    "qwen": "dashscope",
    "bytedance": "volcengine",
    "volcengine": "volcengine",
    "minimax": "minimax",
    "moonshot ai": "moonshot",
    "moonshotai": "moonshot",
    "xai": "xai",
    "mistral": "mistral",
    "groq": "groq",
    "together": "together_ai",
    "fireworks": "fireworks_ai",
    "deepinfra": "deepinfra",
    "cohere": "cohere",
    "perplexity": "perplexity",
    "cerebras": "cerebras",
    "openrouter": "openrouter",
}
_NOT_ID_CHARS: Final = re.compile(r"[^a-z0-9_.\-]+")


def refuse(reason: str, *fields: str, code: str = SCHEMA_VIOLATION) -> InvalidUsageEvent:
    return InvalidUsageEvent(reason, code=code, fields=fields)


def require_mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise refuse(f"{path}: must be an object", path)
    return value


def optional_mapping(container: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    """An optional nested object; absent or null reads as empty."""
    value = container.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise refuse(f"{path}: must be an object or null", path)
    return value


def mapping_or_empty(value: Any) -> Mapping[str, Any]:
    """For context only (metadata): a malformed nested object is ignored, not refused."""
    return value if isinstance(value, Mapping) else {}


def token_count(container: Mapping[str, Any], key: str, path: str, *, required: bool) -> int:
    """A count of tokens; an optional one that is absent or null reads as 0."""
    value = container.get(key)
    if value is None:
        if required:
            raise refuse(f"{path}: required", path)
        return 0
    if type(value) is not int:  # bool is an int subclass: refused here on purpose
        raise refuse(f"{path}: must be an integer, got {_json_type(value)}", path)
    if value < 0:
        raise refuse(f"{path}: must not be negative", path)
    if value > TOKENS_MAX:
        raise refuse(f"{path}: must be at most {TOKENS_MAX}", path)
    return value


def text(container: Mapping[str, Any], key: str, path: str, *, required: bool) -> str | None:
    """A string field; an optional one that is absent, null or empty reads as None."""
    value = container.get(key)
    if value is None or value == "":
        if required:
            raise refuse(f"{path}: required", path)
        return None
    if not isinstance(value, str):
        raise refuse(f"{path}: must be a string, got {_json_type(value)}", path)
    return value


def unix_seconds_to_datetime(value: Any, path: str) -> dt.datetime:
    """Unix seconds (int, or float as JSON numbers are) -> aware UTC datetime, exactly.

    A float goes through `Decimal(str(x))`, its shortest round-tripping decimal form, so
    1718900000.123456 becomes .123456 s and not the binary neighbour .123455999…
    Sub-microsecond digits are truncated toward the past: datetime holds microseconds.
    """
    if type(value) is float and _WINDOW_SECONDS[0] <= value < _WINDOW_SECONDS[1]:
        # The same digits without Decimal (a third of a LiteLLM record's adapting): in the
        # window, repr is plain "<seconds>.<fraction>", never in exponent form, and a
        # float compares with the integer bounds as its shortest decimal form does.
        whole, _, fraction = repr(value).partition(".")
        microseconds = int(whole) * 1_000_000 + int((fraction + "00000")[:6])
        return _EPOCH + dt.timedelta(microseconds=microseconds)
    if type(value) is int:
        seconds = Decimal(value)
    elif type(value) is float:
        try:
            seconds = Decimal(str(value))
        except InvalidOperation:  # unreachable for floats, kept as a guard
            raise refuse(f"{path}: must be a number of seconds", path) from None
        if not seconds.is_finite():
            raise refuse(f"{path}: must be a finite number of seconds", path)
    else:
        raise refuse(f"{path}: must be unix seconds (a number), got {_json_type(value)}", path)
    if not _WINDOW_SECONDS[0] <= seconds < _WINDOW_SECONDS[1]:
        raise refuse(
            f"{path}: must lie in [{OCCURRED_AT_MIN:%Y-%m-%d}, {OCCURRED_AT_MAX:%Y-%m-%d}) UTC"
            " (milliseconds sent as seconds?)",
            path,
        )
    microseconds = int((seconds * _MICROSECONDS).to_integral_value(rounding="ROUND_FLOOR"))
    return _EPOCH + dt.timedelta(microseconds=microseconds)


def iso_datetime(value: Any, path: str) -> dt.datetime:
    """An ISO 8601 timestamp string with an offset (naive ones are refused)."""
    if not isinstance(value, str):
        raise refuse(f"{path}: must be an ISO 8601 timestamp string", path)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise refuse(f"{path}: must be an ISO 8601 timestamp string", path) from None
    return aware(moment, path)


def aware(moment: Any, path: str) -> dt.datetime:
    if not isinstance(moment, dt.datetime):
        raise refuse(f"{path}: must be a datetime", path)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise refuse(f"{path}: must carry a timezone (naive timestamps are refused)", path)
    return moment


def normalise_provider(name: Any, path: str) -> str:
    """'OpenAI', 'Alibaba', 'vertex_ai' -> LiteLLM's provider ids ('openai', ...)."""
    if not isinstance(name, str) or not name.strip():
        raise refuse(f"{path}: must be a provider name", path)
    lowered = name.strip().lower()
    known = PROVIDER_ALIASES.get(lowered)
    if known is not None:
        return known
    slug = _NOT_ID_CHARS.sub("_", lowered).strip("_.-")
    if not slug:
        raise refuse(f"{path}: not a provider name", path)
    return slug


def disjoint_part(whole: int, part: int, whole_path: str, part_path: str) -> int:
    """`whole - part` where the provider reports `part` inside `whole`; refuse part > whole."""
    if part > whole:
        raise refuse(
            f"{part_path} ({part}) exceeds {whole_path} ({whole}) that should include it",
            whole_path,
            part_path,
            code=INCONSISTENT_USAGE,
        )
    return whole - part


def check_total(reported: int | None, counted: int, path: str, parts: str) -> None:
    if reported is not None and reported != counted:
        raise refuse(
            f"{path} ({reported}) is not {parts} ({counted})", path, code=INCONSISTENT_USAGE
        )


def metadata(*sources: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge context for the event's metadata, later sources winning.

    Metadata is context, never what we bill on: a value that does not fit the schema
    (a float, a list, an overlong string) or keys beyond the limit are left out rather
    than refusing the whole event. Floats become strings where an adapter wants them.
    """
    merged: dict[str, Any] = {}
    for source in sources:
        if not source:
            continue
        for key, value in source.items():
            if type(key) is str and 0 < len(key) <= METADATA_KEY_CHARS_MAX and fits(value):
                merged[key] = value  # None too: a later source may unset a key
    kept = {key: value for key, value in merged.items() if value is not None}
    if len(kept) > METADATA_KEYS_MAX:
        kept = dict(itertools.islice(kept.items(), METADATA_KEYS_MAX))
    return kept


def fits(value: Any) -> bool:
    """A metadata value the schema takes: kept; anything else is left out."""
    kind = type(value)
    if kind is str:
        return len(value) <= METADATA_VALUE_CHARS_MAX
    if kind is int:
        return METADATA_INT_MIN <= value <= METADATA_INT_MAX
    return kind is bool or value is None


def number_as_text(value: Any) -> str | None:
    """A gateway-reported float (a cost) kept as its shortest decimal text, never as money."""
    if type(value) is int:
        return str(value)
    if type(value) is float and math.isfinite(value):
        shortest = repr(value)
        if "e" not in shortest:  # already plain decimal: what Decimal would print
            return shortest
        return format(Decimal(shortest), "f")  # 1e-07 -> "0.0000001", not "1E-7"
    return None


def require_customer(customer: Any) -> str:
    if customer is None:
        raise refuse("customer: required (pass customer=...)", "customer")
    return customer


def build(
    *,
    event_id: Any,
    source: Any,
    occurred_at: dt.datetime,
    customer: Any,
    api_key: Any,
    model: Any,
    provider: str,
    upstream_request_id: Any,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int,
    cache_write_tokens: int,
    reasoning_tokens: int,
    authorization_id: Any,
    context: dict[str, Any],
    may_hold_nul: bool = True,
) -> UsageEvent:
    return build_usage_event(
        {
            "event_id": event_id,
            "source": source,
            "occurred_at": occurred_at,
            "customer": customer,
            "api_key": api_key,
            "model": model,
            "provider": provider,
            "upstream_request_id": upstream_request_id,
            "tokens": {
                "input": input_tokens,
                "output": output_tokens,
                "cache_read": cache_read_tokens,
                "cache_write": cache_write_tokens,
                "reasoning": reasoning_tokens,
            },
            "authorization_id": authorization_id,
            "metadata": context,
        },
        may_hold_nul=may_hold_nul,
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


def project(value: Any, keys: dict[str, Any]) -> Any:
    """`value` with only the `keys` named (an edge record, see each adapter's
    `edge_record`): a key mapped to None is kept whole, one mapped to a dict is projected
    in turn. A value that is not an object is kept as sent, so the adapter's answer to it
    (a refusal naming the field) is the same on the projection as on the whole."""
    if not isinstance(value, dict):
        return value
    return {
        key: item if keys[key] is None else project(item, keys[key])
        for key, item in value.items()
        if key in keys
    }
