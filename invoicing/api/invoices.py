"""Invoices: read by finance, by the buyer's members and by the members of the seller
book or of the buyer reseller's book (common.tenant_books), acted on by finance.

invoices/                        GET list (?book=, ?buyer=, ?state=, ?period=YYYY-MM)
invoices.csv                     GET the same, every row, as CSV
invoices/draft/                  POST draft (or regenerate) a buyer's invoice of a period
invoices/{id}/                   GET one, with its lines, payments and credit notes
invoices/{id}/pdf/               GET its PDF (issued invoices)
invoices/{id}/finalize/          POST number, issue and book it
invoices/{id}/void/              POST reverse it (keeps its number)
invoices/{id}/credit-notes/      POST credit part or all of it
invoices/{id}/payments/          POST record a payment (wallet, Stripe, bank transfer)
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.csv_export import EXPORT_RENDERERS, csv_response, text_cell
from config.fields import DecimalString
from config.pagination import BoundedLimitOffsetPagination
from invoicing import selectors, services
from invoicing.api.common import (
    ADD_CREDIT_NOTES,
    ADD_PAYMENTS,
    CHANGE_INVOICES,
    PDF_RENDERERS,
    VIEW_INVOICES,
    actor,
    amount_in,
    book_by_code,
    exact,
    money,
    needs,
    paginated,
    tenant_books,
    tenant_customers,
    time,
)
from invoicing.api.documents import CreditNoteOutput, credit_note_body, pdf_response
from invoicing.documents.model import TOKEN_KINDS
from invoicing.documents.render import render_pdf
from invoicing.errors import (
    BillingProfileMissing,
    BuyerDetailsMissing,
    CreditNoteExceedsInvoice,
    CurrencyMismatch,
    InvalidInvoicingInput,
    InvoiceEmpty,
    InvoiceNotCreditable,
    InvoiceNotDraft,
    InvoiceNotFound,
    InvoiceNotIssued,
    InvoiceNotPayable,
    InvoiceNotVoidable,
    NotABuyer,
    PaymentDuplicate,
    PaymentExceedsWallet,
    PeriodBeforeLastInvoice,
    PeriodNotClosed,
    TaxRegionUnknown,
)
from invoicing.models import CreditNote, Invoice, InvoiceLine, InvoicePayment
from ledger.amounts import InvalidAmount
from ledger.errors import UnknownBook
from wallets.errors import CustomerNotFound
from wallets.models import Customer

_PDF = {(200, "application/pdf"): OpenApiTypes.BINARY}
_CSV = {(200, "text/csv"): OpenApiTypes.STR}


# --- output --------------------------------------------------------------------------------


class InvoiceOutput(serializers.Serializer):
    id = serializers.UUIDField()
    number = serializers.CharField(help_text="empty for a draft")
    state = serializers.ChoiceField(choices=Invoice.State.choices)
    seller_book = serializers.CharField()
    buyer = serializers.CharField(help_text="customer external id, or reseller:<book>")
    currency = serializers.CharField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField(help_text="exclusive")
    issued_at = serializers.DateTimeField(allow_null=True)
    due_at = serializers.DateTimeField(allow_null=True)
    overdue_at = serializers.DateTimeField(allow_null=True)
    subtotal = serializers.CharField(help_text="decimal string of the currency's minor unit")
    fees = serializers.CharField(help_text="the fee lines' part of the subtotal")
    tax = serializers.CharField()
    total = serializers.CharField()
    total_minor = serializers.IntegerField(help_text="ledger units (the asset's scale)")
    paid = serializers.CharField()
    credited = serializers.CharField()
    due = serializers.CharField()
    pdf_url = serializers.CharField(allow_null=True)


class InvoiceLineOutput(serializers.Serializer):
    position = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=InvoiceLine.Kind.choices)
    description = serializers.CharField()
    provider = serializers.CharField()
    model = serializers.CharField()
    requests = serializers.IntegerField()
    tokens = serializers.DictField(child=serializers.IntegerField())
    unit_prices_per_million = serializers.DictField(
        child=serializers.CharField(allow_null=True), help_text="null: no price for the kind"
    )
    exact_amount = serializers.CharField(help_text="the records' sum, unrounded")
    amount = serializers.CharField(help_text="rounded once, half-even")


class InvoicePaymentOutput(serializers.Serializer):
    method = serializers.ChoiceField(choices=InvoicePayment.Method.choices)
    amount = serializers.CharField()
    applied = serializers.CharField()
    to_wallet = serializers.CharField(help_text="overpayment, credited to the wallet")
    reference = serializers.CharField()
    recorded_at = serializers.DateTimeField()


class InvoiceCreditNoteOutput(serializers.Serializer):
    id = serializers.UUIDField()
    number = serializers.CharField()
    reason = serializers.CharField()
    total = serializers.CharField()
    issued_at = serializers.DateTimeField()


class InvoiceDetailOutput(InvoiceOutput):
    exact_subtotal = serializers.CharField()
    tax_region = serializers.CharField()
    tax_rate_bps = serializers.IntegerField()
    tax_inclusive = serializers.BooleanField()
    tax_kind = serializers.CharField()
    legal_note = serializers.CharField()
    lines = InvoiceLineOutput(many=True)
    payments = InvoicePaymentOutput(many=True)
    credit_notes = InvoiceCreditNoteOutput(many=True)


def _amounts(invoice: Invoice) -> tuple[int, int, int]:
    """(paid, credited, due): from the annotation of a list, else read."""
    if hasattr(invoice, "paid_minor"):
        paid, credited = invoice.paid_minor, invoice.credited_minor
        credited_to_receivable = invoice.credited_to_receivable_minor
    else:
        found = selectors.invoice_amounts_get(invoice)
        paid, credited = found.paid, found.credited
        credited_to_receivable = found.credited_to_receivable
    due = 0
    if invoice.state in (Invoice.State.FINALIZED, Invoice.State.PAID):
        due = invoice.total - paid - credited_to_receivable
    return paid, credited, due


def invoice_body(invoice: Invoice) -> dict:
    currency = invoice.currency
    paid, credited, due = _amounts(invoice)
    issued = invoice.state != Invoice.State.DRAFT
    return {
        "id": str(invoice.public_id),
        "number": invoice.number_text,
        "state": invoice.state,
        "seller_book": invoice.seller_book.code,
        "buyer": invoice.buyer_key,
        "currency": currency.code,
        "period_start": time(invoice.period_start),
        "period_end": time(invoice.period_end),
        "issued_at": time(invoice.issued_at),
        "due_at": time(invoice.due_at),
        "overdue_at": time(invoice.overdue_at),
        "subtotal": money(invoice.subtotal, currency),
        "fees": money(invoice.fees, currency),
        "tax": money(invoice.tax, currency),
        "total": money(invoice.total, currency),
        "total_minor": invoice.total,
        "paid": money(paid, currency),
        "credited": money(credited, currency),
        "due": money(due, currency),
        "pdf_url": f"/api/invoicing/invoices/{invoice.public_id}/pdf/" if issued else None,
    }


def _per_million(price_atto: int | None) -> str | None:
    price = selectors.price_per_million(price_atto)
    return None if price is None else format(price, "f")


def _line_body(line: InvoiceLine, invoice: Invoice) -> dict:
    return {
        "position": line.position,
        "kind": line.kind,
        "description": line.description,
        "provider": line.provider,
        "model": line.model,
        "requests": line.requests,
        "tokens": {kind: getattr(line, f"{kind}_tokens") for kind in TOKEN_KINDS},
        "unit_prices_per_million": {
            kind: _per_million(getattr(line, f"{kind}_price_atto")) for kind in TOKEN_KINDS
        },
        "exact_amount": exact(line.exact_amount, invoice.currency),
        "amount": money(line.amount, invoice.currency),
    }


def invoice_detail_body(invoice: Invoice) -> dict:
    currency = invoice.currency
    return invoice_body(invoice) | {
        "exact_subtotal": exact(invoice.exact_subtotal, currency),
        "tax_region": invoice.tax_region,
        "tax_rate_bps": invoice.tax_rate_bps,
        "tax_inclusive": invoice.tax_inclusive,
        "tax_kind": invoice.tax_kind,
        "legal_note": invoice.legal_note,
        "lines": [_line_body(line, invoice) for line in invoice.lines.order_by("position")],
        "payments": [
            {
                "method": payment.method,
                "amount": money(payment.amount, currency),
                "applied": money(payment.applied, currency),
                "to_wallet": money(payment.to_wallet, currency),
                "reference": payment.reference,
                "recorded_at": time(payment.recorded_at),
            }
            for payment in invoice.payments.order_by("recorded_at", "pk")
        ],
        "credit_notes": [
            {
                "id": str(note.public_id),
                "number": note.number_text,
                "reason": note.reason,
                "total": money(note.total, currency),
                "issued_at": time(note.issued_at),
            }
            for note in CreditNote.objects.filter(invoice=invoice).order_by("number")
        ],
    }


# --- reads ---------------------------------------------------------------------------------


class InvoiceFilters(serializers.Serializer):
    book = serializers.CharField(required=False, max_length=64, help_text="seller book code")
    buyer = serializers.CharField(
        required=False, max_length=200, help_text="customer external id, or reseller:<book>"
    )
    state = serializers.ChoiceField(choices=Invoice.State.choices, required=False)
    period = serializers.RegexField(
        r"^\d{4}-\d{2}$", required=False, help_text="YYYY-MM: invoices whose period lies within"
    )


_FILTER_PARAMETERS = [
    OpenApiParameter("book", str, description="seller book code"),
    OpenApiParameter("buyer", str, description="customer external id, or reseller:<book>"),
    OpenApiParameter("state", str, enum=Invoice.State.values),
    OpenApiParameter("period", str, description="YYYY-MM: invoices whose period lies within"),
]


def _invoices(request):
    filters = InvoiceFilters(data=request.query_params)
    filters.is_valid(raise_exception=True)
    values = filters.validated_data
    book = book_by_code(values["book"]) if "book" in values else None
    start = end = None
    if "period" in values:
        start, end = services.month_bounds(values["period"])
    found = selectors.invoices_list(
        seller_book_id=book.pk if book else None,
        buyer_key=values.get("buyer"),
        state=values.get("state"),
        period_start=start,
        period_end=end,
        buyer_customers=tenant_customers(request, VIEW_INVOICES),
        member_books=tenant_books(request, VIEW_INVOICES),
    )
    return selectors.invoices_with_amounts(found)


class InvoiceListApi(APIView):
    pagination_class = BoundedLimitOffsetPagination  # paginated by hand; the schema says so
    api_errors = (UnknownBook, InvalidInvoicingInput)

    @extend_schema(parameters=_FILTER_PARAMETERS, responses=InvoiceOutput(many=True))
    def get(self, request):
        return paginated(request, self, _invoices(request), invoice_body)


class InvoiceCsvApi(APIView):
    api_errors = (UnknownBook, InvalidInvoicingInput)
    renderer_classes = EXPORT_RENDERERS

    @extend_schema(parameters=_FILTER_PARAMETERS, responses=_CSV)
    def get(self, request):
        invoices = _invoices(request)
        header = [
            "id",
            "number",
            "state",
            "seller_book",
            "buyer",
            "currency",
            "period_start",
            "period_end",
            "issued_at",
            "due_at",
            "subtotal",
            "fees",
            "tax",
            "total",
            "total_minor",
            "paid",
            "credited",
            "due",
        ]

        def row(invoice: Invoice) -> list:
            body = invoice_body(invoice)
            return [
                body["id"],
                text_cell(body["number"]),
                body["state"],
                text_cell(body["seller_book"]),
                text_cell(body["buyer"]),
                text_cell(body["currency"]),
                body["period_start"],
                body["period_end"],
                body["issued_at"] or "",
                body["due_at"] or "",
                *(body[name] for name in ("subtotal", "fees", "tax", "total", "total_minor")),
                *(body[name] for name in ("paid", "credited", "due")),
            ]

        return csv_response(
            "invoices.csv", header, (row(invoice) for invoice in invoices.iterator(2000))
        )


def invoice_visible(request, public_id) -> Invoice:
    found = selectors.invoice_get(
        public_id=public_id,
        buyer_customers=tenant_customers(request, VIEW_INVOICES),
        member_books=tenant_books(request, VIEW_INVOICES),
    )
    if found is None:
        raise InvoiceNotFound(f"invoice {public_id} does not exist")
    return found


class InvoiceDetailApi(APIView):
    api_errors = (InvoiceNotFound,)

    @extend_schema(responses=InvoiceDetailOutput)
    def get(self, request, public_id):
        return Response(invoice_detail_body(invoice_visible(request, public_id)))


class InvoicePdfApi(APIView):
    api_errors = (InvoiceNotFound, InvoiceNotIssued)
    renderer_classes = PDF_RENDERERS

    @extend_schema(
        responses=_PDF,
        description="The invoice as an A4 PDF in the seller's language, under the seller's "
        "name only (white label). A draft has none yet (invoice_not_issued).",
    )
    def get(self, request, public_id):
        invoice = invoice_visible(request, public_id)
        if invoice.state == Invoice.State.DRAFT:
            raise InvoiceNotIssued(f"invoice {public_id} is a draft: finalize it first")
        pdf = render_pdf(selectors.invoice_document_get(invoice))
        return pdf_response(pdf, f"{invoice.number_text}.pdf")


# --- finance's actions ---------------------------------------------------------------------


class InvoiceDraftInput(serializers.Serializer):
    book = serializers.CharField(max_length=64, help_text="the seller's book code")
    customer = serializers.CharField(
        required=False, max_length=200, help_text="a customer on credit of that book"
    )
    reseller = serializers.CharField(
        required=False, max_length=64, help_text="a reseller's book code (the distributor's buyer)"
    )
    period = serializers.RegexField(r"^\d{4}-\d{2}$", help_text="YYYY-MM, a closed month")

    def validate(self, data):
        if ("customer" in data) == ("reseller" in data):
            raise serializers.ValidationError("name a customer or a reseller, one of them")
        return data


_DRAFT_ERRORS = (
    UnknownBook,
    CustomerNotFound,
    InvalidInvoicingInput,
    NotABuyer,
    BillingProfileMissing,
    BuyerDetailsMissing,
    CurrencyMismatch,
    TaxRegionUnknown,
    PeriodNotClosed,
    PeriodBeforeLastInvoice,
    InvoiceEmpty,
)


class InvoiceDraftApi(APIView):
    api_errors = _DRAFT_ERRORS
    permission_classes = [needs(POST=CHANGE_INVOICES)]

    @extend_schema(
        request=InvoiceDraftInput,
        responses={201: InvoiceDetailOutput},
        description="Draft the buyer's invoice of a closed month from its usage not "
        "invoiced yet, or regenerate the open draft of that month. Nothing to bill is "
        "invoice_empty (no draft).",
    )
    def post(self, request):
        data = InvoiceDraftInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        seller = book_by_code(values["book"])
        customer = reseller = None
        if "customer" in values:
            customer = Customer.objects.filter(external_id=values["customer"], book=seller).first()
            if customer is None:
                raise CustomerNotFound(
                    f"customer {values['customer']!r} of book {seller.code} does not exist"
                )
        else:
            reseller = book_by_code(values["reseller"])
        start, end = services.month_bounds(values["period"])
        invoice = services.invoice_draft(
            seller_book=seller,
            customer=customer,
            reseller_book=reseller,
            period_start=start,
            period_end=end,
            actor=actor(request),
        )
        found = selectors.invoice_get(public_id=invoice.public_id)
        return Response(invoice_detail_body(found), status=status.HTTP_201_CREATED)


def _finance_invoice(public_id) -> Invoice:
    found = selectors.invoice_get(public_id=public_id)
    if found is None:
        raise InvoiceNotFound(f"invoice {public_id} does not exist")
    return found


class InvoiceFinalizeApi(APIView):
    api_errors = (
        InvoiceNotFound,
        InvoiceNotDraft,
        BillingProfileMissing,
        BuyerDetailsMissing,
        CurrencyMismatch,
        TaxRegionUnknown,
        InvoiceEmpty,
    )
    permission_classes = [needs(POST=CHANGE_INVOICES)]

    @extend_schema(
        request=None,
        responses=InvoiceDetailOutput,
        description="Number the draft (the seller's gap-free series), issue it and book "
        "the receivable, in one transaction; the seller's endpoints get invoice.finalized. "
        "Finalizing twice is invoice_not_draft.",
    )
    def post(self, request, public_id):
        invoice = services.invoice_finalize(
            invoice=_finance_invoice(public_id), actor=actor(request)
        )
        return Response(invoice_detail_body(_finance_invoice(invoice.public_id)))


class InvoiceVoidInput(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)


class InvoiceVoidApi(APIView):
    api_errors = (InvoiceNotFound, InvoiceNotVoidable)
    permission_classes = [needs(POST=CHANGE_INVOICES)]

    @extend_schema(
        request=InvoiceVoidInput,
        responses=InvoiceDetailOutput,
        description="Reverse the buyer's latest finalized invoice with no payment and no "
        "credit note exactly; it keeps its number. Older ones take a credit note.",
    )
    def post(self, request, public_id):
        data = InvoiceVoidInput(data=request.data)
        data.is_valid(raise_exception=True)
        invoice = services.invoice_void(
            invoice=_finance_invoice(public_id), actor=actor(request), **data.validated_data
        )
        return Response(invoice_detail_body(_finance_invoice(invoice.public_id)))


class CreditNoteLineInput(serializers.Serializer):
    position = serializers.IntegerField(min_value=1, help_text="the invoice line's position")
    amount = DecimalString(help_text="as the line shows it (net of an exclusive tax)")


class CreditNoteInput(serializers.Serializer):
    reason = serializers.ChoiceField(choices=CreditNote.Reason.choices)
    amount = DecimalString(required=False, help_text="gross, tax included")
    lines = CreditNoteLineInput(many=True, required=False, max_length=1000)
    memo = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class CreditNoteIssueApi(APIView):
    api_errors = (
        InvoiceNotFound,
        InvoiceNotCreditable,
        CreditNoteExceedsInvoice,
        InvalidInvoicingInput,
        InvalidAmount,
    )
    permission_classes = [needs(POST=ADD_CREDIT_NOTES)]

    @extend_schema(
        request=CreditNoteInput,
        responses={201: CreditNoteOutput},
        description="Credit part or all of a finalized invoice: an amount (gross), lines "
        "(by position), or neither (all that is still creditable). Never more than is "
        "still creditable (credit_note_exceeds_invoice); what the open receivable cannot "
        "take becomes wallet credit.",
    )
    def post(self, request, public_id):
        invoice = _finance_invoice(public_id)
        data = CreditNoteInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        currency = invoice.currency
        amount = amount_in(values["amount"], currency) if "amount" in values else None
        by_position = {line.position: line for line in invoice.lines.all()}
        lines = []
        for item in values.get("lines", ()):
            line = by_position.get(item["position"])
            if line is None:
                raise InvalidInvoicingInput(
                    f"invoice {invoice.number_text} has no line {item['position']}",
                    details={"position": item["position"]},
                )
            lines.append((line, amount_in(item["amount"], currency)))
        note = services.credit_note_issue(
            invoice=invoice,
            reason=values["reason"],
            amount=amount,
            lines=lines,
            memo=values["memo"],
            actor=actor(request),
        )
        found = selectors.credit_note_get(public_id=note.public_id)
        return Response(credit_note_body(found), status=status.HTTP_201_CREATED)


class PaymentInput(serializers.Serializer):
    method = serializers.ChoiceField(choices=InvoicePayment.Method.choices)
    amount = DecimalString(help_text="received, in the invoice's currency")
    reference = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=200,
        help_text="the bank's or Stripe's reference: recorded once per method",
    )


class InvoicePaymentRecordApi(APIView):
    api_errors = (
        InvoiceNotFound,
        InvoiceNotPayable,
        PaymentDuplicate,
        PaymentExceedsWallet,
        InvalidInvoicingInput,
        InvalidAmount,
    )
    permission_classes = [needs(POST=ADD_PAYMENTS)]

    @extend_schema(
        request=PaymentInput,
        responses={201: InvoiceDetailOutput},
        description="Apply a payment to a finalized invoice: received by bank transfer or "
        "Stripe (recorded by finance), or taken from the buyer's wallet. An overpayment "
        "becomes wallet credit; nothing due any more: paid.",
    )
    def post(self, request, public_id):
        invoice = _finance_invoice(public_id)
        data = PaymentInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        services.invoice_payment_record(
            invoice=invoice,
            method=values["method"],
            amount=amount_in(values["amount"], invoice.currency),
            reference=values["reference"],
            actor=actor(request),
        )
        return Response(
            invoice_detail_body(_finance_invoice(public_id)), status=status.HTTP_201_CREATED
        )
