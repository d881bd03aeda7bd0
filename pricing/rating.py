"""Rating: pure functions from token counts and a price version to exact amounts.

No database, no floats, no Decimal: prices are integers in atto-units (10**-18 of the
currency unit) per token, amounts are integers in atto-units, and rounding to an asset's
scale happens once, explicitly, in `to_scale`, which returns the remainder so that the
caller can book it.

Semantics (they follow LiteLLM's cost calculator where it has one):
- Token counts are disjoint: input excludes cached and cache-write tokens, output excludes
  reasoning tokens.
- A missing cache-read or cache-write price bills those tokens at the input price, and a
  missing reasoning price bills reasoning at the output price. A missing input or output
  price with tokens to bill raises `PriceMissing`: a token is never billed as free by
  accident.
- Tiers: when input + cache_read + cache_write > tier_threshold_tokens, the whole request
  uses the above-tier prices (a type without an above-tier price keeps its base price).
- Markup: retail = cost * (10000 + markup_bps) // 10000, per token and per price slot,
  rounded down (in the buyer's favour, by less than one atto per token). With
  markup_bps >= 0 this is never below cost.
"""

from dataclasses import dataclass, replace
from datetime import datetime
from typing import NamedTuple

from pricing.errors import InvalidPrice, InvalidTokenCounts, PriceMissing

ATTO_SCALE = 18
ATTO_PER_UNIT = 10**ATTO_SCALE
BPS_PER_UNIT = 10_000
# Markups above 100x cost are a typing mistake, not a price (the database agrees).
MARKUP_BPS_MAX = 1_000_000
# Prices are stored as BIGINT: at most 9.22 currency units per token.
PRICE_ATTO_MAX = 2**63 - 1

TOKEN_TYPES = ("input", "output", "cache_read", "cache_write", "reasoning")
# The price slots of a version, in the order of the model's columns.
BASE_PRICE_FIELDS = (
    "input_per_token_atto",
    "output_per_token_atto",
    "cache_read_per_token_atto",
    "cache_write_per_token_atto",
    "reasoning_per_token_atto",
)
ABOVE_TIER_PRICE_FIELDS = (
    "input_above_tier_per_token_atto",
    "output_above_tier_per_token_atto",
    "cache_read_above_tier_per_token_atto",
    "cache_write_above_tier_per_token_atto",
)
PRICE_FIELDS = BASE_PRICE_FIELDS + ABOVE_TIER_PRICE_FIELDS


def _check_price(name: str, value: int | None, *, stored: bool) -> None:
    """Stored prices fit a BIGINT; composed ones (markup in memory) need not."""
    if value is None:
        return
    if type(value) is not int or value < 0 or (stored and value > PRICE_ATTO_MAX):
        limit = f"0..{PRICE_ATTO_MAX}" if stored else ">= 0"
        raise InvalidPrice(f"{name} must be an integer {limit}, not {value!r}")


def _check_markup(markup_bps: int) -> None:
    if type(markup_bps) is not int or not 0 <= markup_bps <= MARKUP_BPS_MAX:
        raise InvalidPrice(
            f"markup_bps must be an integer in 0..{MARKUP_BPS_MAX}, not {markup_bps!r}"
        )


