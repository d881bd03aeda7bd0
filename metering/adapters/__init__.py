"""Every gateway's usage record, one `UsageEvent`: one pure adapter per payload shape.

Each adapter is `to_usage_event(payload, *, source, ...) -> UsageEvent` and raises
`InvalidUsageEvent` on bad input, never anything else; its module docstring states that
provider's token semantics and how they map onto the disjoint counts of the schema.

    adapt("openai", response_json, source="gw-eu", customer="cus_42")
    adapt("litellm", standard_logging_payload, source="litellm-prod")
"""

import datetime as dt
import functools
import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any, Final

import pydantic_core

from metering.adapters import anthropic, litellm, litellm_fast, openai, openrouter, usage_event
from metering.schema import SCHEMA_VIOLATION, UNKNOWN_ADAPTER, InvalidUsageEvent, UsageEvent

Adapter = Callable[..., UsageEvent]

ADAPTERS: Final[dict[str, Adapter]] = {
    "openai": openai.to_usage_event,
    "anthropic": anthropic.to_usage_event,
    "litellm": litellm.to_usage_event,
    "openrouter": openrouter.to_usage_event,
    "usage_event": usage_event.to_usage_event,
}


def adapt(kind: str, payload: Any, **kwargs: Any) -> UsageEvent:
    """Turn `payload` of shape `kind` into an event; `InvalidUsageEvent` if it cannot.

    Keyword arguments go to the adapter unchanged; a wrong keyword is the caller's bug
    (TypeError), not bad input.
    """
    adapter = ADAPTERS.get(kind) if isinstance(kind, str) else None
    if adapter is None:
        shown = kind[:64] if isinstance(kind, str) else type(kind).__name__
        raise InvalidUsageEvent(
            f"unknown payload kind {shown!r}; known: {', '.join(sorted(ADAPTERS))}",
            code=UNKNOWN_ADAPTER,
        )
    return adapter(payload, **kwargs)


# The native endpoints and Kafka's `kind` header: the provider formats we accept as is.
NATIVE_KINDS: Final = ("openai", "anthropic", "openrouter", "litellm")
# What we keep of a native record, per kind (in Kafka and in dead letters): only what its
# adapter reads, so never the prompt nor the completion (`<adapter>.edge_record`). The HTTP
# ingest path keeps nothing else; the consumer strips a record produced straight to Kafka
# before it dead-letters it (`edge_value`).
EDGE_RECORDS: Final[dict[str, Callable[[Any], Any]]] = {
    "openai": openai.edge_record,
    "anthropic": anthropic.edge_record,
    "openrouter": openrouter.edge_record,
    "litellm": litellm.edge_record,
}
# What a message may say beside its record (Kafka headers; the native endpoints set them).
MESSAGE_ARGS: Final = (
    "source",
    "customer",
    "api_key",
    "authorization_id",
    "occurred_at",
    "customer_from",
)
ADAPTER_METADATA_KEY: Final = "adapter"


def _refused(reason: str, code: str = SCHEMA_VIOLATION) -> InvalidUsageEvent:
    return InvalidUsageEvent(reason, code=code)


# Each native adapter's keyword names, read once: inspect.signature per message cost the
# consumer a fifth of a LiteLLM record's adapting.
_ACCEPTED: Final = {
    kind: frozenset(inspect.signature(ADAPTERS[kind]).parameters) for kind in NATIVE_KINDS
}


@functools.lru_cache(maxsize=1024)
def _message_kwargs(kind: str, args: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """The adapter's keyword arguments from a message's headers, checked. Cached: the
    messages of one request, or of one gateway, carry the same headers (an exception is
    not cached, so a bad header is refused each time; callers never mutate the dict)."""
    accepted = _ACCEPTED[kind]
    kwargs: dict[str, Any] = {}
    for name, text in args:
        if name not in MESSAGE_ARGS or name not in accepted:
            raise _refused(f"header {name!r} is not one the {kind} adapter takes")
        kwargs[name] = text
    if not kwargs.get("source"):
        raise _refused("header 'source': required with a 'kind' header")
    if "occurred_at" in kwargs:
        try:
            kwargs["occurred_at"] = dt.datetime.fromisoformat(kwargs["occurred_at"])
        except ValueError:
            raise _refused("header 'occurred_at': must be an ISO 8601 timestamp") from None
    if kwargs.get("customer_from") is not None and kwargs["customer_from"] not in (
        litellm.CUSTOMER_FIELDS
    ):
        raise _refused(f"header 'customer_from': one of {', '.join(litellm.CUSTOMER_FIELDS)}")
    kwargs["extra_metadata"] = {ADAPTER_METADATA_KEY: kind}
    return kwargs


def _json_record(value: bytes) -> Any:
    """The record's JSON. pydantic-core's parser first (twice json's speed on LiteLLM's
    2 KB payloads); whatever it refuses goes to json.loads, whose answer stands, so the
    outcome is json's for every input: the two agree wherever pydantic-core parses
    (numbers, big ints, NaN/Infinity, duplicate keys: the last wins), and json alone
    takes lone surrogates, a BOM or UTF-16/32."""
    try:
        return pydantic_core.from_json(value)
    except ValueError:
        pass
    try:
        return json.loads(value)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nesting
        raise _refused("the record is not JSON") from None


def adapt_message(kind: str, value: bytes, args: Mapping[str, str]) -> UsageEvent:
    """A native record as one message carries it (JSON bytes, plus `args` from its
    headers: `source` required, the others as its adapter accepts them) -> an event whose
    `metadata["adapter"]` names `kind`. `InvalidUsageEvent`, never anything else."""
    adapter = ADAPTERS.get(kind)
    if adapter is None or kind not in NATIVE_KINDS:
        raise _refused(
            f"unknown payload kind {kind[:64]!r}; known: {', '.join(NATIVE_KINDS)}",
            UNKNOWN_ADAPTER,
        )
    kwargs = _message_kwargs(kind, tuple(args.items()))
    if kind == "litellm":
        # The fast path accepts what it can read at once; anything else, the full adapter
        # decides (see litellm_fast): the same event or refusal either way.
        event = litellm_fast.to_usage_event(value, **kwargs)
        if event is not None:
            return event
    return adapter(_json_record(value), **kwargs)


def edge_value(kind: str, value: bytes) -> bytes | None:
    """What we may keep of a message's record of adapter `kind` (its `kind` header): the
    JSON of its `edge_record`, whose adapting answers as the whole record's does; None
    when nothing of it can be kept: it is not JSON, or its kind has no edge record (no
    adapter of ours reads it), so its shape cannot say where a prompt would be. Always
    re-encoded, even when nothing is dropped: a key given twice, the first one holding a
    prompt, must not survive in the bytes."""
    edge_record = EDGE_RECORDS.get(kind)
    if edge_record is None:
        return None
    try:
        record = _json_record(value)
    except InvalidUsageEvent:
        return None
    try:
        return json.dumps(edge_record(record)).encode()
    except RecursionError:  # a kept-whole value nested deeper than json.dumps goes
        return None


__all__ = [
    "ADAPTERS",
    "EDGE_RECORDS",
    "MESSAGE_ARGS",
    "NATIVE_KINDS",
    "Adapter",
    "adapt",
    "adapt_message",
    "edge_value",
]
