"""Deciding concurrent authorizations together: group commit for the hot path.

Every ledger write takes the journal's chain lock until it commits, so authorizations
decided one per transaction are bounded by one round of ~a dozen statements each. The
batcher lets request threads do what needs no lock in parallel (key lookup, checks,
estimate) and hands the locked part to one worker thread per process, which decides
whatever has queued up meanwhile in ONE transaction (wallets.services.
authorizations_decide): natural batching, no added wait when traffic is light.

A batch that fails as a whole (a duplicate Idempotency-Key racing, a bug) is retried one
request at a time, so one bad request cannot fail the others. Bounded: a batch holds at
most BATCH_SIZE_MAX requests and the queue QUEUE_SIZE_MAX; a full queue answers
`authorizations_busy` (503) at once rather than letting latency grow without bound.
"""

import logging
import queue
import threading
from concurrent.futures import Future

from django.db import close_old_connections, connection
from rest_framework import status

from config.errors import DomainError
from wallets.models import Authorization
from wallets.services import PendingAuthorization, authorizations_decide

logger = logging.getLogger(__name__)

BATCH_SIZE_MAX = 256
QUEUE_SIZE_MAX = 4096
DECISION_TIMEOUT_S = 30.0


class AuthorizationsBusy(DomainError):
    code = "authorizations_busy"
    http_status = status.HTTP_503_SERVICE_UNAVAILABLE


class AuthorizationBatcher:
    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[PendingAuthorization, Future]] = queue.Queue(QUEUE_SIZE_MAX)
        self._started = threading.Lock()
        self._worker: threading.Thread | None = None

    def decide(self, pending: PendingAuthorization) -> Authorization:
        """Queue one request for the worker and wait for its answer."""
        self._ensure_worker()
        future: Future = Future()
        try:
            self._queue.put_nowait((pending, future))
        except queue.Full:
            raise AuthorizationsBusy("too many authorizations in flight; retry") from None
        return future.result(timeout=DECISION_TIMEOUT_S)

    def stop(self) -> None:
        """Finish the queued work, close the worker's connection and end it (tests)."""
        worker = self._worker
        if worker is not None and worker.is_alive():
            self._queue.put((None, None))
            worker.join(timeout=DECISION_TIMEOUT_S)

    def _ensure_worker(self) -> None:
        if self._worker is not None and self._worker.is_alive():
            return
        with self._started:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._run, name="authorization-batcher", daemon=True
                )
                self._worker.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < BATCH_SIZE_MAX:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = any(item is None for item, _future in batch)
            batch = [(item, future) for item, future in batch if item is not None]
            if batch:
                self._decide_batch(batch)
            if stopping:
                connection.close()
                return

    def _decide_batch(self, batch: list[tuple[PendingAuthorization, Future]]) -> None:
        close_old_connections()
        try:
            decided = authorizations_decide(pending=[item for item, _future in batch])
        except Exception:  # noqa: BLE001  (each request is retried alone below)
            logger.warning("authorization batch of %d failed; one by one", len(batch))
            connection.close()
            for item, future in batch:
                self._decide_alone(item, future)
            return
        for (_item, future), answer in zip(batch, decided, strict=True):
            future.set_result(answer)

    @staticmethod
    def _decide_alone(item: PendingAuthorization, future: Future) -> None:
        try:
            [answer] = authorizations_decide(pending=[item])
        except Exception as exc:  # noqa: BLE001  (the request's thread re-raises it)
            future.set_exception(exc)
        else:
            future.set_result(answer)


batcher = AuthorizationBatcher()
