"""Where HTTP-reported usage goes: to Kafka when configured, else straight to the pipeline.

Either way the answer is per item, by index in the request: `accepted`, `duplicate` or
`refused` with the pipeline's reason code. With Kafka, events are checked at the edge
(schema and `not_billable`, the checks that need no database) and all of them are
produced, so the consumer dead-letters the refused ones exactly as the direct path does;
rating outcomes (unknown customer, no price) and duplicates are the consumer's to find.
"""

import json
import threading

from django.conf import settings
from kafka import KafkaProducer

from config import metrics
from metering.adapters import EDGE_RECORDS, adapt_message
from metering.pipeline import KIND_HEADER, Pipeline, RawMessage
from metering.schema import NOT_BILLABLE, InvalidUsageEvent, not_billable_reason, parse_usage_event

PRODUCE_TIMEOUT_S = 10

ACCEPTED, DUPLICATE, REFUSED = "accepted", "duplicate", "refused"

_producer: KafkaProducer | None = None
_pipeline: Pipeline | None = None
_lock = threading.Lock()
_process_lock = threading.Lock()  # the direct pipeline's caches are not thread-safe


def _kafka_producer(servers: str) -> KafkaProducer:
    global _producer
    with _lock:
        if _producer is None:
            _producer = KafkaProducer(
                bootstrap_servers=servers,
                acks="all",
                enable_idempotence=True,  # a retried send is never written twice
                linger_ms=2,
                client_id="usage-ingest",
            )
        return _producer


def _direct_pipeline() -> Pipeline:
    global _pipeline
    with _lock:
        if _pipeline is None:
            _pipeline = Pipeline()
        return _pipeline


def reset_direct_pipeline() -> None:
    """Drop the direct pipeline's caches (tests; or after reference data was reset)."""
    global _pipeline
    with _lock:
        _pipeline = None


def _refused(index: int, code: str, reason: str) -> dict:
    return {"index": index, "status": REFUSED, "code": code, "reason": reason}


def _edge_check(index: int, payload: bytes) -> dict:
    try:
        event = parse_usage_event(payload)
    except InvalidUsageEvent as exc:
        return _refused(index, exc.code, exc.reason)
    reason = not_billable_reason(event)
    if reason is not None:
        return _refused(index, NOT_BILLABLE, reason)
    return {"index": index, "status": ACCEPTED}


def _answer(mode: str, items: list[dict]) -> dict:
    counts = {ACCEPTED: 0, DUPLICATE: 0, REFUSED: 0}
    for item in items:
        counts[item["status"]] += 1
    metrics.usage_http_items_count(items)
    return {
        "mode": mode,
        "accepted": counts[ACCEPTED],
        "duplicates": counts[DUPLICATE],
        "refused": counts[REFUSED],
        "items": items,
    }


def ingest_events(payloads: list[bytes], *, keys: list[str], kafka_servers: str) -> dict:
    if not kafka_servers:
        return _ingest(payloads, keys, (), None, kafka_servers)
    edge = [_edge_check(index, payload) for index, payload in enumerate(payloads)]
    return _ingest(payloads, keys, (), edge, kafka_servers)


def ingest_native(kind: str, records: list, *, args: dict[str, str], kafka_servers: str) -> dict:
    """Native records of one adapter `kind`, each with the same `args` (source, customer,
    ...): produced with a `kind` header, or adapted by the direct pipeline. The record
    itself is kept in its provider's format, so a refused one is a dead letter that replays
    with the same adapter; of a record only what its adapter reads is kept (the prompt and
    the completion never reach Kafka nor a dead letter: `<adapter>.edge_record`)."""
    edge_record = EDGE_RECORDS.get(kind)
    if edge_record is not None:
        records = [edge_record(record) for record in records]
    payloads = [json.dumps(record).encode() for record in records]
    headers = ((KIND_HEADER, kind.encode()), *((n, v.encode()) for n, v in args.items()))
    items, keys = [], []
    for index, payload in enumerate(payloads):
        try:
            event = adapt_message(kind, payload, args)
        except InvalidUsageEvent as exc:
            items.append(_refused(index, exc.code, exc.reason))
            keys.append(args.get("customer", ""))
            continue
        reason = not_billable_reason(event)
        items.append(
            _refused(index, NOT_BILLABLE, reason)
            if reason is not None
            else {"index": index, "status": ACCEPTED}
        )
        keys.append(event.customer)
    return _ingest(payloads, keys, headers, items, kafka_servers)


def _ingest(payloads, keys, headers, edge_items, kafka_servers) -> dict:
    if kafka_servers:
        items = edge_items
        producer = _kafka_producer(kafka_servers)
        topic = settings.METERING_USAGE_TOPIC
        futures = [
            producer.send(topic, key=key.encode(), value=payload, headers=list(headers))
            for key, payload in zip(keys, payloads, strict=True)
        ]
        producer.flush(timeout=PRODUCE_TIMEOUT_S)
        for future in futures:
            future.get(timeout=PRODUCE_TIMEOUT_S)
        return _answer("kafka", items)
    # No partition: the offset field carries the event's index in the request.
    messages = [
        RawMessage("http", None, index, key.encode(), payload, headers)
        for index, (key, payload) in enumerate(zip(keys, payloads, strict=True))
    ]
    pipeline = _direct_pipeline()
    with _process_lock:
        result = pipeline.process(messages)
    items = [{"index": index, "status": ACCEPTED} for index in range(len(messages))]
    for message in result.duplicate_messages:
        items[message.offset] = {"index": message.offset, "status": DUPLICATE}
    for row in result.dead_letters:
        items[row.message.offset] = _refused(row.message.offset, row.reason_code, row.reason)
    return _answer("direct", items)
