"""One event outside a transaction: appended and committed by ONE statement
(`ledger_append_one`, migrations/sql/0007_append_one.sql), with the same outcomes as
the general path: the chain's hashes equal Python's, replays, conflicts, bad accounts
and overdrafts give the same errors, and nothing is half-written."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger import errors, journal, services
from ledger.integrity import verify_ledger
from ledger.models import Entry, Event, Posting
from ledger.posting_rules import EntrySpec, PostingSpec, entry_payload
from tests.ledger.factories import AccountFactory, BookFactory, WalletAccountFactory
from tests.ledger.helpers import balance, key, transfer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cold_account_cache():
    """The path that reads and checks accounts in the same statement."""
    journal._account_cache.clear()


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
    journal._account_cache.clear()
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


def test_the_statements_appear_in_djangos_query_log(book, cash, revenue):
    """The journal sends them on psycopg's own cursors; Django's log still shows them."""
    with CaptureQueriesContext(connection) as single:
        _record(_transfer_payload(book, cash, revenue, 1), key())
    assert [q["sql"].split("(")[0] for q in single.captured_queries] == [
        "SELECT * FROM ledger_append_one"
    ]
    events = [
        journal.NewEvent("ledger.transfer", _transfer_payload(book, cash, revenue, n), key())
        for n in (1, 2)
    ]
    with CaptureQueriesContext(connection) as batch:
        services.events_record_batch(events=events, actor="t")
    logged = " ".join(q["sql"] for q in batch.captured_queries)
    for statement in (
        "pg_advisory_xact_lock",
        "INSERT INTO ledger_event",
        "INSERT INTO ledger_posting",
    ):
        assert statement in logged
