"""Real signed Stripe webhooks, and a recording HTTP proxy in front of stripe-mock.

Webhooks are signed exactly as Stripe signs them (`Stripe-Signature: t=<ts>,v1=<hex
HMAC-SHA256(secret, "<ts>.<payload>")>`) and posted as raw bytes to the endpoint. The
objects carry the fields Stripe sends that our handlers read.
"""

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.conf import settings
from django.test import Client

from payments.auto_topup.saved_cards import METADATA_CARD_SETUP
from payments.models import CardSetup, TopUp
from payments.stripe.webhooks import webhook_signature
from payments.topups.services import METADATA_TOPUP

WEBHOOK_URL = "/v1/stripe/webhook"


signature = webhook_signature


def stripe_event(event_type: str, obj: dict, *, event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2025-06-30.basil",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": obj},
    }


def post_event(
    event: dict | None = None,
    *,
    payload: bytes | None = None,
    header: str | None = None,
    secret: str | None = None,
    client: Client | None = None,
):
    """POST the event's JSON bytes, signed (unless `header` is given), to the endpoint."""
    body = payload if payload is not None else json.dumps(event).encode()
    if header is None:
        header = signature(body, secret or settings.STRIPE_WEBHOOK_SECRET)
    return (client or Client()).post(
        WEBHOOK_URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )


def checkout_session(
    topup: TopUp,
    *,
    payment_status: str = "paid",
    payment_intent: str | None = None,
    amount_total: int | None = None,
    currency: str | None = None,
) -> dict:
    return {
        "id": topup.stripe_checkout_session_id,
        "object": "checkout.session",
        "mode": "payment",
        "status": "complete",
        "payment_status": payment_status,
        "amount_total": topup.total_stripe if amount_total is None else amount_total,
        "currency": currency or topup.currency.code.lower(),
        "client_reference_id": str(topup.public_id),
        "metadata": {METADATA_TOPUP: str(topup.public_id)},
        "payment_intent": payment_intent or f"pi_{uuid.uuid4().hex[:24]}",
    }


def payment_intent(
    topup: TopUp,
    intent_id: str,
    *,
    status: str = "succeeded",
    amount: int | None = None,
    payment_method: str | None = None,
) -> dict:
    amount = topup.total_stripe if amount is None else amount
    return {
        "id": intent_id,
        "object": "payment_intent",
        "status": status,
        "payment_method": payment_method,
        "amount": amount,
        "amount_received": amount if status == "succeeded" else 0,
        "currency": topup.currency.code.lower(),
        "metadata": {METADATA_TOPUP: str(topup.public_id)},
        "last_payment_error": (
            {"code": "card_declined", "message": "Your card was declined."}
            if status == "requires_payment_method"
            else None
        ),
    }


def setup_session(setup: CardSetup, *, setup_intent: str | None = "seti_test_card") -> dict:
    """checkout.session.completed's object for a Checkout session in setup mode."""
    return {
        "id": setup.stripe_checkout_session_id,
        "object": "checkout.session",
        "mode": "setup",
        "status": "complete",
        "customer": setup.stripe_customer_id,
        "client_reference_id": str(setup.public_id),
        "metadata": {METADATA_CARD_SETUP: str(setup.public_id)},
        "setup_intent": setup_intent,
        "payment_intent": None,
    }


def setup_intent(
    setup: CardSetup,
    intent_id: str = "seti_test_card",
    *,
    payment_method: str = "pm_card_visa",
    customer: str | None = None,
) -> dict:
    """setup_intent.succeeded's object: the payment method as an id, as Stripe sends it."""
    return {
        "id": intent_id,
        "object": "setup_intent",
        "status": "succeeded",
        "usage": "off_session",
        "customer": customer or setup.stripe_customer_id,
        "payment_method": payment_method,
        "metadata": {METADATA_CARD_SETUP: str(setup.public_id)},
    }


def charge(topup: TopUp, *, amount_refunded: int) -> dict:
    return {
        "id": f"ch_{topup.stripe_payment_intent_id[3:]}",
        "object": "charge",
        "amount": topup.total_stripe,
        "amount_refunded": amount_refunded,
        "refunded": amount_refunded == topup.total_stripe,
        "currency": topup.currency.code.lower(),
        "payment_intent": topup.stripe_payment_intent_id,
    }


def refunded(proxy, topup: TopUp, amount_refunded: int, *, said: int | None = None) -> dict:
    """Stripe's charge after refunds of `amount_refunded` (what the proxy answers when
    asked), and the charge.refunded object of an event that says `said` (default: the
    same; a stale snapshot otherwise)."""
    now = charge(topup, amount_refunded=amount_refunded)
    proxy.charges[now["id"]] = {
        key: now[key] for key in ("amount", "amount_refunded", "refunded", "currency")
    } | {"payment_intent": topup.stripe_payment_intent_id}
    return now if said is None else charge(topup, amount_refunded=said)


def refund(topup: TopUp, *, amount: int, status: str, refund_id: str = "re_test") -> dict:
    """A refund object, as charge.refund.updated and refund.* events carry it."""
    return {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "currency": topup.currency.code.lower(),
        "status": status,
        "charge": f"ch_{topup.stripe_payment_intent_id[3:]}",
        "payment_intent": topup.stripe_payment_intent_id,
        "failure_reason": "expired_or_canceled_card" if status == "failed" else None,
    }


