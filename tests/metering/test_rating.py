"""The consumer's fast rating path agrees with pricing's rating, over the real catalogue.

`Rater._amount_atto` caches each price version's unit prices and multiplies them out
itself instead of calling `pricing.rating.rate` per event; these tests hold the two to
the same amount, to the atto, and to the same error where a price is missing, for every
price shape the real LiteLLM catalogue has (tiers, cache and reasoning prices, service
tiers, missing output prices, markups). No database: the prices are parsed from the file
and resolved in memory, as the consumer does.
"""

import json
from dataclasses import astuple, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metering.customers import CustomerInfo
from metering.rating import Rater, Unrateable
from metering.schema import TOKENS_MAX, parse_usage_event
from pricing.catalogue import ParsedEntry, parse_catalogue, price_slots
from pricing.errors import PriceMissing
from pricing.rating import (
    MARKUP_BPS_MAX,
    PriceVersion,
    TokenCounts,
    compose_retail,
    rate,
    to_scale,
)
from pricing.selectors import PriceResolver, RetailResolver, _BookVersion
from tests.metering.conftest import CATALOGUE_PATH, usage

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OCCURRED_AT = T0 + timedelta(days=150)
DEFAULT_THRESHOLD = 200_000  # where counts cluster for a version without a tier


def _versions(entries: list[ParsedEntry]) -> tuple[list[PriceVersion], list[PriceVersion]]:
    """(standard versions, service-tier versions) of the catalogue's entries."""
    standard, tiers = [], []
    for index, entry in enumerate(entries, start=1):
        version = PriceVersion(
            provider=entry.provider,
            model=entry.model,
            currency=entry.currency,
            effective_from=T0,
            id=index,
            **entry.slots,
        )
        standard.append(version)
        for tier in entry.service_tiers:
            slots = price_slots(entry.raw_prices, tier)
            tiers.append(replace(version, service_tier=tier, **slots))
    return standard, tiers


ENTRIES = parse_catalogue(json.loads(CATALOGUE_PATH.read_text()))[0]
STANDARD, SERVICE_TIERS = _versions(ENTRIES)
ALL_VERSIONS = STANDARD + SERVICE_TIERS
TIERED = [v for v in ALL_VERSIONS if v.tier_threshold_tokens is not None]
CACHE_OR_REASONING = [
    v
    for v in ALL_VERSIONS
    if v.cache_read_per_token_atto is not None
    or v.cache_write_per_token_atto is not None
    or v.reasoning_per_token_atto is not None
]
STANDARD_TIERED = [v for v in TIERED if not v.service_tier]
PRICES = PriceResolver((version, None) for version in STANDARD)


def test_the_catalogue_has_the_price_shapes_these_tests_are_about():
    assert len(STANDARD) > 3000
    assert len(TIERED) > 100
    assert len(CACHE_OR_REASONING) > 1000
    assert len(SERVICE_TIERS) > 500
    assert any(v.output_per_token_atto is None for v in STANDARD)  # e.g. embeddings
    assert len({v.tier_threshold_tokens for v in TIERED}) > 3


def _outcome(compute):
    """The amount, or the error as what a caller sees of it."""
    try:
        return compute()
    except PriceMissing as exc:
        return (type(exc), exc.code, exc.message, exc.details)


def _fast(rater: Rater, tokens: TokenCounts, price: PriceVersion):
    counts = astuple(tokens)  # input, output, cache_read, cache_write, reasoning
    return _outcome(lambda: rater._amount_atto(counts, tokens.prompt_tokens, price))


def _assert_fast_path_agrees(rater: Rater, tokens: TokenCounts, price: PriceVersion) -> None:
    expected = _outcome(lambda: rate(tokens, price).amount_atto)
    assert _fast(rater, tokens, price) == expected  # may fill the unit-price cache
    assert _fast(rater, tokens, price) == expected  # from the cache


