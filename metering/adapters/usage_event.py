"""Gateways that speak `UsageEvent` natively: the schema itself, as an adapter.

Input: the event as a JSON object (or its bytes), exactly as `metering.schema` defines it;
the token counts are already disjoint, so nothing is mapped. `source`, if given, is the
gateway the caller expects (the one a Kafka topic or an HTTP credential belongs to): an
event claiming another source is refused, so one gateway cannot write into another's
dedupe space.
"""

from metering.adapters._common import refuse
from metering.schema import UsageEvent, parse_usage_event


def to_usage_event(payload: dict | bytes | str, *, source: str | None = None) -> UsageEvent:
    event = parse_usage_event(payload)
    if source is not None and event.source != source:
        raise refuse("source: not the gateway this record came through", "source")
    return event
