"""The database itself refuses what breaks the ledger, whoever writes.

These tests use raw SQL that bypasses the services and really commit, because the
balance check is a deferred constraint trigger that fires only at commit.
"""

import psycopg
import pytest
from django.db import connection, transaction

from ledger.integrity import verify_ledger
from tests.ledger.factories import AccountFactory, BookFactory, WalletAccountFactory
from tests.ledger.helpers import balance, transfer

pytestmark = pytest.mark.django_db(transaction=True)


def _raw(sql: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


def _new_event_and_entry(book_id: int) -> int:
    """An event and an empty entry, written by hand; returns the entry id."""
    sequence = _raw("SELECT coalesce(max(sequence), 0) + 1 FROM ledger_event")[0][0]
    _raw(
        "INSERT INTO ledger_event (sequence, type, payload, idempotency_key, input_hash,"
        " prev_hash, hash, occurred_at, recorded_at, actor)"
        " VALUES (%s, 'raw', '{}', %s, '', '', '', now(), now(), 'raw-sql')",
        [sequence, f"raw-{sequence}"],
    )
    return _raw(
        "INSERT INTO ledger_entry (event_sequence, book_id, memo, recorded_at)"
        " VALUES (%s, %s, 'raw', now()) RETURNING id",
        [sequence, book_id],
    )[0][0]


def _insert_posting(entry_id, account, side, amount, phase="P"):
    _raw(
        "INSERT INTO ledger_posting (entry_id, account_id, asset_id, side, phase, amount, sequence)"
        " SELECT %s, %s, %s, %s, %s, %s, event_sequence FROM ledger_entry WHERE id = %s",
        [entry_id, account.id, account.asset_id, side, phase, amount, entry_id],
    )


def test_unbalanced_entry_is_refused_at_commit():
    book = BookFactory()
    cash, revenue = AccountFactory(book=book), AccountFactory(book=book, type="revenue")
    with pytest.raises(Exception) as refused:
        with transaction.atomic():
            entry_id = _new_event_and_entry(book.id)
            _insert_posting(entry_id, cash, "D", 100)
            _insert_posting(entry_id, revenue, "C", 99)
            # Still inside the transaction: nothing has complained yet (deferred check).
    assert refused.value.__cause__.diag.sqlstate == "LD002"
    assert "does not balance" in str(refused.value)
    assert _raw("SELECT count(*) FROM ledger_posting")[0][0] == 0
    assert balance(cash) == 0


def test_entry_built_over_several_statements_commits_when_it_balances():
    book = BookFactory()
    cash, revenue = AccountFactory(book=book), AccountFactory(book=book, type="revenue")
    with transaction.atomic():
        entry_id = _new_event_and_entry(book.id)
        _insert_posting(entry_id, cash, "D", 100)
        _insert_posting(entry_id, revenue, "C", 60)
        _insert_posting(entry_id, revenue, "C", 40)
    assert balance(cash) == 100
    assert balance(revenue) == 100
    assert _raw("SELECT count(*) FROM ledger_entry_balance_check")[0][0] == 0


def test_adding_an_unbalanced_posting_to_a_committed_entry_is_refused():
    book = BookFactory()
    cash, revenue = AccountFactory(book=book), AccountFactory(book=book, type="revenue")
    entry_id = transfer(cash, revenue, 500).entry_ids[0]
    with pytest.raises(Exception, match="does not balance"):
        with transaction.atomic():
            _insert_posting(entry_id, cash, "D", 1)
    assert balance(cash) == 500


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_posting SET amount = amount + 1",
        "DELETE FROM ledger_posting",
        "UPDATE ledger_entry SET memo = 'changed'",
        "DELETE FROM ledger_entry",
        "UPDATE ledger_event SET payload = '{}'",
        "DELETE FROM ledger_event",
    ],
)
def test_journal_rows_cannot_be_updated_or_deleted(statement):
    book = BookFactory()
    transfer(AccountFactory(book=book), AccountFactory(book=book), 7)
    with pytest.raises(Exception, match="append-only") as refused:
        with transaction.atomic():
            _raw(statement)
    assert refused.value.__cause__.diag.sqlstate == "LD001"
    assert verify_ledger().ok


def test_truncate_is_refused_unless_the_session_allows_it():
    with pytest.raises(Exception, match="append-only"):
        with transaction.atomic():
            _raw("SET LOCAL ledger.allow_truncate = off")
            _raw("TRUNCATE ledger_posting CASCADE")


