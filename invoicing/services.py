"""Every write of invoicing: `<entity>_<verb>(*, ..., actor)`, one transaction each.

Each service checks everything it can before it books, and books one ledger event per
action through ledger.services, in the same transaction as its own rows: an error
leaves nothing booked and no number taken (document numbers come from a locked counter
row, invoicing.locks). Amounts are integers in the ledger asset's scale.
"""

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from config.errors import DomainError
from config.fast_insert import bulk_insert, insert_rows
from invoicing import locks, postings
from invoicing.currencies import (
    divide_half_even,
    document_unit,
    round_half_even,
    shares_in_proportion,
)
from invoicing.errors import (
    BillingProfileMissing,
    BuyerDetailsMissing,
    CreditNoteExceedsInvoice,
    CurrencyMismatch,
    InvalidInvoicingInput,
    InvoiceEmpty,
    InvoiceNotCreditable,
    InvoiceNotDraft,
    InvoiceNotPayable,
    InvoiceNotVoidable,
    NotABuyer,
    PaymentDuplicate,
    PaymentExceedsWallet,
    PeriodBeforeLastInvoice,
    PeriodNotClosed,
    TaxRegionUnknown,
    TopUpNotPaid,
)
from invoicing.models import (
    BillingProfile,
    BuyerDetails,
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    InvoicePayment,
    InvoiceStateChange,
    Language,
    Receipt,
    Series,
    TaxRate,
)
from invoicing.selectors import invoice_amounts_get
from ledger import selectors as ledger_selectors
from ledger.amounts import from_minor_units
from ledger.locks import balances_lock
from ledger.models import Asset, Book
from ledger.posting_rules import entry_payload
from ledger.services import (
    AccountRef,
    NewEvent,
    accounts_ensure,
    event_record,
    events_record_batch,
    ledger_errors,
)
from metering.selectors import usage_invoice_lines_by_customer, usage_invoice_lines_list
from payments import locks as payments_locks
from payments.models import TopUp
from pricing.selectors import price_versions_named_list
from wallets.models import Customer
from webhooks.services import webhook_event_enqueue

logger = logging.getLogger(__name__)

REGION = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
PREFIX = re.compile(r"^[A-Za-z0-9/_.-]{0,16}$")
PAYMENT_TERMS_DAYS_MAX = 365
LEGAL_NOTES = {
    TaxRate.Kind.REVERSE_CHARGE: "Reverse charge: the recipient accounts for the tax.",
    TaxRate.Kind.EXEMPT: "Exempt from tax.",
}
_PRICE_KINDS = ("input", "output", "cache_read", "cache_write", "reasoning")


def _actor_check(actor: str) -> None:
    if not isinstance(actor, str) or not actor.strip():
        raise InvalidInvoicingInput("every write names its actor")


# --- reference data --------------------------------------------------------------------


def billing_profile_set(
    *,
    book: Book,
    legal_name: str,
    currency: Asset,
    actor: str,
    address: str = "",
    tax_id: str = "",
    logo: str = "",
    invoice_prefix: str = "INV-",
    credit_note_prefix: str = "CN-",
    receipt_prefix: str = "RC-",
    payment_terms_days: int = 30,
    language: str = Language.EN,
    fee_bps: int = 0,
    fee_fixed_minor: int = 0,
    fee_description: str = "Platform fee",
) -> BillingProfile:
    """Create or replace the seller book's billing profile. `logo` is a path under
    MEDIA_ROOT (a local file: documents never fetch remote assets). A fee (basis points
    of the usage and/or a fixed amount per invoice, in ledger units: a whole number of
    the currency's minor unit) adds fee lines to the invoices drafted from now on."""
    _actor_check(actor)
    problems = {}
    if not legal_name.strip():
        problems["legal_name"] = "required"
    for name, prefix in (
        ("invoice_prefix", invoice_prefix),
        ("credit_note_prefix", credit_note_prefix),
        ("receipt_prefix", receipt_prefix),
    ):
        if not PREFIX.match(prefix):
            problems[name] = "up to 16 letters, digits or / _ . -"
    if type(payment_terms_days) is not int or not 0 <= payment_terms_days <= PAYMENT_TERMS_DAYS_MAX:
        problems["payment_terms_days"] = f"an integer in 0..{PAYMENT_TERMS_DAYS_MAX}"
    if language not in Language.values:
        problems["language"] = f"one of {Language.values}"
    if logo and (logo.startswith(("/", "\\")) or ".." in logo.split("/") or "://" in logo):
        problems["logo"] = "a relative path under MEDIA_ROOT"
    if type(fee_bps) is not int or not 0 <= fee_bps <= 10_000:
        problems["fee_bps"] = "an integer in 0..10000"
    unit = document_unit(code=currency.code, scale=currency.scale)
    if type(fee_fixed_minor) is not int or fee_fixed_minor < 0 or fee_fixed_minor % unit:
        problems["fee_fixed_minor"] = "a non-negative whole number of the currency's minor unit"
    if (fee_bps or fee_fixed_minor) and not (fee_description or "").strip():
        problems["fee_description"] = "required with a fee"
    if problems:
        raise InvalidInvoicingInput("invalid billing profile", details=problems)
    with transaction.atomic():
        profile, _ = BillingProfile.objects.update_or_create(
            book=book,
            defaults={
                "legal_name": legal_name,
                "address": address,
                "tax_id": tax_id,
                "logo": logo,
                "invoice_prefix": invoice_prefix,
                "credit_note_prefix": credit_note_prefix,
                "receipt_prefix": receipt_prefix,
                "currency": currency,
                "payment_terms_days": payment_terms_days,
                "language": language,
                "fee_bps": fee_bps,
                "fee_fixed_minor": fee_fixed_minor,
                "fee_description": fee_description,
                "updated_at": timezone.now(),
                "updated_by": actor,
            },
        )
    return profile


def tax_rate_add(
    *,
    profile: BillingProfile,
    region: str,
    rate_bps: int,
    effective_from: datetime,
    actor: str,
    inclusive: bool = False,
    kind: str = TaxRate.Kind.STANDARD,
) -> TaxRate:
    """A rate for buyers of a region from a moment on; a change is a new rate."""
    _actor_check(actor)
    problems = {}
    if not isinstance(region, str) or not REGION.match(region):
        problems["region"] = 'an ISO 3166 code: "DE", "US-CA"'
    if type(rate_bps) is not int or not 0 <= rate_bps <= 10_000:
        problems["rate_bps"] = "an integer in 0..10000"
    if kind not in TaxRate.Kind.values:
        problems["kind"] = f"one of {TaxRate.Kind.values}"
    elif kind != TaxRate.Kind.STANDARD and rate_bps != 0:
        problems["rate_bps"] = f"0 for {kind}"
    if timezone.is_naive(effective_from):
        problems["effective_from"] = "an aware datetime"
    if problems:
        raise InvalidInvoicingInput("invalid tax rate", details=problems)
    return TaxRate.objects.create(
        profile=profile,
        region=region,
        rate_bps=rate_bps,
        inclusive=inclusive,
        kind=kind,
        effective_from=effective_from,
        created_at=timezone.now(),
        created_by=actor,
    )


