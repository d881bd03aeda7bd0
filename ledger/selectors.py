"""Reads of the ledger: balances, statements, trial balance.

Balances are signed from the account's own point of view: a debit-normal account
(asset, expense) shows debits - credits, the others credits - debits. Amounts are ints
in the asset's smallest unit; `Decimal` appears only at the API's edge.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import OuterRef, Subquery

from ledger.accounts import account_cache
from ledger.errors import UnknownAccount
from ledger.models import Account, Balance, Hold

DEBIT_NORMAL_TYPES = (Account.Type.ASSET, Account.Type.EXPENSE)
STATEMENT_PAGE_SIZE_MAX = 1000


@dataclass(frozen=True, slots=True)
class AccountBalance:
    account_id: int
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    balance: int  # posted, signed by the account's normal side
    available: int  # balance less what holds reserve against it
    last_sequence: int


def _signed(account_type: str, debits: int, credits: int) -> int:
    return debits - credits if account_type in DEBIT_NORMAL_TYPES else credits - debits


def _account(account_id: int) -> Account:
    account = Account.objects.filter(pk=account_id).first()
    if account is None:
        raise UnknownAccount(f"account {account_id} does not exist")
    return account


def account_balance_find(*, book_id: int, asset_id: int, code: str) -> AccountBalance | None:
    """The balance of the account with this code in the book and asset; None when no such
    account was made yet."""
    account_id = account_cache.id_for(book_id, asset_id, code)
    if account_id is None:
        found = Account.objects.filter(book_id=book_id, asset_id=asset_id, code=code).first()
        if found is None:
            return None
        account_id = found.id
    return account_balance_get(account_id=account_id)


def accounts_count(*, book_ids: Sequence[int]) -> int:
    return Account.objects.filter(book_id__in=list(book_ids)).count()


def holds_get(*, hold_ids: Sequence[int]) -> dict[int, Hold]:
    """Holds by id with their entry and debit account (a hold never changes)."""
    return Hold.objects.select_related("entry", "debit_account").in_bulk(list(hold_ids))


def account_balance_get(*, account_id: int) -> AccountBalance:
    """The live projection: balance and available balance (pending holds subtracted)."""
    account = _account(account_id)
    row = Balance.objects.get(account_id=account_id)
    return balance_from_sums(
        account_id,
        account.type,
        (row.debits_posted, row.credits_posted, row.debits_pending, row.credits_pending),
        row.last_sequence,
    )


def balance_from_sums(
    account_id: int, account_type: str, sums, last_sequence: int
) -> AccountBalance:
    """A balance row's sums (debits and credits posted, then pending), as the account
    sees them: the one definition of balance and available balance."""
    dp, cp, dh, ch = (int(amount) for amount in sums)
    balance = _signed(account_type, dp, cp)
    # A hold debiting a credit-normal account (a wallet) reduces what is available, and
    # a hold crediting a debit-normal account does too.
    reserved = ch if account_type in DEBIT_NORMAL_TYPES else dh
    return AccountBalance(account_id, dp, cp, dh, ch, balance, balance - reserved, last_sequence)


def account_balance_as_of(
    *, account_id: int, sequence: int | None = None, at: datetime | None = None
) -> int:
    """Posted balance after event `sequence`, or as recorded at time `at`."""
    account = _account(account_id)
    query = (
        "SELECT coalesce(sum(p.amount) FILTER (WHERE p.side = 'D'), 0),"
        "       coalesce(sum(p.amount) FILTER (WHERE p.side = 'C'), 0)"
        "  FROM ledger_posting p"
    )
    params: list = []
    if at is not None:
        query += " JOIN ledger_entry e ON e.id = p.entry_id"
    query += " WHERE p.account_id = %s AND p.phase = 'P'"
    params.append(account_id)
    if sequence is not None:
        query += " AND p.sequence <= %s"
        params.append(sequence)
    if at is not None:
        query += " AND e.recorded_at <= %s"
        params.append(at)
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        debits, credits = cursor.fetchone()
    return _signed(account.type, int(debits), int(credits))


@dataclass(frozen=True, slots=True)
class StatementLine:
    posting_id: int
    entry_id: int
    sequence: int
    recorded_at: datetime
    memo: str
    side: str
    amount: int
    running_balance: int


def account_statement_list(
    *, account_id: int, after_sequence: int = 0, limit: int = 100
) -> list[StatementLine]:
    """Posted lines after `after_sequence`, oldest first, with the running balance.

    Paginate by passing the last line's sequence back as `after_sequence`: the opening
    balance of each page is computed, so pages agree with each other. A page always ends
    with the whole of its last event (one event may post to an account several times), so
    it can hold a few more than `limit` lines, and the next page misses none.
    """
    account = _account(account_id)
    limit = max(1, min(limit, STATEMENT_PAGE_SIZE_MAX))
    opening = account_balance_as_of(account_id=account_id, sequence=after_sequence)
    sign = 1 if account.type in DEBIT_NORMAL_TYPES else -1
    select = (
        "SELECT p.id, p.entry_id, p.sequence, e.recorded_at, e.memo, p.side, p.amount"
        "  FROM ledger_posting p JOIN ledger_entry e ON e.id = p.entry_id"
        " WHERE p.account_id = %s AND p.phase = 'P'"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            select + " AND p.sequence > %s ORDER BY p.sequence, p.id LIMIT %s",
            [account_id, after_sequence, limit],
        )
        rows = cursor.fetchall()
        if len(rows) == limit:
            last_id, last_sequence = rows[-1][0], rows[-1][2]
            cursor.execute(
                select + " AND p.sequence = %s AND p.id > %s ORDER BY p.id",
                [account_id, last_sequence, last_id],
            )
            rows += cursor.fetchall()
    lines, running = [], opening
    for posting_id, entry_id, sequence, recorded_at, memo, side, amount in rows:
        running += sign * (amount if side == "D" else -amount)
        lines.append(
            StatementLine(posting_id, entry_id, sequence, recorded_at, memo, side, amount, running)
        )
    return lines


def account_statement_iter(*, account_id: int, page_size: int = STATEMENT_PAGE_SIZE_MAX):
    """Every posted line of an account, oldest first, a page at a time (exports)."""
    after_sequence = 0
    while True:
        lines = account_statement_list(
            account_id=account_id, after_sequence=after_sequence, limit=page_size
        )
        yield from lines
        if len(lines) < page_size:
            return
        after_sequence = lines[-1].sequence


@dataclass(frozen=True, slots=True)
class AccountBalanceRow:
    account_id: int
    book_code: str
    account_code: str
    account_type: str
    asset_code: str
    scale: int
    balance: AccountBalance


BALANCES_CHUNK = 5000


def account_balances_iter(*, book_code: str | None = None, code_prefix: str | None = None):
    """The live balance of every account (of a book, with a code prefix), by book and
    account code, read in chunks so an export of millions of accounts streams."""
    query = (
        "SELECT a.id, bk.code, a.code, a.type, ast.code, ast.scale, b.debits_posted,"
        "       b.credits_posted, b.debits_pending, b.credits_pending, b.last_sequence"
        "  FROM ledger_account a"
        "  JOIN ledger_balance b ON b.account_id = a.id"
        "  JOIN ledger_book bk ON bk.id = a.book_id"
        "  JOIN ledger_asset ast ON ast.id = a.asset_id"
        " WHERE (bk.code, a.code, a.id) > (%s, %s, %s)"
    )
    params: list = []
    if book_code is not None:
        query += " AND bk.code = %s"
        params.append(book_code)
    if code_prefix:
        query += " AND starts_with(a.code, %s)"
        params.append(code_prefix)
    query += " ORDER BY bk.code, a.code, a.id LIMIT %s"
    after = ("", "", 0)
    while True:
        with connection.cursor() as cursor:
            cursor.execute(query, [*after, *params, BALANCES_CHUNK])
            rows = cursor.fetchall()
        for account_id, book, code, kind, asset, scale, *sums, last in rows:
            balance = balance_from_sums(account_id, kind, sums, last)
            yield AccountBalanceRow(account_id, book, code, kind, asset, scale, balance)
        if len(rows) < BALANCES_CHUNK:
            return
        after = (rows[-1][1], rows[-1][2], rows[-1][0])


def account_balances_by_code(
    *, keys: Sequence[tuple[int, int, str]]
) -> dict[tuple[int, int, str], AccountBalance]:
    """The live balances of the accounts (book id, asset id, code) that exist, in one query
    (a report over thousands of customers, or an authorization batch)."""
    if not keys:
        return {}
    books, assets, codes = (list(column) for column in zip(*keys, strict=True))
    query = (
        "SELECT a.book_id, a.asset_id, a.code, a.id, a.type, b.debits_posted,"
        "       b.credits_posted, b.debits_pending, b.credits_pending, b.last_sequence"
        "  FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS k(book_id, asset_id, code)"
        "  JOIN ledger_account a"
        "    ON a.book_id = k.book_id AND a.asset_id = k.asset_id AND a.code = k.code"
        "  JOIN ledger_balance b ON b.account_id = a.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(query, [books, assets, codes])
        rows = cursor.fetchall()
    return {
        (book, asset, code): balance_from_sums(account_id, kind, sums, last)
        for book, asset, code, account_id, kind, *sums, last in rows
    }


@dataclass(frozen=True, slots=True)
class TrialBalanceRow:
    book_id: int
    book_code: str
    asset_code: str
    scale: int
    debits: int
    credits: int

    @property
    def difference(self) -> int:
        return self.debits - self.credits

    def as_decimal(self, amount: int) -> Decimal:
        return Decimal(amount).scaleb(-self.scale)


def trial_balance_list(*, book_id: int | None = None) -> list[TrialBalanceRow]:
    """Total debits and credits per book and asset; each difference must be zero."""
    query = (
        "SELECT bk.id, bk.code, ast.code, ast.scale,"
        "       coalesce(sum(b.debits_posted), 0), coalesce(sum(b.credits_posted), 0)"
        "  FROM ledger_account a"
        "  JOIN ledger_balance b ON b.account_id = a.id"
        "  JOIN ledger_book bk ON bk.id = a.book_id"
        "  JOIN ledger_asset ast ON ast.id = a.asset_id"
    )
    params = []
    if book_id is not None:
        query += " WHERE a.book_id = %s"
        params.append(book_id)
    query += " GROUP BY bk.id, bk.code, ast.code, ast.scale ORDER BY bk.code, ast.code"
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return [
            TrialBalanceRow(book, code, asset, scale, int(debits), int(credits))
            for book, code, asset, scale, debits, credits in cursor.fetchall()
        ]


# --- the journal's movements, for sub-ledgers (wallets' lots) and checks ---------------


def head_sequence_get() -> int:
    """The sequence of the last committed event (0 for an empty log)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(sequence), 0) FROM ledger_event")
        return cursor.fetchone()[0]


