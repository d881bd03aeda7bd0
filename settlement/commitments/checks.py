"""The `ledger_verify` check of commitments: settlement's rows and the ledger tie out."""

from collections import defaultdict

from django.db.models import Sum

from ledger import selectors as ledger_selectors
from settlement.commitments.models import Breakage, Commitment, DrawdownBatch, DrawdownLine
from settlement.commitments.postings import BREAKAGE_EVENT, DRAWDOWN_EVENT, PURCHASE_EVENT


def commitments_check(report) -> None:
    """Each purchase, draw-down and breakage event books what its row says; every row
    that names an event has one; each commitment's ledger balance is its amount less its
    draw-down and breakage."""
    _drawdowns_check(report)
    _events_check(
        report,
        PURCHASE_EVENT,
        {
            c.pk: (c.purchase_sequence, c.amount_minor)
            for c in Commitment.objects.filter(purchase_sequence__isnull=False)
        },
        "purchase of commitment",
    )
    _events_check(
        report,
        BREAKAGE_EVENT,
        {
            b.commitment_id: (b.ledger_sequence, b.amount_minor)
            for b in Breakage.objects.filter(ledger_sequence__isnull=False)
        },
        "breakage of commitment",
    )
    _balances_check(report)


def _drawdowns_check(report) -> None:
    batches = {
        row.ledger_sequence: row
        for row in DrawdownBatch.objects.filter(ledger_sequence__isnull=False)
    }
    lines = defaultdict(int)
    for batch_id, total in DrawdownLine.objects.values_list("batch_id").annotate(
        total=Sum("amount_minor")
    ):
        lines[batch_id] = int(total)
    for row in DrawdownBatch.objects.all():
        if lines.pop(row.pk, 0) != row.drawn_minor:
            report.problem(
                f"draw-down of batch #{row.metering_sequence}: its lines do not sum to "
                f"{row.drawn_minor}"
            )
        if row.drawn_minor > 0 and row.ledger_sequence is None:
            report.problem(f"draw-down of batch #{row.metering_sequence} has no ledger event")
    for event in ledger_selectors.event_debits_list(
        event_type=DRAWDOWN_EVENT, payload_field="metering_sequence"
    ):
        row = batches.pop(event.sequence, None)
        if row is None:
            report.problem(f"event #{event.sequence} (draw-down) has no draw-down row")
        elif str(row.metering_sequence) != event.payload_field or row.drawn_minor != event.debits:
            report.problem(
                f"event #{event.sequence} (draw-down of batch #{event.payload_field}): debits "
                f"{event.debits} vs the row's {row.drawn_minor} of batch #{row.metering_sequence}"
            )
    for sequence in sorted(batches):
        report.problem(f"draw-down row names event #{sequence}, which is not a draw-down")


def _events_check(report, event_type: str, rows: dict, what: str) -> None:
    by_sequence = {sequence: (pk, amount) for pk, (sequence, amount) in rows.items()}
    for event in ledger_selectors.event_debits_list(
        event_type=event_type, payload_field="commitment"
    ):
        pk, amount = by_sequence.pop(event.sequence, (None, None))
        if pk is None or str(pk) != event.payload_field or amount != event.debits:
            report.problem(
                f"event #{event.sequence} ({what} {event.payload_field}): debits {event.debits}"
                f" vs the row's {amount} (commitment {pk})"
            )
    for sequence, (pk, _amount) in sorted(by_sequence.items()):
        report.problem(f"{what} {pk} names event #{sequence}, which is not a {event_type}")


def _balances_check(report) -> None:
    drawn = dict(
        DrawdownLine.objects.values_list("commitment_id").annotate(total=Sum("amount_minor"))
    )
    broken = dict(Breakage.objects.values_list("commitment_id", "amount_minor"))
    for commitment in Commitment.objects.filter(account__isnull=False):
        expected = commitment.amount_minor - int(drawn.get(commitment.pk, 0))
        expected -= broken.get(commitment.pk, 0)
        actual = ledger_selectors.account_balance_get(account_id=commitment.account_id).balance
        if actual != expected:
            report.problem(
                f"commitment {commitment.pk}: the ledger holds {actual}, its rows say {expected}"
            )
