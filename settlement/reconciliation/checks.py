"""The `ledger_verify` check of reconciliation: each true-up's event books what its row
says, and the daily rollup holds exactly the usage records of the batches the draw-down
has passed (its watermark), each once."""

from collections import defaultdict

from ledger import selectors as ledger_selectors
from ledger.models import Book
from metering import selectors as metering_selectors
from settlement.commitments.locks import DRAWDOWN_CURSOR
from settlement.commitments.models import DrawdownCursor
from settlement.reconciliation.models import DailyUsageRollup, TrueUp
from settlement.reconciliation.postings import TRUE_UP_EVENT
from settlement.reconciliation.rollup import _SUMS


def reconciliation_check(report) -> None:
    _true_ups_check(report)
    _rollup_check(report)


def _true_ups_check(report) -> None:
    rows = {row.ledger_sequence: row for row in TrueUp.objects.all()}
    for event in ledger_selectors.event_debits_list(
        event_type=TRUE_UP_EVENT, payload_field="difference"
    ):
        row = rows.pop(event.sequence, None)
        if row is None:
            report.problem(f"event #{event.sequence} (true-up) has no true-up row")
        elif str(row.difference_id) != event.payload_field or abs(row.amount_minor) != event.debits:
            report.problem(
                f"event #{event.sequence} (true-up of difference {event.payload_field}): debits "
                f"{event.debits} vs the row's {row.amount_minor} (difference {row.difference_id})"
            )
    for sequence, row in sorted(rows.items()):
        report.problem(
            f"true-up of difference {row.difference_id} names event #{sequence}, "
            "which is not a true-up"
        )


def _rollup_check(report) -> None:
    cursor = DrawdownCursor.objects.filter(name=DRAWDOWN_CURSOR).first()
    through = cursor.through_sequence if cursor else 0
    distributors = {
        pk: parent or pk for pk, parent in Book.objects.values_list("pk", "wholesale_from_id")
    }
    expected: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(_SUMS))
    for t in metering_selectors.usage_daily_totals_list(after_sequence=0, through_sequence=through):
        key = (
            t.usage_day,
            distributors.get(t.seller_book_id, t.seller_book_id),
            t.provider,
            t.model,
            t.currency,
        )
        for i, name in enumerate(_SUMS):
            expected[key][i] += getattr(t, name)
    for row in DailyUsageRollup.objects.all():
        key = (row.usage_day, row.book_id, row.provider, row.model, row.currency)
        want = expected.pop(key, None)
        have = [getattr(row, name) for name in _SUMS]
        if want != have:
            report.problem(f"rollup {key}: {have}, the usage records through #{through} say {want}")
    for key, want in sorted(expected.items()):
        report.problem(f"rollup {key} is missing: the usage records through #{through} say {want}")
