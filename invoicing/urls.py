from django.urls import path

from invoicing.api import documents, invoices, profiles

urlpatterns = [
    path("profiles/", profiles.BillingProfileListApi.as_view(), name="invoicing-profiles"),
    path(
        "profiles/<slug:book>/",
        profiles.BillingProfileDetailApi.as_view(),
        name="invoicing-profile",
    ),
    path(
        "profiles/<slug:book>/tax-rates/",
        profiles.TaxRateListApi.as_view(),
        name="invoicing-tax-rates",
    ),
    path("invoices/", invoices.InvoiceListApi.as_view(), name="invoicing-invoices"),
    path("invoices.csv", invoices.InvoiceCsvApi.as_view(), name="invoicing-invoices-csv"),
    path("invoices/draft/", invoices.InvoiceDraftApi.as_view(), name="invoicing-invoice-draft"),
    path(
        "invoices/<uuid:public_id>/",
        invoices.InvoiceDetailApi.as_view(),
        name="invoicing-invoice",
    ),
    path(
        "invoices/<uuid:public_id>/pdf/",
        invoices.InvoicePdfApi.as_view(),
        name="invoicing-invoice-pdf",
    ),
    path(
        "invoices/<uuid:public_id>/finalize/",
        invoices.InvoiceFinalizeApi.as_view(),
        name="invoicing-invoice-finalize",
    ),
    path(
        "invoices/<uuid:public_id>/void/",
        invoices.InvoiceVoidApi.as_view(),
        name="invoicing-invoice-void",
    ),
    path(
        "invoices/<uuid:public_id>/credit-notes/",
        invoices.CreditNoteIssueApi.as_view(),
        name="invoicing-invoice-credit-notes",
    ),
    path(
        "invoices/<uuid:public_id>/payments/",
        invoices.InvoicePaymentRecordApi.as_view(),
        name="invoicing-invoice-payments",
    ),
    path("credit-notes/", documents.CreditNoteListApi.as_view(), name="invoicing-credit-notes"),
    path(
        "credit-notes/<uuid:public_id>/",
        documents.CreditNoteDetailApi.as_view(),
        name="invoicing-credit-note",
    ),
    path(
        "credit-notes/<uuid:public_id>/pdf/",
        documents.CreditNotePdfApi.as_view(),
        name="invoicing-credit-note-pdf",
    ),
    path("receipts/", documents.ReceiptListApi.as_view(), name="invoicing-receipts"),
    path(
        "receipts/<uuid:public_id>/", documents.ReceiptDetailApi.as_view(), name="invoicing-receipt"
    ),
    path(
        "receipts/<uuid:public_id>/pdf/",
        documents.ReceiptPdfApi.as_view(),
        name="invoicing-receipt-pdf",
    ),
]
