"""Finance's screens: browse books, accounts, entries and events. Journal data is
read-only here, as it is everywhere (the database refuses changes anyway)."""

from django.contrib import admin

from ledger.models import Account, Asset, Balance, Book, Entry, Event, Hold, Posting


class NoDeleteAdmin(admin.ModelAdmin):
    """Books, assets and accounts are referenced by the journal: never deleted."""

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Book)
class BookAdmin(NoDeleteAdmin):
    list_display = ["code", "name", "kind", "created_at"]
    search_fields = ["code", "name"]


@admin.register(Asset)
class AssetAdmin(NoDeleteAdmin):
    list_display = ["code", "scale", "description"]


class BalanceInline(admin.StackedInline):
    model = Balance
    can_delete = False
    readonly_fields = [
        "debits_posted",
        "credits_posted",
        "debits_pending",
        "credits_pending",
        "last_sequence",
    ]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(NoDeleteAdmin):
    list_display = ["id", "book", "code", "asset", "type", "debits_must_not_exceed_credits"]
    list_filter = ["book", "asset", "type"]
    search_fields = ["code", "name"]
    inlines = [BalanceInline]

    def get_readonly_fields(self, request, obj=None):
        # Book and asset are fixed once postings may exist (a trigger refuses the move).
        return ["book", "asset"] if obj else []


class PostingInline(admin.TabularInline):
    model = Posting
    fields = ["account", "asset", "side", "phase", "amount", "sequence"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "event", "book", "memo", "reverses", "recorded_at"]
    list_filter = ["book"]
    search_fields = ["memo"]
    inlines = [PostingInline]
    list_select_related = ["event", "book"]


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["sequence", "type", "idempotency_key", "actor", "occurred_at", "recorded_at"]
    list_filter = ["type"]
    search_fields = ["idempotency_key", "actor"]


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ["id", "debit_account", "credit_account", "amount", "expires_at", "created_at"]
