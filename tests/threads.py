"""Threads for the concurrency tests: each runs its work on its own database connection,
starts with the others at a barrier and reports what it raised instead of losing it."""

import threading

from django.db import connection


def in_thread(work, failures: list, lock: threading.Lock, start: threading.Barrier):
    def run() -> None:
        try:
            start.wait(timeout=30)
            work()
        except BaseException as exc:  # noqa: BLE001  (reported by the test)
            with lock:
                failures.append(exc)
        finally:
            connection.close()

    return threading.Thread(target=run)