def buyer_details_set(
    *,
    legal_name: str,
    region: str,
    actor: str,
    customer: Customer | None = None,
    book: Book | None = None,
    address: str = "",
    tax_id: str = "",
    email: str = "",
) -> BuyerDetails:
    """Create or replace how documents name a buyer: a customer, or a reseller's book."""
    _actor_check(actor)
    if (customer is None) == (book is None):
        raise InvalidInvoicingInput("a buyer is a customer or a reseller's book, one of them")
    if not legal_name.strip() or not REGION.match(region or ""):
        raise InvalidInvoicingInput(
            "invalid buyer details",
            details={"legal_name": "required", "region": 'an ISO 3166 code: "DE", "US-CA"'},
        )
    if book is not None and book.kind != Book.Kind.RESELLER:
        raise NotABuyer(f"book {book.code} is not a reseller's book")
    with transaction.atomic():
        details, _ = BuyerDetails.objects.update_or_create(
            customer=customer,
            book=book,
            defaults={
                "legal_name": legal_name,
                "address": address,
                "region": region,
                "tax_id": tax_id,
                "email": email,
                "updated_at": timezone.now(),
                "updated_by": actor,
            },
        )
    return details


# --- who buys, what is covered, what it costs ---------------------------------------------


@dataclass(frozen=True)
class Buyer:
    seller_book: Book
    key: str  # in account codes: the customer's external id, or reseller:<code>
    customer: Customer | None
    book: Book | None
    currency: Asset

    @property
    def wholesale(self) -> bool:
        return self.book is not None


def _profile(book: Book) -> BillingProfile:
    profile = BillingProfile.objects.select_related("currency").filter(book=book).first()
    if profile is None:
        raise BillingProfileMissing(
            f"book {book.code} has no billing profile", details={"book": book.code}
        )
    return profile


def _buyer(*, seller_book: Book, customer: Customer | None, reseller_book: Book | None) -> Buyer:
    if (customer is None) == (reseller_book is None):
        raise InvalidInvoicingInput("an invoice is for a customer or a reseller, one of them")
    if customer is not None:
        if customer.book_id != seller_book.id:
            raise NotABuyer(f"customer {customer.external_id} does not buy from {seller_book.code}")
        if customer.billing != Customer.Billing.CREDIT:
            raise NotABuyer(
                f"customer {customer.external_id} is prepaid: its wallet paid its usage "
                "(top-ups get receipts)"
            )
        return Buyer(seller_book, customer.external_id, customer, None, customer.currency)
    if (
        reseller_book.kind != Book.Kind.RESELLER
        or reseller_book.wholesale_from_id != seller_book.id
    ):
        raise NotABuyer(f"book {reseller_book.code} is not a reseller of {seller_book.code}")
    own = BillingProfile.objects.select_related("currency").filter(book=reseller_book).first()
    currency = own.currency if own is not None else _profile(seller_book).currency
    return Buyer(seller_book, f"reseller:{reseller_book.code}", None, reseller_book, currency)


def _buyer_of(invoice: Invoice) -> Buyer:
    return Buyer(
        invoice.seller_book,
        invoice.buyer_key,
        invoice.buyer_customer,
        invoice.buyer_book,
        invoice.currency,
    )


def _details(buyer: Buyer) -> BuyerDetails:
    found = BuyerDetails.objects.filter(customer=buyer.customer, book=buyer.book).first()
    if found is None:
        raise BuyerDetailsMissing(
            f"buyer {buyer.key} has no buyer details (legal name, region)",
            details={"buyer": buyer.key},
        )
    return found


def _tax_rates(profile: BillingProfile, at: datetime) -> dict[str, TaxRate]:
    """Per region, the seller's rate in force at `at`."""
    rates = TaxRate.objects.filter(profile=profile, effective_from__lte=at).order_by(
        "effective_from", "pk"
    )
    return {rate.region: rate for rate in rates}


def _tax_rate_pick(
    rates: dict[str, TaxRate], profile: BillingProfile, region: str, at: datetime
) -> TaxRate:
    """The rate for the region, else for its country (US-CA falls back to US); none at
    all is an error, never a silent 0."""
    for candidate in [region] + ([region.split("-")[0]] if "-" in region else []):
        if candidate in rates:
            return rates[candidate]
    raise TaxRegionUnknown(
        f"{profile.book.code} has no tax rate for region {region} in force at {at.isoformat()}",
        details={"region": region, "seller": profile.book.code},
    )


def _tax_rate(profile: BillingProfile, region: str, at: datetime) -> TaxRate:
    return _tax_rate_pick(_tax_rates(profile, at), profile, region, at)


def _previous_invoice(buyer: Buyer, *, excluding: int | None = None) -> Invoice | None:
    """The buyer's last finalized invoice (not void): its span of usage is the largest."""
    found = Invoice.objects.filter(
        seller_book=buyer.seller_book,
        buyer_key=buyer.key,
        state__in=(Invoice.State.FINALIZED, Invoice.State.PAID),
    )
    if excluding is not None:
        found = found.exclude(pk=excluding)
    return found.order_by("-period_end", "-usage_watermark", "-pk").first()


def _unit_prices(rows: list[dict], wholesale: bool) -> dict[tuple, dict[str, int | None]]:
    named = {
        (row["upstream_price_id"], row["price_book_id"], row["price_override_id"], wholesale)
        for row in rows
    }
    versions = price_versions_named_list(named=named)
    return {
        key: {kind: getattr(version, f"{kind}_per_token_atto") for kind in _PRICE_KINDS}
        for key, version in versions.items()
    }


def _usage_lines(buyer: Buyer, invoice: Invoice, unit: int) -> list[InvoiceLine]:
    rows = usage_invoice_lines_list(
        seller_book_id=buyer.book.id if buyer.wholesale else buyer.seller_book.id,
        customer=None if buyer.wholesale else buyer.key,
        until=invoice.period_end,
        through_sequence=invoice.usage_watermark,
        after_until=invoice.after_period_end,
        after_sequence=invoice.after_watermark,
        wholesale=buyer.wholesale,
    )
    return _lines_from_rows(
        invoice, rows, _unit_prices(rows, buyer.wholesale), buyer.wholesale, unit
    )


def _lines_from_rows(
    invoice: Invoice, rows: list[dict], prices: dict, wholesale: bool, unit: int
) -> list[InvoiceLine]:
    """One line per model and price version, its amount rounded once, half-even."""
    lines = []
    for position, row in enumerate(rows, start=1):
        exact = int(row["amount_minor"] or 0)
        key = (row["upstream_price_id"], row["price_book_id"], row["price_override_id"], wholesale)
        lines.append(
            InvoiceLine(
                invoice=invoice,
                position=position,
                kind=InvoiceLine.Kind.USAGE,
                description=f"{row['provider']}/{row['model']}",
                provider=row["provider"],
                model=row["model"],
                upstream_price_id=row["upstream_price_id"],
                price_book_id=row["price_book_id"],
                price_override_id=row["price_override_id"],
                requests=row["requests"],
                input_tokens=row["input_tokens"],
                output_tokens=row["output_tokens"],
                cache_read_tokens=row["cache_read_tokens"],
                cache_write_tokens=row["cache_write_tokens"],
                reasoning_tokens=row["reasoning_tokens"],
                **{f"{kind}_price_atto": price for kind, price in prices[key].items()},
                exact_amount=exact,
                amount=round_half_even(exact, unit),
            )
        )
    return lines


@dataclass(frozen=True)
class Totals:
    exact_subtotal: int
    subtotal: int
    tax: int
    total: int


