"""Pay a top-up in the demo: post the signed `checkout.session.completed` webhook that
Stripe would send once the customer paid on the Checkout page.

With `make run`, Stripe is stripe-mock: it opens Checkout sessions but no one can pay
them, so this command plays Stripe's part. It reads the top-up's session and amounts from
our row, signs the event with STRIPE_WEBHOOK_SECRET as Stripe does, and POSTs it to the
running server's webhook (loopback only), which books it like any real payment.
"""

import json
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlparse

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from payments.models import TopUp
from payments.stripe.webhooks import webhook_signature
from payments.topups.services import METADATA_TOPUP

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
REQUEST_TIMEOUT_S = 30
WEBHOOK_PATH = "/v1/stripe/webhook"


def paid_session_event(topup: TopUp) -> dict:
    """checkout.session.completed for `topup`, paid in full, as Stripe sends it."""
    session = {
        "id": topup.stripe_checkout_session_id,
        "object": "checkout.session",
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid",
        "amount_total": topup.total_stripe,
        "currency": topup.currency.code.lower(),
        "client_reference_id": str(topup.public_id),
        "metadata": {METADATA_TOPUP: str(topup.public_id)},
        "payment_intent": f"pi_demo_{uuid.uuid4().hex[:24]}",
    }
    return {
        "id": f"evt_demo_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "created": int(time.time()),
        "livemode": False,
        "type": "checkout.session.completed",
        "data": {"object": session},
    }


class Command(BaseCommand):
    help = "Pay an open top-up in the demo: post Stripe's signed webhook to the local server."

    def add_arguments(self, parser):
        parser.add_argument("topup_id", help="the top-up's topup_id (from POST …/topups/)")
        parser.add_argument("--url", default="http://127.0.0.1:8000")

    def handle(self, *args, **options):
        if urlparse(options["url"]).hostname not in LOOPBACK_HOSTS:
            raise CommandError("the demo posts webhooks to a server on this machine only")
        secret = settings.STRIPE_WEBHOOK_SECRET
        if not secret:
            raise CommandError("STRIPE_WEBHOOK_SECRET is not set: the server would refuse it")
        try:
            topup = TopUp.objects.select_related("currency").get(public_id=options["topup_id"])
        except (TopUp.DoesNotExist, ValidationError) as exc:
            raise CommandError(f"no top-up {options['topup_id']}") from exc
        if not topup.stripe_checkout_session_id:
            raise CommandError(f"top-up {topup.public_id} has no Checkout session ({topup.state})")
        payload = json.dumps(paid_session_event(topup)).encode()
        request = urllib.request.Request(
            options["url"].rstrip("/") + WEBHOOK_PATH,
            data=payload,
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": webhook_signature(payload, secret),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                answer = response.read().decode()
        except urllib.error.HTTPError as exc:
            raise CommandError(f"the webhook answered {exc.code}: {exc.read().decode()}") from exc
        except OSError as exc:
            raise CommandError(f"the server at {options['url']} did not answer: {exc}") from exc
        self.stdout.write(answer)
