"""Provider statement files as the providers document them, built from what we metered
(so a test can inject exactly the differences it means to find).

Shapes: OpenAI GET /v1/organization/usage/completions and /v1/organization/costs
(pages of daily buckets, Unix seconds, costs as JSON numbers in USD), Anthropic
/v1/organizations/usage_report/messages and /cost_report (RFC 3339 buckets, cost in
cents as decimal strings), OpenRouter generation records and /api/v1/activity, and a
FOCUS-style CSV. The static examples beside this file (fixtures/) are the providers'
documented examples."""

import csv
import io
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate

from metering.models import UsageRecord
from settlement.reconciliation.matching import expected_cost

NANOS = Decimal(10) ** 9


@dataclass
class Day:
    requests: int
    input: int
    output: int
    cache_read: int
    cache_write: int
    reasoning: int
    cost_minor: int  # list cost as metered


def metered(provider: str) -> dict[tuple[date, str], Day]:
    rows = (
        UsageRecord.objects.filter(provider=provider)
        .annotate(day=TruncDate("occurred_at", tzinfo=UTC))
        .values("day", "model")
        .annotate(
            n=Count("id"),
            i=Sum("input_tokens"),
            o=Sum("output_tokens"),
            cr=Sum("cache_read_tokens"),
            cw=Sum("cache_write_tokens"),
            r=Sum("reasoning_tokens"),
            c=Sum("cost_minor"),
        )
    )
    return {
        (row["day"], row["model"]): Day(
            row["n"], row["i"], row["o"], row["cr"], row["cw"], row["r"], row["c"]
        )
        for row in rows
    }


def billed_usd(day: Day, discount_bps: int) -> Decimal:
    """What the provider bills for it: list cost less the discount, in dollars."""
    return Decimal(expected_cost(day.cost_minor, discount_bps)) / NANOS


