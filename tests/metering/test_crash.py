"""Crash test: 100,000 usage events through real Kafka into the real PostgreSQL, with the
consumer process killed by SIGKILL at random moments and restarted. In the end every
valid event is booked exactly once, every malformed one is in the dead-letter topic,
the totals match an independent sum of the input, and ledger_verify passes."""

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from kafka import KafkaProducer

from ledger.models import Account
from ledger.selectors import account_balance_get, trial_balance_list
from metering.models import UsageRecord
from pricing import services as pricing_services
from tests.metering.conftest import PRICES_FROM
from tests.metering.test_consumer import consume_all

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS = int(os.environ.get("CRASH_TEST_EVENTS", "100000"))
DUPLICATE_SHARE, MALFORMED_SHARE, LATE_SHARE = 0.05, 0.01, 0.03
KILLS_MIN = 10
PRICE_CHANGE_AT = datetime(2026, 6, 15, tzinfo=UTC)
NEW_DEEPSEEK_INPUT = 5.6e-07  # the catalogue's float, as LiteLLM publishes it
# (customer, seller markup bps, reseller's wholesale markup bps or None) - see conftest.
CUSTOMERS = {"acme": (2000, None), "globex": (2000, None), "initech": (3000, 550)}
MODELS = {  # gateway's (provider, model) -> catalogue key
    ("openai", "gpt-4o"): "gpt-4o",
    ("anthropic", "claude-sonnet-4-5"): "claude-sonnet-4-5",
    ("deepseek", "deepseek-chat"): "deepseek/deepseek-chat",
    ("gemini", "gemini-2.5-pro"): "gemini/gemini-2.5-pro",
}
NANO, ATTO = Decimal("1e-9"), Decimal("1e-18")


def _generate(rng: random.Random) -> tuple[list[tuple[bytes, bytes]], list[dict], set[bytes]]:
    """The stream (key, value) in send order, the unique valid events, the malformed."""
    start = datetime(2026, 6, 1, tzinfo=UTC)
    valid: list[dict] = []
    stream: list[tuple[bytes, bytes]] = []
    malformed: set[bytes] = set()
    for index in range(EVENTS):
        roll = rng.random()
        if roll < MALFORMED_SHARE:
            bad = rng.choice(
                [
                    b"{not json %d" % index,
                    b'{"event_id": %d}' % index,
                    json.dumps({"event_id": f"bad-{index}", "tokens": -1}).encode(),
                ]
            )
            malformed.add(bad)
            stream.append((b"bad", bad))
            continue
        if roll < MALFORMED_SHARE + DUPLICATE_SHARE and valid:
            again = rng.choice(valid)
            stream.append((again["customer"].encode(), json.dumps(again).encode()))
            continue
        (provider, model), customer = rng.choice(list(MODELS)), rng.choice(list(CUSTOMERS))
        late = rng.random() < LATE_SHARE
        # Late events happened before the price change but arrive among later ones.
        moment = (
            PRICE_CHANGE_AT - timedelta(seconds=rng.randint(1, 86_400))
            if late
            else start + timedelta(seconds=index * 25)
        )
        event = {
            "event_id": f"evt-{index}-{uuid.uuid4().hex[:8]}",
            "source": "crash-gw",
            "occurred_at": moment.isoformat(),
            "customer": customer,
            "model": model,
            "provider": provider,
            "tokens": {
                "input": rng.randint(0, 5000),
                "output": rng.randint(0, 2000),
                "cache_read": rng.randint(0, 1000),
                "cache_write": rng.randint(0, 500) if provider == "anthropic" else 0,
                "reasoning": rng.randint(0, 800) if provider == "gemini" else 0,
            },
        }
        valid.append(event)
        stream.append((customer.encode(), json.dumps(event).encode()))
    return stream, valid, malformed


def _charge(tokens: dict, unit: dict, bps: int) -> Decimal:
    """Per-token price = cost * (1 + bps/10000) at atto precision, rounded down; the
    request's amount rounded half-even to nano-dollars."""
    per_token = {
        kind: (price * (10_000 + bps) / 10_000).quantize(ATTO, ROUND_DOWN)
        for kind, price in unit.items()
    }
    total = sum(count * per_token[kind] for kind, count in tokens.items())
    return total.quantize(NANO, ROUND_HALF_EVEN)


def _expected(valid: list[dict], catalogue: dict) -> dict[str, Decimal]:
    """An independent sum: Decimal from the catalogue's printed floats, no project code."""
    totals = {"cost": Decimal(0), "price": Decimal(0), "wholesale": Decimal(0)}
    for event in valid:
        entry = catalogue[MODELS[(event["provider"], event["model"])]]
        price = {
            key: Decimal(str(value))
            for key, value in entry.items()
            if isinstance(value, float | int) and "cost" in key
        }
        if event["provider"] == "deepseek" and event["occurred_at"] >= PRICE_CHANGE_AT.isoformat():
            price["input_cost_per_token"] = Decimal(str(NEW_DEEPSEEK_INPUT))
        unit = {
            "input": price["input_cost_per_token"],
            "output": price["output_cost_per_token"],
            "cache_read": price.get("cache_read_input_token_cost", price["input_cost_per_token"]),
            "cache_write": price.get(
                "cache_creation_input_token_cost", price["input_cost_per_token"]
            ),
            "reasoning": price["output_cost_per_token"],
        }
        markup, wholesale_markup = CUSTOMERS[event["customer"]]

        totals["cost"] += _charge(event["tokens"], unit, 0)
        totals["price"] += _charge(event["tokens"], unit, markup)
        if wholesale_markup is not None:
            totals["wholesale"] += _charge(event["tokens"], unit, wholesale_markup)
    return totals


