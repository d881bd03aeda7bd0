"""Stripe's processing fee on a top-up's charge: read from its balance transaction after
the top-up is booked, booked once as expense:stripe_fees against cash:stripe."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ledger.integrity import verify_ledger
from ledger.models import Event
from ledger.selectors import account_balance_get
from payments.models import TopUp
from payments.stripe import fees as stripe_fees
from payments.topups import services as topups
from tests.payments.stripe_helpers import checkout_session, post_event, stripe_event
from wallets.services import customer_book_account

pytestmark = pytest.mark.django_db

CENT = 10**7  # USD has scale 9 in the ledger


def _charged(proxy, topup: TopUp, fee: int | None, currency: str = "usd") -> None:
    """What Stripe answers for the top-up's PaymentIntent: its latest charge, with the
    charge's balance transaction (None: not made yet)."""
    transaction_ = (
        None
        if fee is None
        else {
            "id": "txn_test",
            "object": "balance_transaction",
            "amount": topup.total_stripe,
            "fee": fee,
            "net": topup.total_stripe - fee,
            "currency": currency,
            "type": "charge",
        }
    )
    proxy.intents[topup.stripe_payment_intent_id] = {
        "latest_charge": {"id": "ch_test", "object": "charge", "balance_transaction": transaction_}
    }


def _paid(customer) -> TopUp:
    topup = topups.topup_checkout_create(customer=customer, amount="10", actor="test")
    event = stripe_event("checkout.session.completed", checkout_session(topup))
    assert post_event(event).json()["outcome"] == "booked"
    return TopUp.objects.get(pk=topup.pk)


def _balance(customer, code: str, kind: str) -> int:
    account = customer_book_account(customer=customer, code=code, type=kind)
    return account_balance_get(account_id=account.id).balance


def test_the_fee_is_booked_once_and_cash_is_net_of_it(world, stripe_proxy):
    acme = world["acme"]
    topup = _paid(acme)
    _charged(stripe_proxy, topup, fee=61)  # $0.61 of the $10.55 charge

    assert stripe_fees.topup_processing_fee_sync(topup_id=topup.pk) == (
        f"fee 61 booked ({61 * CENT} minor units)"
    )
    assert _balance(acme, "expense:stripe_fees", "expense") == 61 * CENT
    assert _balance(acme, "cash:stripe", "asset") == (1055 - 61) * CENT
    assert stripe_fees.topup_processing_fee_sync(topup_id=topup.pk) == "booked before"
    assert Event.objects.filter(type="wallets.topup.processing_fee").count() == 1
    topup.refresh_from_db()
    assert (topup.processing_fee_stripe, topup.processing_fee_currency) == (61, "USD")
    assert verify_ledger().ok


def test_no_balance_transaction_yet_is_retried_and_records_nothing(world, stripe_proxy):
    topup = _paid(world["acme"])
    _charged(stripe_proxy, topup, fee=None)

    with pytest.raises(stripe_fees.FeeNotReady):
        stripe_fees.topup_processing_fee_sync(topup_id=topup.pk)
    topup.refresh_from_db()
    assert topup.processing_fee_stripe is None
    assert not Event.objects.filter(type="wallets.topup.processing_fee").exists()


def test_a_fee_in_another_currency_is_recorded_not_booked(world, stripe_proxy):
    topup = _paid(world["acme"])
    _charged(stripe_proxy, topup, fee=57, currency="eur")

    assert stripe_fees.topup_processing_fee_sync(topup_id=topup.pk) == (
        "fee in EUR recorded, not booked"
    )
    topup.refresh_from_db()
    assert (topup.processing_fee_stripe, topup.processing_fee_currency) == (57, "EUR")
    assert not Event.objects.filter(type="wallets.topup.processing_fee").exists()


def test_booking_a_top_up_books_its_fee_after_commit(
    world, stripe_proxy, celery_eager, django_capture_on_commit_callbacks
):
    acme = world["acme"]
    topup = topups.topup_checkout_create(customer=acme, amount="10", actor="test")
    session = checkout_session(topup, payment_intent="pi_fee_after_commit")
    topup.stripe_payment_intent_id = "pi_fee_after_commit"  # what Stripe will answer for
    _charged(stripe_proxy, topup, fee=61)

    with django_capture_on_commit_callbacks(execute=True):
        assert (
            post_event(stripe_event("checkout.session.completed", session)).json()["outcome"]
            == "booked"
        )

    assert _balance(acme, "expense:stripe_fees", "expense") == 61 * CENT


def test_the_sweep_finds_fees_still_unknown_long_after_payment(world, stripe_proxy):
    topup = _paid(world["acme"])
    assert stripe_fees.processing_fees_missing() == []  # just paid: its task is on the way
    TopUp.objects.filter(pk=topup.pk).update(paid_at=timezone.now() - timedelta(hours=1))
    assert stripe_fees.processing_fees_missing() == [topup.pk]
    _charged(stripe_proxy, topup, fee=61)
    stripe_fees.topup_processing_fee_sync(topup_id=topup.pk)
    assert stripe_fees.processing_fees_missing() == []
