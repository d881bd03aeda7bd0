"""Finance's screens of credit: read-only, since every change goes through credit's
services (the API), which book through the ledger and keep the audit trail: limits,
provision matrices, allowance bookings, write-offs, recoveries, the dunning ladder, the
customers' standing and every dunning action."""

from django.contrib import admin

from credit.models import (
    AllowanceBooking,
    CreditLimit,
    CreditLimitChange,
    DunningAction,
    DunningCard,
    DunningStanding,
    DunningStep,
    ProvisionMatrix,
    Recovery,
    WriteOff,
)
from ledger.admin import ReadOnlyAdmin
from wallets.admin import CustomerAdmin
from wallets.models import Customer


@admin.register(CreditLimit)
class CreditLimitAdmin(ReadOnlyAdmin):
    list_display = ["customer", "credit_limit_minor"]
    search_fields = ["customer__external_id"]
    list_select_related = ["customer"]


@admin.register(CreditLimitChange)
class CreditLimitChangeAdmin(ReadOnlyAdmin):
    list_display = ["customer", "previous_minor", "credit_limit_minor", "changed_at", "changed_by"]
    search_fields = ["customer__external_id", "changed_by"]
    list_select_related = ["customer"]


@admin.register(ProvisionMatrix)
class ProvisionMatrixAdmin(ReadOnlyAdmin):
    list_display = [
        "book",
        "effective_from",
        "current_bps",
        "d1_30_bps",
        "d31_60_bps",
        "d61_90_bps",
        "over_90_bps",
        "created_by",
    ]
    list_filter = ["book"]
    list_select_related = ["book"]


@admin.register(AllowanceBooking)
class AllowanceBookingAdmin(ReadOnlyAdmin):
    list_display = [
        "book",
        "currency",
        "period_end",
        "receivable_minor",
        "allowance_minor",
        "change_minor",
        "ledger_event_sequence",
    ]
    list_filter = ["book", "period_end"]
    list_select_related = ["book", "currency"]


@admin.register(WriteOff)
class WriteOffAdmin(ReadOnlyAdmin):
    list_display = ["invoice", "amount_minor", "reason", "approved_by", "written_off_at"]
    search_fields = ["invoice__number_text", "invoice__buyer_key", "reason"]
    list_select_related = ["invoice"]


@admin.register(Recovery)
class RecoveryAdmin(ReadOnlyAdmin):
    list_display = ["write_off", "amount_minor", "recovered_at", "recovered_by"]


@admin.register(DunningStep)
class DunningStepAdmin(ReadOnlyAdmin):
    list_display = ["book", "position", "days_past_due", "amount_overdue_minor", "action"]
    list_filter = ["book", "action"]


@admin.register(DunningStanding)
class DunningStandingAdmin(ReadOnlyAdmin):
    list_display = ["customer", "level", "episode", "last_position", "overdue_minor"]
    list_filter = ["level"]
    search_fields = ["customer__external_id"]
    list_select_related = ["customer"]


@admin.register(DunningAction)
class DunningActionAdmin(ReadOnlyAdmin):
    list_display = ["customer", "at", "episode", "action", "outcome", "reason"]
    list_filter = ["action", "outcome"]
    search_fields = ["customer__external_id", "reason"]
    list_select_related = ["customer"]


@admin.register(DunningCard)
class DunningCardAdmin(ReadOnlyAdmin):
    list_display = ["customer", "stripe_customer_id", "updated_at", "updated_by"]
    search_fields = ["customer__external_id"]


class CreditLimitInline(admin.TabularInline):
    """The customer's own limit on its admin page, shown, not edited."""

    model = CreditLimit
    fields = ["credit_limit_minor"]
    readonly_fields = ["credit_limit_minor"]
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


# The customer's page is wallets'; credit adds its inline (wallets knows nothing of credit,
# and its admin is loaded first: INSTALLED_APPS order).
admin.site.unregister(Customer)


@admin.register(Customer)
class CustomerWithCreditAdmin(CustomerAdmin):
    inlines = [*CustomerAdmin.inlines, CreditLimitInline]
