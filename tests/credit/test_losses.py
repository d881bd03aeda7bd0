"""Aging, the provision matrix, the allowance booked at period end, write-off and
recovery, on invoicing's real world: usage booked through metering's pipeline, invoices
finalized by invoicing, real catalogue prices."""

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from credit import tasks
from credit.errors import InvalidCreditInput, ProvisionMatrixMissing, WriteOffExceedsOpen
from credit.losses import selectors as aging
from credit.losses import services as losses
from credit.models import AllowanceBooking, WriteOff
from invoicing import services as invoicing
from ledger.integrity import verify_ledger
from ledger.models import Account, Event
from ledger.selectors import account_balance_get, trial_balance_list
from tests.invoicing.conftest import AFTER_JULY, AFTER_JUNE, JULY, JUNE, book_usage, world

__all__ = ["world"]  # invoicing's world (overrides the wallets' one of tests/credit)

pytestmark = pytest.mark.django_db

RATES = {"current": 100, "d1_30": 500, "d31_60": 2000, "d61_90": 5000, "over_90": 9000}
CENT = 10**7


def balance(book, code) -> int:
    account = Account.objects.filter(book=book, code=code).first()
    return account_balance_get(account_id=account.id).balance if account else 0


def invoiced(world, customer, period, now):
    draft = invoicing.invoice_draft(
        seller_book=customer.book,
        customer=customer,
        period_start=period[0],
        period_end=period[1],
        actor="test",
        now=now,
    )
    return invoicing.invoice_finalize(invoice=draft, actor="test", now=now)


@pytest.fixture
def invoices(world):
    """globex: June (issued 2 Jul, due 1 Aug) and July (issued 2 Aug, due 1 Sep)."""
    globex = world["globex"]
    book_usage("globex", month=6)
    june = invoiced(world, globex, JUNE, AFTER_JUNE)
    book_usage("globex", month=7)
    july = invoiced(world, globex, JULY, AFTER_JULY)
    assert june.due_at.date() == date(2026, 8, 1) and july.due_at.date() == date(2026, 9, 1)
    return june, july


def _globex(rows):
    [row] = [r for r in rows if r.buyer_key == "globex"]
    return row


def test_aging_puts_each_invoice_in_its_bucket_as_of_any_date(world, invoices):
    june, july = invoices
    assert aging.aging_list(as_of=date(2026, 7, 1)) == []  # nothing issued yet
    row = _globex(aging.aging_list(as_of=date(2026, 8, 1)))  # June due today; July not issued
    assert row.buckets == {**dict.fromkeys(RATES, 0), "current": june.total}
    assert (row.overdue, row.oldest_days_past_due) == (0, 0)
    row = _globex(aging.aging_list(as_of=date(2026, 8, 15)))
    assert (row.buckets["d1_30"], row.buckets["current"]) == (june.total, july.total)
    assert row.oldest_days_past_due == 14
    row = _globex(aging.aging_list(as_of=date(2026, 11, 15)))
    assert (row.buckets["over_90"], row.buckets["d61_90"]) == (june.total, july.total)
    assert row.oldest_days_past_due == 106
    # A partial payment counts from when it was recorded.
    paid_at = datetime(2026, 9, 10, 12, tzinfo=UTC)
    invoicing.invoice_payment_record(
        invoice=june, method="bank_transfer", amount=10 * CENT, actor="t", now=paid_at
    )
    assert _globex(aging.aging_list(as_of=date(2026, 9, 9))).buckets["d31_60"] == june.total
    row = _globex(aging.aging_list(as_of=date(2026, 9, 10)))
    assert row.buckets["d31_60"] == june.total - 10 * CENT
    # Per book: globex is sold by the distributor; the reseller's book has none of it.
    assert aging.aging_list(as_of=date(2026, 9, 10), book_id=world["reseller"].pk) == []
    # Today, the aging of a buyer is what its receivable holds in the ledger.
    assert row.total == balance(world["distributor"], "receivable:globex")