@dataclass(frozen=True, slots=True)
class TokenCounts:
    """Disjoint token counts of one request."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0

    def __post_init__(self) -> None:
        for name in TOKEN_TYPES:
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise InvalidTokenCounts(f"{name} tokens must be a non-negative int, not {value!r}")

    @property
    def prompt_tokens(self) -> int:
        """What the tier threshold is compared with (LiteLLM's prompt tokens)."""
        return self.input + self.cache_read + self.cache_write


@dataclass(frozen=True, slots=True)
class PriceVersion:
    """Per-token prices in force from `effective_from`, in atto-units of `currency`.

    `id` is the UpstreamPrice row for cost versions and None for composed retail prices;
    `service_tier` is "" for standard prices, else e.g. "batches" or "priority".
    """

    provider: str
    model: str
    currency: str
    effective_from: datetime
    input_per_token_atto: int | None
    output_per_token_atto: int | None
    cache_read_per_token_atto: int | None = None
    cache_write_per_token_atto: int | None = None
    reasoning_per_token_atto: int | None = None  # None: billed as output
    tier_threshold_tokens: int | None = None
    input_above_tier_per_token_atto: int | None = None
    output_above_tier_per_token_atto: int | None = None
    cache_read_above_tier_per_token_atto: int | None = None
    cache_write_above_tier_per_token_atto: int | None = None
    service_tier: str = ""
    id: int | None = None

    def __post_init__(self) -> None:
        for name in PRICE_FIELDS:
            _check_price(name, getattr(self, name), stored=False)
        threshold = self.tier_threshold_tokens
        if threshold is not None and (type(threshold) is not int or threshold < 0):
            raise InvalidPrice(f"tier_threshold_tokens must be a non-negative int: {threshold!r}")
        if threshold is None and any(getattr(self, f) is not None for f in ABOVE_TIER_PRICE_FIELDS):
            raise InvalidPrice("above-tier prices need a tier_threshold_tokens")


class EffectivePrices(NamedTuple):
    """The price per token that each token type is billed at, in atto-units."""

    input: int | None
    output: int | None
    cache_read: int | None
    cache_write: int | None
    reasoning: int | None


@dataclass(frozen=True, slots=True)
class RatedAmounts:
    """Exact amounts in atto-units; `amount_atto` is their sum. Python ints do not
    overflow: a million output tokens at $15/M is 1.5e19 atto, beyond a BIGINT, so store
    amounts only after `to_scale` (or as NUMERIC)."""

    input_atto: int
    output_atto: int
    cache_read_atto: int
    cache_write_atto: int
    reasoning_atto: int
    amount_atto: int
    above_tier: bool


def tier_applies(tokens: TokenCounts, price: PriceVersion) -> bool:
    threshold = price.tier_threshold_tokens
    return threshold is not None and tokens.prompt_tokens > threshold


def effective_prices(price: PriceVersion, *, above_tier: bool) -> EffectivePrices:
    def pick(base: int | None, above: int | None) -> int | None:
        return above if above_tier and above is not None else base

    input_ = pick(price.input_per_token_atto, price.input_above_tier_per_token_atto)
    output = pick(price.output_per_token_atto, price.output_above_tier_per_token_atto)
    cache_read = pick(price.cache_read_per_token_atto, price.cache_read_above_tier_per_token_atto)
    cache_write = pick(
        price.cache_write_per_token_atto, price.cache_write_above_tier_per_token_atto
    )
    reasoning = price.reasoning_per_token_atto
    return EffectivePrices(
        input=input_,
        output=output,
        cache_read=input_ if cache_read is None else cache_read,
        cache_write=input_ if cache_write is None else cache_write,
        reasoning=output if reasoning is None else reasoning,
    )


def rate(tokens: TokenCounts, price: PriceVersion) -> RatedAmounts:
    """The exact amount, in atto-units, that `tokens` cost at `price`."""
    above = tier_applies(tokens, price)
    unit_prices = effective_prices(price, above_tier=above)
    amounts = []
    for name, count, unit_price in zip(
        TOKEN_TYPES,
        (tokens.input, tokens.output, tokens.cache_read, tokens.cache_write, tokens.reasoning),
        unit_prices,
        strict=True,
    ):
        if count == 0:
            amounts.append(0)
            continue
        if unit_price is None:
            raise PriceMissing(
                f"{price.provider}/{price.model} has no price for {name} tokens",
                details={"provider": price.provider, "model": price.model, "token_type": name},
            )
        amounts.append(count * unit_price)
    total = sum(amounts)
    assert total >= 0
    return RatedAmounts(*amounts, amount_atto=total, above_tier=above)


def to_scale(amount_atto: int, scale: int) -> tuple[int, int]:
    """Round an atto amount half-even to `scale` decimal places of the currency unit.

    Returns (amount_minor, remainder_atto) with
    amount_minor * 10**(18 - scale) + remainder_atto == amount_atto exactly, and
    |remainder_atto| <= 10**(18 - scale) / 2. The remainder is signed: negative when the
    amount was rounded up.
    """
    if type(amount_atto) is not int:
        raise TypeError(f"amount_atto must be an int, not {type(amount_atto).__name__}")
    if type(scale) is not int or not 0 <= scale <= ATTO_SCALE:
        raise ValueError(f"scale must be an int in 0..{ATTO_SCALE}, not {scale!r}")
    unit = 10 ** (ATTO_SCALE - scale)
    quotient, rest = divmod(amount_atto, unit)  # floor division: 0 <= rest < unit
    if 2 * rest > unit or (2 * rest == unit and quotient % 2 == 1):
        quotient += 1
    remainder = amount_atto - quotient * unit
    assert 2 * abs(remainder) <= unit
    return quotient, remainder


def apply_markup(cost_atto: int, markup_bps: int) -> int:
    """cost * (1 + markup_bps / 10000), rounded down: never below cost for markup >= 0."""
    if type(cost_atto) is not int or cost_atto < 0:
        raise InvalidPrice(f"cost must be a non-negative int, not {cost_atto!r}")
    _check_markup(markup_bps)
    return cost_atto * (BPS_PER_UNIT + markup_bps) // BPS_PER_UNIT


def _marked_up(value: int | None, markup_bps: int) -> int | None:
    return None if value is None else apply_markup(value, markup_bps)


@dataclass(frozen=True, slots=True)
class OverrideTerms:
    """A retail override for one model: explicit prices win slot by slot; a slot left
    None is `markup_bps` (or, when that is None too, the book's markup) over cost."""

    markup_bps: int | None = None
    input_per_token_atto: int | None = None
    output_per_token_atto: int | None = None
    cache_read_per_token_atto: int | None = None
    cache_write_per_token_atto: int | None = None
    reasoning_per_token_atto: int | None = None
    input_above_tier_per_token_atto: int | None = None
    output_above_tier_per_token_atto: int | None = None
    cache_read_above_tier_per_token_atto: int | None = None
    cache_write_above_tier_per_token_atto: int | None = None

    def __post_init__(self) -> None:
        if self.markup_bps is not None:
            _check_markup(self.markup_bps)
        for name in PRICE_FIELDS:
            _check_price(name, getattr(self, name), stored=True)

    @property
    def has_explicit_prices(self) -> bool:
        return any(getattr(self, name) is not None for name in PRICE_FIELDS)


def compose_retail(
    cost: PriceVersion,
    *,
    markup_bps: int,
    override: OverrideTerms | None,
    effective_from: datetime,
) -> PriceVersion:
    """The retail price: explicit override prices, else markup over the cost version.

    The tier threshold is the upstream one (long context is the provider's notion); an
    explicit above-tier price is ignored when the upstream version has no tier.
    """
    _check_markup(markup_bps)
    if override is not None and override.markup_bps is not None:
        markup_bps = override.markup_bps
    has_tier = cost.tier_threshold_tokens is not None
    prices: dict[str, int | None] = {}
    for name in PRICE_FIELDS:
        explicit = getattr(override, name) if override is not None else None
        if name in ABOVE_TIER_PRICE_FIELDS and not has_tier:
            prices[name] = None
        elif explicit is not None:
            prices[name] = explicit
        else:
            prices[name] = _marked_up(getattr(cost, name), markup_bps)
    return replace(cost, id=None, effective_from=effective_from, **prices)