def _count_vectors(threshold: int | None) -> list[TokenCounts]:
    """Zeros, each kind alone, the largest counts an event may carry, and prompts just
    at and just above the tier threshold, made of each prompt kind."""
    t = DEFAULT_THRESHOLD if threshold is None else threshold
    big = TOKENS_MAX
    vectors = [
        TokenCounts(),
        TokenCounts(input=1, output=1, cache_read=1, cache_write=1, reasoning=1),
        TokenCounts(input=big, output=big, cache_read=big, cache_write=big, reasoning=big),
        TokenCounts(input=123, output=4_567, cache_read=89_012, cache_write=3, reasoning=45),
    ]
    for kind in ("input", "output", "cache_read", "cache_write", "reasoning"):
        vectors += [TokenCounts(**{kind: 1}), TokenCounts(**{kind: big})]
    for prompt in (t, t + 1):
        vectors += [
            TokenCounts(input=prompt, output=1),
            TokenCounts(cache_read=prompt, reasoning=7),
            TokenCounts(cache_write=prompt),
            TokenCounts(
                input=prompt // 3, cache_read=prompt // 3, cache_write=prompt - 2 * (prompt // 3)
            ),
        ]
    return vectors


def test_every_catalogue_price_rates_the_same_on_the_fast_path():
    """Every version of the catalogue (the tiered ones and those with cache or reasoning
    prices among them), at the counts where the rules change."""
    rater = Rater()
    vectors = {
        threshold: _count_vectors(threshold)
        for threshold in (None, *{v.tier_threshold_tokens for v in TIERED})
    }
    for price in ALL_VERSIONS:
        for tokens in vectors[price.tier_threshold_tokens]:
            _assert_fast_path_agrees(rater, tokens, price)


# --- properties ------------------------------------------------------------------------

versions = st.one_of(
    st.sampled_from(ALL_VERSIONS), st.sampled_from(TIERED), st.sampled_from(CACHE_OR_REASONING)
)
counts = st.one_of(
    st.just(0), st.integers(0, 1_000), st.integers(0, 10**6), st.integers(0, TOKENS_MAX)
)
markups = st.integers(0, MARKUP_BPS_MAX)


@st.composite
def token_counts(draw, threshold: int | None) -> TokenCounts:
    """Counts of each kind, or a prompt near the tier threshold (or far above it) split
    between input, cache reads and cache writes."""
    output, reasoning = draw(counts), draw(counts)
    if not draw(st.booleans()):
        return TokenCounts(draw(counts), output, draw(counts), draw(counts), reasoning)
    t = DEFAULT_THRESHOLD if threshold is None else threshold
    prompt = draw(st.integers(max(0, t - 2), t + 2) | st.integers(t, TOKENS_MAX))
    first = draw(st.integers(0, prompt))
    second = draw(st.integers(0, prompt - first))
    parts = draw(st.permutations([first, second, prompt - first - second]))
    return TokenCounts(parts[0], output, parts[1], parts[2], reasoning)


@st.composite
def priced_tokens(draw) -> tuple[PriceVersion, TokenCounts]:
    price = draw(versions)
    if draw(st.booleans()):  # a retail price: marked up in memory, beyond a BIGINT too
        price = compose_retail(price, markup_bps=draw(markups), override=None, effective_from=T0)
    return price, draw(token_counts(price.tier_threshold_tokens))


FAST_RATER = Rater()  # shared by the examples: its unit-price cache sees many versions


@settings(max_examples=1000, deadline=None)
@given(priced_tokens())
def test_the_fast_path_rates_exactly_as_pricing_does(case):
    price, tokens = case
    _assert_fast_path_agrees(FAST_RATER, tokens, price)


# --- a whole event ---------------------------------------------------------------------

DISTRIBUTOR, RESELLER = 1, 2


class _LoadedRetail(RetailResolver):
    """In memory and never stale: these tests have no database to ask."""

    def is_stale(self) -> bool:
        return False


