"""The Celery app: Redis broker, configuration read from Django settings (CELERY_*)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("tokenledger")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="config.ping")
def ping(payload: str) -> dict:
    """Round-trip probe used by the smoke tests and operators to see a worker answer."""
    return {"pong": payload, "worker_pid": os.getpid()}