def invoice_totals(
    *, exact_amounts: Sequence[int], amounts: Sequence[int], rate: TaxRate, unit: int
) -> Totals:
    """Lines are already rounded; the tax is rounded once, half-even, on the subtotal.
    Exclusive: total = subtotal + tax. Inclusive: total = subtotal, the tax carved out of
    it. Reverse charge and exempt: no tax."""
    subtotal = sum(amounts)
    if rate.kind != TaxRate.Kind.STANDARD or rate.rate_bps == 0:
        tax = 0
    elif rate.inclusive:
        tax = subtotal - divide_half_even(subtotal * 10_000, 10_000 + rate.rate_bps, unit)
    else:
        tax = divide_half_even(subtotal * rate.rate_bps, 10_000, unit)
    total = subtotal if rate.inclusive else subtotal + tax
    return Totals(sum(exact_amounts), subtotal, tax, total)


def tax_carve_out(*, tax: int, subtotal: int, fees: int, inclusive: bool, unit: int) -> int:
    """The part of an inclusive tax carved out of revenue:fees (the rest comes out of
    revenue:usage), in proportion to the fee lines and the usage lines, rounded once to
    the document's unit, the remainder to the larger. An exclusive tax is carved out of
    no revenue: 0."""
    if not inclusive or not tax or not fees:
        return 0
    _usage_tax, fees_tax = shares_in_proportion(tax, [subtotal - fees, fees], unit)
    return fees_tax


def fee_revenue_of(invoice: Invoice) -> int:
    """What the invoice's finalization left on revenue:fees: its fee lines, less their
    share of an inclusive tax."""
    return invoice.fees - invoice.fees_tax


def _state_change(invoice: Invoice, from_state: str, actor: str, note: str = "") -> None:
    InvoiceStateChange.objects.create(
        invoice=invoice,
        from_state=from_state,
        to_state=invoice.state,
        at=timezone.now(),
        actor=actor,
        note=note,
    )


def _rate_for(buyer: Buyer, now: datetime) -> tuple[TaxRate, int]:
    """The tax rate in force now for the buyer's region, and the document's unit; checks
    the seller's profile and that the buyer pays in its currency."""
    profile = _profile(buyer.seller_book)
    if profile.currency_id != buyer.currency.id:
        raise CurrencyMismatch(
            f"{buyer.key} pays in {buyer.currency.code}; {buyer.seller_book.code} invoices "
            f"in {profile.currency.code}",
            details={"buyer": buyer.currency.code, "seller": profile.currency.code},
        )
    rate = _tax_rate(profile, _details(buyer).region, now)
    return rate, document_unit(code=buyer.currency.code, scale=buyer.currency.scale)


def _fee_lines(
    invoice: Invoice, profile: BillingProfile, lines: Sequence[InvoiceLine], unit: int
) -> list[InvoiceLine]:
    """The seller's fee lines after the usage lines: basis points of the usage's exact
    sum, rounded once half-even to the document's unit, and a fixed amount per invoice.
    An invoice with nothing billed gets none (no usage: no invoice, not a fee alone)."""
    usage_exact = sum(line.exact_amount for line in lines)
    if not lines or usage_exact <= 0:
        return []
    amounts = []
    if profile.fee_bps:
        percent = (Decimal(profile.fee_bps) / 100).normalize()
        amounts.append(
            (
                f"{profile.fee_description or 'Fee'} ({percent:f}%)",
                divide_half_even(usage_exact * profile.fee_bps, 10_000, unit),
            )
        )
    if profile.fee_fixed_minor:
        amounts.append((profile.fee_description or "Fee", profile.fee_fixed_minor))
    return [
        # A fee's exact amount is its amount: it is rounded where it is computed.
        InvoiceLine(
            invoice=invoice,
            position=len(lines) + offset,
            kind=InvoiceLine.Kind.FEE,
            description=description,
            exact_amount=amount,
            amount=amount,
        )
        for offset, (description, amount) in enumerate(
            [item for item in amounts if item[1]], start=1
        )
    ]


def _fees_of(lines: Sequence[InvoiceLine]) -> int:
    return sum(line.amount for line in lines if line.kind == InvoiceLine.Kind.FEE)


def _totals_apply(
    invoice: Invoice,
    rate: TaxRate,
    unit: int,
    exact: Sequence[int],
    rounded: Sequence[int],
    fees: int = 0,
) -> None:
    """`exact` and `rounded` are every line's, fee lines included (`fees` their sum)."""
    totals = invoice_totals(exact_amounts=exact, amounts=rounded, rate=rate, unit=unit)
    if not rounded or totals.exact_subtotal - fees == 0:
        raise InvoiceEmpty(
            f"nothing to invoice for {invoice.buyer_key} up to {invoice.period_end.isoformat()}",
            details={"buyer": invoice.buyer_key},
        )
    invoice.exact_subtotal, invoice.subtotal = totals.exact_subtotal, totals.subtotal
    invoice.tax, invoice.total = totals.tax, totals.total
    invoice.fees = fees
    invoice.fees_tax = tax_carve_out(
        tax=totals.tax, subtotal=totals.subtotal, fees=fees, inclusive=rate.inclusive, unit=unit
    )
    invoice.tax_region, invoice.tax_rate_bps = rate.region, rate.rate_bps
    invoice.tax_inclusive, invoice.tax_kind = rate.inclusive, rate.kind
    invoice.legal_note = LEGAL_NOTES.get(rate.kind, "")


def _fill(invoice: Invoice, buyer: Buyer, previous: Invoice | None, now: datetime) -> None:
    """(Re)compute a draft's coverage, lines and totals from the ledger head now."""
    if previous is not None and invoice.period_end < previous.period_end:
        raise PeriodBeforeLastInvoice(
            f"buyer {buyer.key} was invoiced up to {previous.period_end.isoformat()} "
            f"({previous.number_text}); this period ends {invoice.period_end.isoformat()}",
            details={"last_invoice": previous.number_text},
        )
    rate, unit = _rate_for(buyer, now)
    invoice.usage_watermark = ledger_selectors.head_sequence_get()
    invoice.after_invoice = previous
    invoice.after_period_end = previous.period_end if previous else None
    invoice.after_watermark = previous.usage_watermark if previous else None
    lines = _usage_lines(buyer, invoice, unit)
    lines += _fee_lines(invoice, _profile(buyer.seller_book), lines, unit)
    _totals_apply(
        invoice,
        rate,
        unit,
        [line.exact_amount for line in lines],
        [line.amount for line in lines],
        _fees_of(lines),
    )
    invoice.updated_at = now
    if invoice.pk is None:
        invoice.created_at = now
        invoice.save()
    else:
        invoice.save()
        invoice.lines.all().delete()
    InvoiceLine.objects.bulk_create(lines)


def _refresh_for_issue(invoice: Invoice, buyer: Buyer, now: datetime) -> None:
    """Before numbering: regenerate the draft if an invoice of the buyer was finalized or
    voided since it was made (its coverage changed); else keep its lines and apply the
    tax rate in force at issue."""
    previous = _previous_invoice(buyer, excluding=invoice.pk)
    if (previous.pk if previous else None) != invoice.after_invoice_id:
        _fill(invoice, buyer, previous, now)
        return
    rate, unit = _rate_for(buyer, now)
    lines = list(invoice.lines.values_list("exact_amount", "amount", "kind"))
    fees = sum(a for _, a, kind in lines if kind == InvoiceLine.Kind.FEE)
    _totals_apply(invoice, rate, unit, [e for e, _, _ in lines], [a for _, a, _ in lines], fees)