def _unix(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _days(since: date, until: date):
    day = since
    while day < until:
        yield day
        day += timedelta(days=1)


_MARK = "__decimal__:"


def _mark(value):
    if isinstance(value, Decimal):
        return f"{_MARK}{value}"
    if isinstance(value, dict):
        return {k: _mark(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark(v) for v in value]
    return value


def json_bytes(document) -> bytes:
    """JSON with Decimal values written as bare numbers, digit for digit (never through
    a float), as a provider's JSON has them."""
    text = json.dumps(_mark(document), indent=1)
    return re.sub(r'"__decimal__:([-0-9.Ee+]+)"', r"\1", text).encode()


def openai_usage(days: dict, since: date, until: date) -> bytes:
    by_day = defaultdict(list)
    for (day, model), d in sorted(days.items()):
        by_day[day].append(
            {
                "object": "organization.usage.completions.result",
                "input_tokens": d.input + d.cache_read,
                "output_tokens": d.output + d.reasoning,
                "input_cached_tokens": d.cache_read,
                "input_audio_tokens": 0,
                "output_audio_tokens": 0,
                "num_model_requests": d.requests,
                "project_id": None,
                "user_id": None,
                "api_key_id": None,
                "model": model,
                "batch": None,
            }
        )
    buckets = [
        {
            "object": "bucket",
            "start_time": _unix(day),
            "end_time": _unix(day + timedelta(days=1)),
            "results": by_day.get(day, []),
        }
        for day in _days(since, until)
    ]
    return json_bytes({"object": "page", "data": buckets, "has_more": False, "next_page": None})


def openai_costs(days: dict, since: date, until: date, discount_bps: int, *, price=None) -> bytes:
    """`price(day, model, usd) -> usd` changes what a line bills."""
    by_day = defaultdict(list)
    for (day, model), d in sorted(days.items()):
        usd = billed_usd(d, discount_bps)
        if price is not None:
            usd = price(day, model, usd)
        by_day[day].append(
            {
                "object": "organization.costs.result",
                "amount": {"value": usd, "currency": "usd"},
                "line_item": f"{model}, input+output",
                "project_id": None,
            }
        )
    buckets = [
        {
            "object": "bucket",
            "start_time": _unix(day),
            "end_time": _unix(day + timedelta(days=1)),
            "results": by_day.get(day, []),
        }
        for day in _days(since, until)
    ]
    return json_bytes({"object": "page", "data": buckets, "has_more": False, "next_page": None})


def _rfc3339(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def anthropic_usage(days: dict, since: date, until: date) -> bytes:
    by_day = defaultdict(list)
    for (day, model), d in sorted(days.items()):
        by_day[day].append(
            {
                "uncached_input_tokens": d.input,
                "cache_creation": {
                    "ephemeral_1h_input_tokens": 0,
                    "ephemeral_5m_input_tokens": d.cache_write,
                },
                "cache_read_input_tokens": d.cache_read,
                "output_tokens": d.output + d.reasoning,
                "server_tool_use": {"web_search_requests": 0},
                "api_key_id": None,
                "workspace_id": None,
                "model": model,
                "service_tier": "standard",
                "context_window": "0-200k",
            }
        )
    data = [
        {
            "starting_at": _rfc3339(day),
            "ending_at": _rfc3339(day + timedelta(days=1)),
            "results": by_day.get(day, []),
        }
        for day in _days(since, until)
    ]
    return json_bytes({"data": data, "has_more": False, "next_page": None})


def anthropic_costs(days: dict, since: date, until: date, discount_bps: int) -> bytes:
    by_day = defaultdict(list)
    for (day, model), d in sorted(days.items()):
        cents = billed_usd(d, discount_bps) * 100
        by_day[day].append(
            {
                "currency": "USD",
                "amount": format(cents.normalize(), "f"),
                "workspace_id": None,
                "description": f"{model} usage",
                "cost_type": "tokens",
                "context_window": "0-200k",
                "model": model,
                "service_tier": "standard",
                "token_type": None,
            }
        )
    data = [
        {
            "starting_at": _rfc3339(day),
            "ending_at": _rfc3339(day + timedelta(days=1)),
            "results": by_day.get(day, []),
        }
        for day in _days(since, until)
    ]
    return json_bytes({"data": data, "has_more": False, "next_page": None})


def openrouter_generations(records, discount_bps: int = 0) -> bytes:
    return json_bytes({"data": openrouter_generation_records(records, discount_bps)})


def openrouter_generation_records(records, discount_bps: int = 0) -> list[dict]:
    """One generation record per usage record (GET /api/v1/generation's `data`)."""
    out = []
    for r in records:
        out.append(
            {
                "id": r.event_id,
                "upstream_id": r.upstream_request_id or None,
                "total_cost": Decimal(expected_cost(r.cost_minor, discount_bps)) / NANOS,
                "created_at": r.occurred_at.isoformat(),
                "model": r.model,
                "streamed": True,
                "cancelled": False,
                "provider_name": "Alibaba",
                "tokens_prompt": r.input_tokens + r.cache_read_tokens,
                "tokens_completion": r.output_tokens,
                "native_tokens_prompt": r.input_tokens + r.cache_read_tokens,
                "native_tokens_completion": r.output_tokens,
                "native_tokens_reasoning": r.reasoning_tokens,
                "native_tokens_cached": r.cache_read_tokens,
                "finish_reason": "stop",
                "is_byok": False,
            }
        )
    return out


def openrouter_activity(days: dict, discount_bps: int = 0) -> bytes:
    data = [
        {
            "date": f"{day.isoformat()} 00:00:00",
            "model": model,
            "model_permaslug": model,
            "endpoint_id": "ep-1",
            "provider_name": "Alibaba",
            "usage": billed_usd(d, discount_bps),
            "byok_usage_inference": Decimal(0),
            "requests": d.requests,
            "prompt_tokens": d.input + d.cache_read + d.cache_write,
            "completion_tokens": d.output,
            "reasoning_tokens": d.reasoning,
        }
        for (day, model), d in sorted(days.items())
    ]
    return json_bytes({"data": data})


def focus_csv(days: dict, discount_bps: int, currency: str = "USD") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [
            "BillingCurrency",
            "BilledCost",
            "ChargePeriodStart",
            "ChargePeriodEnd",
            "model",
            "tokens",
            "requests",
        ]
    )
    for (day, model), d in sorted(days.items()):
        total = d.input + d.output + d.cache_read + d.cache_write + d.reasoning
        writer.writerow(
            [
                currency,
                billed_usd(d, discount_bps),
                f"{day.isoformat()}T00:00:00Z",
                f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z",
                model,
                total,
                d.requests,
            ]
        )
    return out.getvalue().encode()
