"""Reads of invoicing: invoices by seller, buyer, state and period; what is paid,
credited and due; and what a document (PDF) of an invoice says."""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db.models import OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import translation
from django.utils.translation import gettext

from config.public_ids import public_id_parse
from invoicing.currencies import document_exponent
from invoicing.documents.model import TOKEN_KINDS, Document, DocumentLine, Party
from invoicing.models import (
    BillingProfile,
    BuyerDetails,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoicePayment,
    Receipt,
    TaxRate,
)
from ledger.amounts import from_minor_units
from pricing.rating import ATTO_SCALE

TOKENS_PER_PRICE_UNIT = 1_000_000  # documents show prices per million tokens


def _tenancy(
    customers: QuerySet | None, books: QuerySet | None, *, customer: str, sellers: str, buyers=""
) -> Q | None:
    """What a tenant may read, or None (finance: everything): the documents of its
    customers (`customer` names the field) and, for a member of a seller book (a
    reseller's staff), those that book issued (`sellers`) and those billed to it
    (`buyers`, an invoice's `buyer_book`). Never another book's, nor the seller's other
    customers'."""
    if customers is None and books is None:
        return None
    scope = Q(pk__in=[])
    if customers is not None:
        scope |= Q(**{f"{customer}__in": customers})
    if books is not None:
        scope |= Q(**{f"{sellers}__in": books})
        if buyers:
            scope |= Q(**{f"{buyers}__in": books})
    return scope


def _issued_invoices(found, customers, books):
    scope = _tenancy(
        customers, books, customer="buyer_customer", sellers="seller_book", buyers="buyer_book"
    )
    if scope is None:
        return found
    # A draft is finance's until it is finalized.
    return found.filter(scope).exclude(state=Invoice.State.DRAFT)


def invoices_list(
    *,
    seller_book_id: int | None = None,
    buyer_key: str | None = None,
    state: str | None = None,
    period_start: datetime | None = None,
    period_end: datetime | None = None,
    buyer_customers: QuerySet | None = None,
    member_books: QuerySet | None = None,
) -> QuerySet[Invoice]:
    """Invoices newest first; `period_*` keep those whose period lies within.
    `buyer_customers` (a tenant's customers) and `member_books` (a reseller member's
    books: what they sold, and what they were billed) keep those issued invoices only."""
    found = Invoice.objects.select_related("seller_book", "currency", "buyer_customer")
    found = _issued_invoices(found, buyer_customers, member_books)
    if seller_book_id is not None:
        found = found.filter(seller_book_id=seller_book_id)
    if buyer_key is not None:
        found = found.filter(buyer_key=buyer_key)
    if state is not None:
        found = found.filter(state=state)
    if period_start is not None:
        found = found.filter(period_start__gte=period_start)
    if period_end is not None:
        found = found.filter(period_end__lte=period_end)
    return found.order_by("-period_end", "-pk")


def invoice_get(
    *, public_id, buyer_customers: QuerySet | None = None, member_books: QuerySet | None = None
) -> Invoice | None:
    """An invoice with its lines (in order) and its parties; with `buyer_customers` or
    `member_books`, only an issued invoice the tenant may read (else None, as if it did
    not exist)."""
    found = Invoice.objects.select_related(
        "seller_book", "buyer_customer", "buyer_book", "currency"
    ).prefetch_related("lines")
    found = _issued_invoices(found, buyer_customers, member_books)
    wanted = _uuid(public_id)
    return None if wanted is None else found.filter(public_id=wanted).first()


def _uuid(value) -> uuid.UUID | None:
    """A public id from a URL; anything else names nothing (a 404, like a stranger's)."""
    return public_id_parse(value)


def invoices_with_amounts(invoices: QuerySet[Invoice]) -> QuerySet[Invoice]:
    """Each invoice with `paid_minor`, `credited_minor` and `credited_to_receivable_minor`
    (one query for a page or an export, not three per invoice)."""
    paid = (
        InvoicePayment.objects.filter(invoice=OuterRef("pk"))
        .values("invoice")
        .annotate(sum=Sum("applied"))
        .values("sum")
    )
    credited = CreditNote.objects.filter(invoice=OuterRef("pk")).values("invoice")
    return invoices.annotate(
        paid_minor=Coalesce(Subquery(paid), 0),
        credited_minor=Coalesce(Subquery(credited.annotate(sum=Sum("total")).values("sum")), 0),
        credited_to_receivable_minor=Coalesce(
            Subquery(credited.annotate(sum=Sum("to_receivable")).values("sum")), 0
        ),
    )


