"""Finance's screens for settlement. Commitments, draw-downs, breakage, statements,
reconciliations and true-ups change only through services (they book ledger events or
are written once), so they are read-only here."""

from django.contrib import admin

from ledger.admin import ReadOnlyAdmin
from settlement.commitments.models import (
    Breakage,
    Commitment,
    Contract,
    DrawdownBatch,
    DrawdownCursor,
    DrawdownDiscount,
    DrawdownLine,
)
from settlement.reconciliation.models import DailyUsageRollup, Difference, ReconciliationRun, TrueUp
from settlement.statements.models import Statement, StatementLine, StatementRefusal


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
        "tokens",
        "starts_at",
        "expires_at",
        "priority",
        "funded_from",
        "account",
    ]
    list_filter = ["contract__provider", "funded_from"]
    search_fields = ["name", "contract__provider"]


class _ReadOnlyInline(admin.TabularInline):
    """Rows a service wrote once, shown under their parent, never edited."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class DrawdownLineInline(_ReadOnlyInline):
    model = DrawdownLine
    fields = ["commitment", "model", "usage_day", "list_minor", "amount_minor", "tokens"]


class DrawdownDiscountInline(_ReadOnlyInline):
    model = DrawdownDiscount
    fields = ["contract", "model", "usage_day", "list_minor", "amount_minor"]


@admin.register(DrawdownBatch)
class DrawdownBatchAdmin(ReadOnlyAdmin):
    list_display = [
        "metering_sequence",
        "ledger_sequence",
        "cost_minor",
        "covered_minor",
        "drawn_minor",
        "tokens",
        "discount_minor",
    ]
    inlines = [DrawdownLineInline, DrawdownDiscountInline]


@admin.register(Breakage)
class BreakageAdmin(ReadOnlyAdmin):
    list_display = ["commitment", "amount_minor", "tokens", "ledger_sequence", "created_at"]


@admin.register(DrawdownCursor)
class DrawdownCursorAdmin(ReadOnlyAdmin):
    list_display = ["name", "through_sequence", "updated_at"]


# --- statements and reconciliation (written by their services only) -------------------


class StatementRefusalInline(_ReadOnlyInline):
    model = StatementRefusal
    fields = ["locator", "reason_code", "reason"]


@admin.register(Statement)
class StatementAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "contract",
        "format",
        "filename",
        "period_start",
        "period_end",
        "rows_imported",
        "rows_refused",
        "created_at",
    ]
    list_filter = ["format", "contract__provider"]
    search_fields = ["filename", "content_sha256"]
    inlines = [StatementRefusalInline]


@admin.register(StatementLine)
class StatementLineAdmin(ReadOnlyAdmin):
    list_display = [
        "statement",
        "kind",
        "usage_day",
        "model",
        "request_id",
        "total_tokens",
        "cost_minor",
        "fx",
    ]
    list_filter = ["kind", "contract__provider"]
    search_fields = ["model", "request_id", "row_key"]


@admin.register(DailyUsageRollup)
class DailyUsageRollupAdmin(ReadOnlyAdmin):
    list_display = ["usage_day", "book", "provider", "model", "currency", "requests", "cost_minor"]
    list_filter = ["provider"]
    search_fields = ["model"]


class DifferenceInline(_ReadOnlyInline):
    model = Difference
    fields = ["kind", "usage_day", "model", "request_id", "delta_minor", "explanation"]


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "contract",
        "since",
        "until",
        "keys_compared",
        "keys_matched",
        "ours_cost_minor",
        "theirs_cost_minor",
        "created_at",
    ]
    list_filter = ["contract__provider"]
    inlines = [DifferenceInline]


@admin.register(Difference)
class DifferenceAdmin(ReadOnlyAdmin):
    list_display = ["id", "run", "kind", "usage_day", "model", "request_id", "delta_minor"]
    list_filter = ["kind", "contract__provider"]
    search_fields = ["model", "request_id"]


@admin.register(TrueUp)
class TrueUpAdmin(ReadOnlyAdmin):
    list_display = [
        "difference",
        "usage_day",
        "model",
        "amount_minor",
        "ledger_sequence",
        "created_by",
    ]
    search_fields = ["model", "request_id"]
