"""The `ledger_verify` check of credit: its rows and the ledger tie out."""

from collections import defaultdict

from credit import postings
from credit.models import AllowanceBooking, Recovery, WriteOff
from ledger import selectors as ledger_selectors


def credit_check(report) -> None:
    """Each allowance change, write-off and recovery event books what its row says (and
    every row that names an event has one); per book and currency, allowance:doubtful
    holds the changes booked less the write-offs plus the recoveries."""
    bookings = AllowanceBooking.objects.filter(ledger_event_sequence__isnull=False)
    write_offs = WriteOff.objects.select_related("invoice")
    recoveries = Recovery.objects.select_related("write_off__invoice")
    _events_check(
        report,
        postings.ALLOWANCE_CHANGED_EVENT,
        "period_end",
        {
            b.ledger_event_sequence: (b.period_end.isoformat(), abs(b.change_minor))
            for b in bookings
        },
        "allowance change",
    )
    _events_check(
        report,
        postings.WRITE_OFF_EVENT,
        "invoice",
        {w.ledger_event_sequence: (str(w.invoice.public_id), w.amount_minor) for w in write_offs},
        "write-off",
    )
    _events_check(
        report,
        postings.RECOVERY_EVENT,
        "write_off",
        {r.ledger_event_sequence: (str(r.write_off_id), r.amount_minor) for r in recoveries},
        "recovery",
    )
    expected: dict[tuple[int, int], int] = defaultdict(int)
    for b in bookings:
        expected[(b.book_id, b.currency_id)] += b.change_minor
    for w in write_offs:
        expected[(w.invoice.seller_book_id, w.invoice.currency_id)] -= w.amount_minor
    for r in recoveries:
        invoice = r.write_off.invoice
        expected[(invoice.seller_book_id, invoice.currency_id)] += r.amount_minor
    for (book_id, asset_id), amount in sorted(expected.items()):
        found = ledger_selectors.account_balance_find(
            book_id=book_id, asset_id=asset_id, code=postings.ALLOWANCE[0]
        )
        actual = -found.balance if found else 0
        if actual != amount:
            report.problem(
                f"allowance:doubtful of book {book_id} asset {asset_id}: the ledger holds "
                f"{actual}, credit's rows say {amount}"
            )


def _events_check(report, event_type: str, field: str, rows: dict, what: str) -> None:
    for event in ledger_selectors.event_debits_list(event_type=event_type, payload_field=field):
        found = rows.pop(event.sequence, None)
        if found is None:
            report.problem(f"event #{event.sequence} ({what}) has no row in credit")
        elif found != (event.payload_field, event.debits):
            report.problem(
                f"event #{event.sequence} ({what} {event.payload_field}): debits "
                f"{event.debits} vs the row's {found[1]} ({found[0]})"
            )
    for sequence in sorted(rows):
        report.problem(f"a {what} row names event #{sequence}, which is not a {event_type}")
