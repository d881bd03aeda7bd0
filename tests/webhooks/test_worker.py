"""Through a real Celery worker on Redis: the caller's commit enqueues the first attempt,
the worker (another process, against this test's committed database) delivers it; a
failed attempt is picked up again by the beat task webhooks.deliver_due."""

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, transaction

from config.celery import app as celery_app
from tests.webhooks.conftest import Receiver, endpoint_for, invoice_payload
from webhooks import services, tasks
from webhooks.models import WebhookDelivery

REPO_ROOT = Path(__file__).resolve().parents[2]


def _wait_for(predicate, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_after_the_commit_and_the_beat_task_retries(books, redis_url):
    queue = f"webhooks-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        CELERY_BROKER_URL=redis_url,
        CELERY_RESULT_BACKEND=redis_url,
        CELERY_TASK_ALWAYS_EAGER="false",
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-Q", queue]
        + ["--without-mingle", "--without-gossip", "--without-heartbeat", "-l", "WARNING"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    broker, default_queue = celery_app.conf.broker_url, celery_app.conf.task_default_queue
    receiver = Receiver(503, 200)
    try:
        # This process's tasks go to this test's queue only (no other worker takes them).
        celery_app.conf.broker_url, celery_app.conf.task_default_queue = redis_url, queue
        endpoint_for(books["reseller"], receiver)
        with transaction.atomic():
            event = services.webhook_event_enqueue(
                book_id=books["reseller"].pk,
                event_type="invoice.finalized",
                payload=invoice_payload(),
                idempotency_key="inv-1:finalized",
            )
            time.sleep(0.5)
            assert receiver.received == []  # nothing is sent before the commit
        delivery = WebhookDelivery.objects.get(event=event)
        assert _wait_for(lambda: len(receiver.received) == 1)
        assert _wait_for(lambda: delivery.attempt_log.exists())
        delivery.refresh_from_db()
        assert delivery.state == "pending" and delivery.attempts == 1
        # The retry is due in a minute; bring it forward instead of waiting, and let the
        # beat's task (sent as beat sends it) find it.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=delivery.next_attempt_at - timedelta(minutes=1)
        )
        tasks.deliver_due.apply_async(queue=queue)
        assert _wait_for(lambda: WebhookDelivery.objects.get(pk=delivery.pk).state != "pending")
    finally:
        celery_app.conf.broker_url, celery_app.conf.task_default_queue = broker, default_queue
        worker.terminate()
        output = worker.communicate(timeout=30)[0].decode(errors="replace")
        receiver.close()
    delivery.refresh_from_db()
    assert delivery.state == "delivered", output
    assert list(delivery.attempt_log.order_by("number").values_list("status_code", flat=True)) == [
        503,
        200,
    ]
    assert all(r["signature_valid"] for r in receiver.received)
    assert receiver.event_ids() == [f"evt_{event.public_id.hex}"] * 2
