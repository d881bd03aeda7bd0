"""Appending events and their entries to the journal: the one write path to the ledger.

Both the single-event services and the batch service go through `append_events` (or
`append_event` for one event), so validation, idempotency and the hash chain have one
implementation. Three ways in, by size, because a round trip (~0.25 ms here) is most of
a small append's cost:
- one event: ONE statement, `ledger_append_one` in PostgreSQL
  (migrations/sql/0007_append_one.sql), which reads accounts not cached yet, takes the
  chain lock, reads the head and inserts; outside a transaction that statement is its
  own transaction, so the whole append, commit included, is one round trip;
- a few events: the reads under the chain lock pipelined in one round trip, the
  multi-row INSERTs in another;
- many events: the same reads, then COPY.
The posting trigger runs once per statement whichever way.
"""

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from django.db import connection, transaction
from django.utils import timezone

from config.text import is_storable_text
from ledger import canonical
from ledger.errors import AccountMismatch, IdempotencyConflict, InvalidEvent, UnknownAccount
from ledger.posting_rules import EntrySpec, entries_for

# Serialises appends so the chain has one head and sequences stay contiguous. Held until
# commit (a transaction-level advisory lock), so a reader of the head sees the last commit.
CHAIN_LOCK_KEY = 0x1ED6E5
CHAIN_LOCK_SQL = "SELECT pg_advisory_xact_lock(%s)"
COPY_THRESHOLD_ROWS = 64
BATCH_EVENTS_MAX = 100_000
IDEMPOTENCY_KEY_LENGTH_MAX = 200
APPEND_ONE_SQL = "SELECT * FROM ledger_append_one(" + ", ".join(["%s"] * 20) + ")"


QUERY_LOG_PARAMS_CHARS_MAX = 500


@contextlib.contextmanager
def _raw_statements() -> Iterator[Callable]:
    """psycopg's own cursors (pipelines, server-side parameters) bypass Django's query log:
    statements sent through `run(cursor, sql, params)` are recorded there as Django's
    cursor would (with DEBUG, and in CaptureQueriesContext), each with an equal share of
    the round trip's time."""
    sent: list[tuple[str, object]] = []
    started = time.monotonic()

    def run(cursor, sql: str, params=None):
        sent.append((sql, params))
        return cursor.execute(sql, params)

    try:
        yield run
    finally:
        if sent and connection.queries_logged:
            share = (time.monotonic() - started) / len(sent)
            for sql, params in sent:
                shown = repr(params)
                if len(shown) > QUERY_LOG_PARAMS_CHARS_MAX:
                    shown = shown[: QUERY_LOG_PARAMS_CHARS_MAX - 1] + "…"
                connection.queries_log.append(
                    {"sql": f"{sql} /* params: {shown} */", "time": f"{share:.3f}"}
                )


@dataclass(frozen=True, slots=True)
class NewEvent:
    type: str
    payload: dict
    idempotency_key: str
    occurred_at: datetime | None = None


@dataclass(slots=True)
class AppendedEvent:
    sequence: int
    idempotency_key: str
    entry_ids: list[int] = field(default_factory=list)
    replayed: bool = False  # the key was seen before with the same input


@dataclass(slots=True)
class _Prepared:
    event: NewEvent
    payload_json: str
    input_hash: str
    occurred_at: datetime
    entries: list[EntrySpec]


# Accounts never change book or asset (a trigger refuses it), so this cache cannot go
# stale; it saves a query per append on the single-entry path.
_account_cache: dict[int, tuple[int, int]] = {}


def _prepare(event: NewEvent, now: datetime) -> _Prepared:
    key = event.idempotency_key
    if (
        not isinstance(key, str)
        or not 0 < len(key) <= IDEMPOTENCY_KEY_LENGTH_MAX
        or not is_storable_text(key)
    ):
        raise InvalidEvent(
            f"idempotency key must be a non-empty string of at most "
            f"{IDEMPOTENCY_KEY_LENGTH_MAX} characters of valid Unicode, without NUL"
        )
    if not isinstance(event.payload, dict):
        raise InvalidEvent("an event's payload must be a JSON object")
    occurred_at = event.occurred_at or now
    payload_json = canonical.canonical_json(event.payload)
    return _Prepared(
        event=event,
        payload_json=payload_json,
        input_hash=canonical.input_hash(event.type, payload_json),
        occurred_at=occurred_at,
        entries=entries_for(event.type, event.payload),
    )


