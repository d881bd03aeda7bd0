"""A real Celery worker process on Redis, for the tests that go through one.

The worker runs this repository's app against the test's committed database (tests that
use it are `transaction=True`) and consumes one queue of the test's own, so no other
worker takes its tasks.
"""

import os
import subprocess
import sys
from pathlib import Path

from django.db import connection

REPO_ROOT = Path(__file__).resolve().parents[1]


def celery_worker_start(*, queue: str, redis_url: str, **env: str) -> subprocess.Popen:
    """Start a worker (solo pool) on `queue`; `env` adds settings read from the
    environment (CELERY_TASK_ALWAYS_EAGER, backoffs...)."""
    db = connection.settings_dict
    environment = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        CELERY_BROKER_URL=redis_url,
        CELERY_RESULT_BACKEND=redis_url,
        **env,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-Q", queue]
        + ["--without-mingle", "--without-gossip", "--without-heartbeat", "-l", "WARNING"],
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def celery_worker_stop(worker: subprocess.Popen) -> str:
    """Stop the worker; its output, for the test's failure message."""
    worker.terminate()
    return worker.communicate(timeout=30)[0].decode(errors="replace")
