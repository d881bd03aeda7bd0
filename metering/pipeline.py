"""validate → dedupe → rate → post: one bounded batch of raw usage messages into the ledger.

The same code serves the Kafka consumer and the embedded HTTP path. Per batch, one
PostgreSQL transaction stores the usage records, the ledger event with the aggregated
postings, the dead letters and the consumer offsets together: a crash at any point
either commits all of it or none, so replaying the batch neither loses nor doubles.

Every message ends as exactly one of: a usage record (booked), a duplicate of one (counted,
nothing stored), or a dead letter with a reason code. An event with nothing to bill (all
token counts zero, or rated to zero price, wholesale and cost) is a dead letter with code
`not_billable`: kept, never booked, the same answer alone or in a batch.
"""

import dataclasses
import functools
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from config.fast_insert import insert_rows
from config.text import NUL
from ledger import services as ledger_services
from ledger.posting_rules import entry_payload
from ledger.services import AccountRef, NewEvent, ledger_errors
from metering.adapters import adapt_message, edge_value
from metering.customers import CustomerDirectory
from metering.models import ConsumerOffset, DeadLetter
from metering.postings import USAGE_BATCH_EVENT, aggregate_legs, batch_entries
from metering.rating import RatedEvent, Rater, Unrateable
from metering.schema import (
    NOT_BILLABLE,
    InvalidUsageEvent,
    UsageEvent,
    not_billable_reason,
    parse_usage_event,
)
from wallets.services import UsageCapture, authorizations_settle_by_usage
from wallets.spending import customers_spent

logger = logging.getLogger(__name__)

BATCH_MESSAGES_MAX = 20_000
METERING_ACTOR = "system:metering"
ZERO_RATED = "rated to zero price, wholesale and cost: nothing to book"


@dataclass(frozen=True, slots=True)
class RawMessage:
    topic: str
    partition: int | None
    offset: int | None
    key: bytes | None
    value: bytes
    # Kafka headers: `kind` names the adapter of a native record (see adapt_message).
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(slots=True)
class DeadLetterRow:
    message: RawMessage
    reason_code: str
    reason: str


@dataclass(slots=True)
class BatchResult:
    processed: int = 0
    duplicates: int = 0
    rejected: int = 0
    ledger_sequence: int | None = None
    dead_letters: list[DeadLetterRow] = field(default_factory=list)
    duplicate_messages: list[RawMessage] = field(default_factory=list)

    def duplicate(self, message: RawMessage) -> None:
        self.duplicates += 1
        self.duplicate_messages.append(message)


RECORD_COLUMNS = (
    "source",
    "event_id",
    "occurred_at",
    "recorded_at",
    "customer",
    "api_key",
    "model",
    "provider",
    "upstream_request_id",
    "authorization_id",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "currency",
    "price_minor",
    "wholesale_minor",
    "cost_minor",
    "margin_minor",
    "price_remainder_atto",
    "cost_remainder_atto",
    "upstream_price_id",
    "retail_price_book_id",
    "retail_override_id",
    "wholesale_price_book_id",
    "seller_book_id",
    "ledger_event_sequence",
    "metadata",
)


def _record_row(event: UsageEvent, rated: RatedEvent, now, sequence: int, metadata_json: str):
    tokens = event.tokens
    return (
        event.source,
        event.event_id,
        event.occurred_at,
        now,
        event.customer,
        event.api_key or "",
        event.model,
        event.provider,
        event.upstream_request_id or "",
        event.authorization_id or "",
        tokens.input,
        tokens.output,
        tokens.cache_read,
        tokens.cache_write,
        tokens.reasoning,
        rated.currency,
        rated.price_minor,
        rated.wholesale_minor,
        rated.cost_minor,
        rated.price_minor - rated.cost_minor,
        rated.price_remainder_atto,
        rated.cost_remainder_atto,
        rated.upstream_price_id,
        rated.retail_price_book_id,
        rated.retail_override_id,
        rated.wholesale_price_book_id,
        rated.usage.seller_book_id,
        sequence,
        metadata_json,
    )


def _existing_keys(keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    if not keys:
        return set()
    # The keys go as one JSON text: json.dumps is C, while two text arrays are quoted
    # element by element in Python.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.source, r.event_id FROM metering_usagerecord r"
            "  JOIN (SELECT k ->> 0 AS source, k ->> 1 AS event_id"
            "          FROM json_array_elements(%s::json) AS k) AS k"
            "    ON r.source = k.source AND r.event_id = k.event_id",
            [json.dumps(keys)],
        )
        return {(source, event_id) for source, event_id in cursor.fetchall()}


def _batch_key(events: Sequence[UsageEvent]) -> str:
    """A batch's ledger idempotency key: the hash of its records' dedupe keys."""
    # One join and one hash call: the same bytes as updating the digest per event.
    text = "".join([f"{event.source}\x1f{event.event_id}\x1e" for event in events])
    return f"metering:batch:{hashlib.sha256(text.encode()).hexdigest()}"


