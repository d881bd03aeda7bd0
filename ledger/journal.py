"""Appending events and their entries to the journal: the one write path to the ledger.

Internal to the ledger: other apps append through `ledger.services`. Every append, one
event or a hundred thousand, is the same algorithm, `ledger_append` in PostgreSQL
(migrations/sql/0008_append.sql): it reads the accounts not cached yet, takes the chain
lock, checks the idempotency keys, reads the chain's head, hashes every event and
reserves the sequences and entry ids. Python prepares what does not depend on the head:
the canonical payload, the input hash, the entries from the posting rules and the hashed
text after the sequence (`canonical.chain_hash_tail`). The rows go in with the same
statement (a single event: one round trip, commit included, outside a transaction), or,
for a batch of COPY_THRESHOLD_EVENTS or more, by COPY right after it, under the lock the
statement took.
"""

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain, repeat

import psycopg
import psycopg.adapt
from django.db import connection, transaction
from django.utils import timezone

from config.text import is_storable_text
from ledger import canonical
from ledger.accounts import account_cache
from ledger.errors import AccountMismatch, IdempotencyConflict, InvalidEvent, UnknownAccount
from ledger.locks import CHAIN_LOCK_KEY
from ledger.posting_rules import EntrySpec, entries_for

BATCH_EVENTS_MAX = 100_000
# From this many events a batch's rows go by COPY after ledger_append reserved their
# sequences, ids and hashes (see migrations/sql/0008_append.sql).
COPY_THRESHOLD_EVENTS = 64
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
    "posting_events",
    "posting_entries",
    "posting_accounts",
    "posting_assets",
    "posting_sides",
    "posting_phases",
    "posting_amounts",
    "accounts_to_read",
    "rows_inline",
)
# Parameters go in binary (%b): psycopg quotes and escapes each element of a text array
# in Python for the text format, which for a big batch's payloads cost more than the
# whole append in PostgreSQL.
APPEND_SQL = (
    "SELECT out_outcome, out_first_sequence, out_first_entry_id, out_recorded_positions,"
    " out_recorded_sequences, out_conflict, out_accounts, out_head_hash, out_hashes"
    " FROM ledger_append(" + ", ".join(f"{name} => %({name})b" for name in _APPEND_PARAMETERS) + ")"
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
    """The error for the accounts `ledger_append` refused, now that they are cached: a
    foreign account is an AccountMismatch, one still uncached does not exist."""
    try:
        missing = _check_accounts(prepared)
    except AccountMismatch as exc:
        return exc
    if not missing:
        raise AssertionError("ledger_append refused accounts that Python accepts")
    return UnknownAccount(f"account {missing[0]} does not exist")


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


class _Bigints(list):
    """A list of ints (no None) sent as bigint[] by `_BigintsDumper`."""


class _BigintsDumper(psycopg.adapt.Dumper):
    """bigint[] in PostgreSQL's binary array format, packed by ONE struct call: psycopg's
    own list dumper packs element by element in Python, a good share of a big batch's
    client time."""

    format = psycopg.pq.Format.BINARY
    oid = psycopg.postgres.types["int8"].array_oid

    def dump(self, obj: list) -> bytes:
        if not obj:
            return _EMPTY_HEADER.pack(0, 0, psycopg.postgres.types["int8"].oid)
        header = _ARRAY_HEADER.pack(1, 0, psycopg.postgres.types["int8"].oid, len(obj), 1)
        # Each element is its length (8) then its value.
        body = struct.pack(">" + "iq" * len(obj), *chain.from_iterable(zip(repeat(8), obj)))
        return header + body


_EMPTY_HEADER = struct.Struct(">iiI")
_ARRAY_HEADER = struct.Struct(">iiIii")
psycopg.adapters.register_dumper(_Bigints, _BigintsDumper)


def _hash_tail(item: _Prepared, now: datetime, actor: str) -> str:
    return canonical.chain_hash_tail(
        event_type=item.event.type,
        idempotency_key=item.event.idempotency_key,
        input_hash_hex=item.input_hash,
        payload_json=item.payload_json,
        occurred_at=item.occurred_at,
        recorded_at=now,
        actor=actor,
    )


def _arguments(
    unique: list[_Prepared], uncached: list[int], now: datetime, actor: str, rows_inline: bool
) -> dict:
    """ledger_append's arguments: events, entries and postings as parallel arrays (an
    entry names its event, a posting its entry and event, by 1-based position). Without
    the rows inline the function needs of them only what it checks and hashes: keys,
    input hashes, hashed texts, entries' books, and postings' accounts where some are not
    cached; the other columns are sent empty."""
    args = {name: [] for name in _APPEND_PARAMETERS[4:21]}
    keys, input_hashes, tails = (
        args["event_keys"],
        args["event_input_hashes"],
        args["event_hash_tails"],
    )
    books = args["entry_books"]
    check_postings = rows_inline or bool(uncached)
    posting_entries, accounts, assets = (
        args["posting_entries"],
        args["posting_accounts"],
        args["posting_assets"],
    )
    for event_position, item in enumerate(unique, 1):
        event = item.event
        keys.append(event.idempotency_key)
        input_hashes.append(item.input_hash)
        tails.append(_hash_tail(item, now, actor))
        if rows_inline:
            args["event_types"].append(event.type)
            args["event_payloads"].append(item.payload_json)
            args["event_occurred_at"].append(item.occurred_at)
        for entry in item.entries:
            books.append(entry.book_id)
            if rows_inline:
                args["entry_events"].append(event_position)
                args["entry_memos"].append(entry.memo)
                args["entry_reverses"].append(entry.reverses_entry_id)
            if not check_postings:
                continue
            entry_position = len(books)
            for p in entry.postings:
                posting_entries.append(entry_position)
                accounts.append(p.account_id)
                assets.append(p.asset_id)
                if rows_inline:
                    args["posting_events"].append(event_position)
                    args["posting_sides"].append(p.side)
                    args["posting_phases"].append(p.phase)
                    args["posting_amounts"].append(p.amount)
    for name in _INTEGER_COLUMNS:
        args[name] = _Bigints(args[name])
    return args | {
        "chain_lock_key": CHAIN_LOCK_KEY,
        "genesis_hash": canonical.GENESIS_HASH,
        "recorded_at": now,
        "actor": actor,
        "accounts_to_read": _Bigints(uncached),
        "rows_inline": rows_inline,
    }


_INTEGER_COLUMNS = (
    "entry_events",
    "entry_books",
    "posting_events",
    "posting_entries",
    "posting_accounts",
    "posting_assets",
    "posting_amounts",
)


def _copy_rows(
    unique: list[_Prepared], reserved: tuple[int, int, str, list[str]], now: datetime, actor
) -> None:
    """The rows of a batch whose sequences, entry ids and hashes ledger_append reserved
    (under the chain lock, held to commit), streamed in with COPY."""
    first_sequence, first_entry_id, prev_hash, hashes = reserved
    with connection.cursor() as cursor:
        columns = ", ".join(EVENT_TABLE_COLUMNS)
        with cursor.copy(f"COPY ledger_event ({columns}) FROM STDIN") as copy:
            for sequence, (item, event_hash) in enumerate(
                zip(unique, hashes, strict=True), first_sequence
            ):
                event = item.event
                copy.write_row(
                    (
                        sequence,
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
        columns = ", ".join(ENTRY_TABLE_COLUMNS)
        with cursor.copy(f"COPY ledger_entry ({columns}) FROM STDIN") as copy:
            entry_id = first_entry_id
            for sequence, item in enumerate(unique, first_sequence):
                for entry in item.entries:
                    copy.write_row(
                        (
                            entry_id,
                            sequence,
                            entry.book_id,
                            entry.memo,
                            entry.reverses_entry_id,
                            now,
                        )
                    )
                    entry_id += 1
        columns = ", ".join(POSTING_TABLE_COLUMNS)
        with cursor.copy(f"COPY ledger_posting ({columns}) FROM STDIN") as copy:
            entry_id = first_entry_id
            for sequence, item in enumerate(unique, first_sequence):
                for entry in item.entries:
                    for p in entry.postings:
                        copy.write_row(
                            (
                                entry_id,
                                p.account_id,
                                p.asset_id,
                                p.side,
                                p.phase,
                                p.amount,
                                sequence,
                            )
                        )
                    entry_id += 1


EVENT_TABLE_COLUMNS = (
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
ENTRY_TABLE_COLUMNS = ("id", "event_sequence", "book_id", "memo", "reverses_id", "recorded_at")
POSTING_TABLE_COLUMNS = (
    "entry_id",
    "account_id",
    "asset_id",
    "side",
    "phase",
    "amount",
    "sequence",
)


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
    into the SQL text in Python; prepared from the fifth call, as the settings' OPTIONS
    prepare_threshold asks), wrapped as Django wraps its cursors, so that the query log,
    execute wrappers and the mapping of database errors see it like any other."""
    connection.ensure_connection()
    raw = psycopg.Cursor(connection.connection)
    raw.format = psycopg.pq.Format.BINARY  # results too: parsing a text array is Python's
    if connection.queries_logged:
        return connection.make_debug_cursor(raw)
    return connection.make_cursor(raw)


def _call_append(unique: list[_Prepared], now: datetime, actor: str) -> tuple:
    """ledger_append on `unique`; returns (outcome, first sequence, first entry id,
    recorded positions, recorded sequences, conflict position)."""
    uncached = _check_accounts(unique)
    rows_inline = len(unique) < COPY_THRESHOLD_EVENTS or not connection.in_atomic_block
    with _server_side_cursor() as cursor:
        cursor.execute(APPEND_SQL, _arguments(unique, uncached, now, actor, rows_inline))
        outcome, first, first_entry, positions, recorded, conflict, accounts, head, hashes = (
            cursor.fetchone()
        )
    for account_id, book_id, asset_id in accounts or ():
        account_cache.remember_book_and_asset(account_id, book_id, asset_id)
    if outcome == "accounts":
        raise _unknown_account(unique)
    if outcome == "appended" and not rows_inline:
        _copy_rows(unique, (first, first_entry, head, hashes), now, actor)
    return outcome, first, first_entry, positions, recorded, conflict


def _append(unique: list[_Prepared], now: datetime, actor: str) -> dict[str, AppendedEvent]:
    """Append `unique` (distinct keys) in one statement; if some keys were recorded
    before, answer those as replays and append the others with a second statement (the
    chain lock is held by then, so nothing can come between)."""
    outcome, first_sequence, first_entry_id, positions, recorded, conflict = _call_append(
        unique, now, actor
    )
    results: dict[str, AppendedEvent] = {}
    if outcome == "conflict":
        key = unique[conflict - 1].event.idempotency_key
        raise IdempotencyConflict(
            f"idempotency key {key!r} was already used for different input (event #{recorded[0]})",
            details={"idempotency_key": key, "sequence": recorded[0]},
        )
    if outcome == "recorded":
        entry_ids = _replayed_entry_ids(recorded)
        replayed = dict(zip(positions, recorded, strict=True))
        for position, item in enumerate(unique, 1):
            if position in replayed:
                key, sequence = item.event.idempotency_key, replayed[position]
                results[key] = AppendedEvent(sequence, key, entry_ids[sequence], replayed=True)
        unique = [item for position, item in enumerate(unique, 1) if position not in replayed]
        if not unique:
            return results
        outcome, first_sequence, first_entry_id, *_rest = _call_append(unique, now, actor)
    assert outcome == "appended", outcome
    entry_id = first_entry_id
    for sequence, item in enumerate(unique, first_sequence):
        key = item.event.idempotency_key
        count = len(item.entries)
        results[key] = AppendedEvent(sequence, key, list(range(entry_id, entry_id + count)))
        entry_id += count
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