def _uncached_accounts(prepared: list[_Prepared]) -> list[int]:
    return list(
        {
            posting.account_id
            for item in prepared
            for entry in item.entries
            for posting in entry.postings
            if posting.account_id not in _account_cache
        }
    )


def _remember_accounts(rows) -> None:
    """Cache (id, book, asset) rows of accounts read from the database."""
    for account_id, book_id, asset_id in rows:
        _account_cache[account_id] = (book_id, asset_id)


def _check_accounts(prepared: list[_Prepared]) -> None:
    for item in prepared:
        for entry in item.entries:
            for posting in entry.postings:
                known = _account_cache.get(posting.account_id)
                if known is None:
                    raise UnknownAccount(f"account {posting.account_id} does not exist")
                if known != (entry.book_id, posting.asset_id):
                    raise AccountMismatch(
                        f"account {posting.account_id} is in book {known[0]}, asset {known[1]}; "
                        f"the posting says book {entry.book_id}, asset {posting.asset_id}"
                    )


def _dedupe_within_batch(prepared: list[_Prepared]) -> tuple[list[_Prepared], dict[str, str]]:
    """Collapse repeats of one key inside a batch; the same key with other input is refused."""
    unique: list[_Prepared] = []
    hash_by_key: dict[str, str] = {}
    for item in prepared:
        key = item.event.idempotency_key
        seen = hash_by_key.get(key)
        if seen is None:
            hash_by_key[key] = item.input_hash
            unique.append(item)
        elif seen != item.input_hash:
            raise IdempotencyConflict(
                f"idempotency key {key!r} appears twice in the batch with different input"
            )
    return unique, hash_by_key


def _key_used_before(key: str, sequence: int) -> IdempotencyConflict:
    return IdempotencyConflict(
        f"idempotency key {key!r} was already used for different input (event #{sequence})",
        details={"idempotency_key": key, "sequence": sequence},
    )


def _recorded_events(
    cursor, rows: list[tuple[str, str, int]], hash_by_key: dict[str, str]
) -> dict[str, AppendedEvent]:
    """Events already in the log under these keys (rows of key, input hash, sequence);
    a differing input hash is refused. Their entries are read only if there are any:
    a replay is rare, and the join costs a plan on every fresh append."""
    found: dict[str, AppendedEvent] = {}
    for key, stored_hash, sequence in rows:
        if stored_hash != hash_by_key[key]:
            raise _key_used_before(key, sequence)
        found[key] = AppendedEvent(sequence, key, [], replayed=True)
    if found:
        by_sequence = {appended.sequence: appended for appended in found.values()}
        cursor.execute(
            "SELECT event_sequence, id FROM ledger_entry WHERE event_sequence = ANY(%s)"
            " ORDER BY id",
            [list(by_sequence)],
        )
        for sequence, entry_id in cursor.fetchall():
            by_sequence[sequence].entry_ids.append(entry_id)
    return found


def chain_lock(cursor) -> None:
    """Take the chain lock (reentrant, held to commit): every writer of the journal, and
    whoever must see it not move (the rebuild, wallets' decisions), takes it this way."""
    cursor.execute(CHAIN_LOCK_SQL, [CHAIN_LOCK_KEY])


@dataclass(slots=True)
class _Opening:
    """What the first round trip of an append reads, under the chain lock."""

    last_sequence: int
    prev_hash: str
    recorded: list[tuple[str, str, int]]
    entry_ids: list[int]


