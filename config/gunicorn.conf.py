"""gunicorn settings for the API (production and the wallets bench):

    gunicorn -c config/gunicorn.conf.py config.wsgi

Threaded workers (gthread): an authorization waits on PostgreSQL most of its time, and
the wallets' decision batching (wallets.batching) gathers the requests of all threads
of a worker into one transaction. Override any setting on the command line.

Metrics (config/metrics.py): with PROMETHEUS_MULTIPROC_DIR set, every worker writes its
values there and /metrics sums them. This file prepares the directory when gunicorn reads
it, before the app is preloaded (the preloading master already writes there), and the
master drops a dead worker's live gauges (child_exit).
"""

import glob
import os
import re

from prometheus_client import multiprocess  # declares no metric: writes no file

from config.gc_tuning import freeze_long_lived

_PID_IN_FILE_NAME = re.compile(r"_(\d+)\.db$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process, but a live one
        return True
    return True


def multiprocess_dir_prepare(path: str | None) -> None:
    """Create the directory and clear what an earlier run left there. When none of its
    processes runs any more, empty it: a fresh start, every counter from zero (Prometheus
    reads a reset). When some still run (usage consumers beside a restarted server), keep
    every file, so their sums never step backwards, and drop only the dead ones' live
    gauges."""
    if not path:
        return
    os.makedirs(path, exist_ok=True)
    files = glob.glob(os.path.join(path, "*.db"))
    pids = {int(match.group(1)) for name in files if (match := _PID_IN_FILE_NAME.search(name))}
    dead = {pid for pid in pids if not _alive(pid)}
    if dead == pids:
        for name in files:  # the files, not the directory: it may be a mount (tmpfs)
            os.remove(name)
        return
    for pid in dead:
        multiprocess.mark_process_dead(pid, path)


multiprocess_dir_prepare(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", os.cpu_count() or 2))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "32"))
backlog = 512
keepalive = 60
# Load Django once in the master: workers start fast and share its pages copy-on-write.
preload_app = True


def post_fork(server, worker):
    # Each worker's garbage collector skips what the master loaded (Django, URL
    # resolvers, models) and collects young objects less often; see config.gc_tuning.
    freeze_long_lived()


def when_ready(server):
    if server.cfg.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        server.log.warning(
            "PROMETHEUS_MULTIPROC_DIR is not set: each of the %d workers answers /metrics "
            "with its own counts only (see the README, Metrics)",
            server.cfg.workers,
        )


def child_exit(server, worker):
    # A worker's counters stay in the sums; its live gauges would lie once it is gone.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