def dispute(
    topup: TopUp,
    *,
    status: str,
    amount: int | None = None,
    dispute_id: str = "dp_test",
    balance_transactions: list[dict] | None = None,
) -> dict:
    found = {
        "id": dispute_id,
        "object": "dispute",
        "amount": topup.total_stripe if amount is None else amount,
        "currency": topup.currency.code.lower(),
        "status": status,
        "reason": "fraudulent",
        "charge": f"ch_{topup.stripe_payment_intent_id[3:]}",
        "payment_intent": topup.stripe_payment_intent_id,
    }
    if balance_transactions is not None:
        found["balance_transactions"] = balance_transactions
    return found


def dispute_balance_transaction(
    amount: int, fee: int, *, currency: str = "usd", kind: str = "withdrawal"
) -> dict:
    """One of a dispute's balance transactions, as Stripe lists them on the dispute: the
    funds withdrawn (or reinstated) and the dispute fee it charged (or returned)."""
    return {
        "id": f"txn_{uuid.uuid4().hex[:24]}",
        "object": "balance_transaction",
        "amount": amount,
        "fee": fee,
        "net": amount - fee,
        "currency": currency,
        "type": "adjustment",
        "reporting_category": "dispute" if kind == "withdrawal" else "dispute_reversal",
        "fee_details": (
            [
                {
                    "amount": fee,
                    "currency": currency,
                    "description": "Dispute fee",
                    "type": "stripe_fee",
                }
            ]
            if fee
            else []
        ),
    }


class LoopbackServer:
    """A real HTTP server on 127.0.0.1 (an ephemeral port) in a thread; subclasses answer
    in `_handle`. Use it as a context manager, or call close()."""

    def __init__(self):
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def do_GET(self):
                server._handle(self)

            def do_POST(self):
                server._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError


# --- a recording proxy in front of stripe-mock ---------------------------------------------

CARD_DECLINED = (
    402,
    {
        "error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
        }
    },
)


class StripeProxy(LoopbackServer):
    """A real HTTP server on 127.0.0.1 that forwards every request to stripe-mock and
    records its method, path and Idempotency-Key.

    stripe-mock cannot decline a card and always answers a confirmed PaymentIntent with
    the status `requires_payment_method`; so the proxy can answer the next requests
    itself with a Stripe error (`answer_next`), and can set the status of PaymentIntents
    to what live Stripe answers (`intent_status`). stripe-mock keeps no state either, so
    the fields a test sets in `charges[charge_id]` replace stripe-mock's in the answers to
    GET /v1/charges/<charge_id> (what Stripe would say of the charge after its refunds), and
    those in `intents[intent_id]` replace stripe-mock's in GET /v1/payment_intents/<id>.
    Everything else is stripe-mock's.
    """

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.requests: list[dict] = []
        self.scripted: list[tuple[int, dict]] = []
        self.intent_status: str | None = None
        self.charges: dict[str, dict] = {}
        self.intents: dict[str, dict] = {}
        super().__init__()
        self.url = self.base_url

    def answer_next(self, count: int, answer: tuple[int, dict] = CARD_DECLINED) -> None:
        with self._lock:
            self.scripted.extend([answer] * count)

    def idempotency_keys(self, path_prefix: str = "/v1/payment_intents") -> list[str]:
        return [r["idempotency_key"] for r in self.requests if r["path"].startswith(path_prefix)]

    def posted(self, path: str) -> list[dict]:
        """The parameters of each POST to exactly `path`, in order."""
        return [r["params"] for r in self.requests if (r["method"], r["path"]) == ("POST", path)]

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        with self._lock:
            self.requests.append(
                {
                    "method": handler.command,
                    "path": handler.path,
                    "idempotency_key": handler.headers.get("Idempotency-Key"),
                    # Form-encoded as Stripe's clients send it: "metadata[k]" -> value.
                    "params": dict(urllib.parse.parse_qsl(body.decode())) if body else {},
                }
            )
            scripted = self.scripted.pop(0) if self.scripted else None
        if scripted is not None:
            status, answer = scripted[0], json.dumps(scripted[1]).encode()
        else:
            status, answer = self._forward(handler, body)
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(answer)))
        handler.send_header("Request-Id", "req_proxy")
        handler.end_headers()
        handler.wfile.write(answer)

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes | None) -> tuple[int, bytes]:
        headers = {
            name: value
            for name, value in handler.headers.items()
            if name.lower()
            in ("authorization", "content-type", "idempotency-key", "stripe-version")
        }
        request = urllib.request.Request(
            self.upstream + handler.path, data=body, headers=headers, method=handler.command
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, answer = response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        if self.intent_status and handler.path.startswith("/v1/payment_intents"):
            data = json.loads(answer)
            data["status"] = self.intent_status
            answer = json.dumps(data).encode()
        path = handler.path.split("?")[0]
        for prefix, fields in (
            ("/v1/charges/", self.charges),
            ("/v1/payment_intents/", self.intents),
        ):
            object_id = path.removeprefix(prefix)
            if handler.command == "GET" and path.startswith(prefix) and object_id in fields:
                data = json.loads(answer)
                data.update(fields[object_id])
                answer = json.dumps(data).encode()
        return status, answer


# --- a customer's webhook receiver ------------------------------------------------------------
