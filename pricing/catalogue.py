"""Reading the LiteLLM price map: pure functions, no database.

Every entry of the catalogue ends up either parsed (an upstream price version to store)
or skipped with a stable reason code and a human reason. Prices arrive as JSON floats in
currency units per token; each is converted exactly through Decimal(str(x)), and a
per-token price must be a whole number of atto-units (at most 18 decimal places).

Per-token fields follow a grammar:
    <kind>[_above_<N>k_tokens][_<service tier>]
with kind one of input_cost_per_token, output_cost_per_token, cache_read_input_token_cost,
cache_creation_input_token_cost, output_cost_per_reasoning_token. These are rated. Every
other price field (per image, per second, per query, audio tokens, 1-hour cache writes,
Databricks DBUs, ...) is kept as an exact decimal string in `raw_prices` but not rated.

A price the catalogue states is that price, 0 included: `cache_creation_input_token_cost:
0.0` is a cache write billed at 0. Only a price the entry leaves out falls back, and
to what LiteLLM's cost calculator bills it at (litellm 1.110,
`litellm_core_utils/llm_cost_calc/utils.py`, `_get_token_base_cost` and
`_resolve_reasoning_token_cost`): a missing cache-read or cache-write price is the input
price, a missing reasoning price the output price (both applied in `pricing.rating`, so
the column stays null), except where LiteLLM has a provider default, which the import
makes explicit (`PROVIDER_CACHE_READ_RATIO`).
"""

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from pricing.rating import ATTO_SCALE, PRICE_ATTO_MAX

CURRENCY = "USD"  # LiteLLM's map is in US dollars throughout
DOCUMENTATION_KEYS = frozenset({"sample_spec"})
SERVICE_TIERS = ("batches", "priority", "flex", "ultrafast", "decisions", "balanced")

_KIND_SLOT = {
    "input_cost_per_token": "input",
    "output_cost_per_token": "output",
    "cache_read_input_token_cost": "cache_read",
    "cache_creation_input_token_cost": "cache_write",
    "output_cost_per_reasoning_token": "reasoning",
}
_TOKEN_PRICE_FIELD = re.compile(
    r"^(?P<kind>" + "|".join(_KIND_SLOT) + r")"
    r"(?:_above_(?P<thousands>\d+)k_tokens)?"
    r"(?:_(?P<tier>" + "|".join(SERVICE_TIERS) + r"))?$"
)
# The slots a tier can change; LiteLLM has no above-tier reasoning price.
_TIERED_SLOTS = ("input", "output", "cache_read", "cache_write")
# Providers whose missing cache-read price LiteLLM bills at a share of the standard input
# price instead of the whole of it: `with_default_cache_read_rate` in
# litellm/llms/fireworks_ai/cache_pricing.py (FIREWORKS_AI_DEFAULT_CACHE_READ_RATE_RATIO,
# litellm/constants.py), applied before any tier, so above-tier and service-tier requests
# without their own cache-read price inherit it too.
PROVIDER_CACHE_READ_RATIO = {"fireworks_ai": Decimal("0.5")}


class Skip:
    """Reason codes for skipped entries (stable: reports group by them)."""

    DOCUMENTATION = "documentation"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_PROVIDER = "missing_provider"
    INVALID_PRICE = "invalid_price"
    NOT_TOKEN_PRICED = "not_token_priced"
    TOO_PRECISE = "too_precise"
    PRICE_TOO_LARGE = "price_too_large"