def _retail(list_bps: int, wholesale_bps: int, reseller_bps: int) -> RetailResolver:
    books = [
        _BookVersion(1, DISTRIBUTOR, "", "", list_bps, "USD", T0),
        _BookVersion(2, DISTRIBUTOR, "", "apex", wholesale_bps, "USD", T0),
        _BookVersion(3, RESELLER, "", "", reseller_bps, "USD", T0),
    ]
    return _LoadedRetail(PRICES, books, [])


def _customer(*, resold: bool, scale: int) -> CustomerInfo:
    return CustomerInfo(
        external_id="initech" if resold else "acme",
        prepaid=True,
        plan="",
        seller_book_id=RESELLER if resold else DISTRIBUTOR,
        seller_book_code="apex" if resold else "distributor",
        distributor_book_id=DISTRIBUTOR,
        distributor_book_code="distributor",
        asset_id=1,
        asset_code="USD",
        asset_scale=scale,
    )


def _as_reported(draw, cost: PriceVersion) -> str:
    """The model as a gateway may report it: without the provider prefix the catalogue
    has, where that spelling is not another entry of the provider's."""
    prefix = f"{cost.provider}/"
    bare = cost.model.removeprefix(prefix)
    if bare != cost.model and PRICES.catalogue_model(cost.provider, bare) == cost.model:
        return draw(st.sampled_from([cost.model, bare]))
    return cost.model


@st.composite
def rated_events(draw):
    cost = draw(st.one_of(st.sampled_from(STANDARD), st.sampled_from(STANDARD_TIERED)))
    tokens = draw(token_counts(cost.tier_threshold_tokens))
    bps = (draw(markups), draw(markups), draw(markups))
    customer = _customer(resold=draw(st.booleans()), scale=draw(st.integers(0, 18)))
    event = parse_usage_event(
        usage(
            customer=customer.external_id,
            model=_as_reported(draw, cost),
            provider=cost.provider,
            input=tokens.input,
            output=tokens.output,
            cache_read=tokens.cache_read,
            cache_write=tokens.cache_write,
            reasoning=tokens.reasoning,
            occurred_at=OCCURRED_AT.isoformat(),
        )
    )
    return cost, tokens, bps, customer, event


@settings(max_examples=300, deadline=None)
@given(rated_events())
def test_a_rated_event_is_pricing_rate_rounded_once_half_even(case):
    cost, tokens, (list_bps, wholesale_bps, reseller_bps), customer, event = case
    rater = Rater(_retail(list_bps, wholesale_bps, reseller_bps))
    resold = customer.seller_book_id != customer.distributor_book_id

    def retail(markup_bps: int) -> PriceVersion:
        return compose_retail(cost, markup_bps=markup_bps, override=None, effective_from=T0)

    price = retail(reseller_bps if resold else list_bps)
    try:
        price_atto = rate(tokens, price).amount_atto
        cost_atto = rate(tokens, cost).amount_atto
        wholesale_atto = rate(tokens, retail(wholesale_bps)).amount_atto if resold else None
    except PriceMissing as exc:
        with pytest.raises(Unrateable) as refused:
            rater.rate(event, customer)
        assert (refused.value.code, refused.value.reason) == (exc.code, exc.message)
        return

    rated = rater.rate(event, customer)
    scale = customer.asset_scale
    assert (rated.price_minor, rated.price_remainder_atto) == to_scale(price_atto, scale)
    assert (rated.cost_minor, rated.cost_remainder_atto) == to_scale(cost_atto, scale)
    expected_wholesale = to_scale(wholesale_atto, scale)[0] if resold else None
    assert rated.wholesale_minor == expected_wholesale
    assert (rated.usage.price_minor, rated.usage.cost_minor, rated.usage.wholesale_minor) == (
        rated.price_minor,
        rated.cost_minor,
        rated.wholesale_minor,
    )
    assert rated.upstream_price_id == cost.id
    assert rated.retail_price_book_id == (3 if resold else 1)
    assert rated.wholesale_price_book_id == (2 if resold else None)
