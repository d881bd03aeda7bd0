"""GET /metrics: what the consumer, the authorizations and HTTP ingestion record, scraped
as Prometheus would, over real Kafka and PostgreSQL.

Counters live in the process for the whole run, so each test reads them before and
after what it does and asserts the difference; the multiprocess test has a directory
of its own."""

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from metering import ingest
from metering.consumer import ConsumerSettings, UsageConsumer
from metering.models import ConsumerOffset
from tests.conftest import fresh_topic
from tests.metering.conftest import REPO_ROOT, catalogue_subset, usage, world  # noqa: F401  (fixtures)
from tests.metering.test_consumer import run_consumer
from tests.wallets.factories import ApiKeyFactory, gateway_key, wallet_topup
from wallets import selectors as wallet_selectors

USD = 10**9
PROCESSED = "tokenledger_metering_events_processed_total"
DUPLICATE = "tokenledger_metering_events_duplicate_total"
REJECTED = "tokenledger_metering_events_rejected_total"
BATCHES = "tokenledger_metering_batches_total"
LAG = "tokenledger_metering_consumer_lag_messages"
BATCH_SECONDS = "tokenledger_metering_batch_duration_seconds"
DECISIONS = "tokenledger_authorization_decisions_total"
AUTHORIZATION_SECONDS = "tokenledger_authorization_duration_seconds"
HTTP_ITEMS = "tokenledger_usage_http_items_total"


class Scrape(dict):
    """{(sample name, frozenset of label pairs): value} of one /metrics answer."""

    def value(self, name: str, **labels) -> float:
        return self.get((name, frozenset(labels.items())), 0.0)

    def labelled(self, name: str) -> dict[frozenset, float]:
        return {labels: value for (sample, labels), value in self.items() if sample == name}


