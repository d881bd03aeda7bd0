"""Writes of expected credit loss: the provision matrix, the period-end allowance, write-
offs and recoveries. Keyword-only arguments, an actor, one transaction each; bookings go
through ledger.services with credit.postings' entries."""

import logging
from datetime import date, datetime

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from credit import locks, postings
from credit.errors import InvalidCreditInput, ProvisionMatrixMissing, WriteOffExceedsOpen
from credit.losses import selectors
from credit.models import BUCKETS, AllowanceBooking, ProvisionMatrix, Recovery, WriteOff
from invoicing import locks as invoicing_locks
from invoicing.models import Invoice
from invoicing.selectors import invoice_amounts_get
from ledger.models import Asset, Book
from ledger.posting_rules import entry_payload
from ledger.selectors import account_balance_get
from ledger.services import AccountRef, accounts_ensure, event_record, ledger_errors

logger = logging.getLogger(__name__)

TEXT_MAX = 500


def _text(name: str, value, *, required: bool = True) -> str:
    if not isinstance(value, str) or len(value) > TEXT_MAX or (required and not value.strip()):
        raise InvalidCreditInput(f"{name} must be a text of 1..{TEXT_MAX} characters")
    return value


def provision_matrix_set(
    *, book: Book, effective_from: date, rates_bps: dict[str, int], actor: str
) -> ProvisionMatrix:
    """A new version of the book's loss rates (basis points per bucket, 0..10000), in
    force from `effective_from`; the versions before it stay as they were."""
    _text("actor", actor)
    if not isinstance(effective_from, date) or isinstance(effective_from, datetime):
        raise InvalidCreditInput("effective_from must be a date")
    if not isinstance(rates_bps, dict) or set(rates_bps) != set(BUCKETS):
        raise InvalidCreditInput(f"rates_bps needs exactly the buckets {list(BUCKETS)}")
    for bucket, rate in rates_bps.items():
        if type(rate) is not int or not 0 <= rate <= selectors.BPS:
            raise InvalidCreditInput(f"{bucket}: a rate is an integer of 0..10000 basis points")
    with transaction.atomic():
        if ProvisionMatrix.objects.filter(book=book, effective_from=effective_from).exists():
            raise InvalidCreditInput(
                f"a matrix of {book.code} is already in force from {effective_from}"
            )
        matrix = ProvisionMatrix.objects.create(
            book=book,
            effective_from=effective_from,
            created_at=timezone.now(),
            created_by=actor,
            **{f"{bucket}_bps": rate for bucket, rate in rates_bps.items()},
        )
    logger.info("provision matrix of %s from %s by %s", book.code, effective_from, actor)
    return matrix


def _allowance_accounts(book_id: int, asset_id: int) -> tuple[int, int]:
    refs = [
        AccountRef(book_id, asset_id, *code) for code in (postings.ALLOWANCE, postings.BAD_DEBT)
    ]
    ids = accounts_ensure(refs=refs)
    return ids[refs[0]], ids[refs[1]]


def _allowance_at(book: Book, currency: Asset, account_id: int, period_end: date) -> int:
    """What allowance:doubtful holds for the period: its live credit balance (earlier
    periods' bookings are always recorded after their period end) with the write-offs and
    recoveries dated after the period end taken back out, as the aging leaves them out."""
    cut = selectors.day_end(period_end)
    later = {"invoice__seller_book": book, "invoice__currency": currency}
    written = WriteOff.objects.filter(written_off_at__gte=cut, **later).aggregate(
        s=Sum("amount_minor")
    )["s"]
    recovered = Recovery.objects.filter(
        recovered_at__gte=cut, **{f"write_off__{k}": v for k, v in later.items()}
    ).aggregate(s=Sum("amount_minor"))["s"]
    # A contra asset: its balance (debits - credits) is minus the allowance.
    live = -account_balance_get(account_id=account_id).balance
    return live + (written or 0) - (recovered or 0)