@dataclass(frozen=True, slots=True)
class SkippedEntry:
    key: str
    code: str
    reason: str

    def as_json(self) -> dict[str, str]:
        return {"key": self.key, "code": self.code, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    provider: str
    model: str
    mode: str
    currency: str
    slots: dict[str, int | None]  # the standard-tier price columns, see price_slots()
    raw_prices: dict[str, Any]  # every price field, as exact decimal strings
    service_tiers: list[str] = field(default_factory=list)
    prices_sha256: str = ""


class _Refused(Exception):
    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def is_price_field(name: str) -> bool:
    return "cost" in name


def exact_decimal(value: Any, name: str) -> Decimal:
    """A JSON number as the exact decimal it was written as (floats via their repr)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Refused(Skip.INVALID_PRICE, f"{name} is not a number: {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _Refused(Skip.INVALID_PRICE, f"{name} is not a finite number: {value!r}")
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if number < 0:
        raise _Refused(Skip.INVALID_PRICE, f"{name} is negative: {value!r}")
    return number


def decimal_text(number: Decimal) -> str:
    """Fixed-point text that reads back as the same Decimal value."""
    return format(number, "f")


def to_atto(number: Decimal, name: str) -> int:
    """Currency units per token -> atto-units per token, exactly or not at all."""
    with localcontext() as context:
        context.prec = 200  # far beyond any JSON number we accept: scaleb is exact
        scaled = number.scaleb(ATTO_SCALE)
        try:
            integral = scaled == scaled.to_integral_value()
        except InvalidOperation:  # pragma: no cover - finite by construction
            integral = False
    if not integral:
        raise _Refused(
            Skip.TOO_PRECISE,
            f"{name} = {decimal_text(number)} has more than {ATTO_SCALE} decimal places",
        )
    atto = int(scaled)
    if atto > PRICE_ATTO_MAX:
        raise _Refused(
            Skip.PRICE_TOO_LARGE,
            f"{name} = {decimal_text(number)} exceeds {PRICE_ATTO_MAX} atto-units per token",
        )
    return atto


def _raw_prices(entry: Mapping[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for name, value in entry.items():
        if not is_price_field(name):
            continue
        if isinstance(value, dict):
            raw[name] = {
                sub: decimal_text(exact_decimal(sub_value, f"{name}.{sub}"))
                for sub, sub_value in value.items()
            }
        else:
            raw[name] = decimal_text(exact_decimal(value, name))
    return raw


def _token_prices(raw: Mapping[str, Any]) -> dict[tuple[str, int | None, str], int]:
    """(slot, threshold_tokens or None, service tier or "") -> atto per token."""
    parsed: dict[tuple[str, int | None, str], int] = {}
    for name, text in raw.items():
        match = _TOKEN_PRICE_FIELD.match(name)
        if match is None or not isinstance(text, str):
            continue
        thousands = match["thousands"]
        threshold = int(thousands) * 1000 if thousands is not None else None
        parsed[(_KIND_SLOT[match["kind"]], threshold, match["tier"] or "")] = to_atto(
            Decimal(text), name
        )
    return parsed


def service_tiers_of(raw: Mapping[str, Any]) -> list[str]:
    tiers = set()
    for name in raw:
        match = _TOKEN_PRICE_FIELD.match(name)
        if match is not None and match["tier"]:
            tiers.add(match["tier"])
    return sorted(tiers)


def provider_defaults(raw: Mapping[str, Any], provider: str) -> dict[str, int]:
    """The standard prices the entry leaves out that LiteLLM fills in for its provider
    (slot -> atto per token); empty for most providers."""
    ratio = PROVIDER_CACHE_READ_RATIO.get(provider)
    if ratio is None or "cache_read_input_token_cost" in raw:
        return {}
    input_text = raw.get("input_cost_per_token")
    if not isinstance(input_text, str):
        return {}
    return {"cache_read": to_atto(Decimal(input_text) * ratio, "cache_read_input_token_cost")}


def price_slots(
    raw: Mapping[str, Any], service_tier: str = "", *, provider: str = ""
) -> dict[str, int | None]:
    """The price columns for one service tier, from the raw catalogue prices.

    A service tier's price overlays the standard one field by field (LiteLLM falls back to
    the standard price when a tier has none), except that a tier with its own output
    price and no reasoning price of its own bills reasoning as that output. Of several
    thresholds (…_above_128k_tokens, …_above_256k_tokens) the lowest is the tier; the
    others stay in raw_prices only.
    `provider` brings in LiteLLM's provider defaults (`provider_defaults`).
    """
    prices = _token_prices(raw)
    for slot, atto in provider_defaults(raw, provider).items():
        prices[(slot, None, "")] = atto
    merged = {
        (slot, threshold): atto for (slot, threshold, tier), atto in prices.items() if not tier
    }
    if service_tier:
        overlay = {
            (slot, threshold): atto
            for (slot, threshold, tier), atto in prices.items()
            if tier == service_tier
        }
        if ("output", None) in overlay and ("reasoning", None) not in overlay:
            # A tier that prices its own output bills reasoning at that output price, not
            # at the standard reasoning price (LiteLLM's _resolve_reasoning_token_cost).
            merged.pop(("reasoning", None), None)
        merged.update(overlay)
    thresholds = [threshold for (_, threshold) in merged if threshold is not None]
    lowest = min(thresholds, default=None)
    slots: dict[str, int | None] = {
        f"{slot}_per_token_atto": merged.get((slot, None))
        for slot in ("input", "output", "cache_read", "cache_write", "reasoning")
    }
    slots["tier_threshold_tokens"] = lowest
    for slot in _TIERED_SLOTS:
        above = merged.get((slot, lowest)) if lowest is not None else None
        slots[f"{slot}_above_tier_per_token_atto"] = above
    return slots


def prices_sha256(
    currency: str, raw: Mapping[str, Any], defaults: Mapping[str, int] | None = None
) -> str:
    """The fingerprint of what a version bills: its prices and, when there are any, the
    provider defaults the import filled in (so adding a default makes a new version of
    exactly the entries it changes, and no other)."""
    document: dict[str, Any] = {"currency": currency, "prices": raw}
    if defaults:
        document["provider_defaults"] = dict(defaults)
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _describe_unpriced(entry: Mapping[str, Any], raw: Mapping[str, Any]) -> str:
    mode = entry.get("mode") or "unknown"
    if any(_TOKEN_PRICE_FIELD.match(name) for name in raw):
        return f"only service-tier per-token prices, no standard ones (mode {mode})"
    if not raw:
        return f"no prices at all (mode {mode})"
    shown = sorted(raw)[:3]
    more = f" and {len(raw) - 3} more" if len(raw) > 3 else ""
    return f"not priced per token (mode {mode}; priced by {', '.join(shown)}{more})"


def parse_entry(key: str, entry: Any) -> ParsedEntry | SkippedEntry:
    try:
        return _parse_entry(key, entry)
    except _Refused as refused:
        return SkippedEntry(key, refused.code, refused.reason)


def _parse_entry(key: str, entry: Any) -> ParsedEntry:
    if key in DOCUMENTATION_KEYS:
        raise _Refused(Skip.DOCUMENTATION, "documentation entry, not a model")
    if not isinstance(entry, dict):
        raise _Refused(Skip.NOT_AN_OBJECT, f"entry is a {type(entry).__name__}, not an object")
    provider = entry.get("litellm_provider")
    if not isinstance(provider, str) or not provider.strip():
        raise _Refused(Skip.MISSING_PROVIDER, "missing litellm_provider")
    provider = provider.strip().lower()
    raw = _raw_prices(entry)
    slots = price_slots(raw, provider=provider)
    if slots["input_per_token_atto"] is None and slots["output_per_token_atto"] is None:
        raise _Refused(Skip.NOT_TOKEN_PRICED, _describe_unpriced(entry, raw))
    tiers = service_tiers_of(raw)
    for tier in tiers:  # every tier's prices must convert too, or none is stored
        price_slots(raw, tier, provider=provider)
    mode = entry.get("mode")
    return ParsedEntry(
        provider=provider,
        model=key,
        mode=mode if isinstance(mode, str) else "",
        currency=CURRENCY,
        slots=slots,
        raw_prices=raw,
        service_tiers=tiers,
        prices_sha256=prices_sha256(CURRENCY, raw, provider_defaults(raw, provider)),
    )


def parse_catalogue(
    data: Mapping[str, Any],
) -> tuple[list[ParsedEntry], list[SkippedEntry]]:
    parsed: list[ParsedEntry] = []
    skipped: list[SkippedEntry] = []
    for key, entry in data.items():
        result = parse_entry(key, entry)
        (parsed if isinstance(result, ParsedEntry) else skipped).append(result)
    assert len(parsed) + len(skipped) == len(data)
    return parsed, skipped


def skipped_by_code(skipped: Iterable[Mapping[str, str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in skipped:
        counts[item["code"]] = counts.get(item["code"], 0) + 1
    return dict(sorted(counts.items(), key=lambda pair: (-pair[1], pair[0])))
