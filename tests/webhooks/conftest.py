"""Webhooks tests: two sellers' books and a real HTTP receiver on 127.0.0.1 that checks
each signature with webhooks.signing.verify, as a seller's server would."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest

from ledger import services as ledger_services
from ledger.models import Book
from tests.payments.stripe_helpers import LoopbackServer
from webhooks import services
from webhooks.errors import InvalidWebhookSignature
from webhooks.models import WebhookEndpoint
from webhooks.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, verify


class Receiver(LoopbackServer):
    """A seller's endpoint. `script` is what it answers, in order, one item per request
    (an HTTP status, or ("sleep", seconds, status)); past its end, 200. Records every
    request with whether its signature verified against `secret`."""

    def __init__(self, *script, delay_s: float = 0.0):
        self.script = list(script)
        self.delay_s = delay_s
        self.secret: str | None = None
        self.received: list[dict] = []
        self.in_flight = 0
        self.most_in_flight = 0
        super().__init__()
        self.url = f"{self.base_url}/hooks/tokenledger"

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        header = handler.headers.get(SIGNATURE_HEADER)
        try:
            verify(secret=self.secret or "", header=header, body=body)
            valid = True
        except InvalidWebhookSignature:
            valid = False
        with self._lock:
            step = self.script.pop(0) if self.script else 200
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.received.append(
                {
                    "headers": dict(handler.headers.items()),
                    "body": body,
                    "json": json.loads(body),
                    "signature_valid": valid,
                }
            )
        try:
            if isinstance(step, tuple):
                _sleep, seconds, step = step
                time.sleep(seconds)
            elif self.delay_s:
                time.sleep(self.delay_s)
            status = step if valid else 401
            answer = json.dumps({"ok": status < 300}).encode()
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(answer)))
            handler.end_headers()
            handler.wfile.write(answer)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)
        finally:
            with self._lock:
                self.in_flight -= 1

    def event_ids(self) -> list[str]:
        return [request["headers"][EVENT_ID_HEADER] for request in self.received]


@pytest.fixture
def books(db) -> dict[str, Book]:
    distributor = ledger_services.book_create(code="distributor", name="Distributor")
    reseller = ledger_services.book_create(code="reseller", name="Reseller", kind="reseller")
    return {"distributor": distributor, "reseller": reseller}


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


def endpoint_for(book: Book, receiver: Receiver, event_types=()) -> WebhookEndpoint:
    endpoint = services.webhook_endpoint_create(
        book=book, url=receiver.url, event_types=list(event_types), actor="test"
    )
    receiver.secret = endpoint.secret
    return endpoint


def invoice_payload(number: str = "INV-1", total: str = "12.500000000") -> dict:
    return {"invoice": number, "customer": "acme", "currency": "USD", "total": total}


@pytest.fixture
def celery_eager():
    """Tasks run inline (in this process, at the caller's commit)."""
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def run_in_threads(*targets) -> list:
    """Run each callable in its own thread (each with its own database connection) at
    the same time; their results, in order; re-raises the first error."""
    from django.db import connection

    results: list = [None] * len(targets)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(targets))

    def run(index, target):
        try:
            barrier.wait(timeout=10)
            results[index] = target()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results