def credit_notes_list(
    *,
    seller_book_id: int | None = None,
    invoice_public_id=None,
    buyer_customers: QuerySet | None = None,
    member_books: QuerySet | None = None,
) -> QuerySet[CreditNote]:
    """Credit notes newest first; with `buyer_customers` or `member_books`, those of the
    invoices the tenant may read only."""
    found = CreditNote.objects.select_related("invoice", "invoice__currency", "seller_book")
    scope = _tenancy(
        buyer_customers,
        member_books,
        customer="invoice__buyer_customer",
        sellers="seller_book",
        buyers="invoice__buyer_book",
    )
    if scope is not None:
        found = found.filter(scope)
    if seller_book_id is not None:
        found = found.filter(seller_book_id=seller_book_id)
    if invoice_public_id is not None:
        found = found.filter(invoice__public_id=invoice_public_id)
    return found.order_by("-issued_at", "-pk")


def credit_note_get(
    *, public_id, buyer_customers: QuerySet | None = None, member_books: QuerySet | None = None
) -> CreditNote | None:
    wanted = _uuid(public_id)
    if wanted is None:
        return None
    found = credit_notes_list(buyer_customers=buyer_customers, member_books=member_books)
    return found.filter(public_id=wanted).first()


def receipts_list(
    *,
    seller_book_id: int | None = None,
    customer_external_id: str | None = None,
    customers: QuerySet | None = None,
    member_books: QuerySet | None = None,
) -> QuerySet[Receipt]:
    """Receipts newest first; with `customers`, theirs only, with `member_books`, those
    the books issued (to their own customers)."""
    found = Receipt.objects.select_related("seller_book", "customer", "currency", "topup")
    scope = _tenancy(customers, member_books, customer="customer", sellers="seller_book")
    if scope is not None:
        found = found.filter(scope)
    if seller_book_id is not None:
        found = found.filter(seller_book_id=seller_book_id)
    if customer_external_id is not None:
        found = found.filter(customer__external_id=customer_external_id)
    return found.order_by("-issued_at", "-pk")


def receipt_get(
    *, public_id, customers: QuerySet | None = None, member_books: QuerySet | None = None
) -> Receipt | None:
    wanted = _uuid(public_id)
    if wanted is None:
        return None
    found = receipts_list(customers=customers, member_books=member_books)
    return found.filter(public_id=wanted).first()


def topup_receipt_get(*, topup_id: int) -> Receipt | None:
    """A top-up's receipt, if issued (with the payment, or by the scheduled run)."""
    return receipts_list().filter(topup_id=topup_id).first()


@dataclass(frozen=True)
class InvoiceAmounts:
    paid: int  # payments applied to the receivable
    credited: int  # credit notes' totals
    credited_to_receivable: int
    credited_tax: int
    credited_fees: int = 0  # what credit notes gave back from revenue:fees

    def due(self, invoice: Invoice) -> int:
        if invoice.state in (Invoice.State.DRAFT, Invoice.State.VOID):
            return 0
        return invoice.total - self.paid - self.credited_to_receivable


def invoice_amounts_get(invoice: Invoice) -> InvoiceAmounts:
    paid = InvoicePayment.objects.filter(invoice=invoice).aggregate(applied=Sum("applied"))
    credited = CreditNote.objects.filter(invoice=invoice).aggregate(
        total=Sum("total"), receivable=Sum("to_receivable"), tax=Sum("tax"), fees=Sum("fees")
    )
    return InvoiceAmounts(
        paid=paid["applied"] or 0,
        credited=credited["total"] or 0,
        credited_to_receivable=credited["receivable"] or 0,
        credited_tax=credited["tax"] or 0,
        credited_fees=credited["fees"] or 0,
    )