def _consumer(topic: str, group: str, log) -> subprocess.Popen:
    database = settings.DATABASES["default"]
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
        f"{database['NAME']}",
        KAFKA_BOOTSTRAP_SERVERS=settings.KAFKA_BOOTSTRAP_SERVERS,
    )
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "metering_consume",
            "--topic",
            topic,
            "--dead-letter-topic",
            f"{topic}.dlq",
            "--group",
            group,
            "--batch-size",
            "2000",
            "--batch-timeout-ms",
            "300",
            "--stop-when-idle-s",
            "5",
            "--report-every",
            "5",
            "--partitions",
            "all",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _balance(book_code: str, account_code: str) -> int:
    account = Account.objects.get(book__code=book_code, code=account_code)
    return account_balance_get(account_id=account.id).balance


def test_killed_and_restarted_consumer_books_every_event_exactly_once(
    world, catalogue_subset, kafka_bootstrap, kafka_topic, tmp_path
):
    changed = json.loads(json.dumps(catalogue_subset))
    changed["deepseek/deepseek-chat"]["input_cost_per_token"] = NEW_DEEPSEEK_INPUT
    pricing_services.catalog_import(data=changed, effective_from=PRICE_CHANGE_AT, actor="test")
    assert PRICE_CHANGE_AT > PRICES_FROM

    rng = random.Random(20261129)
    stream, valid, malformed = _generate(rng)
    producer = KafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=20, batch_size=256 * 1024
    )
    for key, value in stream:
        producer.send(kafka_topic, key=key, value=value)
    producer.flush(timeout=300)
    producer.close()

    group = f"crash-{uuid.uuid4().hex[:8]}"
    log_path = tmp_path / "consumer.log"
    kills = 0
    with log_path.open("wb") as log:
        deadline = time.monotonic() + 900
        while kills < KILLS_MIN:
            process = _consumer(kafka_topic, group, log)
            time.sleep(rng.uniform(1.0, 5.0))  # starting, joining, or mid-batch
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            kills += 1
        final = _consumer(kafka_topic, group, log)
        final.wait(timeout=max(60, deadline - time.monotonic()))
    output = log_path.read_text(errors="replace")
    assert final.returncode == 0, output[-3000:]

    records = UsageRecord.objects
    assert records.count() == len(valid), output[-3000:]
    assert records.values("source", "event_id").distinct().count() == len(valid)

    expected = _expected(valid, catalogue_subset)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sum(cost_minor), sum(price_minor), sum(wholesale_minor)"
            "  FROM metering_usagerecord"
        )
        cost, price, wholesale = cursor.fetchone()
    assert Decimal(cost) * NANO == expected["cost"]
    assert Decimal(price) * NANO == expected["price"]
    assert Decimal(wholesale) * NANO == expected["wholesale"]
    # The ledger agrees: seller revenue is what customers pay, across both books.
    assert (
        _balance("distributor", "revenue:usage") + _balance("apex", "revenue:usage")
        == price + wholesale
    )

    dead = consume_all(kafka_bootstrap, f"{kafka_topic}.dlq")
    assert {message.value for message in dead} == malformed  # at least once each
    assert all(row.difference == 0 for row in trial_balance_list())
    call_command("ledger_verify", "--no-progress")  # raises CommandError when off


def test_sigterm_finishes_the_batch_in_hand_and_exits_cleanly(
    world, kafka_bootstrap, kafka_topic, tmp_path
):
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=20)
    for index in range(20_000):
        event = {
            "event_id": f"term-{index}",
            "source": "term-gw",
            "occurred_at": "2026-06-02T00:00:00+00:00",
            "customer": "acme",
            "model": "gpt-4o",
            "provider": "openai",
            "tokens": {"input": 10, "output": 5, "cache_read": 0, "cache_write": 0, "reasoning": 0},
        }
        producer.send(kafka_topic, key=b"acme", value=json.dumps(event).encode())
    producer.flush(timeout=120)
    producer.close()
    group = f"term-{uuid.uuid4().hex[:8]}"
    with (tmp_path / "consumer.log").open("wb") as log:
        process = _consumer(kafka_topic, group, log)
        deadline = time.monotonic() + 120
        while not UsageRecord.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    output = (tmp_path / "consumer.log").read_text(errors="replace")
    assert process.returncode == 0, output[-2000:]
    assert "stopped:" in output
    # Whatever was booked is exactly what the stored offsets account for.
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT coalesce(sum(next_offset), 0) FROM metering_consumeroffset WHERE "group" = %s',
            [group],
        )
        consumed = cursor.fetchone()[0]
    assert 0 < UsageRecord.objects.count() == consumed