def _period_check(period_start: datetime, period_end: datetime, now: datetime) -> None:
    if timezone.is_naive(period_start) or timezone.is_naive(period_end):
        raise InvalidInvoicingInput("a period's bounds are aware datetimes")
    if period_start >= period_end:
        raise InvalidInvoicingInput("a period starts before it ends")
    if period_end > now:
        raise PeriodNotClosed(
            f"the period ends {period_end.isoformat()}, in the future: usage can still arrive",
            details={"period_end": period_end.isoformat()},
        )


def invoice_draft(
    *,
    seller_book: Book,
    period_start: datetime,
    period_end: datetime,
    actor: str,
    customer: Customer | None = None,
    reseller_book: Book | None = None,
    now: datetime | None = None,
) -> Invoice:
    """Create the buyer's draft for the period, or regenerate it: usage not invoiced yet
    up to the ledger head now (see Invoice). Nothing to bill is `invoice_empty`."""
    _actor_check(actor)
    now = now or timezone.now()
    _period_check(period_start, period_end, now)
    buyer = _buyer(seller_book=seller_book, customer=customer, reseller_book=reseller_book)
    with transaction.atomic():
        invoice = locks.draft_lock(
            seller_book_id=seller_book.id,
            buyer_key=buyer.key,
            period_start=period_start,
            period_end=period_end,
        )
        created = invoice is None
        if created:
            invoice = Invoice(
                seller_book=seller_book,
                buyer_customer=customer,
                buyer_book=reseller_book,
                buyer_key=buyer.key,
                currency=buyer.currency,
                period_start=period_start,
                period_end=period_end,
                created_by=actor,
            )
        _fill(invoice, buyer, _previous_invoice(buyer), now)
        _state_change(
            invoice, "" if created else Invoice.State.DRAFT, actor, "" if created else "regenerated"
        )
    return invoice


_INVOICE_ACCOUNTS = (
    "receivable",
    "unbilled",
    "tax_payable",
    "rounding",
    "revenue",
    "fee_revenue",
)


def _account_refs(book_id: int, asset_id: int, buyer_key: str) -> dict[str, AccountRef]:
    """The accounts a finalization moves, by their InvoiceAccounts names."""
    codes = {
        "receivable": postings.receivable(buyer_key),
        "unbilled": postings.unbilled(buyer_key),
        "tax_payable": postings.TAX_PAYABLE,
        "rounding": postings.ROUNDING,
        "revenue": postings.REVENUE,
        "fee_revenue": postings.FEE_REVENUE,
    }
    return {name: AccountRef(book_id, asset_id, *codes[name]) for name in _INVOICE_ACCOUNTS}


def _invoice_accounts(
    book_id: int, asset_id: int, refs: dict[str, AccountRef], ids: dict[AccountRef, int]
) -> postings.InvoiceAccounts:
    return postings.InvoiceAccounts(
        book_id, asset_id, **{name: ids[ref] for name, ref in refs.items()}
    )


def _accounts(buyer: Buyer) -> postings.InvoiceAccounts:
    book, asset = buyer.seller_book.id, buyer.currency.id
    refs = _account_refs(book, asset, buyer.key)
    return _invoice_accounts(book, asset, refs, accounts_ensure(refs=refs.values()))


def _account_id(buyer: Buyer, code: tuple[str, str]) -> int:
    ref = AccountRef(buyer.seller_book.id, buyer.currency.id, *code)
    return accounts_ensure(refs=[ref])[ref]


def _finalize_entry(invoice: Invoice, accounts: postings.InvoiceAccounts):
    return postings.finalize_entry(
        accounts,
        exact=invoice.exact_subtotal,
        subtotal=invoice.subtotal,
        tax=invoice.tax,
        total=invoice.total,
        inclusive=invoice.tax_inclusive,
        memo=f"invoice {invoice.number_text}",
        fees=invoice.fees,
        fees_tax=invoice.fees_tax,
    )


def _finalized_payload(invoice: Invoice, entry) -> dict:
    return {
        "entries": [entry_payload(entry)],
        "invoice": str(invoice.public_id),
        "number": invoice.number_text,
    }


INVOICE_FINALIZED_WEBHOOK = "invoice.finalized"
INVOICE_OVERDUE_WEBHOOK = "invoice.overdue"


def invoice_webhook_payload(invoice: Invoice) -> dict:
    """What a seller's endpoint is told of an invoice: exact JSON (decimal strings and
    integers in the ledger asset's scale, never floats)."""
    scale = invoice.currency.scale

    def money(amount: int) -> dict:
        return {"amount": from_minor_units(amount, scale), "minor": amount}

    return {
        "invoice": str(invoice.public_id),
        "number": invoice.number_text,
        "state": invoice.state,
        "buyer": invoice.buyer_key,
        "currency": invoice.currency.code,
        "period_start": invoice.period_start.isoformat(),
        "period_end": invoice.period_end.isoformat(),
        "issued_at": invoice.issued_at.isoformat() if invoice.issued_at else None,
        "due_at": invoice.due_at.isoformat() if invoice.due_at else None,
        "subtotal": money(invoice.subtotal),
        "tax": money(invoice.tax),
        "total": money(invoice.total),
    }


def _invoice_webhook(invoice: Invoice, event_type: str) -> None:
    """In the caller's transaction: the event exists iff the change commits."""
    webhook_event_enqueue(
        book_id=invoice.seller_book_id,
        event_type=event_type,
        payload=invoice_webhook_payload(invoice),
        idempotency_key=f"invoicing:invoice:{invoice.public_id}:{event_type}",
    )


def invoice_finalize(*, invoice: Invoice, actor: str, now: datetime | None = None) -> Invoice:
    """Number, issue and book the draft: receivable Dr, unbilled usage Cr, tax and
    rounding (invoicing.postings), in one transaction with the number taken. A draft
    whose coverage another finalization of the buyer changed meanwhile is regenerated
    first (under the buyer's lock), so no usage is invoiced twice."""
    _actor_check(actor)
    now = now or timezone.now()
    with ledger_errors(), transaction.atomic():
        invoice = locks.invoice_lock(invoice_id=invoice.pk)
        if invoice.state != Invoice.State.DRAFT:
            raise InvoiceNotDraft(
                f"invoice {invoice.number_text or invoice.public_id} is {invoice.state}",
                details={"state": invoice.state},
            )
        locks.buyer_lock(customer_id=invoice.buyer_customer_id, book_id=invoice.buyer_book_id)
        buyer = _buyer_of(invoice)
        _refresh_for_issue(invoice, buyer, now)
        profile = _profile(buyer.seller_book)
        invoice.number = locks.document_number_take(
            seller_book_id=buyer.seller_book.id, series=Series.INVOICE
        )
        invoice.number_text = f"{profile.invoice_prefix}{invoice.number:06d}"
        invoice.issued_at = now
        invoice.due_at = now + timedelta(days=profile.payment_terms_days)
        entry = _finalize_entry(invoice, _accounts(buyer))
        appended = event_record(
            event_type=postings.INVOICE_FINALIZED_EVENT,
            payload=_finalized_payload(invoice, entry),
            idempotency_key=f"invoicing:invoice:{invoice.public_id}:finalized",
            actor=actor,
        )
        invoice.ledger_event_sequence = appended.sequence
        invoice.state = Invoice.State.FINALIZED
        invoice.save()
        _state_change(invoice, Invoice.State.DRAFT, actor)
        _invoice_webhook(invoice, INVOICE_FINALIZED_WEBHOOK)
    return invoice