def allowance_book(
    *, book: Book, currency: Asset, period_end: date, actor: str
) -> AllowanceBooking:
    """Measure the book's allowance at the end of `period_end` (the matrix in force then x
    the aging then) and book the change from what allowance:doubtful holds for it.
    Once per book, currency and period end: a second call returns the first booking."""
    _text("actor", actor)
    with ledger_errors(), transaction.atomic():
        locks.allowance_book_lock(book_id=book.pk)
        done = AllowanceBooking.objects.filter(
            book=book, currency=currency, period_end=period_end
        ).first()
        if done is not None:
            return done
        matrix = selectors.provision_matrix_in_force(book_id=book.pk, on=period_end)
        if matrix is None:
            raise ProvisionMatrixMissing(f"no provision matrix of {book.code} on {period_end}")
        totals = [
            t
            for t in selectors.aging_totals(selectors.aging_list(as_of=period_end, book_id=book.pk))
            if t.currency_id == currency.pk
        ]
        total = totals[0] if totals else selectors.AgingTotal(book.pk, currency.pk)
        measured = selectors.allowance_of(total, matrix)
        allowance_account, bad_debt_account = _allowance_accounts(book.pk, currency.pk)
        previous = _allowance_at(book, currency, allowance_account, period_end)
        change = measured.allowance_minor - previous
        sequence = None
        if change:
            entry = postings.allowance_change_entry(
                book_id=book.pk,
                asset_id=currency.pk,
                allowance=allowance_account,
                bad_debt=bad_debt_account,
                change=change,
                memo=f"allowance for doubtful receivables at {period_end}",
            )
            appended = event_record(
                event_type=postings.ALLOWANCE_CHANGED_EVENT,
                payload={
                    "entries": [entry_payload(entry)],
                    "period_end": period_end.isoformat(),
                    "matrix": matrix.pk,
                    "allowance": measured.allowance_minor,
                },
                idempotency_key=f"credit:allowance:{book.pk}:{currency.pk}:{period_end}",
                actor=actor,
            )
            sequence = appended.sequence
        booking = AllowanceBooking.objects.create(
            book=book,
            currency=currency,
            period_end=period_end,
            matrix=matrix,
            receivable_minor=measured.receivable_minor,
            allowance_minor=measured.allowance_minor,
            previous_minor=previous,
            change_minor=change,
            buckets=measured.buckets,
            ledger_event_sequence=sequence,
            booked_at=timezone.now(),
            booked_by=actor,
        )
    logger.info(
        "allowance of %s %s at %s: %s (change %s)",
        book.code,
        currency.code,
        period_end,
        measured.allowance_minor,
        change,
    )
    return booking


def allowances_book_period_end(*, period_end: date, actor: str) -> list[AllowanceBooking]:
    """The period-end job: every book with a provision matrix, in each currency it has
    receivables in (or an allowance booked before, so a cleared book is released)."""
    books = ProvisionMatrix.objects.filter(effective_from__lte=period_end).values_list(
        "book_id", flat=True
    )
    currencies: dict[int, set[int]] = {}
    for total in selectors.aging_totals(selectors.aging_list(as_of=period_end)):
        currencies.setdefault(total.book_id, set()).add(total.currency_id)
    for book_id, currency_id in AllowanceBooking.objects.values_list(
        "book_id", "currency_id"
    ).distinct():
        currencies.setdefault(book_id, set()).add(currency_id)
    done = []
    for book in Book.objects.filter(pk__in=set(books)).order_by("pk"):
        for currency in Asset.objects.filter(pk__in=currencies.get(book.pk, ())).order_by("pk"):
            done.append(
                allowance_book(book=book, currency=currency, period_end=period_end, actor=actor)
            )
    return done


def _written_off(invoice: Invoice) -> int:
    written = WriteOff.objects.filter(invoice=invoice).aggregate(s=Sum("amount_minor"))["s"] or 0
    recovered = (
        Recovery.objects.filter(write_off__invoice=invoice).aggregate(s=Sum("amount_minor"))["s"]
        or 0
    )
    return written - recovered


def _receivable_accounts(invoice: Invoice) -> tuple[int, int]:
    book, asset = invoice.seller_book_id, invoice.currency_id
    refs = [
        AccountRef(book, asset, *postings.receivable(invoice.buyer_key)),
        AccountRef(book, asset, *postings.ALLOWANCE),
    ]
    ids = accounts_ensure(refs=refs)
    return ids[refs[0]], ids[refs[1]]


