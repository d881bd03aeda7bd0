"""Figures and dates as a reader of each language expects them, exactly.

No float ever, no rounding here: amounts arrive rounded to the currency's minor unit and
are printed with exactly that many decimals; unit prices per million tokens can be
fractions of a cent and are printed with every decimal they have.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _grouped(value: Decimal, places: int) -> str:
    # Decimal's "," format groups thousands without turning the value into a float.
    return format(value.quantize(Decimal(1).scaleb(-places)), f",.{places}f")


def number(value: Decimal, places: int) -> str:
    """1234.5 with 2 places -> '1,234.50' (both languages group by thousands with ',')."""
    return _grouped(value, places)


def amount(value: Decimal, currency: str, exponent: int, language: str) -> str:
    """'1,234.56 USD' in English; 'USD 1,234.56' in Chinese (the code first, as CLDR's zh)."""
    if value != value.quantize(Decimal(1).scaleb(-exponent)):
        raise ValueError(f"{value} {currency} has more than {exponent} decimals")
    text = _grouped(value, exponent)
    return f"{currency} {text}" if language == "zh-hans" else f"{text} {currency}"


def unit_price(value: Decimal, exponent: int) -> str:
    """At least the currency's decimals, and every further decimal the price has.

    0.075 -> '0.075', 3 -> '3.00', 0.0000125 -> '0.0000125': a sub-cent price per million
    tokens is never rounded away.
    """
    places = max(exponent, -value.normalize().as_tuple().exponent)
    return _grouped(value, places)


def tokens(count: int) -> str:
    return f"{count:,}"


def tax_rate(basis_points: int) -> str:
    """1300 -> '13%', 650 -> '6.5%', 5 -> '0.05%'."""
    percent = (Decimal(basis_points) / 100).normalize()
    return f"{format(percent, 'f')}%"


def day(value: date, language: str) -> str:
    if language == "zh-hans":
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value.day} {_EN_MONTHS[value.month - 1]} {value.year}"
