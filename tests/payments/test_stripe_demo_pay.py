"""`manage.py stripe_demo_pay`: the demo pays a top-up opened on stripe-mock by posting
Stripe's signed webhook to a running server, which books it like a real payment."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from payments.models import StripeEvent, TopUp
from tests.wallets.factories import wallet

pytestmark = pytest.mark.django_db(transaction=True)

TOPUPS_URL = "/api/wallets/customers/acme/topups/"


def _pay(topup_id: str, url: str) -> dict:
    out = io.StringIO()
    call_command("stripe_demo_pay", topup_id, "--url", url, stdout=out)
    return json.loads(out.getvalue())


def test_a_top_up_opened_on_stripe_mock_is_paid_through_the_servers_webhook(
    world, stripe_api, finance, celery_eager, live_server
):
    created = finance.post(TOPUPS_URL, {"amount": "10"}, format="json")
    assert created.status_code == 201, created.content
    topup_id = created.json()["topup_id"]
    answer = _pay(topup_id, live_server.url)
    assert answer["received"] is True and answer["outcome"] == "booked"
    topup = TopUp.objects.get(public_id=topup_id)
    assert topup.state == TopUp.State.PAID and topup.stripe_payment_intent_id.startswith("pi_")
    assert wallet(world["acme"]).balance == 10 * 10**9  # the amount; the fee is revenue
    event = StripeEvent.objects.get(event_id=answer["event_id"])
    assert (event.type, event.topup_id) == ("checkout.session.completed", topup.pk)
    # Paying again posts a new event for the same session: the payment is booked once.
    again = _pay(topup_id, live_server.url)
    assert again["outcome"] == "already_booked"
    assert wallet(world["acme"]).balance == 10 * 10**9


def test_it_refuses_what_it_cannot_pay(world, stripe_api, finance, settings, live_server):
    with pytest.raises(CommandError, match="no top-up"):
        _pay("00000000-0000-0000-0000-000000000000", live_server.url)
    with pytest.raises(CommandError, match="no top-up"):
        _pay("not-a-uuid", live_server.url)
    with pytest.raises(CommandError, match="this machine only"):
        _pay("00000000-0000-0000-0000-000000000000", "http://example.com")
    settings.STRIPE_API_BASE = "http://127.0.0.1:1"  # Stripe unreachable: the top-up failed
    failed = finance.post(TOPUPS_URL, {"amount": "10"}, format="json").json()
    assert failed["error"]["code"] == "stripe_unavailable"
    with pytest.raises(CommandError, match="has no Checkout session"):
        _pay(failed["error"]["details"]["topup_id"], live_server.url)
