"""What a printed document says: plain frozen values, no database.

The invoicing services map an invoice, a credit note or a top-up receipt to a `Document`;
rendering (render.py) only formats what it is given. Amounts are Decimal, already rounded
by the caller to the currency's minor unit; the checks below refuse a document whose
figures do not add up, so a PDF can never state totals that disagree with its own lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from invoicing.currencies import ISO_4217_EXPONENTS

DocumentKind = Literal["invoice", "credit_note", "receipt"]
Language = Literal["en", "zh-hans"]

KINDS = ("invoice", "credit_note", "receipt")
LANGUAGES = ("en", "zh-hans")
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write", "reasoning")

# The currencies a document may be in, with their ISO 4217 exponents: the one table the
# invoices are rounded by (invoicing/currencies.py), so a document and the invoice it shows
# never disagree on the minor unit. A currency not listed is refused rather than guessed.
CURRENCY_MINOR_UNITS = ISO_4217_EXPONENTS


class DocumentInvalid(ValueError):
    """A document whose values are of the wrong type or do not add up.

    Raised while building the value, before anything is rendered: the caller mapped an
    invoice wrongly (a bug), so the message names the field and the figures.
    """

    code = "document_invalid"


def _decimal(value: object, what: str, *, exponent: int | None = None) -> Decimal:
    if isinstance(value, float):
        raise DocumentInvalid(f"{what} is a float ({value!r}); amounts must be Decimal")
    if not isinstance(value, Decimal):
        raise DocumentInvalid(f"{what} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise DocumentInvalid(f"{what} is not a finite amount ({value})")
    if exponent is not None and value != value.quantize(Decimal(1).scaleb(-exponent)):
        raise DocumentInvalid(
            f"{what} = {value} has more decimals than the currency's {exponent}; "
            "round it before building the document"
        )
    return value


def _text(value: object, what: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip():
        raise DocumentInvalid(f"{what} must be a non-empty string, not {value!r}")


def _day(value: object, what: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    # datetime is a date subclass; a timestamp on a document would be formatted as a day
    # and silently drop its time zone, so it is refused.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise DocumentInvalid(f"{what} must be a date, not {value!r}")


@dataclass(frozen=True)
class Party:
    """The seller or the buyer, as printed. The seller is the only company shown."""

    name: str
    address: str  # several lines, separated by "\n"
    tax_id: str | None = None
    region: str | None = None  # ISO 3166 country or region code, e.g. "CN", "DE"
    logo_path: str | None = None  # a local file; never a URL

    def __post_init__(self) -> None:
        _text(self.name, "party name")
        if not isinstance(self.address, str):
            raise DocumentInvalid(f"address of {self.name} must be a string")
        _text(self.tax_id, f"tax id of {self.name}", optional=True)
        _text(self.region, f"region of {self.name}", optional=True)
        _text(self.logo_path, f"logo path of {self.name}", optional=True)
        if self.logo_path is not None and "://" in self.logo_path:
            raise DocumentInvalid(
                f"logo of {self.name} must be a local file path, not a URL ({self.logo_path})"
            )

    @property
    def address_lines(self) -> list[str]:
        return [line for line in self.address.splitlines() if line.strip()]


@dataclass(frozen=True)
class DocumentLine:
    description: str
    amount: Decimal
    model: str | None = None
    provider: str | None = None
    requests: int | None = None
    tokens: dict[str, int] = field(default_factory=dict)  # kind -> count; zeros may be left out
    unit_prices_per_million: dict[str, Decimal] = field(default_factory=dict)  # kind -> price

    def __post_init__(self) -> None:
        _text(self.description, "line description")
        _decimal(self.amount, f"amount of line {self.description!r}")
        if self.requests is not None and (
            not isinstance(self.requests, int) or isinstance(self.requests, bool)
        ):
            raise DocumentInvalid(f"requests of line {self.description!r} must be an int")
        if self.requests is not None and self.requests < 0:
            raise DocumentInvalid(f"requests of line {self.description!r} is negative")
        for kind, count in self.tokens.items():
            if kind not in TOKEN_KINDS:
                raise DocumentInvalid(
                    f"line {self.description!r}: unknown token kind {kind!r} "
                    f"(one of {', '.join(TOKEN_KINDS)})"
                )
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise DocumentInvalid(
                    f"line {self.description!r}: {kind} tokens must be a non-negative int, "
                    f"not {count!r}"
                )
        for kind, price in self.unit_prices_per_million.items():
            if kind not in TOKEN_KINDS:
                raise DocumentInvalid(
                    f"line {self.description!r}: unknown token kind {kind!r} in unit prices"
                )
            _decimal(price, f"line {self.description!r}: unit price of {kind}")

    @property
    def token_rows(self) -> list[tuple[str, int, Decimal | None]]:
        """(kind, count, price per million) in the fixed kind order, zero counts left out."""
        return [
            (kind, self.tokens[kind], self.unit_prices_per_million.get(kind))
            for kind in TOKEN_KINDS
            if self.tokens.get(kind)
        ]


@dataclass(frozen=True)
class Document:
    kind: DocumentKind
    number: str
    language: Language
    seller: Party
    buyer: Party
    issued_at: date
    currency: str
    lines: tuple[DocumentLine, ...]
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    amount_paid: Decimal
    amount_due: Decimal
    tax_label: str = "Tax"
    tax_rate_bp: int | None = None  # basis points: 1300 = 13%; None = no rate (exempt, reverse)
    tax_inclusive: bool = False
    due_at: date | None = None
    period_start: date | None = None
    period_end: date | None = None
    notes: tuple[str, ...] = ()  # printed as they are: reverse charge, credit reason, method
    reference_number: str | None = None  # the invoice a credit note credits
    payment_terms_days: int | None = None
    # Credit notes applied to what was due (an invoice's); due = total - paid - credited.
    amount_credited: Decimal = Decimal("0")
    voided: bool = False  # a void invoice keeps its number and figures; nothing is due

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DocumentInvalid(f"kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.language not in LANGUAGES:
            raise DocumentInvalid(
                f"language {self.language!r} is not one of {', '.join(LANGUAGES)}"
            )
        _text(self.number, "document number")
        for what, party in (("seller", self.seller), ("buyer", self.buyer)):
            if not isinstance(party, Party):
                raise DocumentInvalid(f"{what} must be a Party, not {type(party).__name__}")
        _day(self.issued_at, "issued_at")
        _day(self.due_at, "due_at", optional=True)
        _day(self.period_start, "period_start", optional=True)
        _day(self.period_end, "period_end", optional=True)
        if (self.period_start is None) != (self.period_end is None):
            raise DocumentInvalid("period_start and period_end go together (both or neither)")
        if self.period_start and self.period_end and self.period_start > self.period_end:
            raise DocumentInvalid(
                f"period_start {self.period_start} is after period_end {self.period_end}"
            )
        if self.due_at is not None and self.due_at < self.issued_at:
            raise DocumentInvalid(f"due_at {self.due_at} is before issued_at {self.issued_at}")
        if self.currency not in CURRENCY_MINOR_UNITS:
            raise DocumentInvalid(
                f"currency {self.currency!r} is not supported "
                f"({', '.join(sorted(CURRENCY_MINOR_UNITS))})"
            )
        if not isinstance(self.lines, tuple) or not all(
            isinstance(line, DocumentLine) for line in self.lines
        ):
            raise DocumentInvalid("lines must be a tuple of DocumentLine")
        if not self.lines:
            raise DocumentInvalid(f"{self.kind} {self.number} has no lines")
        _text(self.tax_label, "tax_label")
        if self.tax_rate_bp is not None and (
            not isinstance(self.tax_rate_bp, int)
            or isinstance(self.tax_rate_bp, bool)
            or not 0 <= self.tax_rate_bp <= 10_000
        ):
            raise DocumentInvalid(
                f"tax_rate_bp must be an int from 0 to 10000, not {self.tax_rate_bp!r}"
            )
        if not isinstance(self.notes, tuple) or not all(isinstance(n, str) for n in self.notes):
            raise DocumentInvalid("notes must be a tuple of strings")
        _text(self.reference_number, "reference_number", optional=True)
        if self.kind == "credit_note" and self.reference_number is None:
            raise DocumentInvalid(f"credit note {self.number} names no reference invoice")
        if self.payment_terms_days is not None and (
            not isinstance(self.payment_terms_days, int) or self.payment_terms_days < 0
        ):
            raise DocumentInvalid("payment_terms_days must be a non-negative int")
        self._check_totals()

    def _check_totals(self) -> None:
        exponent = CURRENCY_MINOR_UNITS[self.currency]
        amounts = {
            name: _decimal(getattr(self, name), name, exponent=exponent)
            for name in ("subtotal", "tax", "total", "amount_paid", "amount_due", "amount_credited")
        }
        line_sum = Decimal(0)
        for line in self.lines:
            line_sum += _decimal(
                line.amount, f"amount of line {line.description!r}", exponent=exponent
            )
        if line_sum != amounts["subtotal"]:
            raise DocumentInvalid(
                f"the lines add up to {line_sum} but subtotal is {amounts['subtotal']}"
            )
        # Inclusive tax is part of the line amounts already; exclusive tax comes on top.
        expected_total = (
            amounts["subtotal"] if self.tax_inclusive else amounts["subtotal"] + (amounts["tax"])
        )
        if amounts["total"] != expected_total:
            how = "subtotal (tax inclusive)" if self.tax_inclusive else "subtotal + tax"
            raise DocumentInvalid(f"total {amounts['total']} is not {how} = {expected_total}")
        if not isinstance(self.voided, bool):
            raise DocumentInvalid("voided must be a bool")
        if self.voided:
            if amounts["amount_due"] != 0:
                raise DocumentInvalid(
                    f"a void document has nothing due, not {amounts['amount_due']}"
                )
            return
        expected_due = amounts["total"] - amounts["amount_paid"] - amounts["amount_credited"]
        if expected_due != amounts["amount_due"]:
            raise DocumentInvalid(
                f"amount_due {amounts['amount_due']} is not total {amounts['total']} "
                f"- amount_paid {amounts['amount_paid']} "
                f"- amount_credited {amounts['amount_credited']}"
            )

    @property
    def minor_unit_exponent(self) -> int:
        return CURRENCY_MINOR_UNITS[self.currency]
