"""Finance's view of credit limits: read-only, since every change goes through
credit.services.credit_limit_set (the API), which keeps the audit trail."""

from django.contrib import admin

from credit.models import CreditLimit, CreditLimitChange
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
