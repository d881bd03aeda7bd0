"""One test per real part: PostgreSQL, Kafka, Celery on Redis, Stripe (stripe-mock), and
/healthz reporting each dependency's state."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from config.celery import app as celery_app
from config.stripe_client import stripe_client

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_postgres_is_migrated_and_answers():
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        assert cursor.fetchone()[0].startswith("PostgreSQL")
        cursor.execute("SELECT count(*) FROM django_migrations WHERE app = 'ledger'")
        assert cursor.fetchone()[0] >= 3
        cursor.execute("SELECT to_regclass('ledger_posting') IS NOT NULL")
        assert cursor.fetchone()[0] is True


def test_kafka_message_produced_is_consumed_back(kafka_bootstrap, kafka_topic):
    from kafka import KafkaConsumer, KafkaProducer

    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    producer.send(kafka_topic, key=b"customer-1", value=b'{"tokens": 42}').get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(
        kafka_topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"smoke-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        consumer_timeout_ms=20_000,
    )
    try:
        received = next(iter(consumer))
    finally:
        consumer.close()
    assert (received.key, received.value) == (b"customer-1", b'{"tokens": 42}')


@pytest.mark.slow
def test_celery_task_runs_in_a_real_worker_through_redis(redis_url):
    queue = f"smoke-{uuid.uuid4().hex[:8]}"
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings.test",
        CELERY_BROKER_URL=redis_url,
        CELERY_RESULT_BACKEND=redis_url,
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "-Q",
            queue,
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            "-l",
            "WARNING",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        celery_app.conf.broker_url = redis_url
        celery_app.conf.result_backend = redis_url
        result = celery_app.send_task("config.ping", args=["hello"], queue=queue)
        answer = result.get(timeout=60)
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0].decode(errors="replace")
    assert answer["pong"] == "hello", output
    assert answer["worker_pid"] != os.getpid()


def test_stripe_creates_a_customer_on_stripe_mock(stripe_mock, settings):
    settings.STRIPE_API_BASE = stripe_mock
    customer = stripe_client().v1.customers.create(params={"email": "ops@example.com"})
    assert customer.id.startswith("cus_")
    assert customer.object == "customer"


@pytest.fixture
def all_dependencies(kafka_bootstrap, redis_url, stripe_mock, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_bootstrap
    settings.CELERY_BROKER_URL = redis_url
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.STRIPE_API_KEY = "sk_test_123"
    settings.STRIPE_API_BASE = stripe_mock
    return settings


@pytest.mark.django_db
def test_healthz_reports_every_dependency(all_dependencies):
    response = Client().get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["checks"] == {
        name: {"status": "ok"} for name in ("database", "kafka", "redis", "stripe")
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "dependency, setting, closed_address",
    [
        ("kafka", "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"),
        ("redis", "CELERY_BROKER_URL", "redis://127.0.0.1:1/0"),
        ("stripe", "STRIPE_API_BASE", "http://127.0.0.1:1"),
    ],
)
def test_healthz_answers_503_naming_what_is_down(
    all_dependencies, dependency, setting, closed_address
):
    setattr(all_dependencies, setting, closed_address)
    response = Client().get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "down" and body["down"] == [dependency]
    assert body["checks"][dependency]["error"]


def test_healthz_names_the_database_when_it_is_down(settings):
    # No django_db mark: the probe opens its own connection to a port nothing listens on.
    from django.db import connections

    database = connections["default"]
    real_port = database.settings_dict["PORT"]
    database.settings_dict["PORT"] = 1
    try:
        body = Client().get("/healthz").json()
    finally:
        database.close()
        database.settings_dict["PORT"] = real_port
    assert body["down"] == ["database"]
