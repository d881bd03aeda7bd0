"""Finance's screens for settlement. Commitments, draw-downs and breakage change only
through services (they book ledger events), so they are read-only here."""

from django.contrib import admin

from ledger.admin import ReadOnlyAdmin
from settlement.commitments.models import (
    Breakage,
    Commitment,
    Contract,
    DrawdownBatch,
    DrawdownCursor,
    DrawdownLine,
)


@admin.register(Contract)
class ContractAdmin(ReadOnlyAdmin):
    list_display = ["provider", "name", "book", "currency", "discount_bps", "tolerance_bps"]
    list_filter = ["provider"]
    search_fields = ["provider", "name"]


@admin.register(Commitment)
class CommitmentAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "contract",
        "name",
        "amount_minor",
        "starts_at",
        "expires_at",
        "priority",
        "funded_from",
        "account",
    ]
    list_filter = ["contract__provider", "funded_from"]
    search_fields = ["name", "contract__provider"]


class DrawdownLineInline(admin.TabularInline):
    model = DrawdownLine
    extra = 0
    can_delete = False
    fields = ["commitment", "model", "usage_day", "amount_minor"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DrawdownBatch)
class DrawdownBatchAdmin(ReadOnlyAdmin):
    list_display = ["metering_sequence", "ledger_sequence", "cost_minor", "drawn_minor"]
    inlines = [DrawdownLineInline]


@admin.register(Breakage)
class BreakageAdmin(ReadOnlyAdmin):
    list_display = ["commitment", "amount_minor", "ledger_sequence", "created_at"]


@admin.register(DrawdownCursor)
class DrawdownCursorAdmin(ReadOnlyAdmin):
    list_display = ["name", "through_sequence", "updated_at"]
