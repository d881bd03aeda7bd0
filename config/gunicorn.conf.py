"""gunicorn settings for the API (production and the wallets bench):

    gunicorn -c config/gunicorn.conf.py config.wsgi

Threaded workers (gthread): an authorization waits on PostgreSQL most of its time, and
the wallets' decision batching (wallets.batching) gathers the requests of all threads
of a worker into one transaction. Override any setting on the command line.
"""

import os

from config.gc_tuning import freeze_long_lived

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
