"""Amounts, token counts and dates on the portal's pages, per the page's language.

Amounts arrive as integers in the asset's scale (USD: nano-dollars) and become Decimal
here, never floats. A page shows the currency's minor unit (cents), rounded half-even
as invoices are, plus `extra_places` more where usage is sub-cent (a day's spend on a
cheap model); the exact amount sits in the element's title. The text is invoicing's
documents' (invoicing.documents.formatting, one rule for both): thousands grouped with
"," in both languages, the currency code after the number in English ("1,234.56 USD")
and before it in Chinese ("USD 1,234.56").
"""

from decimal import Decimal

from django.utils import translation

from invoicing.currencies import ISO_4217_EXPONENTS, round_half_even
from invoicing.documents import formatting as documents
from ledger.amounts import from_minor_units


def _language() -> str:
    return "zh-hans" if (translation.get_language() or "").lower().startswith("zh") else "en"


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
    return documents.amount(value, code, places, _language())


def exact(amount_minor: int, *, code: str, scale: int) -> str:
    return f"{from_minor_units(amount_minor, scale)} {code}"


def tokens(count: int) -> str:
    return documents.tokens(count)
