"""Where HTTP-reported usage goes: to Kafka when configured, else straight to the pipeline."""

import threading

from kafka import KafkaProducer

from metering.pipeline import Pipeline, RawMessage

USAGE_TOPIC = "usage.events"
PRODUCE_TIMEOUT_S = 10

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


def ingest_events(payloads: list[bytes], *, keys: list[str], kafka_servers: str) -> dict:
    if kafka_servers:
        producer = _kafka_producer(kafka_servers)
        futures = [
            producer.send(USAGE_TOPIC, key=key.encode(), value=payload)
            for key, payload in zip(keys, payloads, strict=True)
        ]
        producer.flush(timeout=PRODUCE_TIMEOUT_S)
        for future in futures:
            future.get(timeout=PRODUCE_TIMEOUT_S)
        return {"accepted": len(payloads), "mode": "kafka"}
    # No partition: the offset field carries the event's index in the request.
    messages = [
        RawMessage("http", None, index, key.encode(), payload)
        for index, (key, payload) in enumerate(zip(keys, payloads, strict=True))
    ]
    pipeline = _direct_pipeline()
    with _process_lock:
        result = pipeline.process(messages)
    return {
        "accepted": len(payloads),
        "mode": "direct",
        "processed": result.processed,
        "duplicates": result.duplicates,
        "rejected": [
            {"index": row.message.offset, "code": row.reason_code, "reason": row.reason}
            for row in result.dead_letters
        ],
    }
