"""The Kafka consumer: poll a bounded batch, book it, commit results and offsets together.

Offsets live in PostgreSQL (metering_consumeroffset), written in the batch's transaction,
so the position and the booked records can never disagree: on start and on every
rebalance each assigned partition is sought to its stored offset. Kafka's own committed
offsets are updated after each batch only so that lag tools see progress.

Bad messages go to the dead-letter topic with the reason in headers; if more than
`dead_letter_ratio_max` of a batch is rejected (and the batch is big enough to judge;
`not_billable` events do not count)
the consumer stops loudly instead, so a bad deploy cannot silently dead-letter everything.
SIGTERM finishes the batch in hand, commits it, and exits.

Calls into the Kafka client run on a helper thread and are waited for at most
`stall_timeout_s`: kafka-python 3.0 has been seen (once in CI) to block forever inside
poll() while looking up the group coordinator. A stalled client raises ConsumerStalled
instead of hanging silently; the process should exit and be restarted, which is safe
because the offsets live in PostgreSQL with what they booked.
"""

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import close_old_connections, connections
from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition

from config import metrics
from metering.pipeline import (
    BATCH_MESSAGES_MAX,
    DeadLetterRow,
    Pipeline,
    RawMessage,
    stored_offsets,
)
from metering.schema import NOT_BILLABLE

logger = logging.getLogger(__name__)


class DeadLetterRateExceeded(RuntimeError):
    """Too much of a batch was rejected: stop and let a human look."""


class ConsumerStalled(RuntimeError):
    """The Kafka client did not return within stall_timeout_s: restart the process."""