def test_overdraft_of_a_no_overdraft_account_is_refused():
    book = BookFactory()
    wallet = WalletAccountFactory(book=book)
    cash = AccountFactory(book=book)
    transfer(cash, wallet, 100)  # the customer pays in 100
    with pytest.raises(Exception, match="balance_debits_must_not_exceed_credits") as refused:
        with transaction.atomic():
            entry_id = _new_event_and_entry(book.id)
            _insert_posting(entry_id, wallet, "D", 101)
            _insert_posting(entry_id, cash, "C", 101)
    assert isinstance(refused.value.__cause__, psycopg.errors.CheckViolation)
    assert balance(wallet) == 100


def test_posting_in_another_asset_than_its_account_is_refused():
    book = BookFactory()
    usd_account = AccountFactory(book=book)
    cny_account = AccountFactory(book=book, asset__code="CNY", asset__scale=9)
    with pytest.raises(Exception, match="holds asset"):
        with transaction.atomic():
            entry_id = _new_event_and_entry(book.id)
            _raw(
                "INSERT INTO ledger_posting (entry_id, account_id, asset_id, side, phase, amount,"
                " sequence) VALUES (%s, %s, %s, 'D', 'P', 5, 1), (%s, %s, %s, 'C', 'P', 5, 1)",
                [
                    entry_id,
                    usd_account.id,
                    cny_account.asset_id,
                    entry_id,
                    cny_account.id,
                    cny_account.asset_id,
                ],
            )


@pytest.mark.parametrize("amount", [0, -5])
def test_amounts_must_be_positive(amount):
    book = BookFactory()
    cash = AccountFactory(book=book)
    with pytest.raises(Exception, match="posting_amount_positive"):
        with transaction.atomic():
            entry_id = _new_event_and_entry(book.id)
            _insert_posting(entry_id, cash, "D", amount)


def test_idempotency_keys_are_unique_in_the_database():
    _raw(
        "INSERT INTO ledger_event (sequence, type, payload, idempotency_key, input_hash,"
        " prev_hash, hash, occurred_at, recorded_at, actor)"
        " VALUES (1, 'raw', '{}', 'same-key', '', '', '', now(), now(), 'raw-sql')"
    )
    with pytest.raises(Exception, match="idempotency_key"):
        _raw(
            "INSERT INTO ledger_event (sequence, type, payload, idempotency_key, input_hash,"
            " prev_hash, hash, occurred_at, recorded_at, actor)"
            " VALUES (2, 'raw', '{}', 'same-key', '', '', '', now(), now(), 'raw-sql')"
        )


def test_references_are_checked_without_foreign_keys():
    book = BookFactory()
    cash = AccountFactory(book=book)
    with pytest.raises(Exception, match="names account 987654, which does not exist"):
        with transaction.atomic():
            entry_id = _new_event_and_entry(book.id)
            _raw(
                "INSERT INTO ledger_posting (entry_id, account_id, asset_id, side, phase, amount,"
                " sequence) VALUES (%s, 987654, %s, 'D', 'P', 5, 1)",
                [entry_id, cash.asset_id],
            )
    with pytest.raises(Exception, match="names entry 987654, which does not exist"):
        with transaction.atomic():
            _raw(
                "INSERT INTO ledger_posting (entry_id, account_id, asset_id, side, phase, amount,"
                " sequence) VALUES (987654, %s, %s, 'D', 'P', 5, 1)",
                [cash.id, cash.asset_id],
            )
    with pytest.raises(Exception, match="names event #987654, which does not exist"):
        with transaction.atomic():
            _raw(
                "INSERT INTO ledger_entry (event_sequence, book_id, memo, recorded_at)"
                " VALUES (987654, %s, 'raw', now())",
                [book.id],
            )


def test_an_entry_cannot_post_to_another_books_account():
    book, other_book = BookFactory(), BookFactory()
    mine, theirs = AccountFactory(book=book), AccountFactory(book=other_book)
    with pytest.raises(Exception, match=f"puts account {theirs.id} of book {other_book.id}"):
        with transaction.atomic():
            entry_id = _new_event_and_entry(book.id)
            _insert_posting(entry_id, mine, "D", 5)
            _insert_posting(entry_id, theirs, "C", 5)


@pytest.mark.parametrize("table", ["ledger_account", "ledger_book", "ledger_asset"])
def test_reference_data_cannot_be_deleted(table):
    AccountFactory()
    with pytest.raises(Exception, match="append-only"):
        with transaction.atomic():
            _raw(f"DELETE FROM {table}")
