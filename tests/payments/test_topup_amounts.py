"""Top-up arithmetic: the fee rounds half up to the cent, Stripe cents convert exactly to
the ledger's scale, and refunds split between wallet and fee exactly, in any sequence."""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.amounts import InvalidAmount
from payments.topups import amounts as ta


@pytest.mark.parametrize(
    "amount_cents, percent, fee_cents",
    [
        (1000, "5.5", 55),  # $10.00 -> $0.55
        (1010, "5.5", 56),  # 55.55 cents -> 56
        (9, "5.5", 0),  # 0.495 cents -> 0
        (10, "5.5", 1),  # 0.55 cents -> 1
        (100, "0.5", 1),  # exactly half a cent rounds up
        (1_000_000, "5.5", 55_000),
        (1234, "0", 0),
        (1234, "100", 1234),
    ],
)
def test_fee_rounds_half_up_to_the_cent(amount_cents, percent, fee_cents):
    assert ta.fee_for(amount_cents, ta.fee_percent_parse(percent)) == fee_cents


@given(
    amount=st.integers(min_value=0, max_value=10**12),
    percent=st.decimals(min_value=0, max_value=100, places=6, allow_nan=False),
)
def test_fee_equals_decimal_half_up(amount, percent):
    expected = (Decimal(amount) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert ta.fee_for(amount, ta.fee_percent_parse(str(percent))) == int(expected)


@pytest.mark.parametrize("bad", ["-1", "100.5", "abc", "1.0000001"])
def test_a_bad_fee_percent_is_refused(bad):
    with pytest.raises(ValueError):
        ta.fee_percent_parse(bad)


def test_stripe_units_convert_exactly_to_the_ledger_scale():
    assert ta.ledger_units_per_stripe_unit("USD", 9) == 10**7  # 1 cent
    assert ta.ledger_units_per_stripe_unit("usd", 2) == 1
    assert ta.ledger_units_per_stripe_unit("JPY", 0) == 1  # zero-decimal
    assert ta.ledger_units_per_stripe_unit("KWD", 9) == 10**6  # three decimals
    amounts = ta.topup_amounts(
        amount_stripe=1000, fee_percent_millionths=5_500_000, currency_code="USD", ledger_scale=9
    )
    assert (amounts.amount_minor, amounts.fee_minor, amounts.total_minor) == (
        10 * 10**9,
        55 * 10**7,
        1055 * 10**7,
    )
    assert ta.stripe_amount_parse("10.55", "USD") == 1055
    assert ta.stripe_amount_parse("500", "JPY") == 500
    with pytest.raises(InvalidAmount):
        ta.stripe_amount_parse("10.555", "USD")  # below the cent: refused, never rounded
    with pytest.raises(ta.UnsupportedCurrency):
        ta.ledger_units_per_stripe_unit("USD", 1)
    with pytest.raises(ta.UnsupportedCurrency):
        ta.stripe_exponent("TOKENS")
    assert ta.ceil_to_stripe_units(1, 10**7) == 1 and ta.ceil_to_stripe_units(10**7, 10**7) == 1


def test_a_full_refund_reverses_amount_and_fee_exactly():
    unit = 10**7
    assert ta.reversal_split(
        taken_back_stripe=1055, amount_minor=1000 * unit, fee_minor=55 * unit, unit=unit
    ) == (1000 * unit, 55 * unit)
    # Half of $10.55 back: the wallet gives back its share 1000/1055, rounded down.
    wallet, fee = ta.reversal_split(
        taken_back_stripe=500, amount_minor=1000 * unit, fee_minor=55 * unit, unit=unit
    )
    assert (wallet, fee) == (4_739_336_492, 260_663_508)
    assert wallet + fee == 500 * unit


@given(
    amount=st.integers(min_value=1, max_value=10**7),
    fee=st.integers(min_value=0, max_value=10**6),
    cuts=st.lists(st.integers(min_value=0, max_value=10**8), max_size=8),
)
def test_partial_refunds_in_any_sequence_reverse_what_one_refund_would(amount, fee, cuts):
    unit = 10**7
    total = amount + fee
    levels = sorted({min(cut, total) for cut in cuts} | {total})  # cumulative refunded
    reversed_wallet = reversed_fee = 0
    previous = (0, 0)
    for level in levels:
        wallet, fee_part = ta.reversal_split(
            taken_back_stripe=level, amount_minor=amount * unit, fee_minor=fee * unit, unit=unit
        )
        assert wallet + fee_part == level * unit
        assert wallet >= previous[0] and fee_part >= previous[1]  # never gives back
        reversed_wallet += wallet - previous[0]
        reversed_fee += fee_part - previous[1]
        previous = (wallet, fee_part)
    assert (reversed_wallet, reversed_fee) == (amount * unit, fee * unit)
