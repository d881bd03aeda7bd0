from django.contrib import admin, messages

# Rows that change only through services (ledger events, the allocator).
from ledger.admin import ReadOnlyAdmin
from wallets.gateways.keys import gateway_key_create, gateway_key_settings_changed
from wallets.models import (
    ApiKey,
    Authorization,
    BookMembership,
    Customer,
    CustomerMembership,
    GatewayKey,
    Lot,
    LotAllocation,
    LotCursor,
    LotReversal,
)


class CustomerMembershipInline(admin.TabularInline):
    """The logins that act for this customer (tenants see only their own customer)."""

    model = CustomerMembership
    extra = 0
    fields = ["user", "created_at", "created_by"]
    readonly_fields = ["created_at", "created_by"]
    autocomplete_fields = ["user"]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    inlines = [CustomerMembershipInline]

    def save_formset(self, request, form, formset, change):
        for membership in formset.save(commit=False):
            membership.created_by = membership.created_by or f"admin:{request.user.get_username()}"
            membership.save()
        for removed in formset.deleted_objects:
            removed.delete()

    list_display = [
        "external_id",
        "name",
        "book",
        "plan",
        "billing",
        "currency",
        "suspended",
        "created_at",
    ]
    list_filter = ["book", "billing", "plan", "suspended"]
    search_fields = ["external_id", "name"]


@admin.register(BookMembership)
class BookMembershipAdmin(admin.ModelAdmin):
    """The logins that act for a seller book (a reseller's staff: they see the invoicing
    documents of that book only). Registered here, as the book's own admin is the ledger's."""

    list_display = ["user", "book", "created_at", "created_by"]
    list_filter = ["book"]
    search_fields = ["user__username", "book__code"]
    fields = ["user", "book", "created_at", "created_by"]
    readonly_fields = ["created_at", "created_by"]
    autocomplete_fields = ["user"]
    list_select_related = ["user", "book"]

    def save_model(self, request, obj, form, change):
        obj.created_by = obj.created_by or f"admin:{request.user.get_username()}"
        super().save_model(request, obj, form, change)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created through the API (the secret is shown once there); finance can
    change limits and the allow-list here, and see what was revoked by whom."""

    list_display = [
        "prefix",
        "customer",
        "name",
        "daily_limit_minor",
        "monthly_limit_minor",
        "total_limit_minor",
        "created_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["prefix", "customer__external_id", "name"]
    readonly_fields = [
        "customer",
        "prefix",
        "secret_hash",
        "created_at",
        "created_by",
        "revoked_at",
        "revoked_by",
    ]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(GatewayKey)
class GatewayKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "source", "prefix", "litellm_customer_from", "created_at", "revoked_at"]
    list_filter = ["litellm_customer_from"]
    readonly_fields = ["prefix", "secret_hash", "created_at"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            gateway_key_settings_changed(key=obj)
            return
        # A new key goes through its service (which makes the secret); the full key is
        # shown this once, as only its hash is stored.
        key, token = gateway_key_create(
            name=obj.name,
            source=obj.source,
            litellm_customer_from=obj.litellm_customer_from,
            actor=request.user.get_username(),
        )
        obj.pk, obj.prefix, obj.secret_hash, obj.created_at = (
            key.pk,
            key.prefix,
            key.secret_hash,
            key.created_at,
        )
        messages.warning(request, f"The gateway key, shown only now: {token}")


@admin.register(Authorization)
class AuthorizationAdmin(ReadOnlyAdmin):
    """Read-only: authorizations change only through their services (ledger events)."""

    list_display = [
        "public_id",
        "customer",
        "model",
        "decision",
        "reason",
        "state",
        "amount_minor",
        "captured_minor",
        "created_at",
        "expires_at",
    ]
    list_filter = ["decision", "reason", "state"]
    search_fields = ["public_id", "customer__external_id", "model"]
    list_select_related = ["customer"]


@admin.register(Lot)
class LotAdmin(ReadOnlyAdmin):
    """Credit lots in consumption order; granted through the API, closed by the expiry."""

    list_display = [
        "id",
        "customer",
        "kind",
        "priority",
        "expires_at",
        "amount_minor",
        "consumed_minor",
        "reversed_minor",
        "expired_minor",
        "state",
        "opened_sequence",
        "source",
    ]
    list_filter = ["kind", "state"]
    search_fields = ["customer__external_id", "source", "idempotency_key"]
    list_select_related = ["customer"]
    ordering = ["customer", "-state", "priority", "expires_at", "opened_sequence", "id"]


@admin.register(LotAllocation)
class LotAllocationAdmin(ReadOnlyAdmin):
    """Which lot paid for which ledger event (no lot: unfunded)."""

    list_display = ["id", "cursor", "sequence", "kind", "lot", "amount_minor"]
    list_filter = ["kind"]
    search_fields = ["=sequence", "=lot__id", "cursor__customer__external_id"]
    ordering = ["-id"]


@admin.register(LotCursor)
class LotCursorAdmin(ReadOnlyAdmin):
    list_display = [
        "customer",
        "account",
        "start_sequence",
        "opening_balance_minor",
        "allocated_through_sequence",
        "unfunded_minor",
        "updated_at",
    ]
    search_fields = ["customer__external_id"]
    list_select_related = ["customer", "account"]


@admin.register(LotReversal)
class LotReversalAdmin(ReadOnlyAdmin):
    list_display = ["id", "lot", "sequence", "amount_minor", "created_at", "created_by"]
    search_fields = ["=lot__id", "=sequence"]
