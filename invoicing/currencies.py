"""The minor unit each document currency is shown and rounded in (ISO 4217 exponents).

Ledger amounts are integers in the asset's scale (USD: 9 decimals); an invoice line is
rounded once, half-even, to a multiple of 10**(scale - exponent) of those units, so a
document shows cents (or yen) while every stored amount still ties out to postings.
A currency missing here is refused: guessing an exponent would misstate an invoice.
"""

from collections.abc import Sequence

from invoicing.errors import CurrencyUnknown

ISO_4217_EXPONENTS = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CNY": 2,
    "HKD": 2,
    "SGD": 2,
    "TWD": 2,
    "AUD": 2,
    "CAD": 2,
    "CHF": 2,
    "JPY": 0,
    "KRW": 0,
}


def document_exponent(code: str) -> int:
    try:
        return ISO_4217_EXPONENTS[code]
    except KeyError:
        raise CurrencyUnknown(
            f"currency {code!r} has no known minor unit for documents",
            details={"currency": code, "known": sorted(ISO_4217_EXPONENTS)},
        ) from None


def document_unit(*, code: str, scale: int) -> int:
    """How many ledger units one document minor unit is (USD at scale 9: 10**7)."""
    exponent = document_exponent(code)
    if scale < exponent:
        raise CurrencyUnknown(
            f"asset {code} has scale {scale}, finer than its documents' {exponent} decimals",
            details={"currency": code, "scale": scale},
        )
    return 10 ** (scale - exponent)


def round_half_even(amount: int, unit: int) -> int:
    """`amount` rounded to the nearest multiple of `unit`, ties to the even multiple."""
    quotient, rest = divmod(amount, unit)  # floor: 0 <= rest < unit
    if 2 * rest > unit or (2 * rest == unit and quotient % 2 == 1):
        quotient += 1
    return quotient * unit


def shares_in_proportion(amount: int, weights: Sequence[int], unit: int) -> list[int]:
    """`amount` split over `weights` in proportion: every share rounded once, half-even,
    to a multiple of `unit`, except the largest weight's (the first of equals), which
    takes what is left, so the shares sum to `amount` exactly."""
    total = sum(weights)
    assert total > 0 and all(w >= 0 for w in weights), weights
    largest = max(range(len(weights)), key=lambda i: (weights[i], -i))
    shares = [
        0 if i == largest else divide_half_even(amount * weight, total, unit)
        for i, weight in enumerate(weights)
    ]
    shares[largest] = amount - sum(shares)
    return shares


def divide_half_even(numerator: int, denominator: int, unit: int) -> int:
    """numerator / denominator rounded half-even to a multiple of `unit`, exactly (no
    intermediate rounding): the tax of a subtotal at a rate in basis points."""
    assert denominator > 0
    quotient, rest = divmod(numerator, denominator * unit)
    twice = 2 * rest
    limit = denominator * unit
    if twice > limit or (twice == limit and quotient % 2 == 1):
        quotient += 1
    return quotient * unit
