"""Money at the edges: Decimal strings in and out, integers in the asset's scale inside."""

from decimal import Decimal, InvalidOperation, localcontext

from ledger.errors import LedgerError

# Postings store amounts as PostgreSQL BIGINT.
MINOR_UNITS_MIN, MINOR_UNITS_MAX = -(2**63), 2**63 - 1


class InvalidAmount(LedgerError):
    code = "invalid_amount"


def to_minor_units(value: str | int | Decimal, scale: int) -> int:
    """Convert '12.345' to an integer in units of 10**-scale, refusing any rounding."""
    if isinstance(value, float):
        raise InvalidAmount("amounts are decimal strings, not floats")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise InvalidAmount(f"{value!r} is not a decimal amount") from exc
    if not amount.is_finite():
        raise InvalidAmount(f"{value!r} is not a finite amount")
    with localcontext() as context:
        context.prec = 60  # wide enough that no scale or amount we accept is rounded
        scaled = amount.scaleb(scale)
    if scaled != scaled.to_integral_value():
        raise InvalidAmount(f"{value} has more than {scale} decimal places")
    if not MINOR_UNITS_MIN <= scaled <= MINOR_UNITS_MAX:
        raise InvalidAmount(f"{value} is out of range for this asset")
    return int(scaled)


def from_minor_units(amount: int, scale: int) -> str:
    with localcontext() as context:
        context.prec = 60
        # format "f": str() would print zero as 0E-9.
        return format(Decimal(amount).scaleb(-scale).quantize(Decimal(1).scaleb(-scale)), "f")


def amount_text(amount: int, *, code: str, scale: int) -> str:
    """An amount for people: '-1.000000000 USD', never minor units or an asset id."""
    return f"{from_minor_units(amount, scale)} {code}"
