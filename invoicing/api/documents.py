"""Credit notes and receipts: read by finance, by the buyer's members and by the members
of the seller book (or, for a credit note, of the buyer reseller's book).

credit-notes/              GET list (?book=, ?invoice=)
credit-notes/{id}/         GET one, with its lines
credit-notes/{id}/pdf/     GET its PDF
receipts/                  GET list (?book=, ?customer=)
receipts/{id}/             GET one
receipts/{id}/pdf/         GET its PDF
"""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.pagination import BoundedLimitOffsetPagination
from invoicing import selectors
from invoicing.api.common import (
    PDF_RENDERERS,
    VIEW_INVOICES,
    VIEW_RECEIPTS,
    book_by_code,
    money,
    paginated,
    tenant_books,
    tenant_customers,
    time,
)
from invoicing.documents.render import render_pdf
from invoicing.errors import CreditNoteNotFound, ReceiptNotFound
from invoicing.models import CreditNote, Receipt
from ledger.errors import UnknownBook

_PDF = {(200, "application/pdf"): OpenApiTypes.BINARY}


def pdf_response(pdf: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- credit notes --------------------------------------------------------------------------


class CreditNoteLineOutput(serializers.Serializer):
    description = serializers.CharField()
    invoice_line = serializers.IntegerField(allow_null=True, help_text="its position")
    amount = serializers.CharField()


class CreditNoteOutput(serializers.Serializer):
    id = serializers.UUIDField()
    number = serializers.CharField()
    invoice = serializers.UUIDField()
    invoice_number = serializers.CharField()
    seller_book = serializers.CharField()
    buyer = serializers.CharField()
    currency = serializers.CharField()
    reason = serializers.ChoiceField(choices=CreditNote.Reason.choices)
    memo = serializers.CharField()
    issued_at = serializers.DateTimeField()
    net = serializers.CharField()
    tax = serializers.CharField()
    total = serializers.CharField()
    to_receivable = serializers.CharField(help_text="taken off what the invoice had due")
    to_wallet = serializers.CharField(help_text="the rest, credited to the buyer's wallet")
    lines = CreditNoteLineOutput(many=True)
    pdf_url = serializers.CharField()


def credit_note_body(note: CreditNote) -> dict:
    invoice = note.invoice
    currency = invoice.currency
    return {
        "id": str(note.public_id),
        "number": note.number_text,
        "invoice": str(invoice.public_id),
        "invoice_number": invoice.number_text,
        "seller_book": note.seller_book.code,
        "buyer": invoice.buyer_key,
        "currency": currency.code,
        "reason": note.reason,
        "memo": note.memo,
        "issued_at": time(note.issued_at),
        **{
            name: money(getattr(note, name), currency)
            for name in ("net", "tax", "total", "to_receivable", "to_wallet")
        },
        "lines": [
            {
                "description": line.description,
                "invoice_line": line.invoice_line.position if line.invoice_line else None,
                "amount": money(line.amount, currency),
            }
            for line in note.lines.select_related("invoice_line").order_by("pk")
        ],
        "pdf_url": f"/api/invoicing/credit-notes/{note.public_id}/pdf/",
    }


class CreditNoteFilters(serializers.Serializer):
    book = serializers.CharField(required=False, max_length=64)
    invoice = serializers.UUIDField(required=False)


class CreditNoteListApi(APIView):
    pagination_class = BoundedLimitOffsetPagination  # paginated by hand; the schema says so
    api_errors = (UnknownBook,)

    @extend_schema(
        parameters=[
            OpenApiParameter("book", str, description="seller book code"),
            OpenApiParameter("invoice", str, description="the credited invoice's id"),
        ],
        responses=CreditNoteOutput(many=True),
    )
    def get(self, request):
        filters = CreditNoteFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        values = filters.validated_data
        book = book_by_code(values["book"]) if "book" in values else None
        notes = selectors.credit_notes_list(
            seller_book_id=book.pk if book else None,
            invoice_public_id=values.get("invoice"),
            buyer_customers=tenant_customers(request, VIEW_INVOICES),
            member_books=tenant_books(request, VIEW_INVOICES),
        )
        return paginated(request, self, notes, credit_note_body)


def _credit_note(request, public_id) -> CreditNote:
    found = selectors.credit_note_get(
        public_id=public_id,
        buyer_customers=tenant_customers(request, VIEW_INVOICES),
        member_books=tenant_books(request, VIEW_INVOICES),
    )
    if found is None:
        raise CreditNoteNotFound(f"credit note {public_id} does not exist")
    return found


class CreditNoteDetailApi(APIView):
    api_errors = (CreditNoteNotFound,)

    @extend_schema(responses=CreditNoteOutput)
    def get(self, request, public_id):
        return Response(credit_note_body(_credit_note(request, public_id)))


class CreditNotePdfApi(APIView):
    api_errors = (CreditNoteNotFound,)
    renderer_classes = PDF_RENDERERS

    @extend_schema(responses=_PDF, description="The credit note as an A4 PDF.")
    def get(self, request, public_id):
        note = _credit_note(request, public_id)
        pdf = render_pdf(selectors.credit_note_document_get(note))
        return pdf_response(pdf, f"{note.number_text}.pdf")


# --- receipts ------------------------------------------------------------------------------


class ReceiptOutput(serializers.Serializer):
    id = serializers.UUIDField()
    number = serializers.CharField()
    seller_book = serializers.CharField()
    customer = serializers.CharField()
    topup = serializers.UUIDField()
    currency = serializers.CharField()
    amount = serializers.CharField(help_text="credited to the prepaid balance")
    fee = serializers.CharField(help_text="the platform fee")
    total = serializers.CharField(help_text="what the customer paid")
    issued_at = serializers.DateTimeField()
    pdf_url = serializers.CharField()


def receipt_body(receipt: Receipt) -> dict:
    currency = receipt.currency
    return {
        "id": str(receipt.public_id),
        "number": receipt.number_text,
        "seller_book": receipt.seller_book.code,
        "customer": receipt.customer.external_id,
        "topup": str(receipt.topup.public_id),
        "currency": currency.code,
        "amount": money(receipt.amount, currency),
        "fee": money(receipt.fee, currency),
        "total": money(receipt.total, currency),
        "issued_at": time(receipt.issued_at),
        "pdf_url": f"/api/invoicing/receipts/{receipt.public_id}/pdf/",
    }


class ReceiptFilters(serializers.Serializer):
    book = serializers.CharField(required=False, max_length=64)
    customer = serializers.CharField(required=False, max_length=200)


class ReceiptListApi(APIView):
    pagination_class = BoundedLimitOffsetPagination  # paginated by hand; the schema says so
    api_errors = (UnknownBook,)

    @extend_schema(
        parameters=[
            OpenApiParameter("book", str, description="seller book code"),
            OpenApiParameter("customer", str, description="customer external id"),
        ],
        responses=ReceiptOutput(many=True),
    )
    def get(self, request):
        filters = ReceiptFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        values = filters.validated_data
        book = book_by_code(values["book"]) if "book" in values else None
        receipts = selectors.receipts_list(
            seller_book_id=book.pk if book else None,
            customer_external_id=values.get("customer"),
            customers=tenant_customers(request, VIEW_RECEIPTS),
            member_books=tenant_books(request, VIEW_RECEIPTS),
        )
        return paginated(request, self, receipts, receipt_body)


def _receipt(request, public_id) -> Receipt:
    found = selectors.receipt_get(
        public_id=public_id,
        customers=tenant_customers(request, VIEW_RECEIPTS),
        member_books=tenant_books(request, VIEW_RECEIPTS),
    )
    if found is None:
        raise ReceiptNotFound(f"receipt {public_id} does not exist")
    return found


class ReceiptDetailApi(APIView):
    api_errors = (ReceiptNotFound,)

    @extend_schema(responses=ReceiptOutput)
    def get(self, request, public_id):
        return Response(receipt_body(_receipt(request, public_id)))


class ReceiptPdfApi(APIView):
    api_errors = (ReceiptNotFound,)
    renderer_classes = PDF_RENDERERS

    @extend_schema(responses=_PDF, description="The receipt of a paid top-up as an A4 PDF.")
    def get(self, request, public_id):
        receipt = _receipt(request, public_id)
        pdf = render_pdf(selectors.receipt_document_get(receipt))
        return pdf_response(pdf, f"{receipt.number_text}.pdf")
