"""The Kafka consumer against the real broker: batches booked with their offsets, bad
messages in the dead-letter topic with the reason, a replay changes nothing."""

import json
import threading
import time
import uuid

import pytest
from django.db import connection
from kafka import KafkaConsumer, KafkaProducer

from ledger.integrity import verify_ledger
from metering.consumer import (
    ConsumerSettings,
    ConsumerStalled,
    Counters,
    DeadLetterRateExceeded,
    UsageConsumer,
    call_with_deadline,
)
from metering.models import ConsumerOffset, DeadLetter, UsageRecord
from tests.conftest import fresh_topic
from tests.metering.conftest import usage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def produce(bootstrap: str, topic: str, values: list[bytes], keys: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    for key, value in zip(keys, values, strict=True):
        producer.send(topic, key=key, value=value)
    producer.flush(timeout=60)
    producer.close()


def consume_all(bootstrap: str, topic: str) -> list:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"read-{uuid.uuid4().hex[:8]}",
        consumer_timeout_ms=5000,
    )
    try:
        return list(consumer)
    finally:
        consumer.close()


CONSUMER_STARTS_MAX = 3


def run_consumer(bootstrap: str, topic: str, group: str, **overrides):
    """Run a consumer until idle. Like a supervisor, start a fresh one if the Kafka
    client stalls (ConsumerStalled: kafka-python 3.0 has hung in CI looking up the
    coordinator, and once never got its partitions back from the group): restarts are
    safe, which test_crash proves with SIGKILLs. The counters add up over the starts."""
    options = {
        "batch_size_max": 50,
        "batch_timeout_ms": 300,
        "stall_timeout_s": 60,
        "assignment_wait_max_s": 60,
    } | overrides
    config = ConsumerSettings(
        bootstrap_servers=bootstrap,
        topic=topic,
        dead_letter_topic=f"{topic}.dlq",
        group=group,
        **options,
    )
    total = Counters()
    for start in range(1, CONSUMER_STARTS_MAX + 1):
        consumer = UsageConsumer(config)
        try:
            consumer.run(max_idle_s=3)
        except ConsumerStalled:
            if start == CONSUMER_STARTS_MAX:
                raise
            continue
        finally:
            for name in ("processed", "duplicates", "rejected", "batches"):
                setattr(total, name, getattr(total, name) + getattr(consumer.counters, name))
        return total
    raise AssertionError("unreachable")


def test_a_kafka_call_that_does_not_return_is_a_stall_not_a_hang():
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(ConsumerStalled, match="did not return from poll within 1 s"):
        call_with_deadline(release.wait, 1.0, "poll")  # a call blocked for good
    assert 1.0 <= time.monotonic() - started < 5.0
    release.set()
    assert call_with_deadline(lambda: 42, 1.0, "poll") == 42
    with pytest.raises(ZeroDivisionError):
        call_with_deadline(lambda: 1 / 0, 1.0, "poll")


def test_consumer_books_batches_dead_letters_and_replays_nothing(
    world, kafka_bootstrap, kafka_topic
):
    events = [
        usage(customer=("acme", "globex", "initech")[i % 3], input=100 + i) for i in range(120)
    ]
    values = [json.dumps(e).encode() for e in events] + [b"not json", b'{"event_id": 1}']
    values += [json.dumps(events[0]).encode()]  # a duplicate delivered again
    keys = [e["customer"].encode() for e in events] + [b"x", b"y", b"acme"]
    produce(kafka_bootstrap, kafka_topic, values, keys)

    group = f"metering-{uuid.uuid4().hex[:8]}"
    counters = run_consumer(kafka_bootstrap, kafka_topic, group)
    assert (counters.processed, counters.duplicates, counters.rejected) == (120, 1, 2)
    assert UsageRecord.objects.count() == 120
    stored = dict(
        ConsumerOffset.objects.filter(group=group).values_list("partition", "next_offset")
    )
    assert sum(stored.values()) == len(values)  # every message accounted for

    dead = consume_all(kafka_bootstrap, f"{kafka_topic}.dlq")
    assert sorted(m.value for m in dead) == sorted([b"not json", b'{"event_id": 1}'])
    headers = dict(dead[0].headers)
    assert headers["reason_code"] in (b"malformed_json", b"schema_violation")
    assert headers["reason"] and headers["source_topic"] == kafka_topic.encode()

    # Same group again: PostgreSQL's offsets say everything is done.
    assert run_consumer(kafka_bootstrap, kafka_topic, group).processed == 0
    # Replaying the same offsets from the start changes nothing either.
    with connection.cursor() as cursor:
        cursor.execute(
            'UPDATE metering_consumeroffset SET next_offset = 0 WHERE "group" = %s', [group]
        )
    replay = run_consumer(kafka_bootstrap, kafka_topic, group)
    assert (replay.processed, replay.duplicates) == (0, 121)
    assert UsageRecord.objects.count() == 120
    assert verify_ledger().ok