def invoice_void(*, invoice: Invoice, actor: str, note: str = "") -> Invoice:
    """Reverse a finalized, unpaid, uncredited invoice exactly; it keeps its number, and
    its usage becomes invoiceable again. Only the buyer's latest invoice: spans are
    nested, so an older one is corrected by a credit note instead."""
    _actor_check(actor)
    with ledger_errors(), transaction.atomic():
        invoice = locks.invoice_lock(invoice_id=invoice.pk)
        locks.buyer_lock(customer_id=invoice.buyer_customer_id, book_id=invoice.buyer_book_id)
        buyer = _buyer_of(invoice)
        amounts = invoice_amounts_get(invoice)
        latest = _previous_invoice(buyer)
        if (
            invoice.state != Invoice.State.FINALIZED
            or amounts.paid
            or amounts.credited
            or latest is None
            or latest.pk != invoice.pk
        ):
            raise InvoiceNotVoidable(
                f"invoice {invoice.number_text or invoice.public_id} cannot be voided: only "
                "the buyer's latest finalized invoice, with no payment and no credit note",
                details={"state": invoice.state},
            )
        entry = postings.mirror_entry(
            _finalize_entry(invoice, _accounts(buyer)), f"invoice {invoice.number_text} voided"
        )
        appended = event_record(
            event_type=postings.INVOICE_VOIDED_EVENT,
            payload={"entries": [entry_payload(entry)], "invoice": str(invoice.public_id)},
            idempotency_key=f"invoicing:invoice:{invoice.public_id}:voided",
            actor=actor,
        )
        invoice.void_event_sequence = appended.sequence
        invoice.state = Invoice.State.VOID
        invoice.save(update_fields=["state", "void_event_sequence"])
        _state_change(invoice, Invoice.State.FINALIZED, actor, note)
    return invoice


def _settled_check(invoice: Invoice, actor: str, note: str) -> None:
    if invoice.state == Invoice.State.FINALIZED and invoice_amounts_get(invoice).due(invoice) == 0:
        invoice.state = Invoice.State.PAID
        invoice.save(update_fields=["state"])
        _state_change(invoice, Invoice.State.FINALIZED, actor, note)


def _positive_units(amount, unit: int, name: str) -> int:
    if type(amount) is not int or amount <= 0 or amount % unit:
        raise InvalidInvoicingInput(
            f"{name} must be a positive whole number of the document's minor unit",
            details={name: amount, "unit": unit},
        )
    return amount


def credit_note_issue(
    *,
    invoice: Invoice,
    reason: str,
    actor: str,
    amount: int | None = None,
    lines: Sequence[tuple[InvoiceLine, int]] = (),
    memo: str = "",
    now: datetime | None = None,
) -> CreditNote:
    """Credit part or all of a finalized invoice: `amount` (gross, tax included), or
    `lines` (invoice line, amount as the line shows it: net of an exclusive tax, which is
    added), or neither: all that is still creditable. The tax goes back in proportion
    (all of what is left when the rest is credited). What the open receivable cannot
    take becomes wallet credit."""
    _actor_check(actor)
    now = now or timezone.now()
    if reason not in CreditNote.Reason.values:
        raise InvalidInvoicingInput(f"reason is one of {CreditNote.Reason.values}")
    if amount is not None and lines:
        raise InvalidInvoicingInput("credit an amount or lines, not both")
    with ledger_errors(), transaction.atomic():
        invoice = locks.invoice_lock(invoice_id=invoice.pk)
        if invoice.state not in (Invoice.State.FINALIZED, Invoice.State.PAID):
            raise InvoiceNotCreditable(
                f"invoice {invoice.number_text or invoice.public_id} is {invoice.state}",
                details={"state": invoice.state},
            )
        unit = document_unit(code=invoice.currency.code, scale=invoice.currency.scale)
        amounts = invoice_amounts_get(invoice)
        creditable = invoice.total - amounts.credited
        tax_left = invoice.tax - amounts.credited_tax
        note_lines = []
        if lines:
            for line, line_amount in lines:
                if line.invoice_id != invoice.pk:
                    raise InvalidInvoicingInput(f"line {line.pk} is not on this invoice")
                _positive_units(line_amount, unit, "line amount")
                if line_amount > line.amount:
                    raise CreditNoteExceedsInvoice(
                        f"line {line.description}: {line_amount} is more than its {line.amount}"
                    )
                note_lines.append(
                    CreditNoteLine(
                        invoice_line=line, description=line.description, amount=line_amount
                    )
                )
            net_lines = sum(line_amount for _line, line_amount in lines)
            if invoice.tax_inclusive or not invoice.tax:
                gross = net_lines
            else:
                gross = net_lines + divide_half_even(net_lines * invoice.tax_rate_bps, 10_000, unit)
        elif amount is not None:
            gross = _positive_units(amount, unit, "amount")
        else:
            gross = creditable
        if gross > creditable or gross <= 0:
            raise CreditNoteExceedsInvoice(
                f"invoice {invoice.number_text}: {gross} is more than the {creditable} still "
                "creditable",
                details={"creditable_minor": creditable, "asked_minor": gross},
            )
        if gross == creditable:
            tax = tax_left
        else:
            tax = min(tax_left, divide_half_even(gross * invoice.tax, invoice.total, unit))
        net = gross - tax
        # The fee revenue's share of the revenue given back, in proportion (all of what
        # is left when the rest is credited), so revenue:fees never keeps credited fees.
        # Under an inclusive tax both revenues are net of their carve-out (fees_tax), so a
        # full credit gives each back exactly what its finalization left on it.
        fee_revenue = fee_revenue_of(invoice)
        fees_left = fee_revenue - amounts.credited_fees
        revenue = invoice.subtotal - (invoice.tax if invoice.tax_inclusive else 0)
        if gross == creditable or not fees_left:
            fees = fees_left
        else:
            fees = min(fees_left, net, divide_half_even(net * fee_revenue, revenue, unit))
        to_receivable = min(gross, amounts.due(invoice))
        to_wallet = gross - to_receivable
        if not note_lines:
            note_lines = [
                CreditNoteLine(description=f"credit on invoice {invoice.number_text}", amount=gross)
            ]
        buyer = _buyer_of(invoice)
        profile = _profile(buyer.seller_book)
        number = locks.document_number_take(
            seller_book_id=buyer.seller_book.id, series=Series.CREDIT_NOTE
        )
        number_text = f"{profile.credit_note_prefix}{number:06d}"
        entry = postings.credit_note_entry(
            _accounts(buyer),
            wallet_account=_account_id(buyer, postings.wallet(buyer.key)),
            net=net,
            tax=tax,
            to_receivable=to_receivable,
            to_wallet=to_wallet,
            memo=f"credit note {number_text} on invoice {invoice.number_text}",
            fees=fees,
        )
        appended = event_record(
            event_type=postings.CREDIT_NOTE_ISSUED_EVENT,
            payload={
                "entries": [entry_payload(entry)],
                "invoice": str(invoice.public_id),
                "number": number_text,
            },
            idempotency_key=f"invoicing:credit_note:{buyer.seller_book.id}:{number}",
            actor=actor,
        )
        note = CreditNote.objects.create(
            invoice=invoice,
            seller_book=buyer.seller_book,
            number=number,
            number_text=number_text,
            reason=reason,
            memo=memo,
            issued_at=now,
            net=net,
            fees=fees,
            tax=tax,
            total=gross,
            to_receivable=to_receivable,
            to_wallet=to_wallet,
            ledger_event_sequence=appended.sequence,
            created_by=actor,
        )
        for line in note_lines:
            line.credit_note = note
        CreditNoteLine.objects.bulk_create(note_lines)
        _settled_check(invoice, actor, f"nothing due after credit note {number_text}")
    return note


