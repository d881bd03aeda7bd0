"""Top-up arithmetic: pure, integer-exact functions (Decimal only where input is parsed).

Three units meet here:
- Stripe amounts: integers in the currency's Stripe minor unit (cents for USD; Stripe's
  zero-decimal currencies have none, a few have three decimals);
- ledger amounts: integers in the asset's declared scale (USD: 9, so 1 cent = 10**7);
- the platform fee: a percentage (a decimal string such as "5.5").

The customer pays amount + fee; the wallet is credited the amount; the fee is revenue.
"""

from dataclasses import dataclass

from ledger.amounts import InvalidAmount, to_minor_units

# Stripe's currencies whose smallest unit is not 1/100 of the major unit
# (https://docs.stripe.com/currencies#zero-decimal and #three-decimal).
STRIPE_ZERO_DECIMAL = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()
)
STRIPE_THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())
STRIPE_DEFAULT_EXPONENT = 2
# A fee is given in percent with at most this many decimal places ("5.5", "2.9", "0.25").
FEE_PERCENT_DECIMALS = 6
FEE_PERCENT_MAX = 100


class UnsupportedCurrency(ValueError):
    """The asset is not a currency Stripe can charge in, or its scale is too small."""


def stripe_exponent(currency_code: str) -> int:
    """Decimal places of the Stripe minor unit of an ISO 4217 currency."""
    code = currency_code.upper()
    if len(code) != 3 or not code.isalpha():
        raise UnsupportedCurrency(f"{currency_code!r} is not an ISO 4217 currency code")
    if code in STRIPE_ZERO_DECIMAL:
        return 0
    if code in STRIPE_THREE_DECIMAL:
        return 3
    return STRIPE_DEFAULT_EXPONENT


def ledger_units_per_stripe_unit(currency_code: str, ledger_scale: int) -> int:
    """How many ledger minor units one Stripe minor unit is (USD at scale 9: 10**7)."""
    exponent = stripe_exponent(currency_code)
    if ledger_scale < exponent:
        raise UnsupportedCurrency(
            f"{currency_code} has scale {ledger_scale} in the ledger, below Stripe's {exponent}"
        )
    return 10 ** (ledger_scale - exponent)


def stripe_amount_parse(value: str, currency_code: str) -> int:
    """'10.50' (major units, a decimal string) -> 1050 Stripe minor units; no rounding."""
    return to_minor_units(value, stripe_exponent(currency_code))


def fee_percent_parse(value: str) -> int:
    """'5.5' -> the percentage in millionths of a percent (5_500_000), refusing rounding."""
    try:
        parsed = to_minor_units(str(value), FEE_PERCENT_DECIMALS)
    except InvalidAmount as exc:
        raise ValueError(f"platform fee {value!r}: {exc}") from exc
    if not 0 <= parsed <= FEE_PERCENT_MAX * 10**FEE_PERCENT_DECIMALS:
        raise ValueError(f"platform fee {value!r} must be between 0 and {FEE_PERCENT_MAX} %")
    return parsed


def fee_for(amount_stripe: int, fee_percent_millionths: int) -> int:
    """The platform fee on an amount, in Stripe minor units, rounded half up (to the cent
    for USD): amount × percent / 100, in integers only."""
    assert amount_stripe >= 0 and fee_percent_millionths >= 0
    denominator = 100 * 10**FEE_PERCENT_DECIMALS
    return (2 * amount_stripe * fee_percent_millionths + denominator) // (2 * denominator)


@dataclass(frozen=True, slots=True)
class TopUpAmounts:
    """One top-up in both units. total = amount + fee, in each unit."""

    amount_stripe: int  # credited to the wallet
    fee_stripe: int  # platform fee (revenue:fees)
    unit: int  # ledger minor units per Stripe minor unit

    @property
    def total_stripe(self) -> int:
        return self.amount_stripe + self.fee_stripe

    @property
    def amount_minor(self) -> int:
        return self.amount_stripe * self.unit

    @property
    def fee_minor(self) -> int:
        return self.fee_stripe * self.unit

    @property
    def total_minor(self) -> int:
        return self.total_stripe * self.unit


def topup_amounts(
    *, amount_stripe: int, fee_percent_millionths: int, currency_code: str, ledger_scale: int
) -> TopUpAmounts:
    return TopUpAmounts(
        amount_stripe=amount_stripe,
        fee_stripe=fee_for(amount_stripe, fee_percent_millionths),
        unit=ledger_units_per_stripe_unit(currency_code, ledger_scale),
    )


def reversal_split(
    *, taken_back_stripe: int, amount_minor: int, fee_minor: int, unit: int
) -> tuple[int, int]:
    """(wallet part, fee part), in ledger minor units, of `taken_back_stripe` of a payment
    of amount + fee taken back by refunds and disputes (cumulative, not one refund).

    Proportional: the wallet gives back its share amount / (amount + fee), rounded down,
    and the fee the rest. Computed on the cumulative amount, so any sequence of partial
    refunds reverses exactly the same as one refund of their sum, and a full refund
    reverses the amount and the fee exactly.
    """
    total_minor = amount_minor + fee_minor
    taken_minor = taken_back_stripe * unit
    assert total_minor > 0 and 0 <= taken_minor <= total_minor, (taken_minor, total_minor)
    wallet = taken_minor * amount_minor // total_minor
    return wallet, taken_minor - wallet


def ceil_to_stripe_units(amount_minor: int, unit: int) -> int:
    """The smallest Stripe amount that covers `amount_minor` ledger units."""
    return -(-amount_minor // unit)