def account_last_sequence(account_field: str) -> Subquery:
    """For a queryset of another app whose rows name a ledger account in
    `account_field`: the sequence of the last event that moved that account (its
    balance row's), as an expression to annotate or filter by."""
    return Subquery(
        Balance.objects.filter(account_id=OuterRef(account_field)).values("last_sequence")[:1]
    )


def account_event_net_get(*, account_id: int, sequence: int) -> int:
    """Posted credits minus debits of one event on one account (0: not on it)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(CASE side WHEN 'C' THEN amount ELSE -amount END), 0)"
            "  FROM ledger_posting WHERE account_id = %s AND sequence = %s AND phase = 'P'",
            [account_id, sequence],
        )
        return int(cursor.fetchone()[0])


def account_movements_list(
    *, after: dict[int, int], through: int, per_account_max: int
) -> dict[int, list[tuple[int, int]]]:
    """Per account, (sequence, posted credits minus debits) of each event that moved it
    after `after[account]` up to `through`, at most `per_account_max` events per
    account, oldest first."""
    if not after:
        return {}
    accounts = list(after)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT account_id, sequence, net FROM ("
            "  SELECT p.account_id, p.sequence,"
            "         sum(CASE p.side WHEN 'C' THEN p.amount ELSE -p.amount END) AS net,"
            "         row_number() OVER (PARTITION BY p.account_id ORDER BY p.sequence) AS n"
            "    FROM ledger_posting p"
            "    JOIN unnest(%s::bigint[], %s::bigint[]) AS c(account_id, after_sequence)"
            "      ON p.account_id = c.account_id AND p.sequence > c.after_sequence"
            "   WHERE p.phase = 'P' AND p.sequence <= %s"
            "   GROUP BY p.account_id, p.sequence) m"
            " WHERE n <= %s ORDER BY account_id, sequence",
            [accounts, [after[a] for a in accounts], through, per_account_max],
        )
        movements: dict[int, list[tuple[int, int]]] = {}
        for account_id, sequence, net in cursor.fetchall():
            movements.setdefault(account_id, []).append((sequence, int(net)))
    return movements


def event_kinds_get(*, sequences: Sequence[int]) -> dict[int, tuple[str, str | None]]:
    """(type, the payload's "kind" if any) of each of these events."""
    if not sequences:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sequence, type, payload->>'kind' FROM ledger_event WHERE sequence = ANY(%s)",
            [list(sequences)],
        )
        return {sequence: (kind, payload_kind) for sequence, kind, payload_kind in cursor}


