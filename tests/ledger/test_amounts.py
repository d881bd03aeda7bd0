"""Money at the edges: decimal strings to integers in the asset's scale, exactly."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.amounts import InvalidAmount, from_minor_units, to_minor_units


@given(minor=st.integers(min_value=-(2**63), max_value=2**63 - 1), scale=st.integers(0, 18))
def test_round_trip_is_exact(minor, scale):
    assert to_minor_units(from_minor_units(minor, scale), scale) == minor


@pytest.mark.parametrize(
    "text, scale, minor",
    [
        ("0.000000028", 9, 28),  # a cheap model's per-token price
        ("5", 9, 5_000_000_000),
        ("1.10", 2, 110),
        ("-0.5", 1, -5),
    ],
)
def test_known_conversions(text, scale, minor):
    assert to_minor_units(text, scale) == minor


@pytest.mark.parametrize("bad", ["0.0000000001", "1e400", "NaN", "Infinity", "", "1,5", 0.1])
def test_inexact_or_malformed_amounts_are_refused(bad):
    with pytest.raises(InvalidAmount):
        to_minor_units(bad, 9)


def test_zero_is_printed_plainly():
    assert from_minor_units(0, 9) == "0.000000000"
    assert Decimal(from_minor_units(123, 9)) == Decimal("0.000000123")
