"""Reads of invoicing: invoices by seller, buyer, state and period; what is paid,
credited and due; and what a document (PDF) of an invoice says."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet, Sum

from invoicing.currencies import document_exponent
from invoicing.models import BillingProfile, BuyerDetails, CreditNote, Invoice, InvoicePayment
from ledger.amounts import from_minor_units
from pricing.rating import ATTO_SCALE

TOKENS_PER_PRICE_UNIT = 1_000_000  # documents show prices per million tokens


def invoices_list(
    *,
    seller_book_id: int | None = None,
    buyer_key: str | None = None,
    state: str | None = None,
    period_start: datetime | None = None,
    period_end: datetime | None = None,
) -> QuerySet[Invoice]:
    """Invoices newest first; `period_*` keep those whose period lies within."""
    found = Invoice.objects.select_related("seller_book", "currency")
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


def invoice_get(*, public_id) -> Invoice | None:
    """An invoice with its lines (in order) and its parties."""
    return (
        Invoice.objects.select_related("seller_book", "buyer_customer", "buyer_book", "currency")
        .prefetch_related("lines")
        .filter(public_id=public_id)
        .first()
    )


@dataclass(frozen=True)
class InvoiceAmounts:
    paid: int  # payments applied to the receivable
    credited: int  # credit notes' totals
    credited_to_receivable: int
    credited_tax: int

    def due(self, invoice: Invoice) -> int:
        if invoice.state in (Invoice.State.DRAFT, Invoice.State.VOID):
            return 0
        return invoice.total - self.paid - self.credited_to_receivable


def invoice_amounts_get(invoice: Invoice) -> InvoiceAmounts:
    paid = InvoicePayment.objects.filter(invoice=invoice).aggregate(applied=Sum("applied"))
    credited = CreditNote.objects.filter(invoice=invoice).aggregate(
        total=Sum("total"), receivable=Sum("to_receivable"), tax=Sum("tax")
    )
    return InvoiceAmounts(
        paid=paid["applied"] or 0,
        credited=credited["total"] or 0,
        credited_to_receivable=credited["receivable"] or 0,
        credited_tax=credited["tax"] or 0,
    )


def _money(amount: int, *, scale: int, exponent: int) -> Decimal:
    """Ledger units as a Decimal of the document's minor unit (exact: documents hold
    whole minor units)."""
    return Decimal(from_minor_units(amount, scale)).quantize(Decimal(1).scaleb(-exponent))


def _per_million(price_atto: int | None) -> Decimal | None:
    if price_atto is None:
        return None
    return (Decimal(price_atto) * TOKENS_PER_PRICE_UNIT).scaleb(-ATTO_SCALE).normalize()


def _party(profile_or_details) -> dict:
    return {
        "legal_name": profile_or_details.legal_name,
        "address": profile_or_details.address,
        "tax_id": profile_or_details.tax_id,
    }


def invoice_document_get(invoice: Invoice) -> dict:
    """Everything an invoice's document shows, amounts as Decimals of the currency.

    The seller is named by its own billing profile only (white label: a reseller's
    invoice carries no trace of the distributor); the logo is a path under MEDIA_ROOT.
    """
    profile = BillingProfile.objects.get(book_id=invoice.seller_book_id)
    buyer = BuyerDetails.objects.filter(
        customer_id=invoice.buyer_customer_id, book_id=invoice.buyer_book_id
    ).first()
    currency = invoice.currency
    exponent = document_exponent(currency.code)

    def money(amount: int) -> Decimal:
        return _money(amount, scale=currency.scale, exponent=exponent)

    amounts = invoice_amounts_get(invoice)
    lines = []
    for line in invoice.lines.all().order_by("position"):
        lines.append(
            {
                "position": line.position,
                "kind": line.kind,
                "description": line.description,
                "provider": line.provider,
                "model": line.model,
                "requests": line.requests,
                "tokens": {
                    "input": line.input_tokens,
                    "output": line.output_tokens,
                    "cache_read": line.cache_read_tokens,
                    "cache_write": line.cache_write_tokens,
                    "reasoning": line.reasoning_tokens,
                },
                "unit_prices_per_million": {
                    "input": _per_million(line.input_price_atto),
                    "output": _per_million(line.output_price_atto),
                    "cache_read": _per_million(line.cache_read_price_atto),
                    "cache_write": _per_million(line.cache_write_price_atto),
                    "reasoning": _per_million(line.reasoning_price_atto),
                },
                "amount": money(line.amount),
            }
        )
    notes = [invoice.legal_note] if invoice.legal_note else []
    if invoice.tax_inclusive and invoice.tax:
        notes.append("Prices include tax.")
    return {
        "kind": "invoice",
        "public_id": str(invoice.public_id),
        "number": invoice.number_text,
        "state": invoice.state,
        "language": profile.language,
        "currency": currency.code,
        "issued_at": invoice.issued_at,
        "due_at": invoice.due_at,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "seller": _party(profile) | {"logo": profile.logo.name or ""},
        "buyer": (
            _party(buyer) | {"email": buyer.email, "region": buyer.region}
            if buyer is not None
            else {"legal_name": invoice.buyer_key, "address": "", "tax_id": "", "email": ""}
        ),
        "lines": lines,
        "subtotal": money(invoice.subtotal),
        "tax": money(invoice.tax),
        "total": money(invoice.total),
        "tax_rate_percent": (Decimal(invoice.tax_rate_bps) / 100).normalize(),
        "tax_inclusive": invoice.tax_inclusive,
        "tax_kind": invoice.tax_kind,
        "paid": money(amounts.paid),
        "credited": money(amounts.credited),
        "due": money(amounts.due(invoice)),
        "notes": notes,
    }
