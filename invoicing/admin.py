"""Finance's screens for invoicing.

Profiles and buyer details are edited here; tax rates are added, never edited (a change
is a new rate). Invoices, credit notes, payments and receipts change only through
invoicing.services (the database refuses edits of issued documents anyway): read-only.
"""

from django.contrib import admin

from invoicing.models import (
    BillingProfile,
    BuyerDetails,
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    InvoicePayment,
    InvoiceStateChange,
    Receipt,
    TaxRate,
)
from ledger.admin import ReadOnlyAdmin


class TaxRateInline(admin.TabularInline):
    model = TaxRate
    extra = 0
    readonly_fields = ["created_at", "created_by"]
    can_delete = False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BillingProfile)
class BillingProfileAdmin(admin.ModelAdmin):
    list_display = ["book", "legal_name", "currency", "language", "payment_terms_days"]
    readonly_fields = ["updated_at", "updated_by"]
    inlines = [TaxRateInline]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        from django.utils import timezone

        obj.updated_at, obj.updated_by = timezone.now(), f"admin:{request.user}"
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        from django.utils import timezone

        for rate in formset.save(commit=False):
            rate.created_at, rate.created_by = timezone.now(), f"admin:{request.user}"
            rate.save()


@admin.register(TaxRate)
class TaxRateAdmin(ReadOnlyAdmin):
    list_display = ["profile", "region", "rate_bps", "inclusive", "kind", "effective_from"]
    list_filter = ["kind", "inclusive"]


@admin.register(BuyerDetails)
class BuyerDetailsAdmin(admin.ModelAdmin):
    list_display = ["legal_name", "customer", "book", "region", "tax_id", "email"]
    search_fields = ["legal_name", "customer__external_id", "book__code"]
    readonly_fields = ["updated_at", "updated_by"]


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    can_delete = False
    fields = [
        "position",
        "kind",
        "description",
        "requests",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "exact_amount",
        "amount",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class InvoiceStateChangeInline(admin.TabularInline):
    model = InvoiceStateChange
    extra = 0
    can_delete = False
    readonly_fields = ["from_state", "to_state", "at", "actor", "note"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = [
        "number_text",
        "seller_book",
        "buyer_key",
        "state",
        "period_start",
        "period_end",
        "total",
        "currency",
        "issued_at",
        "due_at",
        "overdue_at",
    ]
    list_filter = ["state", "seller_book"]
    search_fields = ["number_text", "buyer_key", "public_id"]
    inlines = [InvoiceLineInline, InvoiceStateChangeInline]


class CreditNoteLineInline(admin.TabularInline):
    model = CreditNoteLine
    extra = 0
    can_delete = False
    readonly_fields = ["invoice_line", "description", "amount"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CreditNote)
class CreditNoteAdmin(ReadOnlyAdmin):
    list_display = ["number_text", "invoice", "reason", "total", "to_receivable", "to_wallet"]
    list_filter = ["reason"]
    inlines = [CreditNoteLineInline]


@admin.register(InvoicePayment)
class InvoicePaymentAdmin(ReadOnlyAdmin):
    list_display = ["invoice", "method", "amount", "applied", "to_wallet", "reference"]
    list_filter = ["method"]


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdmin):
    list_display = ["number_text", "customer", "total", "currency", "issued_at"]