def _money(amount: int, *, scale: int, exponent: int) -> Decimal:
    """Ledger units as a Decimal of the document's minor unit (exact: documents hold
    whole minor units)."""
    return Decimal(from_minor_units(amount, scale)).quantize(Decimal(1).scaleb(-exponent))


def price_per_million(price_atto: int | None) -> Decimal | None:
    """A per-token price in atto-units as documents show it: per million tokens."""
    if price_atto is None:
        return None
    return (Decimal(price_atto) * TOKENS_PER_PRICE_UNIT).scaleb(-ATTO_SCALE).normalize()


def _seller(profile: BillingProfile) -> Party:
    """The seller as its own billing profile names it, and nobody else: a reseller's
    documents carry no trace of the distributor (white label)."""
    logo = str(Path(settings.MEDIA_ROOT) / profile.logo.name) if profile.logo.name else None
    return Party(
        name=profile.legal_name,
        address=profile.address,
        tax_id=profile.tax_id or None,
        logo_path=logo,
    )


def _buyer(*, customer_id: int | None, book_id: int | None, fallback: str) -> Party:
    details = BuyerDetails.objects.filter(customer_id=customer_id, book_id=book_id).first()
    if details is None:
        return Party(name=fallback, address="")
    return Party(
        name=details.legal_name,
        address=details.address,
        tax_id=details.tax_id or None,
        region=details.region,
    )


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _period(invoice: Invoice) -> dict:
    """The period as printed: its first and last day (period_end is exclusive)."""
    last = invoice.period_end - timedelta(microseconds=1)
    return {"period_start": _day(invoice.period_start), "period_end": _day(last)}


def _tax_terms(invoice: Invoice) -> dict:
    standard = invoice.tax_kind == TaxRate.Kind.STANDARD
    return {
        "tax_label": gettext("Tax"),
        "tax_rate_bp": invoice.tax_rate_bps if standard else None,
        "tax_inclusive": invoice.tax_inclusive,
    }


def _tax_notes(invoice: Invoice) -> list[str]:
    # legal_note holds the English text of services.LEGAL_NOTES, which is its msgid.
    notes = [gettext(invoice.legal_note)] if invoice.legal_note else []
    if invoice.tax_inclusive and invoice.tax:
        notes.append(gettext("Prices include tax."))
    return notes


def _document_line(line: InvoiceLine, money) -> DocumentLine:
    if line.kind != InvoiceLine.Kind.USAGE:
        return DocumentLine(description=line.description, amount=money(line.amount))
    tokens = {kind: getattr(line, f"{kind}_tokens") for kind in TOKEN_KINDS}
    prices = {kind: price_per_million(getattr(line, f"{kind}_price_atto")) for kind in TOKEN_KINDS}
    return DocumentLine(
        description=line.description,
        amount=money(line.amount),
        model=line.model or None,
        provider=line.provider or None,
        requests=line.requests,
        tokens={kind: count for kind, count in tokens.items() if count},
        unit_prices_per_million={
            kind: price for kind, price in prices.items() if price is not None and tokens[kind]
        },
    )


def _money_of(currency):
    exponent = document_exponent(currency.code)

    def money(amount: int) -> Decimal:
        return _money(amount, scale=currency.scale, exponent=exponent)

    return money


