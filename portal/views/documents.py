"""Invoices, credit notes and receipts: the list and each document's PDF.

Only the customer's own issued documents (invoicing.selectors with `buyer_customers`:
a draft is finance's until it is finalized), rendered by invoicing's documents in the
seller's language, under the seller's name only. A document of another customer is a 404
exactly like one that does not exist.
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from invoicing import selectors
from invoicing.documents.render import render_pdf
from invoicing.models import Invoice
from portal.access import VIEW_INVOICES, VIEW_RECEIPTS, portal_customer
from portal.pages import render_page
from wallets.models import Customer

DOCUMENTS_LISTED_MAX = 100
INVOICE_STATES = {
    Invoice.State.DRAFT: _("Draft"),
    Invoice.State.FINALIZED: _("Open"),
    Invoice.State.PAID: _("Paid"),
    Invoice.State.VOID: _("Void"),
}


def _own(customer: Customer):
    # The URL's customer only, even for a login that may see several.
    return Customer.objects.filter(pk=customer.pk)


def _pdf(pdf: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_GET
def documents(request, external_id):
    customer = portal_customer(request, external_id, VIEW_INVOICES)
    own = _own(customer)
    invoices = selectors.invoices_with_amounts(selectors.invoices_list(buyer_customers=own))
    invoice_rows = []
    for invoice in invoices[:DOCUMENTS_LISTED_MAX]:
        # The due rule is invoicing's (InvoiceAmounts.due), fed from the list's annotations.
        due = selectors.InvoiceAmounts(
            paid=invoice.paid_minor,
            credited=invoice.credited_minor,
            credited_to_receivable=invoice.credited_to_receivable_minor,
            credited_tax=0,
        ).due(invoice)
        invoice_rows.append(
            {"invoice": invoice, "state": INVOICE_STATES[invoice.state], "due_minor": due}
        )
    return render_page(
        request,
        "portal/documents.html",
        customer=customer,
        page="documents",
        context={
            "invoices": invoice_rows,
            "credit_notes": list(
                selectors.credit_notes_list(buyer_customers=own)[:DOCUMENTS_LISTED_MAX]
            ),
            "receipts": list(selectors.receipts_list(customers=own)[:DOCUMENTS_LISTED_MAX]),
        },
    )


@login_required
@require_GET
def invoice_pdf(request, external_id, public_id):
    customer = portal_customer(request, external_id, VIEW_INVOICES)
    invoice = selectors.invoice_get(public_id=public_id, buyer_customers=_own(customer))
    if invoice is None:
        raise Http404("no such invoice")
    return _pdf(render_pdf(selectors.invoice_document_get(invoice)), f"{invoice.number_text}.pdf")


@login_required
@require_GET
def credit_note_pdf(request, external_id, public_id):
    customer = portal_customer(request, external_id, VIEW_INVOICES)
    note = selectors.credit_note_get(public_id=public_id, buyer_customers=_own(customer))
    if note is None:
        raise Http404("no such credit note")
    return _pdf(render_pdf(selectors.credit_note_document_get(note)), f"{note.number_text}.pdf")


@login_required
@require_GET
def receipt_pdf(request, external_id, public_id):
    customer = portal_customer(request, external_id, VIEW_RECEIPTS)
    receipt = selectors.receipt_get(public_id=public_id, customers=_own(customer))
    if receipt is None:
        raise Http404("no such receipt")
    return _pdf(render_pdf(selectors.receipt_document_get(receipt)), f"{receipt.number_text}.pdf")
