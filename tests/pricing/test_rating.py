"""Rating is pure integer arithmetic: examples for each rule, properties for the rest."""

from dataclasses import replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pricing.errors import InvalidPrice, InvalidTokenCounts, PriceMissing
from pricing.rating import (
    ATTO_PER_UNIT,
    TOKEN_TYPES,
    OverrideTerms,
    PriceVersion,
    TokenCounts,
    apply_markup,
    compose_retail,
    effective_prices,
    rate,
    to_scale,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
M = 10**12  # atto per token = 1 USD per million tokens


def version(**prices) -> PriceVersion:
    base = {"input_per_token_atto": 3 * M, "output_per_token_atto": 15 * M}
    return PriceVersion(provider="p", model="m", currency="USD", effective_from=T0, **base | prices)


# --- rules, by example -----------------------------------------------------------------


def test_deepseek_chat_thousand_input_tokens_cost_exactly():
    price = version(input_per_token_atto=280_000_000_000, output_per_token_atto=420_000_000_000)
    rated = rate(TokenCounts(input=1000, output=10), price)
    assert rated.input_atto == 280 * 10**12  # $0.00028
    assert rated.output_atto == 4_200_000_000_000
    assert rated.amount_atto == 284_200_000_000_000
    assert rated.above_tier is False


def test_reasoning_without_its_own_price_is_billed_as_output():
    rated = rate(TokenCounts(reasoning=100), version())
    assert rated.reasoning_atto == 100 * 15 * M
    rated = rate(TokenCounts(reasoning=100), version(reasoning_per_token_atto=20 * M))
    assert rated.reasoning_atto == 100 * 20 * M


def test_cache_tokens_without_their_own_price_are_billed_as_input():
    rated = rate(TokenCounts(cache_read=10, cache_write=10), version())
    assert rated.cache_read_atto == rated.cache_write_atto == 10 * 3 * M
    price = version(
        cache_read_per_token_atto=M // 10 * 3, cache_write_per_token_atto=375 * M // 100
    )
    rated = rate(TokenCounts(cache_read=10, cache_write=10), price)
    assert rated.cache_read_atto == 3 * M
    assert rated.cache_write_atto == 375 * M // 10


def test_tokens_without_any_price_are_refused_not_free():
    embedding = version(output_per_token_atto=None)
    assert rate(TokenCounts(input=5), embedding).amount_atto == 15 * M
    with pytest.raises(PriceMissing, match="output tokens"):
        rate(TokenCounts(input=5, output=1), embedding)
    with pytest.raises(PriceMissing, match="reasoning tokens"):
        rate(TokenCounts(reasoning=1), embedding)


def test_above_the_tier_threshold_the_whole_request_uses_tier_prices():
    price = version(
        input_per_token_atto=125 * M // 100,
        output_per_token_atto=10 * M,
        cache_read_per_token_atto=M // 8,
        tier_threshold_tokens=200_000,
        input_above_tier_per_token_atto=25 * M // 10,
        output_above_tier_per_token_atto=15 * M,
        cache_read_above_tier_per_token_atto=M // 4,
    )
    at_threshold = TokenCounts(input=150_000, cache_read=40_000, cache_write=10_000, output=1)
    rated = rate(at_threshold, price)
    assert rated.above_tier is False  # 200,000 prompt tokens is not *above* 200k
    assert rated.input_atto == 150_000 * 125 * M // 100
    assert rated.output_atto == 10 * M

    above = replace(at_threshold, input=150_001)
    rated = rate(above, price)
    assert rated.above_tier is True
    assert rated.input_atto == 150_001 * 25 * M // 10
    assert rated.output_atto == 15 * M  # output too, as LiteLLM does
    assert rated.cache_read_atto == 40_000 * M // 4
    # No above-tier cache-write price: the tier's input price, as cache writes bill as input.
    assert rated.cache_write_atto == 10_000 * 25 * M // 10


def test_token_counts_must_be_non_negative_ints():
    for bad in (-1, 1.0, True, "3", None):
        with pytest.raises(InvalidTokenCounts):
            TokenCounts(input=bad)


def test_prices_must_be_ints_never_floats():
    with pytest.raises(InvalidPrice):
        version(input_per_token_atto=2.8e-7)
    with pytest.raises(InvalidPrice):
        version(input_per_token_atto=Decimal("280000000000"))
    with pytest.raises(InvalidPrice):
        version(input_per_token_atto=-1)
    with pytest.raises(InvalidPrice, match="threshold"):
        version(input_above_tier_per_token_atto=1)


@pytest.mark.parametrize(
    ("amount_atto", "scale", "expected"),
    [
        (0, 9, (0, 0)),
        (500_000_000, 9, (0, 500_000_000)),  # 0.5 nano: tie, to even 0
        (1_500_000_000, 9, (2, -500_000_000)),  # 1.5: tie, to even 2
        (2_500_000_000, 9, (2, 500_000_000)),  # 2.5: tie, to even 2
        (2_500_000_001, 9, (3, -499_999_999)),
        (2_499_999_999, 9, (2, 499_999_999)),
        (-1_500_000_000, 9, (-2, 500_000_000)),
        (-2_500_000_000, 9, (-2, -500_000_000)),
        (123, 18, (123, 0)),
        (ATTO_PER_UNIT // 2, 0, (0, ATTO_PER_UNIT // 2)),
        (3 * ATTO_PER_UNIT // 2, 0, (2, -ATTO_PER_UNIT // 2)),
        # Beyond a BIGINT in atto, fine in nano: 1M tokens at $15/M.
        (15 * ATTO_PER_UNIT, 9, (15 * 10**9, 0)),
    ],
)
def test_to_scale_rounds_half_even_and_returns_the_remainder(amount_atto, scale, expected):
    assert to_scale(amount_atto, scale) == expected


def test_to_scale_refuses_floats_and_bad_scales():
    with pytest.raises(TypeError):
        to_scale(1.5, 9)
    with pytest.raises(TypeError):
        to_scale(Decimal(15), 9)
    with pytest.raises(ValueError):
        to_scale(1, 19)


def test_markup_is_exact_and_rounds_down():
    assert apply_markup(1000, 550) == 1055
    assert apply_markup(19, 550) == 20  # 20.045 rounds down
    assert apply_markup(1, 550) == 1  # 1.055: never below cost, never above the exact value
    assert apply_markup(280_000_000_000, 550) == 295_400_000_000
    assert apply_markup(7, 0) == 7
    with pytest.raises(InvalidPrice):
        apply_markup(100, -1)
    with pytest.raises(InvalidPrice):
        apply_markup(100, 12.5)


def test_compose_retail_explicit_prices_win_slot_by_slot():
    cost = version(
        cache_read_per_token_atto=M // 10,
        tier_threshold_tokens=200_000,
        input_above_tier_per_token_atto=6 * M,
    )
    override = OverrideTerms(input_per_token_atto=4 * M, markup_bps=1000)
    retail = compose_retail(cost, markup_bps=2000, override=override, effective_from=T0)
    assert retail.input_per_token_atto == 4 * M  # explicit
    assert retail.output_per_token_atto == 15 * M * 11 // 10  # the override's 10% markup
    assert retail.cache_read_per_token_atto == M // 10 * 11 // 10
    assert retail.input_above_tier_per_token_atto == 6 * M * 11 // 10
    assert retail.tier_threshold_tokens == 200_000
    assert retail.id is None

    retail = compose_retail(cost, markup_bps=2000, override=None, effective_from=T0)
    assert retail.input_per_token_atto == 3 * M * 12 // 10

    flat = version()  # no tier: an explicit above-tier price has nothing to apply to
    override = OverrideTerms(input_above_tier_per_token_atto=M)
    retail = compose_retail(flat, markup_bps=0, override=override, effective_from=T0)
    assert retail.input_above_tier_per_token_atto is None


# --- properties ------------------------------------------------------------------------

prices = st.integers(min_value=0, max_value=10**16)
optional_prices = st.none() | prices
counts = st.integers(min_value=0, max_value=5_000_000)


@st.composite
def price_versions(draw) -> PriceVersion:
    threshold = draw(st.none() | st.integers(min_value=0, max_value=1_000_000))
    above = (lambda: draw(optional_prices)) if threshold is not None else (lambda: None)
    return PriceVersion(
        provider="p",
        model="m",
        currency="USD",
        effective_from=T0,
        input_per_token_atto=draw(prices),
        output_per_token_atto=draw(prices),
        cache_read_per_token_atto=draw(optional_prices),
        cache_write_per_token_atto=draw(optional_prices),
        reasoning_per_token_atto=draw(optional_prices),
        tier_threshold_tokens=threshold,
        input_above_tier_per_token_atto=above(),
        output_above_tier_per_token_atto=above(),
        cache_read_above_tier_per_token_atto=above(),
        cache_write_above_tier_per_token_atto=above(),
    )


token_counts = st.builds(
    TokenCounts,
    input=counts,
    output=counts,
    cache_read=counts,
    cache_write=counts,
    reasoning=counts,
)


def _add(a: TokenCounts, b: TokenCounts) -> TokenCounts:
    return TokenCounts(*(getattr(a, name) + getattr(b, name) for name in TOKEN_TYPES))


@given(price_versions(), token_counts, token_counts)
def test_rating_is_additive_in_tokens_within_a_tier(price, a, b):
    both = _add(a, b)
    regimes = {rate(t, price).above_tier for t in (a, b, both)}
    assume(len(regimes) == 1)
    assert rate(both, price).amount_atto == rate(a, price).amount_atto + rate(b, price).amount_atto


@given(price_versions(), token_counts)
def test_rating_is_never_negative_and_sums_its_parts(price, tokens):
    rated = rate(tokens, price)
    parts = [rated.input_atto, rated.output_atto, rated.cache_read_atto]
    parts += [rated.cache_write_atto, rated.reasoning_atto]
    assert all(part >= 0 for part in parts)
    assert rated.amount_atto == sum(parts)


@given(st.integers(min_value=-(10**30), max_value=10**30), st.integers(min_value=0, max_value=18))
def test_to_scale_matches_decimal_half_even(amount_atto, scale):
    minor, remainder = to_scale(amount_atto, scale)
    unit = 10 ** (18 - scale)
    assert minor * unit + remainder == amount_atto
    assert 2 * abs(remainder) <= unit
    with localcontext() as context:
        context.prec = 100
        exact = Decimal(amount_atto).scaleb(-(18 - scale))
        assert minor == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


@given(st.lists(st.integers(min_value=0, max_value=10**24), max_size=50), st.integers(0, 18))
def test_rounding_remainders_sum_back_exactly(amounts, scale):
    unit = 10 ** (18 - scale)
    rounded = [to_scale(amount, scale) for amount in amounts]
    assert sum(m for m, _ in rounded) * unit + sum(r for _, r in rounded) == sum(amounts)


@given(st.integers(min_value=0, max_value=10**20), st.integers(min_value=0, max_value=1_000_000))
def test_markup_is_at_least_cost_and_at_most_the_exact_value(cost, markup_bps):
    retail = apply_markup(cost, markup_bps)
    assert retail >= cost
    # Rounded down: retail <= cost * (1 + bps/10000) < retail + 1.
    assert retail * 10_000 <= cost * (10_000 + markup_bps) < (retail + 1) * 10_000


@given(price_versions(), token_counts, st.integers(min_value=0, max_value=1_000_000))
def test_marked_up_prices_never_rate_below_cost(cost, tokens, markup_bps):
    retail = compose_retail(cost, markup_bps=markup_bps, override=None, effective_from=T0)
    for above in (False, True):
        for retail_price, cost_price in zip(
            effective_prices(retail, above_tier=above),
            effective_prices(cost, above_tier=above),
            strict=True,
        ):
            assert retail_price >= cost_price
    assert rate(tokens, retail).amount_atto >= rate(tokens, cost).amount_atto