@dataclass(frozen=True, slots=True)
class EventDebits:
    sequence: int
    payload_field: str | None  # the payload's field asked for, as text
    debits: int  # the sum of the event's debit postings (every phase)


def event_debits_list(*, event_type: str, payload_field: str) -> list[EventDebits]:
    """Every event of a type with one field of its payload and the total of its debit
    postings, by sequence: what an app's `ledger_verify` check compares with its own rows."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.sequence, e.payload->>%s, coalesce(sum(p.amount), 0)"
            "  FROM ledger_event e"
            "  LEFT JOIN ledger_posting p ON p.sequence = e.sequence AND p.side = 'D'"
            " WHERE e.type = %s GROUP BY e.sequence ORDER BY e.sequence",
            [payload_field, event_type],
        )
        return [EventDebits(sequence, field, int(debits)) for sequence, field, debits in cursor]


@dataclass(frozen=True, slots=True)
class EventAccountNet:
    sequence: int
    book_id: int
    asset_id: int
    code: str  # the account's code
    net: int  # the event's debits less its credits on the account (every phase)


def event_account_nets_list(*, event_type: str) -> list[EventAccountNet]:
    """Every event of a type, per account it posted to, with its net movement there, by
    sequence: what an app's `ledger_verify` check compares, account by account, with
    the rows it keeps for the event."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.sequence, a.book_id, a.asset_id, a.code,"
            "       sum(CASE WHEN p.side = 'D' THEN p.amount ELSE -p.amount END)"
            "  FROM ledger_event e"
            "  JOIN ledger_posting p ON p.sequence = e.sequence"
            "  JOIN ledger_account a ON a.id = p.account_id"
            " WHERE e.type = %s GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
            [event_type],
        )
        return [
            EventAccountNet(s, book, asset, code, int(net)) for s, book, asset, code, net in cursor
        ]