def scrape(client=None, **headers) -> Scrape:
    response = (client or APIClient()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    found = Scrape()
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def delta(before: Scrape, after: Scrape, name: str, **labels) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


def produce(bootstrap: str, topic: str, messages: list[tuple[int, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    for partition, value in messages:
        producer.send(topic, key=b"k", value=value, partition=partition)
    producer.flush(timeout=60)
    producer.close()


@contextlib.contextmanager
def topics_with_dead_letters(bootstrap: str, partitions: int):
    """A fresh topic and its dead-letter topic, made beforehand: left to Kafka's
    auto-creation, two consumers' first dead letters race to create it."""
    from kafka.admin import KafkaAdminClient, NewTopic

    with fresh_topic(bootstrap, partitions=partitions) as topic:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="tests")
        dead_letters = f"{topic}.dlq"
        admin.create_topics([NewTopic(dead_letters, num_partitions=1, replication_factor=1)])
        try:
            yield topic
        finally:
            admin.delete_topics([dead_letters])
            admin.close()


def usage_stream() -> tuple[list[tuple[int, bytes]], dict]:
    """Good events over two partitions, duplicates of some, and bad ones of four kinds;
    with what the consumer must count."""
    good = [usage(customer=("acme", "globex", "initech")[i % 3], input=100 + i) for i in range(40)]
    messages = [(i % 2, json.dumps(event).encode()) for i, event in enumerate(good)]
    messages += [(1, json.dumps(good[i]).encode()) for i in (0, 2, 4)]  # sent again
    messages += [
        (0, b"not json"),
        (1, b'{"event_id": 1}'),
        (0, json.dumps(usage(customer="nobody")).encode()),
        (1, json.dumps(usage(input=0, output=0)).encode()),
        (1, json.dumps(usage(input=0, output=0)).encode()),
    ]
    expected = {
        "processed": 40,
        "duplicates": 3,
        "rejected": {
            "malformed_json": 1,
            "schema_violation": 1,
            "unknown_customer": 1,
            "not_billable": 2,
        },
    }
    return messages, expected


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_consumer_counts_lag_and_batch_latency(world, kafka_bootstrap):  # noqa: F811
    messages, expected = usage_stream()
    sent = {p: sum(1 for partition, _ in messages if partition == p) for p in (0, 1)}
    group = f"metrics-{uuid.uuid4().hex[:8]}"
    with topics_with_dead_letters(kafka_bootstrap, partitions=2) as topic:
        produce(kafka_bootstrap, topic, messages)
        before = scrape()
        config = ConsumerSettings(
            bootstrap_servers=kafka_bootstrap,
            topic=topic,
            dead_letter_topic=f"{topic}.dlq",
            group=group,
            partitions=[0, 1],
            batch_size_max=10,
            batch_timeout_ms=10_000,
            stall_timeout_s=60,
        )
        first = UsageConsumer(config)
        try:
            read = first.run_once()  # 10 unless the broker is slower than the timeout
        finally:
            first.close()
        assert 0 < read <= 10
        stored = dict(
            ConsumerOffset.objects.filter(group=group).values_list("partition", "next_offset")
        )
        mid = scrape()
        # After one batch: each partition it read is behind by what it has not read.
        assert stored and sum(stored.values()) == read
        for partition, next_offset in stored.items():
            assert mid.value(LAG, partition=str(partition)) == sent[partition] - next_offset

        counters = run_consumer(kafka_bootstrap, topic, group, partitions=[0, 1], batch_size_max=10)
        after = scrape()

    assert delta(before, after, PROCESSED) == expected["processed"]
    assert delta(before, after, DUPLICATE) == expected["duplicates"]
    for reason, count in expected["rejected"].items():
        assert delta(before, after, REJECTED, reason=reason) == count, reason
    assert sum(after.labelled(REJECTED).values()) - sum(before.labelled(REJECTED).values()) == 5
    batches = counters.batches + 1
    assert delta(before, after, BATCHES) == batches
    assert delta(before, after, f"{BATCH_SECONDS}_count") == batches
    assert delta(before, after, f"{BATCH_SECONDS}_sum") > 0
    assert delta(before, after, f"{BATCH_SECONDS}_bucket", le="+Inf") == batches
    # Everything read: no partition is behind.
    assert after.value(LAG, partition="0") == 0 and after.value(LAG, partition="1") == 0


@pytest.fixture
def gateway():
    wallet_selectors.retail_prices.reset()
    wallet_selectors.known_keys.reset()
    _key, token = gateway_key("test-gw")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    yield client
    wallet_selectors.retail_prices.reset()
    wallet_selectors.known_keys.reset()


def authorization(raw_key: str, **extra) -> dict:
    return {
        "api_key": raw_key,
        "provider": "deepseek",
        "model": "deepseek-chat",
        "max_input_tokens": 10_000,
        "max_output_tokens": 2_000,
        **extra,
    }


@pytest.mark.django_db
def test_authorization_decisions_by_reason_and_latency(world, gateway):  # noqa: F811
    wallet_topup(world["acme"], USD)
    funded = ApiKeyFactory(customer=world["acme"])
    broke = ApiKeyFactory(customer=world["initech"])  # no money in its wallet
    before = scrape()

    answers = [
        gateway.post("/v1/authorizations", authorization(funded.raw), format="json"),
        gateway.post(
            "/v1/authorizations",
            authorization(funded.raw),
            format="json",
            HTTP_IDEMPOTENCY_KEY="once",
        ),
        # The same request again: a replay of the answer above, not a new decision.
        gateway.post(
            "/v1/authorizations",
            authorization(funded.raw),
            format="json",
            HTTP_IDEMPOTENCY_KEY="once",
        ),
        gateway.post("/v1/authorizations", authorization(broke.raw), format="json"),
        gateway.post("/v1/authorizations", authorization("sk_live_x_y"), format="json"),
        gateway.post("/v1/authorizations", {"api_key": funded.raw}, format="json"),
    ]
    assert [answer.status_code for answer in answers] == [201, 201, 200, 201, 201, 400]
    after = scrape()

    assert delta(before, after, DECISIONS, decision="approved", reason="") == 2
    assert delta(before, after, DECISIONS, decision="declined", reason="insufficient_funds") == 1
    assert delta(before, after, DECISIONS, decision="declined", reason="unknown_key") == 1
    assert delta(before, after, DECISIONS, decision="error", reason="invalid_input") == 1
    assert sum(after.labelled(DECISIONS).values()) - sum(before.labelled(DECISIONS).values()) == 5
    assert delta(before, after, f"{AUTHORIZATION_SECONDS}_count") == len(answers)
    assert delta(before, after, f"{AUTHORIZATION_SECONDS}_sum") > 0


@pytest.mark.django_db
def test_http_usage_items_by_status_and_code(world, gateway, settings):  # noqa: F811
    settings.KAFKA_BOOTSTRAP_SERVERS = ""  # the direct path: it finds duplicates too
    ingest.reset_direct_pipeline()
    good = [usage(), usage(customer="globex")]
    before = scrape()
    first = gateway.post("/v1/usage", {"events": [*good, usage(input=0, output=0)]}, format="json")
    again = gateway.post("/v1/usage", {"events": [good[0], {"event_id": 1}]}, format="json")
    openai = gateway.post(
        "/v1/usage/openai",
        {"object": "chat.completion", "model": "gpt-4o"},  # no usage object in it
        format="json",
        HTTP_X_CUSTOMER_ID="acme",
    )
    assert [r.status_code for r in (first, again, openai)] == [200, 200, 200]
    assert [item["code"] for item in openai.json()["items"]] == ["schema_violation"]
    after = scrape()
    ingest.reset_direct_pipeline()

    assert delta(before, after, HTTP_ITEMS, status="accepted", code="") == 2
    assert delta(before, after, HTTP_ITEMS, status="duplicate", code="") == 1
    assert delta(before, after, HTTP_ITEMS, status="refused", code="not_billable") == 1
    assert delta(before, after, HTTP_ITEMS, status="refused", code="schema_violation") == 2
    assert sum(after.labelled(HTTP_ITEMS).values()) - sum(before.labelled(HTTP_ITEMS).values()) == 6


def _consumer_process(topic: str, group: str, partition: int, metrics_dir) -> subprocess.Popen:
    database = settings.DATABASES["default"]
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
        f"{database['NAME']}",
        KAFKA_BOOTSTRAP_SERVERS=settings.KAFKA_BOOTSTRAP_SERVERS,
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "metering_consume",
            *("--topic", topic, "--dead-letter-topic", f"{topic}.dlq", "--group", group),
            *("--partitions", str(partition), "--batch-size", "10", "--stop-when-idle-s", "3"),
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_consumer_processes_sum_in_one_scrape(world, kafka_bootstrap, tmp_path, monkeypatch):  # noqa: F811
    messages, expected = usage_stream()
    group = f"metrics-{uuid.uuid4().hex[:8]}"
    metrics_dir = tmp_path / "metrics"  # not there yet: the first consumer creates it
    with topics_with_dead_letters(kafka_bootstrap, partitions=2) as topic:
        produce(kafka_bootstrap, topic, messages)
        processes = [_consumer_process(topic, group, p, metrics_dir) for p in (0, 1)]
        outputs = []
        for process in processes:
            try:
                output, _ = process.communicate(timeout=180)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            outputs.append(output)
            assert process.returncode == 0, output

    written_by = {name.rsplit("_", 1)[-1] for name in os.listdir(metrics_dir)}
    assert written_by == {f"{process.pid}.db" for process in processes}, os.listdir(metrics_dir)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    summed = scrape()

    assert summed.value(PROCESSED) == expected["processed"], outputs
    assert summed.value(DUPLICATE) == expected["duplicates"], outputs
    for reason, count in expected["rejected"].items():
        assert summed.value(REJECTED, reason=reason) == count, (reason, outputs)
    batches = summed.value(BATCHES)
    assert batches >= 2  # each process booked at least one batch
    assert summed.value(f"{BATCH_SECONDS}_count") == batches
    # Each partition's lag comes from the one process that read it; both read to the end.
    assert summed.labelled(LAG) == {
        frozenset({("partition", "0")}): 0.0,
        frozenset({("partition", "1")}): 0.0,
    }


@pytest.mark.django_db
def test_metrics_access_with_and_without_a_token(settings):
    settings.METRICS_TOKEN = "scrape-secret"
    client = APIClient()
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert (BATCHES, frozenset()) in scrape(client, HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert client.post("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 405

    settings.METRICS_TOKEN = ""
    settings.METRICS_OPEN = False  # production: no token, no scrape
    closed = client.get("/metrics")
    assert closed.status_code == 403 and b"METRICS_TOKEN" in closed.content
    settings.METRICS_OPEN = True
    assert client.get("/metrics").status_code == 200


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _http(port: int, method: str, path: str, body: dict | None = None, **headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        if payload is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_gunicorn_prepares_the_dir_and_sums_its_workers(tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    # What a process of an earlier run left: 1,000 declines, in a file of a pid now gone.
    earlier = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os; from config import metrics; "
            "metrics.AUTHORIZATION_DECISIONS.labels('declined', 'unknown_key').inc(1000); "
            "print(os.getpid())",
        ],
        cwd=REPO_ROOT,
        env=dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert earlier.returncode == 0, earlier.stderr
    stale = metrics_dir / f"counter_{int(earlier.stdout)}.db"
    assert stale.exists()

    _key, gateway_token = gateway_key("test-gw")
    database = settings.DATABASES["default"]
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config=config/gunicorn.conf.py", "config.wsgi"],
        cwd=REPO_ROOT,
        env=dict(
            os.environ,
            DJANGO_SETTINGS_MODULE="config.settings.test",
            DATABASE_URL=f"postgres://{database['USER']}@{database['HOST']}:"
            f"{database['PORT']}/{database['NAME']}",
            KAFKA_BOOTSTRAP_SERVERS="",
            GUNICORN_BIND=f"127.0.0.1:{port}",
            GUNICORN_WORKERS="2",
            GUNICORN_THREADS="2",
            PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
            METRICS_TOKEN="scrape-secret",
            LOG_LEVEL="WARNING",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    scrape_headers = {"Authorization": "Bearer scrape-secret"}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = _http(port, "GET", "/metrics", **scrape_headers)
                if status == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
        assert not stale.exists()

        requests = 24
        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = list(
                pool.map(
                    lambda _: _http(
                        port,
                        "POST",
                        "/v1/authorizations",
                        authorization("sk_live_x_y"),
                        Authorization=f"Bearer {gateway_token}",
                    )[0],
                    range(requests),
                )
            )
        assert statuses == [201] * requests
        assert _http(port, "GET", "/metrics")[0] == 401
        status, text = _http(port, "GET", "/metrics", **scrape_headers)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=30)[0].decode()
    assert server.returncode == 0 and "Traceback" not in output, output

    summed = Scrape()
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            summed[(sample.name, frozenset(sample.labels.items()))] = sample.value
    # Whichever worker answered each request and whichever answered the scrape.
    assert summed.value(DECISIONS, decision="declined", reason="unknown_key") == requests
    assert summed.value(f"{AUTHORIZATION_SECONDS}_count") == requests