def invoice_payment_record(
    *,
    invoice: Invoice,
    method: str,
    amount: int,
    actor: str,
    reference: str = "",
    now: datetime | None = None,
) -> InvoicePayment:
    """Apply a payment received by Stripe or bank transfer (finance records it), or taken
    from the buyer's wallet. What exceeds the amount due becomes wallet credit (not for
    a wallet payment, which is at most what is due); nothing due any more: paid."""
    _actor_check(actor)
    now = now or timezone.now()
    if method not in InvoicePayment.Method.values:
        raise InvalidInvoicingInput(f"method is one of {InvoicePayment.Method.values}")
    with ledger_errors(), transaction.atomic():
        invoice = locks.invoice_lock(invoice_id=invoice.pk)
        if invoice.state != Invoice.State.FINALIZED:
            raise InvoiceNotPayable(
                f"invoice {invoice.number_text or invoice.public_id} is {invoice.state}",
                details={"state": invoice.state},
            )
        unit = document_unit(code=invoice.currency.code, scale=invoice.currency.scale)
        _positive_units(amount, unit, "amount")
        if (
            reference
            and InvoicePayment.objects.filter(
                invoice=invoice, method=method, reference=reference
            ).exists()
        ):
            raise PaymentDuplicate(f"a {method} payment {reference!r} is already recorded")
        due = invoice_amounts_get(invoice).due(invoice)
        applied = min(amount, due)
        to_wallet = amount - applied
        buyer = _buyer_of(invoice)
        wallet_account = _account_id(buyer, postings.wallet(buyer.key))
        if method == InvoicePayment.Method.WALLET:
            if to_wallet:
                raise InvalidInvoicingInput(
                    f"a wallet payment is at most what is due ({due})", details={"due_minor": due}
                )
            available = balances_lock([wallet_account])[wallet_account].available
            if available < amount:
                raise PaymentExceedsWallet(
                    f"wallet:{buyer.key} holds {available}, less than {amount}",
                    details={"available_minor": available},
                )
            paid_from = wallet_account
        else:
            paid_from = _account_id(buyer, postings.CASH[method])
        entry = postings.payment_entry(
            book_id=buyer.seller_book.id,
            asset_id=buyer.currency.id,
            paid_from=paid_from,
            receivable_account=_account_id(buyer, postings.receivable(buyer.key)),
            wallet_account=wallet_account,
            applied=applied,
            to_wallet=to_wallet,
            memo=f"{method} payment on invoice {invoice.number_text}",
        )
        count = InvoicePayment.objects.filter(invoice=invoice).count()
        appended = event_record(
            event_type=postings.PAYMENT_RECORDED_EVENT,
            payload={
                "entries": [entry_payload(entry)],
                "invoice": str(invoice.public_id),
                "method": method,
                "reference": reference,
            },
            idempotency_key=f"invoicing:invoice:{invoice.public_id}:payment:{count + 1}",
            actor=actor,
        )
        payment = InvoicePayment.objects.create(
            invoice=invoice,
            method=method,
            amount=amount,
            applied=applied,
            to_wallet=to_wallet,
            reference=reference,
            recorded_by=actor,
            recorded_at=now,
            ledger_event_sequence=appended.sequence,
        )
        _settled_check(invoice, actor, f"paid ({method})")
    return payment


# --- receipts -------------------------------------------------------------------------


def receipt_issue(*, topup: TopUp, actor: str, now: datetime | None = None) -> Receipt:
    """The receipt of a paid top-up, once (a second call returns the first receipt)."""
    _actor_check(actor)
    now = now or timezone.now()
    with transaction.atomic():
        topup = payments_locks.topup_lock(topup_id=topup.pk)
        existing = Receipt.objects.filter(topup=topup).first()
        if existing is not None:
            return existing
        if topup.state != TopUp.State.PAID:
            raise TopUpNotPaid(f"top-up {topup.public_id} is {topup.state}, not paid")
        seller = topup.customer.book
        profile = _profile(seller)
        number = locks.document_number_take(seller_book_id=seller.id, series=Series.RECEIPT)
        return Receipt.objects.create(
            topup=topup,
            seller_book=seller,
            customer=topup.customer,
            number=number,
            number_text=f"{profile.receipt_prefix}{number:06d}",
            currency=topup.currency,
            amount=topup.amount_minor,
            fee=topup.fee_minor,
            total=topup.amount_minor + topup.fee_minor,
            issued_at=topup.paid_at or now,
        )


def receipt_issue_on_payment(*, topup: TopUp, actor: str) -> None:
    """The receipt, in the transaction that books the payment (payments'
    topup_paid_hooks): the customer's result page finds it as soon as the top-up is
    paid, and reading that page writes nothing. A seller without a billing profile yet
    must not make the payment fail: receipt_issue's savepoint rolls back, and the
    scheduled receipts_issue_pending issues it once the profile exists."""
    try:
        receipt_issue(topup=topup, actor=actor)
    except DomainError as exc:
        logger.info("receipt of top-up %s left to the scheduled run: %s", topup.public_id, exc.code)


@dataclass
class RunReport:
    """What a batch service did: counts, and each buyer or document that failed with its
    error code (the others went on)."""

    done: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    invoices: list[Invoice] = field(default_factory=list)


def receipts_issue_pending(*, actor: str, limit: int = 1000) -> RunReport:
    """A receipt for every paid top-up without one (its own transaction each)."""
    report = RunReport()
    pending = TopUp.objects.filter(state=TopUp.State.PAID, receipt__isnull=True).order_by("pk")
    for topup in pending[:limit]:
        try:
            receipt_issue(topup=topup, actor=actor)
            report.done += 1
        except DomainError as exc:
            report.failed[str(topup.public_id)] = exc.code
    return report


# --- periods --------------------------------------------------------------------------


def month_bounds(period: str) -> tuple[datetime, datetime]:
    """ "2026-06" -> [2026-06-01, 2026-07-01) in UTC."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", period or "")
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise InvalidInvoicingInput(f"a period is YYYY-MM, not {period!r}")
    year, month = int(match.group(1)), int(match.group(2))
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


# Buyers drafted or finalized together in one transaction by the period services: one
# aggregation, one ledger append and a few bulk statements per chunk instead of ~15
# statements per invoice. A chunk that fails is redone one invoice at a time.
BATCH_SIZE = 200


def _chunks(items: list, size: int = BATCH_SIZE):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _latest_invoices(seller_book: Book, keys: Sequence[str]) -> dict[str, Invoice]:
    """Each buyer's last finalized invoice (as _previous_invoice), in one query."""
    found = (
        Invoice.objects.filter(
            seller_book=seller_book,
            buyer_key__in=list(keys),
            state__in=(Invoice.State.FINALIZED, Invoice.State.PAID),
        )
        .order_by("buyer_key", "-period_end", "-usage_watermark", "-pk")
        .distinct("buyer_key")
    )
    return {invoice.buyer_key: invoice for invoice in found}


