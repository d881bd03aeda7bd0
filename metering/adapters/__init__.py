"""Every gateway's usage record, one `UsageEvent`: one pure adapter per payload shape.

Each adapter is `to_usage_event(payload, *, source, ...) -> UsageEvent` and raises
`InvalidUsageEvent` on bad input, never anything else; its module docstring states that
provider's token semantics and how they map onto the disjoint counts of the schema.

    adapt("openai", response_json, source="gw-eu", customer="cus_42")
    adapt("litellm", standard_logging_payload, source="litellm-prod")
"""

from collections.abc import Callable
from typing import Any, Final

from metering.adapters import anthropic, litellm, openai, openrouter, usage_event
from metering.schema import UNKNOWN_ADAPTER, InvalidUsageEvent, UsageEvent

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


__all__ = ["ADAPTERS", "Adapter", "adapt"]