def _expected_allowance(buckets: dict[str, int]) -> int:
    """Independently: Decimal arithmetic, half-even to the unit, per bucket."""
    return sum(
        int((Decimal(buckets[b]) * RATES[b] / 10000).quantize(Decimal(1), ROUND_HALF_EVEN))
        for b in RATES
    )


def test_the_allowance_is_the_matrix_applied_to_the_aging_and_ties_out(world, invoices):
    distributor, usd = world["distributor"], world["usd"]
    with pytest.raises(ProvisionMatrixMissing):
        losses.allowance_book(
            book=distributor, currency=usd, period_end=date(2026, 8, 31), actor="t"
        )
    losses.provision_matrix_set(
        book=distributor, effective_from=date(2026, 1, 1), rates_bps=RATES, actor="finance"
    )
    booking = losses.allowance_book(
        book=distributor, currency=usd, period_end=date(2026, 8, 31), actor="t"
    )
    row = _globex(aging.aging_list(as_of=date(2026, 8, 31), book_id=distributor.pk))
    assert booking.receivable_minor == row.total
    assert booking.allowance_minor == _expected_allowance(row.buckets) > 0
    assert booking.change_minor == booking.allowance_minor  # nothing booked before
    assert -balance(distributor, "allowance:doubtful") == booking.allowance_minor
    assert balance(distributor, "expense:bad_debt") == booking.allowance_minor
    assert {b: v["allowance"] for b, v in booking.buckets.items()} == {
        b: int((Decimal(row.buckets[b]) * RATES[b] / 10000).quantize(1, ROUND_HALF_EVEN))
        for b in RATES
    }

    # Once per period: the job run again books nothing more.
    events = Event.objects.count()
    assert (
        losses.allowance_book(
            book=distributor, currency=usd, period_end=date(2026, 8, 31), actor="t"
        )
        == booking
    )
    assert Event.objects.count() == events

    # Finance raises the rates from October; the November period-end job (the beat task)
    # books only the difference, through expense:bad_debt.
    losses.provision_matrix_set(
        book=distributor,
        effective_from=date(2026, 10, 1),
        rates_bps={**RATES, "d61_90": 7000, "over_90": 10000},
        actor="finance",
    )
    assert tasks.allowance_period_end(now="2026-11-01T02:00:00+00:00")["bookings"] == 1
    later = AllowanceBooking.objects.get(period_end=date(2026, 10, 31))
    row = _globex(aging.aging_list(as_of=date(2026, 10, 31)))
    assert later.allowance_minor == sum(
        int((Decimal(row.buckets[b]) * r / 10000).quantize(1, ROUND_HALF_EVEN))
        for b, r in {**RATES, "d61_90": 7000, "over_90": 10000}.items()
    )
    assert later.change_minor == later.allowance_minor - booking.allowance_minor
    assert -balance(distributor, "allowance:doubtful") == later.allowance_minor
    assert balance(distributor, "expense:bad_debt") == later.allowance_minor
    assert tasks.allowance_period_end(now="2026-11-02T02:00:00+00:00")["bookings"] == 1
    assert AllowanceBooking.objects.filter(period_end=date(2026, 10, 31)).count() == 1
    assert all(r.difference == 0 for r in trial_balance_list())
    assert verify_ledger().ok


def test_bad_matrices_are_refused(world):
    distributor = world["distributor"]
    for rates in ({**RATES, "over_90": 10001}, {**RATES, "current": -1}, {"current": 1}):
        with pytest.raises(InvalidCreditInput):
            losses.provision_matrix_set(
                book=distributor, effective_from=date(2026, 1, 1), rates_bps=rates, actor="f"
            )
    losses.provision_matrix_set(
        book=distributor, effective_from=date(2026, 1, 1), rates_bps=RATES, actor="f"
    )
    with pytest.raises(InvalidCreditInput):  # a version is never edited in place
        losses.provision_matrix_set(
            book=distributor, effective_from=date(2026, 1, 1), rates_bps=RATES, actor="f"
        )