def write_off_create(
    *,
    invoice: Invoice,
    amount_minor: int,
    reason: str,
    approved_by: str,
    actor: str,
    now: datetime | None = None,
) -> WriteOff:
    """Write off (part of) a finalized invoice's open receivable against the allowance.
    The invoice stays as it is (its payments may still come: recovery_create)."""
    _text("reason", reason)
    _text("approved_by", approved_by)
    _text("actor", actor)
    if type(amount_minor) is not int or amount_minor <= 0:
        raise InvalidCreditInput("amount_minor must be a positive integer")
    now = now or timezone.now()
    with ledger_errors(), transaction.atomic():
        invoice = invoicing_locks.invoice_lock(invoice_id=invoice.pk)
        if invoice.state != Invoice.State.FINALIZED:
            raise InvalidCreditInput(f"invoice {invoice.pk} is {invoice.state}, not finalized")
        if invoice.buyer_customer_id is not None:
            # A write-off is not a payment: dunning must not read it as one (DunningStanding).
            standing = locks.standing_lock(customer_id=invoice.buyer_customer_id, now=now)
        else:
            standing = None
        open_minor = invoice_amounts_get(invoice).due(invoice) - _written_off(invoice)
        if amount_minor > open_minor:
            raise WriteOffExceedsOpen(
                f"{amount_minor} exceeds the open {open_minor} of invoice {invoice.number_text}",
                details={"open_minor": open_minor},
            )
        receivable, allowance = _receivable_accounts(invoice)
        count = WriteOff.objects.filter(invoice=invoice).count()
        entry = postings.write_off_entry(
            book_id=invoice.seller_book_id,
            asset_id=invoice.currency_id,
            allowance=allowance,
            receivable=receivable,
            amount=amount_minor,
            memo=f"write-off of invoice {invoice.number_text}: {reason}"[:TEXT_MAX],
        )
        appended = event_record(
            event_type=postings.WRITE_OFF_EVENT,
            payload={
                "entries": [entry_payload(entry)],
                "invoice": str(invoice.public_id),
                "reason": reason,
                "approved_by": approved_by,
            },
            idempotency_key=f"credit:write-off:{invoice.public_id}:{count + 1}",
            actor=actor,
        )
        write_off = WriteOff.objects.create(
            invoice=invoice,
            amount_minor=amount_minor,
            reason=reason,
            approved_by=approved_by,
            written_off_at=now,
            written_off_by=actor,
            ledger_event_sequence=appended.sequence,
        )
        if standing is not None:
            standing.receivable_credits_minor += amount_minor
            standing.save(update_fields=["receivable_credits_minor"])
    logger.info("write-off %s of invoice %s by %s", amount_minor, invoice.number_text, actor)
    return write_off


def recovery_create(
    *, write_off: WriteOff, amount_minor: int, actor: str, note: str = "", now=None
) -> Recovery:
    """Book back (part of) a write-off when the money comes after all: the receivable
    is open again for that amount, so the payment is recorded on the invoice as usual."""
    _text("actor", actor)
    _text("note", note, required=False)
    if type(amount_minor) is not int or amount_minor <= 0:
        raise InvalidCreditInput("amount_minor must be a positive integer")
    now = now or timezone.now()
    with ledger_errors(), transaction.atomic():
        invoice = invoicing_locks.invoice_lock(invoice_id=write_off.invoice_id)
        write_off = WriteOff.objects.get(pk=write_off.pk)
        recovered = write_off.recoveries.aggregate(s=Sum("amount_minor"))["s"] or 0
        if amount_minor > write_off.amount_minor - recovered:
            raise WriteOffExceedsOpen(
                f"{amount_minor} exceeds what is left of the write-off "
                f"({write_off.amount_minor - recovered})",
                details={"recoverable_minor": write_off.amount_minor - recovered},
            )
        receivable, allowance = _receivable_accounts(invoice)
        entry = postings.recovery_entry(
            book_id=invoice.seller_book_id,
            asset_id=invoice.currency_id,
            allowance=allowance,
            receivable=receivable,
            amount=amount_minor,
            memo=f"recovery on invoice {invoice.number_text}",
        )
        count = write_off.recoveries.count()
        appended = event_record(
            event_type=postings.RECOVERY_EVENT,
            payload={
                "entries": [entry_payload(entry)],
                "invoice": str(invoice.public_id),
                "write_off": write_off.pk,
            },
            idempotency_key=f"credit:recovery:{write_off.pk}:{count + 1}",
            actor=actor,
        )
        recovery = Recovery.objects.create(
            write_off=write_off,
            amount_minor=amount_minor,
            note=note,
            recovered_at=now,
            recovered_by=actor,
            ledger_event_sequence=appended.sequence,
        )
    logger.info("recovery %s of write-off %s by %s", amount_minor, write_off.pk, actor)
    return recovery