def test_consumer_stops_loudly_when_most_of_a_batch_is_bad(world, kafka_bootstrap, kafka_topic):
    produce(kafka_bootstrap, kafka_topic, [b"garbage"] * 150, [b"k"] * 150)
    group = f"metering-{uuid.uuid4().hex[:8]}"
    with pytest.raises(DeadLetterRateExceeded, match="were rejected"):
        run_consumer(
            kafka_bootstrap, kafka_topic, group, batch_size_max=150, dead_letter_ratio_min_batch=100
        )
    # Nothing was committed for that batch: the next run sees the same messages again.
    assert not ConsumerOffset.objects.filter(group=group).exists()


def test_a_bounded_wait_for_partitions_ends_as_a_stall(world, kafka_bootstrap):
    """A standby consumer gets no partition while another member holds the only one: by
    default it waits (that is its job); with assignment_wait_max_s it gives up loudly,
    so that a supervised run whose client never rejoins its group is restarted."""
    with fresh_topic(kafka_bootstrap, partitions=1) as topic:
        _standby_gives_up(kafka_bootstrap, topic)


def _standby_gives_up(kafka_bootstrap: str, topic: str) -> None:
    group = f"metering-{uuid.uuid4().hex[:8]}"
    holder = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        client_id="a-holder",  # sorts before "metering-…": the assignors give it the partition
        enable_auto_commit=False,
    )
    stop = threading.Event()

    def hold() -> None:
        while not stop.is_set():
            holder.poll(timeout_ms=100)

    deadline = time.monotonic() + 60
    while not holder.assignment() and time.monotonic() < deadline:
        holder.poll(timeout_ms=100)
    assert holder.assignment(), "the holder never got the partition"
    holding = threading.Thread(target=hold, daemon=True)
    holding.start()
    try:
        config = ConsumerSettings(
            bootstrap_servers=kafka_bootstrap,
            topic=topic,
            dead_letter_topic=f"{topic}.dlq",
            group=group,
            stall_timeout_s=60,
            assignment_wait_max_s=5,
        )
        started = time.monotonic()
        with pytest.raises(ConsumerStalled, match="assigned no partition within 5 s"):
            UsageConsumer(config).run(max_idle_s=1)
        assert time.monotonic() - started >= 5
    finally:
        stop.set()
        holding.join(timeout=10)
        holder.close()


def test_not_billable_events_are_dead_lettered_without_stopping_the_consumer(
    world, kafka_bootstrap, kafka_topic
):
    # An upstream outage: most of a batch served nothing. Kept, never booked, and not
    # mistaken for a bad deploy by the dead-letter ratio.
    zero = [usage(input=0, output=0) for _ in range(140)]
    events = zero + [usage() for _ in range(10)]
    produce(kafka_bootstrap, kafka_topic, [json.dumps(e).encode() for e in events], [b"acme"] * 150)
    group = f"metering-{uuid.uuid4().hex[:8]}"
    counters = run_consumer(
        kafka_bootstrap, kafka_topic, group, batch_size_max=150, dead_letter_ratio_min_batch=100
    )
    assert (counters.processed, counters.rejected) == (10, 140)
    assert UsageRecord.objects.count() == 10
    assert DeadLetter.objects.filter(reason_code="not_billable").count() == 140
    dead = consume_all(kafka_bootstrap, f"{kafka_topic}.dlq")
    assert {dict(m.headers)["reason_code"] for m in dead} == {b"not_billable"}
    assert verify_ledger().ok


def test_native_records_go_through_kafka_with_their_kind_header(
    world, kafka_bootstrap, kafka_topic, settings
):
    from rest_framework.test import APIClient

    from metering.adapters import openai
    from tests.metering.test_native_ingest import _without_usage, openai_record
    from wallets.gateways.keys import gateway_key_create

    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_bootstrap
    settings.METERING_USAGE_TOPIC = kafka_topic  # a topic of this test's own
    _key, secret = gateway_key_create(name="native", source="test-gw", actor="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    good, bad = openai_record(), _without_usage(openai_record())
    response = client.post(
        "/v1/usage/openai", [good, bad], format="json", HTTP_X_CUSTOMER_ID="acme"
    )
    body = response.json()
    assert response.status_code == 202, body
    assert [item["status"] for item in body["items"]] == ["accepted", "refused"]
    assert UsageRecord.objects.count() == 0  # the consumer books it, not the request

    counters = run_consumer(kafka_bootstrap, kafka_topic, f"metering-{uuid.uuid4().hex[:8]}")
    assert (counters.processed, counters.rejected) == (1, 1)
    record = UsageRecord.objects.get()
    assert (record.event_id, record.customer) == (good["id"], "acme")
    assert record.metadata["adapter"] == "openai"
    [letter] = DeadLetter.objects.all()
    assert letter.reason == body["items"][1]["reason"]
    [dead] = consume_all(kafka_bootstrap, f"{kafka_topic}.dlq")
    headers = dict(dead.headers)
    assert headers["kind"] == b"openai" and headers["customer"] == b"acme"  # replayable
    assert json.loads(dead.value) == openai.edge_record(bad)  # no completion, replayable
    assert verify_ledger().ok