def _save_offsets(group: str, next_offsets: dict[tuple[str, int], int]) -> None:
    if not next_offsets:
        return
    now = timezone.now()
    with connection.cursor() as cursor:
        for (topic, partition), next_offset in sorted(next_offsets.items()):
            # greatest(): a stale batch replayed after a rebalance never moves offsets back.
            cursor.execute(
                'INSERT INTO metering_consumeroffset ("group", topic, partition, next_offset,'
                " updated_at) VALUES (%s, %s, %s, %s, %s)"
                ' ON CONFLICT ("group", topic, partition) DO UPDATE'
                " SET next_offset = greatest(metering_consumeroffset.next_offset,"
                "                            EXCLUDED.next_offset),"
                "     updated_at = EXCLUDED.updated_at",
                [group, topic, partition, next_offset, now],
            )


def _next_offsets(messages: Sequence[RawMessage]) -> dict[tuple[str, int], int]:
    next_offsets: dict[tuple[str, int], int] = {}
    for message in messages:
        if message.partition is not None and message.offset is not None:
            key = (message.topic, message.partition)
            next_offsets[key] = max(next_offsets.get(key, 0), message.offset + 1)
    return next_offsets


def stored_offsets(group: str, topic: str) -> dict[int, int]:
    return dict(
        ConsumerOffset.objects.filter(group=group, topic=topic).values_list(
            "partition", "next_offset"
        )
    )


def _settle_authorizations(fresh: list[tuple[UsageEvent, RatedEvent]], actor: str) -> None:
    """Capture by usage: the holds these events name are resolved in the batch's
    transaction, so the price is debited once, by the batch (see wallets.services)."""
    captures = [
        UsageCapture(event.authorization_id, event.customer, rated.price_minor)
        for event, rated in fresh
        if event.authorization_id
    ]
    if captures:
        authorizations_settle_by_usage(usages=captures, actor=actor)


KIND_HEADER = "kind"


@functools.lru_cache(maxsize=1024)
def _decoded_headers(headers: tuple[tuple[str, bytes], ...]) -> tuple[str | None, dict[str, str]]:
    """(kind, the other headers as text). Cached: a gateway's messages carry the same
    headers, and decoding them per message was a tenth of a native record's parsing
    (callers never mutate the dict)."""
    decoded = {name: (value or b"").decode("utf-8", "replace") for name, value in headers}
    kind = decoded.pop(KIND_HEADER, None)
    return kind, decoded


def _headers_of(message: RawMessage) -> tuple[str | None, dict[str, str]]:
    try:
        return _decoded_headers(message.headers)
    except TypeError:  # a header that is not hashable: decode it without the cache
        return _decoded_headers.__wrapped__(message.headers)


def parse_message(message: RawMessage) -> UsageEvent:
    """A `UsageEvent`, or with a `kind` header a native record its adapter turns into one."""
    if not message.headers:
        return parse_usage_event(message.value)
    kind, args = _headers_of(message)
    if kind is None:
        return parse_usage_event(message.value)
    return adapt_message(kind, message.value, args)


