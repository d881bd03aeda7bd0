"""Appending events and their entries to the journal: the one write path to the ledger.

Both the single-event services and the batch service go through `append_events`, so
the hash chain, idempotency and validation have exactly one implementation. It must run
inside a transaction (services open it). Large batches go in with COPY; small ones with
one multi-row INSERT per table, so the posting trigger runs once per statement either way.
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


def _check_accounts(cursor, prepared: list[_Prepared]) -> None:
    wanted = {
        posting.account_id
        for item in prepared
        for entry in item.entries
        for posting in entry.postings
    }
    missing = [account_id for account_id in wanted if account_id not in _account_cache]
    if missing:
        cursor.execute(
            "SELECT id, book_id, asset_id FROM ledger_account WHERE id = ANY(%s)", [missing]
        )
        for account_id, book_id, asset_id in cursor.fetchall():
            _account_cache[account_id] = (book_id, asset_id)
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


def _recorded_events(cursor, hash_by_key: dict[str, str]) -> dict[str, AppendedEvent]:
    """Events already in the log under these keys; a differing input hash is refused."""
    cursor.execute(
        "SELECT e.idempotency_key, e.input_hash, e.sequence,"
        "       coalesce(array_agg(n.id ORDER BY n.id) FILTER (WHERE n.id IS NOT NULL), '{}')"
        "  FROM ledger_event e LEFT JOIN ledger_entry n ON n.event_sequence = e.sequence"
        " WHERE e.idempotency_key = ANY(%s)"
        " GROUP BY e.sequence",
        [list(hash_by_key)],
    )
    found: dict[str, AppendedEvent] = {}
    for key, stored_hash, sequence, entry_ids in cursor.fetchall():
        if stored_hash != hash_by_key[key]:
            raise IdempotencyConflict(
                f"idempotency key {key!r} was already used for different input (event #{sequence})",
                details={"idempotency_key": key, "sequence": sequence},
            )
        found[key] = AppendedEvent(sequence, key, list(entry_ids), replayed=True)
    return found


def chain_lock(cursor) -> None:
    """Take the chain lock (reentrant, held to commit): every writer of the journal, and
    whoever must see it not move (the rebuild, wallets' decisions), takes it this way."""
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])


def _chain_head(cursor) -> tuple[int, str]:
    chain_lock(cursor)
    cursor.execute("SELECT sequence, hash FROM ledger_event ORDER BY sequence DESC LIMIT 1")
    row = cursor.fetchone()
    return (row[0], row[1]) if row else (0, canonical.GENESIS_HASH)


def _allocate_entry_ids(cursor, count: int) -> list[int]:
    if count == 0:
        return []
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence('ledger_entry', 'id'))  FROM generate_series(1, %s)",
        [count],
    )
    return [row[0] for row in cursor.fetchall()]


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
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    values = ", ".join([placeholders] * len(rows))
    params = [value for row in rows for value in row]
    cursor.execute(f"INSERT INTO {table} ({column_list}) VALUES {values}", params)


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
        _check_accounts(cursor, unique)
        last_sequence, prev_hash = _chain_head(cursor)
        results = _recorded_events(cursor, hash_by_key)
        fresh = [item for item in unique if item.event.idempotency_key not in results]
        entry_ids = iter(_allocate_entry_ids(cursor, sum(len(i.entries) for i in fresh)))

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

        insert_rows(cursor, "ledger_event", EVENT_COLUMNS, event_rows)
        insert_rows(cursor, "ledger_entry", ENTRY_COLUMNS, entry_rows)
        insert_rows(cursor, "ledger_posting", POSTING_COLUMNS, posting_rows)
    return [results[event.idempotency_key] for event in events]