@dataclass
class _SellerTerms:
    """What every invoice of one seller needs, read once for a batch."""

    profile: BillingProfile
    rates: dict[str, TaxRate]
    unit: int

    @classmethod
    def load(cls, seller_book: Book, now: datetime) -> "_SellerTerms":
        profile = _profile(seller_book)
        unit = document_unit(code=profile.currency.code, scale=profile.currency.scale)
        return cls(profile, _tax_rates(profile, now), unit)


_LINE_FIELDS = [field for field in InvoiceLine._meta.concrete_fields if not field.primary_key]


def _lines_insert(lines: list[InvoiceLine]) -> None:
    """Many invoices' lines with one COPY (a VALUES list of thousands of rows cost the
    server more to plan than to insert)."""
    for line in lines:
        line.invoice_id = line.invoice.pk
    insert_rows(
        InvoiceLine._meta.db_table,
        [field.column for field in _LINE_FIELDS],
        [tuple(getattr(line, field.attname) for field in _LINE_FIELDS) for line in lines],
    )


def _customers_draft_batch(
    *,
    seller_book: Book,
    customers: list[Customer],
    period_start: datetime,
    period_end: datetime,
    actor: str,
    now: datetime,
    report: "RunReport",
) -> list[Customer]:
    """Draft the invoices of customers that have no draft for the period yet, a chunk per
    transaction; returns those left to the one-by-one path (a draft to regenerate, or a
    check that fails: invoice_draft gives their error)."""
    terms = _SellerTerms.load(seller_book, now)
    keys = [customer.external_id for customer in customers]
    details = {
        found.customer_id: found
        for found in BuyerDetails.objects.filter(customer__in=[c.pk for c in customers])
    }
    drafted = set(
        Invoice.objects.filter(
            seller_book=seller_book,
            buyer_key__in=keys,
            state=Invoice.State.DRAFT,
            period_start=period_start,
            period_end=period_end,
        ).values_list("buyer_key", flat=True)
    )
    latest = _latest_invoices(seller_book, keys)
    ready, single = [], []
    for customer in customers:
        previous = latest.get(customer.external_id)
        found = details.get(customer.pk)
        try:
            if customer.external_id in drafted or found is None:
                raise InvoiceNotDraft("regenerated, or refused, one at a time")
            if customer.currency_id != terms.profile.currency_id:
                raise CurrencyMismatch("refused one at a time")
            if previous is not None and period_end < previous.period_end:
                raise PeriodBeforeLastInvoice("refused one at a time")
            rate = _tax_rate_pick(terms.rates, terms.profile, found.region, now)
        except DomainError:
            single.append(customer)
            continue
        ready.append((customer, previous, rate))
    for chunk in _chunks(ready):
        with transaction.atomic():
            head = ledger_selectors.head_sequence_get()
            rows = usage_invoice_lines_by_customer(
                seller_book_id=seller_book.id,
                until=period_end,
                through_sequence=head,
                after={
                    customer.external_id: (previous.period_end, previous.usage_watermark)
                    if previous
                    else None
                    for customer, previous, _rate in chunk
                },
            )
            prices = _unit_prices([row for found in rows.values() for row in found], False)
            invoices, lines = [], []
            for customer, previous, rate in chunk:
                invoice = Invoice(
                    seller_book=seller_book,
                    buyer_customer=customer,
                    buyer_key=customer.external_id,
                    currency_id=customer.currency_id,
                    period_start=period_start,
                    period_end=period_end,
                    usage_watermark=head,
                    after_invoice=previous,
                    after_period_end=previous.period_end if previous else None,
                    after_watermark=previous.usage_watermark if previous else None,
                    created_at=now,
                    updated_at=now,
                    created_by=actor,
                )
                own = _lines_from_rows(
                    invoice, rows[customer.external_id], prices, False, terms.unit
                )
                own += _fee_lines(invoice, terms.profile, own, terms.unit)
                try:
                    _totals_apply(
                        invoice,
                        rate,
                        terms.unit,
                        [line.exact_amount for line in own],
                        [line.amount for line in own],
                        _fees_of(own),
                    )
                except InvoiceEmpty:
                    report.skipped += 1
                    continue
                invoices.append(invoice)
                lines += own
            bulk_insert(invoices)
            _lines_insert(lines)
            bulk_insert(
                [
                    InvoiceStateChange(
                        invoice=invoice, from_state="", to_state=invoice.state, at=now, actor=actor
                    )
                    for invoice in invoices
                ]
            )
        report.done += len(invoices)
        report.invoices += invoices
    return single


def invoices_draft_period(
    *,
    seller_book: Book,
    period_start: datetime,
    period_end: datetime,
    actor: str,
    now: datetime | None = None,
    progress=None,
) -> RunReport:
    """Draft (or regenerate) the invoice of every credit customer and every reseller of
    the seller book for the period: new drafts of customers in chunks (one transaction
    each), the rest one by one. Buyers with nothing to bill are skipped; others that fail
    are reported by code and the rest go on."""
    _actor_check(actor)
    now = now or timezone.now()
    _period_check(period_start, period_end, now)
    report = RunReport()
    customers = list(
        Customer.objects.filter(book=seller_book, billing=Customer.Billing.CREDIT)
        .select_related("currency")
        .order_by("pk")
    )
    resellers = Book.objects.filter(wholesale_from=seller_book, kind=Book.Kind.RESELLER)
    total = len(customers) + resellers.count()
    try:
        customers = _customers_draft_batch(
            seller_book=seller_book,
            customers=customers,
            period_start=period_start,
            period_end=period_end,
            actor=actor,
            now=now,
            report=report,
        )
    except DomainError:
        pass  # no profile or currency trouble: each buyer says so below
    if progress is not None:
        progress(report, total)
    buyers = [{"customer": customer} for customer in customers]
    buyers += [{"reseller_book": book} for book in resellers.order_by("pk")]
    for buyer in buyers:
        name = buyer.get("customer") or buyer.get("reseller_book")
        try:
            invoice = invoice_draft(
                seller_book=seller_book,
                period_start=period_start,
                period_end=period_end,
                actor=actor,
                now=now,
                **buyer,
            )
            report.done += 1
            report.invoices.append(invoice)
        except InvoiceEmpty:
            report.skipped += 1
        except DomainError as exc:
            report.failed[str(name)] = exc.code
        if progress is not None:
            progress(report, total)
    return report


