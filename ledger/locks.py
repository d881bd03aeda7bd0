"""Every lock on the ledger, and the one order in which the whole product takes locks.

A transaction takes locks in this order and never an earlier kind after a later one, so
no two transactions can wait for each other (Saleor's lock_objects.py, one level up):

  1. an app's own rows, each kind in primary-key order: wallets' authorizations and
     customers, payments' top-ups and auto top-ups (each app's `locks.py`);
  2. ledger holds, in id order (`holds_lock`): a capture, void or usage settlement;
  3. the chain lock (`chain_lock`): every append to the journal takes it (inside
     `ledger_append`, migrations/sql/0008_append.sql), and so does whoever must see the
     journal stand still until it commits (a decision on balances, lots, the rebuild);
  4. wallets' lot cursors, in pk order (wallets/locks.py): a lot is opened for an event
     only under the chain lock, so the allocator cannot be half-way through that event;
  5. balance rows, in account order: `balances_lock`, and the posting trigger, which
     updates each account's row once per statement (it runs under the chain lock).

Levels 3 and 5 are re-entrant within a transaction (an advisory lock and row locks
already held), which is why "decide on balances, then append" is safe: the append takes
nothing new. `select_for_update` and advisory locks appear only in `locks.py` modules.
"""

from collections.abc import Sequence

from django.db import connection

from ledger.models import Hold
from ledger.selectors import AccountBalance, balance_from_sums

# Serialises appends so the chain has one head and sequences stay contiguous. A
# transaction-level advisory lock: held until commit, so a reader of the head under it
# sees the last commit.
CHAIN_LOCK_KEY = 0x1ED6E5
CHAIN_LOCK_SQL = "SELECT pg_advisory_xact_lock(%s)"


def chain_lock() -> None:
    """Level 3: no event is appended by anyone else until this transaction ends."""
    assert connection.in_atomic_block, "the chain lock is held to commit: take it in a transaction"
    with connection.cursor() as cursor:
        cursor.execute(CHAIN_LOCK_SQL, [CHAIN_LOCK_KEY])


def holds_lock(hold_ids: Sequence[int], *, skip_locked: bool = False) -> list[Hold]:
    """Level 2: the holds, in id order, with their entry and debit account (what a
    resolution event carries). With `skip_locked`, holds another transaction is resolving
    are left out instead of waited for."""
    return list(
        Hold.objects.select_related("entry", "debit_account")
        .select_for_update(of=("self",), skip_locked=skip_locked)
        .filter(pk__in=hold_ids)
        .order_by("pk")
    )


def balances_lock(account_ids: Sequence[int]) -> dict[int, AccountBalance]:
    """Levels 3 and 5: the chain lock, then the accounts' balance rows in account order,
    held to commit. What they say cannot change until then, so a decision taken on them
    (may this customer spend?) and the hold it appends cannot be overtaken."""
    chain_lock()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT b.account_id, a.type, b.debits_posted, b.credits_posted,"
            "       b.debits_pending, b.credits_pending, b.last_sequence"
            "  FROM ledger_balance b JOIN ledger_account a ON a.id = b.account_id"
            " WHERE b.account_id = ANY(%s)"
            " ORDER BY b.account_id FOR UPDATE OF b",
            [sorted(set(account_ids))],
        )
        return {
            account_id: balance_from_sums(account_id, account_type, sums, last_sequence)
            for account_id, account_type, *sums, last_sequence in cursor.fetchall()
        }