def call_with_deadline(call: Callable, timeout_s: float, what: str):
    """call() on a daemon helper thread; its result, or ConsumerStalled after timeout_s
    (the helper is abandoned: a wedged client cannot be interrupted, only left)."""
    outcome: dict = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001  (re-raised in the caller's thread)
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name=f"kafka-{what}", daemon=True).start()
    if not done.wait(timeout_s):
        raise ConsumerStalled(
            f"the Kafka client did not return from {what} within {timeout_s:.0f} s; "
            "restart the consumer (PostgreSQL holds the offsets: nothing is lost or doubled)"
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@dataclass
class ConsumerSettings:
    bootstrap_servers: str
    topic: str = "usage.events"
    dead_letter_topic: str = "usage.events.dlq"
    group: str = "metering"
    batch_size_max: int = 5_000
    batch_timeout_ms: int = 500
    dead_letter_ratio_max: float = 0.5  # share of one batch (not money)
    dead_letter_ratio_min_batch: int = 100  # smaller batches are not judged
    poll_timeout_ms: int = 200
    # None: join the consumer group and take what the group assigns (rebalances seek to
    # PostgreSQL's offsets). A list: read exactly these partitions, no group coordination
    # (a restart then resumes at once, without waiting for a dead member's session).
    partitions: list[int] | None = None
    # A Kafka client call that takes longer is a stall (see ConsumerStalled). Joining a
    # group can wait out a dead member's session (tens of seconds): keep well above that.
    stall_timeout_s: float = 120.0
    # How long to wait for the group to assign partitions before giving up as stalled.
    # None (the default) waits for ever: a standby consumer (more consumers than
    # partitions) legitimately has none. Supervised runs that must make progress (tests,
    # benches) bound it: kafka-python 3.0 has been seen to never rejoin a group.
    assignment_wait_max_s: float | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size_max <= BATCH_MESSAGES_MAX:
            raise ValueError(f"batch_size_max must be within 1..{BATCH_MESSAGES_MAX}")


@dataclass
class Counters:
    processed: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0
    lag: int = 0
    started_at: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        elapsed_s = max(time.monotonic() - self.started_at, 1e-9)
        return (
            f"batches={self.batches} processed={self.processed} "
            f"duplicates={self.duplicates} rejected={self.rejected} lag={self.lag} "
            f"rate={self.processed / elapsed_s:,.0f}/s"
        )


class _SeekToStoredOffsets(ConsumerRebalanceListener):
    """Rebuild per-partition state on rebalance: PostgreSQL's offsets are the truth."""

    def __init__(self, consumer: "UsageConsumer") -> None:
        self.owner = consumer

    def on_partitions_revoked(self, revoked) -> None:
        # Nothing is buffered across batches, so there is nothing to flush here.
        logger.info("partitions revoked: %s", sorted(tp.partition for tp in revoked))
        metrics.metering_lag_forget(tp.partition for tp in revoked)

    def on_partitions_assigned(self, assigned) -> None:
        self.owner.seek_to_stored(assigned)


class UsageConsumer:
    def __init__(
        self,
        settings: ConsumerSettings,
        *,
        pipeline: Pipeline | None = None,
        on_batch: Callable[[Counters], None] | None = None,
    ) -> None:
        self.settings = settings
        self._batch_thread = threading.get_ident()  # where batches are booked
        self.pipeline = pipeline or Pipeline()
        self.counters = Counters()
        self.on_batch = on_batch
        self._stopping = False
        self._stalled = False
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            group_id=settings.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=settings.batch_size_max,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=16 * 1024 * 1024,
            client_id=f"metering-{settings.group}",
        )
        if settings.partitions is None:
            self.consumer.subscribe([settings.topic], listener=_SeekToStoredOffsets(self))
        else:
            assigned = [TopicPartition(settings.topic, p) for p in settings.partitions]
            self.consumer.assign(assigned)
            self.seek_to_stored(assigned)
        self.producer = KafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            client_id=f"metering-dlq-{settings.group}",
        )

    def seek_to_stored(self, partitions) -> None:
        offsets = stored_offsets(self.settings.group, self.settings.topic)
        if threading.get_ident() != self._batch_thread:
            # kafka-python runs rebalance listeners on its own threads; Django opened a
            # connection for this one (they are per thread): do not leave it open.
            connections.close_all()
        for tp in partitions:
            if tp.partition in offsets:
                self.consumer.seek(tp, offsets[tp.partition])
            else:
                self.consumer.seek_to_beginning(tp)

    def stop(self, *_args) -> None:
        self._stopping = True

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def _poll_batch(self) -> list[RawMessage]:
        """Up to batch_size_max messages, or what arrived within batch_timeout_ms."""
        batch: list[RawMessage] = []
        deadline = time.monotonic() + self.settings.batch_timeout_ms / 1000
        while len(batch) < self.settings.batch_size_max and not self._stopping:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                break
            records = self._bounded(
                "poll",
                self.consumer.poll,
                timeout_ms=min(remaining_ms, self.settings.poll_timeout_ms),
                max_records=self.settings.batch_size_max - len(batch),
            )
            for tp, messages in records.items():
                batch.extend(
                    RawMessage(
                        tp.topic, tp.partition, m.offset, m.key, m.value, tuple(m.headers or ())
                    )
                    for m in messages
                )
        return batch

    def _send_dead_letters(self, rows: list[DeadLetterRow]) -> None:
        """Inside the batch's transaction: if Kafka refuses, the batch rolls back."""
        futures = [
            self.producer.send(
                self.settings.dead_letter_topic,
                key=row.message.key,
                value=row.message.value,
                headers=[
                    *row.message.headers,  # a native record keeps its kind and arguments
                    ("reason_code", row.reason_code.encode()),
                    ("reason", row.reason.encode()[:2000]),
                    ("source_topic", row.message.topic.encode()),
                    ("source_partition", str(row.message.partition).encode()),
                    ("source_offset", str(row.message.offset).encode()),
                ],
            )
            for row in rows
        ]
        self.producer.flush(timeout=30)
        for future in futures:
            future.get(timeout=30)

    def _check_dead_letter_rate(self, batch_size: int, rejected: int) -> None:
        if batch_size < self.settings.dead_letter_ratio_min_batch:
            return
        if rejected > batch_size * self.settings.dead_letter_ratio_max:
            raise DeadLetterRateExceeded(
                f"{rejected} of {batch_size} messages in one batch were rejected "
                f"(limit {self.settings.dead_letter_ratio_max:.0%}); stopping without "
                "committing this batch"
            )

    def run_once(self) -> int:
        batch = self._poll_batch()
        if not batch:
            return 0
        read_at = time.perf_counter()
        close_old_connections()

        def before_commit(dead_letters: list[DeadLetterRow]) -> None:
            # not_billable is a gateway's normal report of a call that served nothing
            # (an upstream outage sends many), not a sign of a bad deploy.
            refused = sum(1 for row in dead_letters if row.reason_code != NOT_BILLABLE)
            self._check_dead_letter_rate(len(batch), refused)
            if dead_letters:
                self._send_dead_letters(dead_letters)

        result = self.pipeline.process(
            batch, group=self.settings.group, before_commit=before_commit
        )
        metrics.metering_batch_booked(result, time.perf_counter() - read_at)
        self._commit_to_kafka(batch)
        self.counters.batches += 1
        self.counters.processed += result.processed
        self.counters.duplicates += result.duplicates
        self.counters.rejected += result.rejected
        if self.on_batch:
            self.on_batch(self.counters)
        return len(batch)

    def _commit_to_kafka(self, batch: list[RawMessage]) -> None:
        """Best effort, for lag monitoring only: PostgreSQL already holds the truth."""
        from kafka.structs import OffsetAndMetadata

        latest: dict[TopicPartition, int] = {}
        for message in batch:
            tp = TopicPartition(message.topic, message.partition)
            latest[tp] = max(latest.get(tp, 0), message.offset + 1)
        try:
            self._bounded(
                "commit",
                self.consumer.commit,
                {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in latest.items()},
            )
            end = self._bounded("end_offsets", self.consumer.end_offsets, list(latest))
            lag = {tp.partition: max(0, end[tp] - latest[tp]) for tp in latest}
            self.counters.lag = sum(lag.values())
            metrics.metering_lag_set(lag)
        except ConsumerStalled:
            raise
        except Exception as exc:  # noqa: BLE001 - monitoring must not stop booking
            logger.warning("could not commit offsets to Kafka (PostgreSQL has them): %s", exc)

    def run(self, *, max_idle_s: float | None = None) -> Counters:
        """Consume until stopped (SIGTERM) or, if given, after max_idle_s without messages
        while holding partitions (time spent waiting for an assignment does not count)."""
        idle_since = time.monotonic()
        unassigned_since: float | None = None
        try:
            while not self._stopping:
                booked = self.run_once()
                now = time.monotonic()
                if self.consumer.assignment():
                    unassigned_since = None
                else:
                    unassigned_since = unassigned_since or now
                    self._check_assignment_wait(now - unassigned_since)
                if booked or unassigned_since is not None:
                    idle_since = now
                elif max_idle_s is not None and now - idle_since > max_idle_s:
                    break
        finally:
            self.close()
        return self.counters

    def _check_assignment_wait(self, waited_s: float) -> None:
        wait_max_s = self.settings.assignment_wait_max_s
        if wait_max_s is not None and waited_s > wait_max_s:
            # Its calls still return, so it is closed as usual (close is bounded too):
            # abandoning it would leave its network thread polling for ever.
            raise ConsumerStalled(
                f"the group assigned no partition within {wait_max_s:.0f} s; "
                "restart the consumer (PostgreSQL holds the offsets: nothing is lost or doubled)"
            )

    def _bounded(self, what: str, call: Callable, *args, **kwargs):
        try:
            return call_with_deadline(
                lambda: call(*args, **kwargs), self.settings.stall_timeout_s, what
            )
        except ConsumerStalled:
            self._stalled = True
            raise

    def close(self) -> None:
        """Close the clients; a stalled client is abandoned rather than waited for."""
        self.producer.close(timeout=10)
        if self._stalled:
            logger.error("abandoning a stalled Kafka consumer without closing it")
            return
        self._bounded("close", self.consumer.close, autocommit=False)
