"""The Celery app: Redis broker, configuration read from Django settings (CELERY_*)."""

import logging
import os

from celery import Celery
from django.db import transaction
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("tokenledger")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="config.ping")
def ping(payload: str) -> dict:
    """Round-trip probe used by the smoke tests and operators to see a worker answer."""
    return {"pong": payload, "worker_pid": os.getpid()}


def delay_after_commit(task_path: str, *args, **kwargs) -> None:
    """Enqueue a task once the current transaction commits, best effort: what it follows
    up is committed either way, and a periodic scan picks up what could not be enqueued
    (Redis down). The task is named by its dotted path so that the modules a task imports
    can call this without importing the task module back."""

    def enqueue() -> None:
        try:
            import_string(task_path).delay(*args, **kwargs)
        except Exception:  # noqa: BLE001 - see above: a later scan does the work
            logger.warning(
                "could not enqueue %s%r; a later scan will", task_path, args, exc_info=True
            )

    transaction.on_commit(enqueue)