def _open_append(missing_accounts: list[int], keys: list[str], entries_count: int) -> _Opening:
    """Lock the chain and read what the append needs in ONE round trip (psycopg's
    pipeline mode): the accounts not cached yet, the chain's head, the keys already
    recorded, and entry ids. The statements still run one after the other, each with
    its own snapshot, so the head is read after the lock is held, as before."""
    pg = connection.connection
    with connection.wrap_database_errors, pg.pipeline(), _raw_statements() as run:
        accounts = pg.cursor()
        if missing_accounts:
            run(
                accounts,
                "SELECT id, book_id, asset_id FROM ledger_account WHERE id = ANY(%s)",
                [missing_accounts],
            )
        run(pg.cursor(), CHAIN_LOCK_SQL, [CHAIN_LOCK_KEY])
        head = pg.cursor()
        run(head, "SELECT sequence, hash FROM ledger_event ORDER BY sequence DESC LIMIT 1")
        recorded = pg.cursor()
        run(
            recorded,
            "SELECT idempotency_key, input_hash, sequence FROM ledger_event"
            " WHERE idempotency_key = ANY(%s)",
            [keys],
        )
        ids = pg.cursor()
        # Ids for every entry of every unique event, as one block: the sequence moves
        # once instead of once per entry (5,000 nextval calls took ~25 ms). Safe because
        # every writer of entries takes them under the chain lock, held here; a replayed
        # event leaves a gap in entry ids, which nothing needs contiguous (sequences are).
        run(
            ids,
            "SELECT setval(pg_get_serial_sequence('ledger_entry', 'id'),"
            "  nextval(pg_get_serial_sequence('ledger_entry', 'id')) + %s - 1)",
            [entries_count],
        )
        if missing_accounts:
            _remember_accounts(accounts.fetchall())
        head_row = head.fetchone()
        [last_entry_id] = ids.fetchone()
        return _Opening(
            last_sequence=head_row[0] if head_row else 0,
            prev_hash=head_row[1] if head_row else canonical.GENESIS_HASH,
            recorded=recorded.fetchall(),
            entry_ids=list(range(last_entry_id - entries_count + 1, last_entry_id + 1)),
        )


