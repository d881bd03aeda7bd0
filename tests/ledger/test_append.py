"""Every append is ONE statement, `ledger_append` (migrations/sql/0008_append.sql),
whatever its size; outside a transaction it is its own transaction. The chain's hashes
verify, replays, conflicts, bad accounts and overdrafts give their errors, and nothing is
half-written."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger import errors, journal, services
from ledger.accounts import account_cache
from ledger.integrity import verify_ledger
from ledger.models import Entry, Event, Posting
from ledger.posting_rules import EntrySpec, PostingSpec, entry_payload
from tests.ledger.factories import AccountFactory, BookFactory, WalletAccountFactory
from tests.ledger.helpers import balance, key, transfer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cold_account_cache():
    """The path that reads and checks accounts in the same statement."""
    account_cache.clear()


def _transfer_payload(book, debit, credit, amount: int, memo: str = "one statement") -> dict:
    entry = EntrySpec(
        book.id,
        (
            PostingSpec(debit.id, debit.asset_id, "D", amount),
            PostingSpec(credit.id, credit.asset_id, "C", amount),
        ),
        memo=memo,
    )
    return {"entries": [entry_payload(entry)]}


def _record(payload: dict, idempotency_key: str):
    assert not connection.in_atomic_block  # the one-statement path
    return services.event_record(
        event_type="ledger.transfer", payload=payload, idempotency_key=idempotency_key, actor="t"
    )


def test_hashes_made_in_postgresql_verify_in_python(book, cash, revenue, cold_account_cache):
    # Non-ASCII text in the payload: both sides must hash the same UTF-8 bytes.
    first = _record(_transfer_payload(book, cash, revenue, 5, memo="Überweisung 转账 ✓"), key())
    # A batch between single appends: the chain continues across both paths.
    services.events_record_batch(
        events=[
            journal.NewEvent("ledger.transfer", _transfer_payload(book, cash, revenue, n), key())
            for n in (1, 2, 3)
        ],
        actor="t",
    )
    last = _record(_transfer_payload(book, revenue, cash, 4), key())

    assert (first.sequence, last.sequence) == (first.sequence, first.sequence + 4)
    assert not first.replayed and len(first.entry_ids) == 1
    assert Entry.objects.get(id=first.entry_ids[0]).memo == "Überweisung 转账 ✓"
    assert Posting.objects.filter(entry_id=last.entry_ids[0]).count() == 2
    assert balance(cash) == 5 + 1 + 2 + 3 - 4
    report = verify_ledger()
    assert report.ok, report.problems


def test_same_key_replays_and_other_input_conflicts(book, cash, revenue):
    payload = _transfer_payload(book, cash, revenue, 10)
    first = _record(payload, "single-k1")
    again = _record(payload, "single-k1")
    assert again.replayed and not first.replayed
    assert (again.sequence, again.entry_ids) == (first.sequence, first.entry_ids)
    with pytest.raises(errors.IdempotencyConflict, match=f"event #{first.sequence}"):
        _record(_transfer_payload(book, cash, revenue, 11), "single-k1")
    assert Event.objects.filter(idempotency_key="single-k1").count() == 1
    assert balance(cash) == 10


def test_unknown_and_foreign_accounts_are_named_and_nothing_is_written(
    book, cash, cold_account_cache
):
    other_book_account = AccountFactory(book=BookFactory())
    ghost = AccountFactory.build(id=987_654, book=book, asset=cash.asset)
    with pytest.raises(errors.UnknownAccount, match="account 987654 does not exist"):
        _record(_transfer_payload(book, cash, ghost, 1), key())
    account_cache.clear()
    with pytest.raises(errors.AccountMismatch, match=f"account {other_book_account.id} is in book"):
        _record(_transfer_payload(book, cash, other_book_account, 1), key())
    assert Event.objects.count() == 0
    assert balance(cash) == 0


def test_overdraft_is_insufficient_funds_and_the_chain_stays_whole(book, cash, revenue):
    wallet = WalletAccountFactory(book=book)
    transfer(cash, wallet, 100)
    with pytest.raises(errors.InsufficientFunds) as refused:
        _record(_transfer_payload(book, wallet, revenue, 101), key())
    assert refused.value.details["account"] == wallet.id
    after = _record(_transfer_payload(book, wallet, revenue, 100), key())
    assert after.sequence == Event.objects.count()  # no gap left by the refused one
    assert balance(wallet) == 0
    report = verify_ledger()
    assert report.ok, report.problems


def _appends(captured) -> list[str]:
    return [q["sql"] for q in captured if "ledger_append(" in q["sql"]]


def test_one_statement_whatever_the_size_and_djangos_query_log_sees_it(book, cash, revenue):
    """The journal sends it on psycopg's own cursor, wrapped as Django wraps its own; a
    batch of COPY_THRESHOLD_EVENTS or more streams its rows in by COPY after it."""
    with CaptureQueriesContext(connection) as single:
        _record(_transfer_payload(book, cash, revenue, 1), key())
    assert len(single.captured_queries) == 1 and len(_appends(single.captured_queries)) == 1
    for size in (2, 300):  # a few events, and as many as once went by COPY
        events = [
            journal.NewEvent("ledger.transfer", _transfer_payload(book, cash, revenue, n), key())
            for n in range(1, size + 1)
        ]
        with CaptureQueriesContext(connection) as batch:
            results = services.events_record_batch(events=events, actor="t")
        assert len(_appends(batch.captured_queries)) == 1
        assert "event_payloads => " in _appends(batch.captured_queries)[0]  # named parameters
        assert [r.sequence for r in results] == list(
            range(results[0].sequence, results[0].sequence + size)
        )
    assert balance(cash) == 1 + 3 + 300 * 301 // 2
    report = verify_ledger()
    assert report.ok, report.problems


@pytest.mark.parametrize("padding", [0, journal.COPY_THRESHOLD_EVENTS])  # inline, COPY
def test_a_batch_mixing_replays_and_fresh_events_keeps_each_ones_entries(
    book, cash, revenue, padding
):
    old = [
        journal.NewEvent("ledger.transfer", _transfer_payload(book, cash, revenue, n), key())
        for n in (1, 2)
    ]
    before = services.events_record_batch(events=old, actor="t")
    fresh = journal.NewEvent("ledger.transfer", _transfer_payload(book, cash, revenue, 7), key())
    more = [
        journal.NewEvent("ledger.transfer", _transfer_payload(book, cash, revenue, 1), key())
        for _ in range(padding)
    ]
    mixed = services.events_record_batch(events=[old[1], fresh, old[0], fresh, *more], actor="t")
    assert [r.replayed for r in mixed[:4]] == [True, False, True, False]
    assert not any(r.replayed for r in mixed[4:])
    assert (mixed[0].sequence, mixed[0].entry_ids) == (before[1].sequence, before[1].entry_ids)
    assert (mixed[2].sequence, mixed[2].entry_ids) == (before[0].sequence, before[0].entry_ids)
    assert mixed[1] is mixed[3] and mixed[1].sequence == before[1].sequence + 1
    assert [r.sequence for r in mixed[4:]] == list(
        range(before[1].sequence + 2, before[1].sequence + 2 + padding)
    )
    for result in [mixed[1], *mixed[4:]]:
        assert Entry.objects.get(id=result.entry_ids[0]).event_id == result.sequence
    assert balance(cash) == 1 + 2 + 7 + padding
    report = verify_ledger()
    assert report.ok, report.problems


def test_a_conflict_anywhere_in_a_batch_writes_nothing(book, cash, revenue):
    services.event_record(
        event_type="ledger.transfer",
        payload=_transfer_payload(book, cash, revenue, 1),
        idempotency_key="batch-k",
        actor="t",
    )
    events = [
        journal.NewEvent("ledger.transfer", _transfer_payload(book, cash, revenue, 5), key()),
        journal.NewEvent("ledger.transfer", _transfer_payload(book, cash, revenue, 2), "batch-k"),
    ]
    with pytest.raises(errors.IdempotencyConflict, match="batch-k"):
        services.events_record_batch(events=events, actor="t")
    assert Event.objects.count() == 1
    assert balance(cash) == 1