def invoice_document_get(invoice: Invoice) -> Document:
    """What the PDF of a finalized (paid, void) invoice shows, from its stored rows, in
    the seller's language. Amounts are Decimals of the currency's minor unit; the
    Document checks that they add up. A draft has no number yet: no document."""
    assert invoice.state != Invoice.State.DRAFT, "a draft has no document"
    profile = BillingProfile.objects.get(book_id=invoice.seller_book_id)
    money = _money_of(invoice.currency)
    amounts = invoice_amounts_get(invoice)
    voided = invoice.state == Invoice.State.VOID
    with translation.override(profile.language):
        notes = _tax_notes(invoice)
        for note in invoice.credit_notes.order_by("number"):
            notes.append(
                gettext("Credit note %(number)s: %(amount)s")
                % {"number": note.number_text, "amount": money(note.total)}
            )
        if voided:
            notes.append(gettext("This invoice is void: nothing is due."))
        return Document(
            kind="invoice",
            number=invoice.number_text,
            language=profile.language,
            seller=_seller(profile),
            buyer=_buyer(
                customer_id=invoice.buyer_customer_id,
                book_id=invoice.buyer_book_id,
                fallback=invoice.buyer_key,
            ),
            issued_at=_day(invoice.issued_at),
            due_at=_day(invoice.due_at),
            **_period(invoice),
            currency=invoice.currency.code,
            lines=tuple(
                _document_line(line, money) for line in invoice.lines.all().order_by("position")
            ),
            subtotal=money(invoice.subtotal),
            tax=money(invoice.tax),
            total=money(invoice.total),
            amount_paid=money(0 if voided else amounts.paid),
            amount_credited=money(0 if voided else amounts.credited_to_receivable),
            amount_due=money(amounts.due(invoice)),
            **_tax_terms(invoice),
            notes=tuple(notes),
            payment_terms_days=profile.payment_terms_days,
            voided=voided,
        )


def credit_note_document_get(note: CreditNote) -> Document:
    """What the PDF of a credit note shows. Lines credited by amount are gross (tax
    included): the document shows them tax-inclusive. Lines credited as the invoice's
    lines show, net of an exclusive tax, add up to the note's net up to the tax's
    rounding, which is printed as its own line so every figure on the page is booked."""
    invoice = note.invoice
    profile = BillingProfile.objects.get(book_id=note.seller_book_id)
    money = _money_of(invoice.currency)
    rows = [(line.description, line.amount) for line in note.lines.all().order_by("pk")]
    line_sum = sum(amount for _, amount in rows)
    with translation.override(profile.language):
        inclusive = invoice.tax_inclusive or line_sum == note.total
        subtotal = note.total if inclusive else note.net
        if line_sum != subtotal:
            rows.append((gettext("Rounding"), subtotal - line_sum))
        notes = [gettext("Reason: %(reason)s") % {"reason": gettext(note.reason)}]
        if note.memo:
            notes.append(note.memo)
        terms = _tax_terms(invoice) | {"tax_inclusive": inclusive}
        return Document(
            kind="credit_note",
            number=note.number_text,
            language=profile.language,
            seller=_seller(profile),
            buyer=_buyer(
                customer_id=invoice.buyer_customer_id,
                book_id=invoice.buyer_book_id,
                fallback=invoice.buyer_key,
            ),
            issued_at=_day(note.issued_at),
            **_period(invoice),
            currency=invoice.currency.code,
            lines=tuple(
                DocumentLine(description=description, amount=money(amount))
                for description, amount in rows
            ),
            subtotal=money(subtotal),
            tax=money(note.tax),
            total=money(note.total),
            amount_paid=money(0),
            amount_due=money(note.total),
            **terms,
            notes=tuple(notes),
            reference_number=invoice.number_text,
        )


def receipt_document_get(receipt: Receipt) -> Document:
    """What the PDF of a top-up's receipt shows: the amount credited to the prepaid
    balance and the platform fee, all paid."""
    profile = BillingProfile.objects.get(book_id=receipt.seller_book_id)
    money = _money_of(receipt.currency)
    customer = receipt.customer
    with translation.override(profile.language):
        rows = [(gettext("Prepaid balance top-up"), receipt.amount)]
        if receipt.fee:
            rows.append((gettext("Platform fee"), receipt.fee))
        return Document(
            kind="receipt",
            number=receipt.number_text,
            language=profile.language,
            seller=_seller(profile),
            buyer=_buyer(
                customer_id=customer.pk,
                book_id=None,
                fallback=customer.name or customer.external_id,
            ),
            issued_at=_day(receipt.issued_at),
            currency=receipt.currency.code,
            lines=tuple(
                DocumentLine(description=description, amount=money(amount))
                for description, amount in rows
            ),
            subtotal=money(receipt.total),
            tax=money(0),
            total=money(receipt.total),
            amount_paid=money(receipt.total),
            amount_due=money(0),
            tax_label=gettext("Tax"),
            notes=(gettext("Paid by card (Stripe)."),),
        )
