"""Through a real Celery worker on Redis: the caller's commit enqueues the first attempt,
the worker (another process, against this test's committed database) delivers it; a
failed attempt is picked up again by the beat task webhooks.deliver_due."""

import time
import uuid
from datetime import timedelta

import pytest
from django.db import transaction

from config.celery import app as celery_app
from tests.celery_worker import celery_worker_start, celery_worker_stop
from tests.webhooks.conftest import Receiver, endpoint_for, invoice_payload
from webhooks import services, tasks
from webhooks.models import WebhookDelivery


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
    worker = celery_worker_start(queue=queue, redis_url=redis_url, CELERY_TASK_ALWAYS_EAGER="false")
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
        output = celery_worker_stop(worker)
        receiver.close()
    delivery.refresh_from_db()
    assert delivery.state == "delivered", output
    assert list(delivery.attempt_log.order_by("number").values_list("status_code", flat=True)) == [
        503,
        200,
    ]
    assert all(r["signature_valid"] for r in receiver.received)
    assert receiver.event_ids() == [f"evt_{event.public_id.hex}"] * 2