def _finalize_batch(invoices: list[Invoice], actor: str, now: datetime, report: "RunReport"):
    """Finalize drafts of customers of one seller in one transaction: their rows and
    buyers locked in pk order, the numbers taken together, one ledger append of one
    event per invoice. Returns the invoices left to the one-by-one path (stale drafts,
    failed checks: invoice_finalize gives their error)."""
    seller_book = invoices[0].seller_book
    terms = _SellerTerms.load(seller_book, now)
    with ledger_errors(), transaction.atomic():
        locked = locks.invoices_lock(invoice_ids=[invoice.pk for invoice in invoices])
        candidates = [
            invoice
            for invoice in locked
            if invoice.state == Invoice.State.DRAFT and invoice.buyer_customer_id is not None
        ]
        locks.customers_lock(customer_ids=[invoice.buyer_customer_id for invoice in candidates])
        latest = _latest_invoices(seller_book, [invoice.buyer_key for invoice in candidates])
        details = {
            found.customer_id: found
            for found in BuyerDetails.objects.filter(
                customer__in=[invoice.buyer_customer_id for invoice in candidates]
            )
        }
        amounts: dict[int, list[tuple[int, int, str]]] = {invoice.pk: [] for invoice in candidates}
        for invoice_id, exact, rounded, kind in InvoiceLine.objects.filter(
            invoice__in=candidates
        ).values_list("invoice_id", "exact_amount", "amount", "kind"):
            amounts[invoice_id].append((exact, rounded, kind))
        ready, single = [], [invoice for invoice in locked if invoice not in candidates]
        for invoice in candidates:
            previous = latest.get(invoice.buyer_key)
            found = details.get(invoice.buyer_customer_id)
            try:
                if (previous.pk if previous else None) != invoice.after_invoice_id:
                    raise InvoiceNotDraft("stale: regenerated one at a time")
                if found is None or invoice.currency_id != terms.profile.currency_id:
                    raise BuyerDetailsMissing("refused one at a time")
                rate = _tax_rate_pick(terms.rates, terms.profile, found.region, now)
                own = amounts[invoice.pk]
                fees = sum(a for _, a, kind in own if kind == InvoiceLine.Kind.FEE)
                _totals_apply(
                    invoice, rate, terms.unit, [e for e, _, _ in own], [a for _, a, _ in own], fees
                )
            except DomainError:
                single.append(invoice)
                continue
            ready.append(invoice)
        if not ready:
            return single
        first = locks.document_number_take(
            seller_book_id=seller_book.id, series=Series.INVOICE, count=len(ready)
        )
        refs = {
            invoice.pk: _account_refs(seller_book.id, invoice.currency_id, invoice.buyer_key)
            for invoice in ready
        }
        ids = accounts_ensure(refs=[ref for own in refs.values() for ref in own.values()])
        events = []
        for offset, invoice in enumerate(ready):
            invoice.number = first + offset
            invoice.number_text = f"{terms.profile.invoice_prefix}{invoice.number:06d}"
            invoice.issued_at = now
            invoice.due_at = now + timedelta(days=terms.profile.payment_terms_days)
            invoice.updated_at = now
            accounts = _invoice_accounts(seller_book.id, invoice.currency_id, refs[invoice.pk], ids)
            events.append(
                NewEvent(
                    postings.INVOICE_FINALIZED_EVENT,
                    _finalized_payload(invoice, _finalize_entry(invoice, accounts)),
                    f"invoicing:invoice:{invoice.public_id}:finalized",
                )
            )
        appended = events_record_batch(events=events, actor=actor)
        for invoice, result in zip(ready, appended, strict=True):
            invoice.ledger_event_sequence = result.sequence
            invoice.state = Invoice.State.FINALIZED
        _invoices_store_finalized(ready)
        for invoice in ready:
            _invoice_webhook(invoice, INVOICE_FINALIZED_WEBHOOK)
        bulk_insert(
            [
                InvoiceStateChange(
                    invoice=invoice,
                    from_state=Invoice.State.DRAFT,
                    to_state=invoice.state,
                    at=now,
                    actor=actor,
                )
                for invoice in ready
            ]
        )
    report.done += len(ready)
    report.invoices += ready
    return single


def _invoices_store_finalized(invoices: list[Invoice]) -> None:
    """Write what finalization set on each invoice: one UPDATE per row, pipelined in one
    round trip (the ORM's bulk_update spent most of a batch building CASE expressions)."""
    columns = [Invoice._meta.get_field(name).column for name in _FINALIZED_FIELDS]
    sql = (
        f"UPDATE {Invoice._meta.db_table} SET "
        + ", ".join(f"{column} = %s" for column in columns)
        + " WHERE id = %s"
    )
    rows = [[getattr(i, name) for name in _FINALIZED_FIELDS] + [i.pk] for i in invoices]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


_FINALIZED_FIELDS = [
    "state",
    "number",
    "number_text",
    "issued_at",
    "due_at",
    "updated_at",
    "ledger_event_sequence",
    "exact_subtotal",
    "subtotal",
    "tax",
    "total",
    "fees",
    "fees_tax",
    "tax_region",
    "tax_rate_bps",
    "tax_inclusive",
    "tax_kind",
    "legal_note",
]


def invoices_finalize(
    *, invoices: Sequence[Invoice], actor: str, now: datetime | None = None, progress=None
) -> RunReport:
    """Finalize many drafts: customers' drafts of one seller a chunk per transaction, the
    rest (and a chunk that fails) one by one, each failure reported by its code."""
    _actor_check(actor)
    now = now or timezone.now()
    report = RunReport()
    by_seller: dict[int, list[Invoice]] = {}
    for invoice in sorted(invoices, key=lambda invoice: invoice.pk):
        by_seller.setdefault(invoice.seller_book_id, []).append(invoice)
    single: list[Invoice] = []
    for group in by_seller.values():
        for chunk in _chunks(group):
            try:
                single += _finalize_batch(chunk, actor, now, report)
            except DomainError:
                single += chunk
            if progress is not None:
                progress(report, len(invoices))
    for invoice in single:
        try:
            report.invoices.append(invoice_finalize(invoice=invoice, actor=actor, now=now))
            report.done += 1
        except DomainError as exc:
            report.failed[str(invoice.public_id)] = exc.code
        if progress is not None:
            progress(report, len(invoices))
    return report


def invoices_finalize_due(*, actor: str, now: datetime | None = None, progress=None) -> RunReport:
    """Finalize every draft older than INVOICE_GRACE_DAYS (finance had that long to look
    at it)."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.INVOICE_GRACE_DAYS)
    drafts = Invoice.objects.filter(state=Invoice.State.DRAFT, created_at__lte=cutoff)
    return invoices_finalize(
        invoices=list(drafts.select_related("seller_book").order_by("pk")),
        actor=actor,
        now=now,
        progress=progress,
    )


# --- overdue --------------------------------------------------------------------------

OVERDUE_BATCH_MAX = 500


def invoices_overdue_mark(
    *, actor: str, now: datetime | None = None, limit: int = OVERDUE_BATCH_MAX
) -> RunReport:
    """Mark finalized invoices past their due date as overdue, once each, and tell the
    seller (invoice.overdue) in the same transaction as the mark. Rows another run holds
    are skipped (SKIP LOCKED) and picked up by the next run; a paid, credited-away or
    voided invoice is no longer `finalized`, so it is never marked."""
    _actor_check(actor)
    now = now or timezone.now()
    report = RunReport()
    with transaction.atomic():
        due = locks.overdue_invoices_lock(now=now, limit=limit)
        for invoice in due:
            invoice.overdue_at = now
            invoice.save(update_fields=["overdue_at"])
            InvoiceStateChange.objects.create(
                invoice=invoice,
                from_state=invoice.state,
                to_state=invoice.state,
                at=now,
                actor=actor,
                note="overdue",
            )
            _invoice_webhook(invoice, INVOICE_OVERDUE_WEBHOOK)
        report.done = len(due)
        report.invoices = due
    return report
