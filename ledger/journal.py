"""Appending events and their entries to the journal: the one write path to the ledger.

Internal to the ledger: other apps append through `ledger.services`. Every append, one
event or a hundred thousand, is ONE statement, `ledger_append` in PostgreSQL
(migrations/sql/0008_append.sql): it reads the accounts not cached yet, takes the chain
lock, checks idempotency keys, reads the chain's head, hashes and inserts. Python
prepares what does not depend on the head: the canonical payload, the input hash, the
entries from the posting rules and the hashed text after the sequence
(`canonical.chain_hash_tail`). Outside a transaction that statement is its own
transaction, so a single append, commit included, is one round trip.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from django.db import connection, transaction
from django.utils import timezone

from config.text import is_storable_text
from ledger import canonical
from ledger.accounts import account_cache
from ledger.errors import AccountMismatch, IdempotencyConflict, InvalidEvent, UnknownAccount
from ledger.locks import CHAIN_LOCK_KEY
from ledger.posting_rules import EntrySpec, entries_for

BATCH_EVENTS_MAX = 100_000
IDEMPOTENCY_KEY_LENGTH_MAX = 200

# ledger_append's parameters, by name: the SQL function is called with named notation,
# so the order here is irrelevant and a renamed parameter fails loudly.
_APPEND_PARAMETERS = (
    "chain_lock_key",
    "genesis_hash",
    "recorded_at",
    "actor",
    "event_types",
    "event_payloads",
    "event_keys",
    "event_input_hashes",
    "event_occurred_at",
    "event_hash_tails",
    "entry_events",
    "entry_books",
    "entry_memos",
    "entry_reverses",
    "posting_entries",
    "posting_accounts",
    "posting_assets",
    "posting_sides",
    "posting_phases",
    "posting_amounts",
    "accounts_to_read",
)
APPEND_SQL = (
    "SELECT out_outcome, out_sequences, out_replayed, out_entry_ids, out_conflict,"
    " out_accounts FROM ledger_append("
    + ", ".join(f"{name} => %({name})s" for name in _APPEND_PARAMETERS)
    + ")"
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


def _check_accounts(prepared: list[_Prepared]) -> list[int]:
    """Check every posting's account against the cache (its book and asset); return the
    accounts not cached yet, which `ledger_append` reads and checks itself."""
    uncached = set()
    for item in prepared:
        for entry in item.entries:
            for posting in entry.postings:
                known = account_cache.book_and_asset(posting.account_id)
                if known is None:
                    uncached.add(posting.account_id)
                elif known != (entry.book_id, posting.asset_id):
                    raise AccountMismatch(
                        f"account {posting.account_id} is in book {known[0]}, asset {known[1]}; "
                        f"the posting says book {entry.book_id}, asset {posting.asset_id}"
                    )
    return sorted(uncached)


def _unknown_account(prepared: list[_Prepared]) -> Exception:
    """The error for the accounts `ledger_append` refused, now that they are cached."""
    try:
        if not _check_accounts(prepared):
            raise AssertionError("ledger_append refused accounts that Python accepts")
    except AccountMismatch as exc:
        return exc
    missing = _check_accounts(prepared)[0]
    return UnknownAccount(f"account {missing} does not exist")


def _dedupe_within_batch(prepared: list[_Prepared]) -> list[_Prepared]:
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
    return unique


def _check_actor(actor: str) -> None:
    if not actor or not is_storable_text(actor):
        raise InvalidEvent("every ledger write names its actor (valid text, without NUL)")


def _parameters(unique: list[_Prepared], uncached: list[int], now: datetime, actor: str) -> dict:
    """ledger_append's arguments: events, entries and postings as parallel arrays; an
    entry names its event, a posting its entry, by 1-based position."""
    events, entries, postings = [], [], []
    for event_position, item in enumerate(unique, 1):
        event = item.event
        events.append(
            (
                event.type,
                item.payload_json,
                event.idempotency_key,
                item.input_hash,
                item.occurred_at,
                canonical.chain_hash_tail(
                    event_type=event.type,
                    idempotency_key=event.idempotency_key,
                    input_hash_hex=item.input_hash,
                    payload_json=item.payload_json,
                    occurred_at=item.occurred_at,
                    recorded_at=now,
                    actor=actor,
                ),
            )
        )
        for entry in item.entries:
            entries.append((event_position, entry.book_id, entry.memo, entry.reverses_entry_id))
            entry_position = len(entries)
            for p in entry.postings:
                postings.append(
                    (entry_position, p.account_id, p.asset_id, p.side, p.phase, p.amount)
                )
    columns = {
        "chain_lock_key": CHAIN_LOCK_KEY,
        "genesis_hash": canonical.GENESIS_HASH,
        "recorded_at": now,
        "actor": actor,
        "accounts_to_read": uncached,
    }
    for names, rows in (
        (_APPEND_PARAMETERS[4:10], events),
        (_APPEND_PARAMETERS[10:14], entries),
        (_APPEND_PARAMETERS[14:20], postings),
    ):
        values = zip(*rows, strict=True) if rows else [[] for _ in names]
        columns.update(zip(names, (list(column) for column in values), strict=True))
    return columns


def _replayed_entry_ids(sequences: list[int]) -> dict[int, list[int]]:
    """The entries of events recorded before (a replay is rare: read only then)."""
    found: dict[int, list[int]] = {sequence: [] for sequence in sequences}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_sequence, id FROM ledger_entry WHERE event_sequence = ANY(%s)"
            " ORDER BY id",
            [sequences],
        )
        for sequence, entry_id in cursor.fetchall():
            found[sequence].append(entry_id)
    return found


def _server_side_cursor():
    """psycopg's own cursor (server-side parameters: Django's would quote every array
    into the SQL text in Python; from the fifth call, a prepared statement), wrapped as
    Django wraps its cursors, so that the query log, execute wrappers and the mapping of
    database errors see it like any other statement."""
    connection.ensure_connection()
    raw = psycopg.Cursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(raw)
    return connection.make_cursor(raw)


def _append(unique: list[_Prepared], now: datetime, actor: str) -> dict[str, AppendedEvent]:
    uncached = _check_accounts(unique)
    with _server_side_cursor() as cursor:
        cursor.execute(APPEND_SQL, _parameters(unique, uncached, now, actor))
        outcome, sequences, replayed, entry_ids, conflict, accounts = cursor.fetchone()
    for account_id, book_id, asset_id in accounts or ():
        account_cache.remember_book_and_asset(account_id, book_id, asset_id)
    if outcome == "accounts":
        raise _unknown_account(unique)
    if outcome == "conflict":
        key = unique[conflict - 1].event.idempotency_key
        sequence = sequences[conflict - 1]
        raise IdempotencyConflict(
            f"idempotency key {key!r} was already used for different input (event #{sequence})",
            details={"idempotency_key": key, "sequence": sequence},
        )
    assert outcome == "appended", outcome
    recorded = (
        _replayed_entry_ids(
            [sequence for sequence, was in zip(sequences, replayed, strict=True) if was]
        )
        if any(replayed)
        else {}
    )
    results: dict[str, AppendedEvent] = {}
    new_entry_ids = iter(entry_ids)
    for item, sequence, was_replayed in zip(unique, sequences, replayed, strict=True):
        key = item.event.idempotency_key
        if was_replayed:
            for _entry in item.entries:
                next(new_entry_ids)  # 0: the entry was recorded with its event
            results[key] = AppendedEvent(sequence, key, recorded[sequence], replayed=True)
        else:
            ids = [next(new_entry_ids) for _entry in item.entries]
            results[key] = AppendedEvent(sequence, key, ids)
    return results


def append_events(events: Sequence[NewEvent], *, actor: str) -> list[AppendedEvent]:
    """Record events and their entries in the caller's transaction, in one statement;
    return one result per input event, in order. A key seen before with the same input
    returns the original result (replayed=True)."""
    assert connection.in_atomic_block, "append_events must run inside a transaction"
    if not events:
        return []
    if len(events) > BATCH_EVENTS_MAX:
        raise InvalidEvent(f"a batch holds at most {BATCH_EVENTS_MAX} events")
    _check_actor(actor)
    now = timezone.now()
    unique = _dedupe_within_batch([_prepare(event, now) for event in events])
    results = _append(unique, now, actor)
    return [results[event.idempotency_key] for event in events]


def append_event(event: NewEvent, *, actor: str) -> AppendedEvent:
    """Record one event and its entries: outside a transaction, appended and committed by
    one statement; inside one, under a savepoint (a refusal leaves the caller's
    transaction usable)."""
    if connection.in_atomic_block or not connection.get_autocommit():
        with transaction.atomic():
            [result] = append_events([event], actor=actor)
        return result
    _check_actor(actor)
    now = timezone.now()
    prepared = _prepare(event, now)
    return _append([prepared], now, actor)[event.idempotency_key]
