"""Appending events and their entries to the journal: the one write path to the ledger.

Both the single-event services and the batch service go through `append_events`, so
the hash chain, idempotency and validation have exactly one implementation. It must run
inside a transaction (services open it). Large batches go in with COPY; small ones with
one multi-row INSERT per table, so the posting trigger runs once per statement either way.
A small append costs four round trips (BEGIN, the pipelined reads under the chain lock,
the pipelined inserts, COMMIT): on this kind of machine a round trip is ~0.25 ms.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.utils import timezone

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
    if not isinstance(key, str) or not 0 < len(key) <= IDEMPOTENCY_KEY_LENGTH_MAX:
        raise InvalidEvent(
            f"idempotency key must be a non-empty string of at most "
            f"{IDEMPOTENCY_KEY_LENGTH_MAX} characters"
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


def _recorded_events(
    cursor, rows: list[tuple[str, str, int]], hash_by_key: dict[str, str]
) -> dict[str, AppendedEvent]:
    """Events already in the log under these keys (rows of key, input hash, sequence);
    a differing input hash is refused. Their entries are read only if there are any:
    a replay is rare, and the join costs a plan on every fresh append."""
    found: dict[str, AppendedEvent] = {}
    for key, stored_hash, sequence in rows:
        if stored_hash != hash_by_key[key]:
            raise IdempotencyConflict(
                f"idempotency key {key!r} was already used for different input (event #{sequence})",
                details={"idempotency_key": key, "sequence": sequence},
            )
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
    with connection.wrap_database_errors, pg.pipeline():
        accounts = pg.cursor()
        if missing_accounts:
            accounts.execute(
                "SELECT id, book_id, asset_id FROM ledger_account WHERE id = ANY(%s)",
                [missing_accounts],
            )
        pg.cursor().execute(CHAIN_LOCK_SQL, [CHAIN_LOCK_KEY])
        head = pg.cursor()
        head.execute("SELECT sequence, hash FROM ledger_event ORDER BY sequence DESC LIMIT 1")
        recorded = pg.cursor()
        recorded.execute(
            "SELECT idempotency_key, input_hash, sequence FROM ledger_event"
            " WHERE idempotency_key = ANY(%s)",
            [keys],
        )
        ids = pg.cursor()
        # Ids for every entry of every unique event; a replayed one leaves a gap in
        # entry ids, which nothing needs to be contiguous (event sequences are).
        ids.execute(
            "SELECT nextval(pg_get_serial_sequence('ledger_entry', 'id'))"
            "  FROM generate_series(1, %s)",
            [entries_count],
        )
        if missing_accounts:
            for account_id, book_id, asset_id in accounts.fetchall():
                _account_cache[account_id] = (book_id, asset_id)
        head_row = head.fetchone()
        return _Opening(
            last_sequence=head_row[0] if head_row else 0,
            prev_hash=head_row[1] if head_row else canonical.GENESIS_HASH,
            recorded=recorded.fetchall(),
            entry_ids=[row[0] for row in ids.fetchall()],
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
        with connection.wrap_database_errors, pg.pipeline():
            for table, columns, rows in tables:
                if rows:
                    pg.cursor().execute(*_insert_statement(table, columns, rows))
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


def append_events(events: Sequence[NewEvent], *, actor: str) -> list[AppendedEvent]:
    """Record events and their entries; return one result per input event, in order.

    A key seen before with the same input returns the original result (replayed=True).
    """
    assert connection.in_atomic_block, "append_events must run inside a transaction"
    if not events:
        return []
    if len(events) > BATCH_EVENTS_MAX:
        raise InvalidEvent(f"a batch holds at most {BATCH_EVENTS_MAX} events")
    if not actor:
        raise InvalidEvent("every ledger write names its actor")
    now = timezone.now()
    prepared = [_prepare(event, now) for event in events]
    unique, hash_by_key = _dedupe_within_batch(prepared)

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
            event_hash = canonical.chain_hash(
                prev_hash=prev_hash,
                sequence=last_sequence,
                event_type=event.type,
                idempotency_key=event.idempotency_key,
                input_hash_hex=item.input_hash,
                payload_json=item.payload_json,
                occurred_at=item.occurred_at,
                recorded_at=now,
                actor=actor,
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