def insert_rows(cursor, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
    """Write rows with one statement: COPY for many, a multi-row INSERT for a few."""
    if not rows:
        return
    column_list = ", ".join(columns)
    if len(rows) >= COPY_THRESHOLD_ROWS:
        with cursor.copy(f"COPY {table} ({column_list}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    cursor.execute(*_insert_statement(table, columns, rows))


def _insert_all(cursor, tables: list[tuple[str, Sequence[str], list[tuple]]]) -> None:
    """Insert into several tables in order: small inserts in ONE round trip (pipeline
    mode; each statement's triggers still run when it ends), big ones with COPY."""
    if all(len(rows) < COPY_THRESHOLD_ROWS for _table, _columns, rows in tables):
        pg = connection.connection
        with connection.wrap_database_errors, pg.pipeline(), _raw_statements() as run:
            for table, columns, rows in tables:
                if rows:
                    run(pg.cursor(), *_insert_statement(table, columns, rows))
        return
    for table, columns, rows in tables:
        insert_rows(cursor, table, columns, rows)


def _insert_statement(table: str, columns: Sequence[str], rows: list[tuple]):
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    values = ", ".join([placeholders] * len(rows))
    params = [value for row in rows for value in row]
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}", params


EVENT_COLUMNS = (
    "sequence",
    "type",
    "payload",
    "idempotency_key",
    "input_hash",
    "prev_hash",
    "hash",
    "occurred_at",
    "recorded_at",
    "actor",
)
ENTRY_COLUMNS = ("id", "event_sequence", "book_id", "memo", "reverses_id", "recorded_at")
POSTING_COLUMNS = ("entry_id", "account_id", "asset_id", "side", "phase", "amount", "sequence")


def _check_actor(actor: str) -> None:
    if not actor or not is_storable_text(actor):
        raise InvalidEvent("every ledger write names its actor (valid text, without NUL)")


def _hash_tail(item: _Prepared, recorded_at: datetime, actor: str) -> str:
    return canonical.chain_hash_tail(
        event_type=item.event.type,
        idempotency_key=item.event.idempotency_key,
        input_hash_hex=item.input_hash,
        payload_json=item.payload_json,
        occurred_at=item.occurred_at,
        recorded_at=recorded_at,
        actor=actor,
    )


def _columns(rows: list[tuple], width: int) -> list[list]:
    """Rows of `width` values as `width` lists (columns)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


def _append_one(item: _Prepared, now: datetime, actor: str) -> AppendedEvent:
    """One event in one statement (see the module); accounts not cached yet are read and
    checked by the same statement."""
    event = item.event
    uncached = _uncached_accounts([item])
    if not uncached:
        _check_accounts([item])
    # The function takes parallel arrays (columns); a posting names its entry by position.
    entry_columns = _columns(
        [(entry.book_id, entry.memo, entry.reverses_entry_id) for entry in item.entries], 3
    )
    posting_columns = _columns(
        [
            (position, p.account_id, p.asset_id, p.side, p.phase, p.amount)
            for position, entry in enumerate(item.entries, 1)
            for p in entry.postings
        ],
        6,
    )
    params = [
        CHAIN_LOCK_KEY,
        canonical.GENESIS_HASH,
        event.type,
        item.payload_json,
        event.idempotency_key,
        item.input_hash,
        item.occurred_at,
        now,
        actor,
        _hash_tail(item, now, actor),
        *entry_columns,
        *posting_columns,
        uncached,
    ]
    # psycopg's own cursor: server-side parameters (Django's cursor quotes the arrays
    # into the SQL text in Python) and, from the fifth call, a prepared statement.
    with (
        connection.wrap_database_errors,
        psycopg.Cursor(connection.connection) as cursor,
        _raw_statements() as run,
    ):
        sequence, entry_ids, outcome, accounts = run(cursor, APPEND_ONE_SQL, params).fetchone()
    _remember_accounts(accounts or ())
    if outcome == "accounts":
        _check_accounts([item])  # raises, naming the account
        raise AssertionError("ledger_append_one refused accounts that Python accepts")
    if outcome == "conflict":
        raise _key_used_before(event.idempotency_key, sequence)
    return AppendedEvent(
        sequence, event.idempotency_key, entry_ids or [], replayed=outcome == "replayed"
    )


def append_event(event: NewEvent, *, actor: str) -> AppendedEvent:
    """Record one event and its entries, in the caller's transaction if there is one.

    Outside a transaction, the event is appended and committed by one statement;
    inside one, this is `append_events([event])` under a savepoint.
    """
    if connection.in_atomic_block or not connection.get_autocommit():
        with transaction.atomic():
            [result] = append_events([event], actor=actor)
        return result
    _check_actor(actor)
    now = timezone.now()
    return _append_one(_prepare(event, now), now, actor)


def append_events(events: Sequence[NewEvent], *, actor: str) -> list[AppendedEvent]:
    """Record events and their entries; return one result per input event, in order.

    A key seen before with the same input returns the original result (replayed=True).
    """
    assert connection.in_atomic_block, "append_events must run inside a transaction"
    if not events:
        return []
    if len(events) > BATCH_EVENTS_MAX:
        raise InvalidEvent(f"a batch holds at most {BATCH_EVENTS_MAX} events")
    _check_actor(actor)
    now = timezone.now()
    prepared = [_prepare(event, now) for event in events]
    unique, hash_by_key = _dedupe_within_batch(prepared)
    if len(unique) == 1:
        return [_append_one(unique[0], now, actor)] * len(events)  # all under one key

    with connection.cursor() as cursor:
        opening = _open_append(
            _uncached_accounts(unique), list(hash_by_key), sum(len(i.entries) for i in unique)
        )
        _check_accounts(unique)
        last_sequence, prev_hash = opening.last_sequence, opening.prev_hash
        results = _recorded_events(cursor, opening.recorded, hash_by_key)
        fresh = [item for item in unique if item.event.idempotency_key not in results]
        entry_ids = iter(opening.entry_ids)

        event_rows, entry_rows, posting_rows = [], [], []
        for item in fresh:
            last_sequence += 1
            event = item.event
            event_hash = canonical.chain_hash_from_tail(
                prev_hash, last_sequence, _hash_tail(item, now, actor)
            )
            event_rows.append(
                (
                    last_sequence,
                    event.type,
                    item.payload_json,
                    event.idempotency_key,
                    item.input_hash,
                    prev_hash,
                    event_hash,
                    item.occurred_at,
                    now,
                    actor,
                )
            )
            prev_hash = event_hash
            appended = AppendedEvent(last_sequence, event.idempotency_key)
            for entry in item.entries:
                entry_id = next(entry_ids)
                appended.entry_ids.append(entry_id)
                entry_rows.append(
                    (
                        entry_id,
                        last_sequence,
                        entry.book_id,
                        entry.memo,
                        entry.reverses_entry_id,
                        now,
                    )
                )
                for p in entry.postings:
                    posting_rows.append(
                        (
                            entry_id,
                            p.account_id,
                            p.asset_id,
                            p.side,
                            p.phase,
                            p.amount,
                            last_sequence,
                        )
                    )
            results[event.idempotency_key] = appended

        _insert_all(
            cursor,
            [
                ("ledger_event", EVENT_COLUMNS, event_rows),
                ("ledger_entry", ENTRY_COLUMNS, entry_rows),
                ("ledger_posting", POSTING_COLUMNS, posting_rows),
            ],
        )
    return [results[event.idempotency_key] for event in events]