class Pipeline:
    """Holds the caches that make rating fast: customers, accounts and price versions."""

    def __init__(self, *, rater: Rater | None = None, actor: str = METERING_ACTOR):
        self.rater = rater or Rater()
        self.customers = CustomerDirectory()
        self.actor = actor

    def warm_up(self) -> None:
        """Load the price books now rather than on the first event, so a process can
        freeze what it keeps (config.gc_tuning) before it starts consuming."""
        self.rater.warm_up()

    def process(
        self,
        messages: Sequence[RawMessage],
        *,
        group: str | None = None,
        before_commit: Callable[[list[DeadLetterRow]], None] | None = None,
    ) -> BatchResult:
        """Book a batch. `before_commit` runs inside the transaction (the consumer sends
        dead letters to Kafka there, so a failed send rolls the batch back)."""
        assert len(messages) <= BATCH_MESSAGES_MAX, "batch larger than BATCH_MESSAGES_MAX"
        result = BatchResult()
        parsed = self._parse(messages, result)
        existing = _existing_keys([key for _message, _event, key in parsed])
        self.customers.prefetch({event.customer for _message, event, _key in parsed})
        fresh: list[tuple[UsageEvent, RatedEvent]] = []
        for message, event, key in parsed:
            if key in existing:
                result.duplicate(message)
                continue
            # After the dedupe check: a record with the key of a booked one is that call.
            if event.tokens.total == 0:
                result.dead_letters.append(
                    DeadLetterRow(message, NOT_BILLABLE, not_billable_reason(event))
                )
                continue
            try:
                customer = self.customers.get(event.customer)
                rated = self.rater.rate(event, customer)
            except Unrateable as exc:
                result.dead_letters.append(DeadLetterRow(message, exc.code, exc.reason))
                continue
            if not (rated.price_minor or rated.cost_minor or rated.wholesale_minor):
                result.dead_letters.append(DeadLetterRow(message, NOT_BILLABLE, ZERO_RATED))
                continue
            fresh.append((event, rated))
        # Accounts first, in their own commits, so a rolled-back batch leaves no stale ids.
        entries = self._entries(fresh)
        result.processed = len(fresh)
        result.rejected = len(result.dead_letters)
        # What the dead-letter row and the DLQ message (before_commit) may keep.
        result.dead_letters = [_as_kept(row) for row in result.dead_letters]

        with ledger_errors(), transaction.atomic():
            if fresh:
                # Before booking: wallets locks its rows and holds before the ledger's chain.
                _settle_authorizations(fresh, self.actor)
                result.ledger_sequence = self._book(fresh, entries)
                customers_spent(
                    external_ids={event.customer for event, rated in fresh if rated.usage.prepaid}
                )
            self._store_dead_letters(result.dead_letters)
            if group is not None:
                _save_offsets(group, _next_offsets(messages))
            if before_commit is not None:
                before_commit(result.dead_letters)
        return result

    @staticmethod
    def _parse(messages: Sequence[RawMessage], result: BatchResult):
        """Valid events, first occurrence per dedupe key; the rest counted or dead-lettered."""
        parsed: list[tuple[RawMessage, UsageEvent, tuple[str, str]]] = []
        seen: set[tuple[str, str]] = set()
        for message in messages:
            try:
                event = parse_message(message)
            except InvalidUsageEvent as exc:
                result.dead_letters.append(DeadLetterRow(message, exc.code, exc.reason))
                continue
            key = event.dedupe_key
            if key in seen:
                result.duplicate(message)
                continue
            seen.add(key)
            parsed.append((message, event, key))
        return parsed

    def _entries(self, fresh: list[tuple[UsageEvent, RatedEvent]]) -> list:
        by_asset: dict[int, list] = {}
        for _event, rated in fresh:
            by_asset.setdefault(rated.asset_id, []).append(rated.usage)
        entries = []
        for asset_id, usages in sorted(by_asset.items()):
            sums = aggregate_legs(usages)
            keys = {key for book in sums.values() for key, _side in book}
            ids = ledger_services.accounts_ensure(
                refs=[AccountRef(key.book_id, asset_id, key.code, key.type) for key in keys]
            )
            account_ids = {
                key: ids[AccountRef(key.book_id, asset_id, key.code, key.type)] for key in keys
            }
            entries += batch_entries(sums, account_ids, asset_id)
        return entries

    def _book(self, fresh: list[tuple[UsageEvent, RatedEvent]], entries: list) -> int:
        key = _batch_key([event for event, _rated in fresh])
        payload = {
            "entries": [entry_payload(entry) for entry in entries],
            "records": len(fresh),
        }
        [appended] = ledger_services.events_record_batch(
            events=[NewEvent(USAGE_BATCH_EVENT, payload, key)], actor=self.actor
        )
        assert not appended.replayed, "a batch of fresh records cannot have been booked before"
        now = timezone.now()
        rows = [
            _record_row(event, rated, now, appended.sequence, rated.metadata_json)
            for event, rated in fresh
        ]
        insert_rows("metering_usagerecord", RECORD_COLUMNS, rows)
        return appended.sequence

    @staticmethod
    def _store_dead_letters(rows: list[DeadLetterRow]) -> None:
        if not rows:
            return
        now = timezone.now()
        DeadLetter.objects.bulk_create(
            DeadLetter(
                topic=row.message.topic,
                partition=row.message.partition,
                offset=row.message.offset,
                key=row.message.key,
                value=row.message.value,
                headers=_storable_headers(row.message.headers),
                reason_code=row.reason_code,
                reason=row.reason[:2000],
                created_at=now,
            )
            for row in rows
        )


NOT_KEPT = "its {size} bytes are not kept: {why}"


def _as_kept(row: DeadLetterRow) -> DeadLetterRow:
    """The dead letter as we may store it: a native record (a `kind` header) keeps only
    what its adapter reads (`edge_value`), so no prompt or completion produced straight to
    Kafka is stored by us, in this table or the DLQ topic. The HTTP path stripped its
    records already (stripping again keeps the same record). One whose shape we cannot
    read (not JSON, or a kind no adapter takes) is kept without its bytes, the reason
    saying so; the source topic and offset still point at it. A UsageEvent (no `kind`)
    is our own schema: kept."""
    if not row.message.headers:
        return row
    kind, _args = _headers_of(row.message)
    if kind is None:
        return row
    value, reason = edge_value(kind, row.message.value), row.reason
    if value is None:
        size, why = len(row.message.value), "a record we cannot read may hold a prompt"
        value, reason = b"", f"{reason} ({NOT_KEPT.format(size=size, why=why)})"
    return DeadLetterRow(dataclasses.replace(row.message, value=value), row.reason_code, reason)


def _storable_headers(headers: tuple[tuple[str, bytes], ...]) -> list[list[str]]:
    """Headers as text PostgreSQL's jsonb can store whatever a producer sent: bytes that
    are not UTF-8 are replaced, and NUL (which jsonb refuses, failing the whole batch) is
    kept visible as the text \\u0000."""
    return [
        [
            str(name).replace(NUL, "\\u0000"),
            (value or b"").decode("utf-8", "replace").replace(NUL, "\\u0000"),
        ]
        for name, value in headers
    ]