def test_a_write_off_books_against_the_allowance_and_a_recovery_books_back(world, invoices):
    june, july = invoices
    distributor = world["distributor"]
    receivable_before = balance(distributor, "receivable:globex")
    with pytest.raises(WriteOffExceedsOpen):
        losses.write_off_create(
            invoice=june, amount_minor=june.total + 1, reason="gone", approved_by="cfo", actor="f"
        )
    with pytest.raises(InvalidCreditInput):
        losses.write_off_create(
            invoice=june, amount_minor=june.total, reason=" ", approved_by="cfo", actor="f"
        )
    at = datetime(2026, 12, 1, tzinfo=UTC)
    write_off = losses.write_off_create(
        invoice=june,
        amount_minor=june.total,
        reason="customer insolvent",
        approved_by="cfo",
        actor="finance",
        now=at,
    )
    assert balance(distributor, "receivable:globex") == receivable_before - june.total
    assert balance(distributor, "allowance:doubtful") == june.total  # debited: used up
    assert _globex(aging.aging_list(as_of=date(2026, 12, 1))).total == july.total
    assert _globex(aging.aging_list(as_of=date(2026, 11, 30))).total == june.total + july.total
    with pytest.raises(WriteOffExceedsOpen):  # nothing is left to write off
        losses.write_off_create(
            invoice=june, amount_minor=1, reason="again", approved_by="cfo", actor="f"
        )

    # The money comes after all: book the write-off back, then record the payment.
    with pytest.raises(WriteOffExceedsOpen):
        losses.recovery_create(write_off=write_off, amount_minor=june.total + 1, actor="f")
    losses.recovery_create(write_off=write_off, amount_minor=june.total, actor="f", note="paid")
    assert balance(distributor, "receivable:globex") == receivable_before
    assert balance(distributor, "allowance:doubtful") == 0
    invoicing.invoice_payment_record(
        invoice=june, method="bank_transfer", amount=june.total, actor="f"
    )
    assert balance(distributor, "receivable:globex") == receivable_before - june.total
    row = _globex(aging.aging_list(as_of=date.today()))
    assert row.total == balance(distributor, "receivable:globex")
    assert WriteOff.objects.filter(pk=write_off.pk, amount_minor=june.total).exists()  # kept
    assert all(r.difference == 0 for r in trial_balance_list())
    assert verify_ledger().ok


def test_ledger_verify_finds_a_write_off_row_the_ledger_does_not_back(world, invoices):
    june, _july = invoices
    write_off = losses.write_off_create(
        invoice=june, amount_minor=june.total, reason="gone", approved_by="cfo", actor="f"
    )
    assert verify_ledger().ok
    # A row that claims more than its event booked (as a bug would write it).
    WriteOff.objects.filter(pk=write_off.pk).update(amount_minor=june.total - 1)
    problems = verify_ledger().problems
    assert any("write-off" in p and str(june.total - 1) in p for p in problems), problems
    assert any("allowance:doubtful" in p for p in problems), problems


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_period_end_runs_book_the_allowance_once(world, invoices):
    import threading

    from tests.threads import in_thread

    distributor = world["distributor"]
    losses.provision_matrix_set(
        book=distributor, effective_from=date(2026, 1, 1), rates_bps=RATES, actor="finance"
    )
    events_before = Event.objects.count()
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def run() -> None:
        losses.allowances_book_period_end(period_end=date(2026, 9, 30), actor="job")

    threads = [in_thread(run, failures, lock, start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    [booking] = AllowanceBooking.objects.all()
    assert Event.objects.count() == events_before + 1
    assert -balance(distributor, "allowance:doubtful") == booking.allowance_minor > 0
    assert verify_ledger().ok
