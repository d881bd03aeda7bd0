"""Amounts, token counts and dates on the portal's pages, per the page's language.

Amounts arrive as integers in the asset's scale (USD: nano-dollars) and become Decimal
here, never floats. A page shows the currency's minor unit (cents), rounded half-even
as invoices are, plus `extra_places` more where usage is sub-cent (a day's spend on a
cheap model); the exact amount sits in the element's title. The number itself is grouped
by the active language's rules (Django's formats: both languages group thousands with
","), and the currency code goes where each language puts it (invoicing's documents:
"1,234.56 USD" in English, "USD 1,234.56" in Chinese).
"""

from decimal import Decimal

from django.utils import formats, translation

from invoicing.currencies import ISO_4217_EXPONENTS, round_half_even
from ledger.amounts import from_minor_units


def _is_chinese() -> bool:
    return (translation.get_language() or "").lower().startswith("zh")


def exponent_of(code: str, scale: int) -> int:
    # A currency outside the ISO table (a custom asset) shows every decimal it has.
    return min(ISO_4217_EXPONENTS.get(code, scale), scale)


def money_decimal(amount_minor: int, *, scale: int, places: int) -> Decimal:
    rounded = (
        round_half_even(amount_minor, 10 ** (scale - places)) if places < scale else amount_minor
    )
    return Decimal(from_minor_units(rounded, scale)).quantize(Decimal(1).scaleb(-places))


def money(amount_minor: int, *, code: str, scale: int, extra_places: int = 0) -> str:
    places = min(exponent_of(code, scale) + extra_places, scale)
    value = money_decimal(amount_minor, scale=scale, places=places)
    text = formats.number_format(value, places, use_l10n=True, force_grouping=True)
    return f"{code} {text}" if _is_chinese() else f"{text} {code}"


def exact(amount_minor: int, *, code: str, scale: int) -> str:
    return f"{from_minor_units(amount_minor, scale)} {code}"


def tokens(count: int) -> str:
    return formats.number_format(count, 0, use_l10n=True, force_grouping=True)
