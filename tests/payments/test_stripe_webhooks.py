"""Stripe's webhook with real signed payloads: a paid Checkout books cash, wallet and fee
once, however often or in whatever form Stripe repeats it; a tampered or unsigned payload
stores and books nothing; refunds and disputes reverse exactly what they must."""

import json
import threading
import time

import pytest
from django.db import connection

from ledger.integrity import verify_ledger
from ledger.models import Event
from ledger.selectors import account_balance_get
from payments import postings
from payments.models import StripeEvent, TopUp
from payments.topups import services as topups
from tests.payments.stripe_helpers import (
    charge,
    checkout_session,
    dispute,
    dispute_balance_transaction,
    payment_intent,
    post_event,
    refund,
    refunded,
    signature,
    stripe_event,
)
from tests.wallets.factories import wallet, wallet_spend
from wallets.services import customer_book_account

pytestmark = pytest.mark.django_db

CENT = 10**7  # USD has scale 9 in the ledger


def _open_topup(customer, amount="10") -> TopUp:
    return topups.topup_checkout_create(customer=customer, amount=amount, actor="test")


def _balances(customer) -> dict:
    accounts = topups.topup_accounts(customer=customer)
    return {
        name: account_balance_get(account_id=getattr(accounts, name).id).balance
        for name in ("cash", "wallet", "fees")
    }


def _paid(customer, amount="10") -> TopUp:
    topup = _open_topup(customer, amount)
    answer = post_event(stripe_event("checkout.session.completed", checkout_session(topup)))
    assert answer.json()["outcome"] == "booked", answer.content
    return TopUp.objects.get(pk=topup.pk)


def test_a_paid_checkout_books_cash_wallet_and_fee_once(world, stripe_api):
    acme = world["acme"]
    topup = _open_topup(acme)
    event = stripe_event("checkout.session.completed", checkout_session(topup))

    first = post_event(event)
    assert first.status_code == 200, first.content
    assert first.json() == {
        "received": True,
        "event_id": event["id"],
        "outcome": "booked",
        "duplicate": False,
    }
    assert _balances(acme) == {"cash": 1055 * CENT, "wallet": 1000 * CENT, "fees": 55 * CENT}
    topup.refresh_from_db()
    assert topup.state == TopUp.State.PAID and topup.stripe_payment_intent_id.startswith("pi_")

    # The same event again: acknowledged, nothing done.
    again = post_event(event)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    # The same payment told again under another event id, and by its PaymentIntent.
    resent = post_event(stripe_event("checkout.session.completed", checkout_session(topup)))
    assert resent.json()["outcome"] == "already_booked"
    intent = payment_intent(topup, topup.stripe_payment_intent_id)
    assert post_event(stripe_event("payment_intent.succeeded", intent)).json()["outcome"] == (
        "already_booked"
    )
    assert _balances(acme)["wallet"] == 1000 * CENT
    assert Event.objects.filter(type=postings.TOPUP_PAID_EVENT).count() == 1
    assert StripeEvent.objects.count() == 3


def test_a_tampered_or_unsigned_payload_stores_and_books_nothing(world, stripe_api, settings):
    topup = _open_topup(world["acme"])
    event = stripe_event("checkout.session.completed", checkout_session(topup))
    payload = json.dumps(event).encode()
    header = signature(payload, settings.STRIPE_WEBHOOK_SECRET)
    tampered = payload.replace(b'"amount_total": 1055', b'"amount_total": 105500')
    assert tampered != payload
    stale = signature(payload, settings.STRIPE_WEBHOOK_SECRET, timestamp=int(time.time()) - 600)
    for answer in (
        post_event(payload=tampered, header=header),
        post_event(payload=payload, header=signature(payload, "whsec_someone_else")),
        post_event(payload=payload, header=stale),  # older than the tolerance: a replay
        post_event(payload=payload, header="t=1,v1=00"),
        post_event(payload=payload, header=""),
    ):
        assert answer.status_code == 400, answer.content
        assert answer.json()["error"]["code"] == "invalid_signature"
    assert not StripeEvent.objects.exists() and not Event.objects.exists()
    assert TopUp.objects.get(pk=topup.pk).state == TopUp.State.OPEN
    # The genuine one still books.
    assert post_event(payload=payload, header=header).json()["outcome"] == "booked"


def test_an_unconfigured_secret_refuses_everything(world, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    answer = post_event(stripe_event("ping", {"id": "x"}), secret="whsec_anything")
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "webhook_not_configured"


def test_a_signed_payload_that_is_not_an_event_is_refused(world):
    answer = post_event(payload=b'{"hello": "world"}')
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_payload"
    assert post_event(payload=b"not json").json()["error"]["code"] == "invalid_payload"


def test_unknown_and_unmatched_events_are_recorded_and_acknowledged(world, stripe_api):
    unknown = post_event(stripe_event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert unknown.status_code == 200 and unknown.json()["outcome"] == "ignored"
    stranger = {"id": "cs_test_not_ours", "payment_status": "paid", "amount_total": 100}
    unmatched = post_event(stripe_event("checkout.session.completed", stranger))
    assert unmatched.json()["outcome"] == "unmatched"
    assert set(StripeEvent.objects.values_list("outcome", flat=True)) == {"ignored", "unmatched"}
    assert not Event.objects.exists()


def test_an_amount_or_currency_that_contradicts_our_row_books_nothing(world, stripe_api):
    topup = _open_topup(world["acme"])
    for session in (
        checkout_session(topup, amount_total=topup.total_stripe + 1),
        checkout_session(topup, currency="eur"),
    ):
        answer = post_event(stripe_event("checkout.session.completed", session))
        assert answer.json()["outcome"] == "mismatch"
    assert not Event.objects.exists()
    assert "amount 1056" in StripeEvent.objects.order_by("pk").first().detail


def test_an_asynchronous_payment_books_when_it_succeeds(world, stripe_api):
    acme = world["acme"]
    topup = _open_topup(acme)
    pending = checkout_session(topup, payment_status="unpaid")
    assert post_event(stripe_event("checkout.session.completed", pending)).json()["outcome"] == (
        "recorded"
    )
    assert not Event.objects.exists()
    paid = checkout_session(topup, payment_intent=pending["payment_intent"])
    answer = post_event(stripe_event("checkout.session.async_payment_succeeded", paid))
    assert answer.json()["outcome"] == "booked"
    assert wallet(acme).balance == 1000 * CENT


def test_an_expired_session_closes_the_top_up(world, stripe_api):
    topup = _open_topup(world["acme"])
    session = checkout_session(topup, payment_status="unpaid")
    assert post_event(stripe_event("checkout.session.expired", session)).status_code == 200
    assert TopUp.objects.get(pk=topup.pk).state == TopUp.State.EXPIRED
    # A payment event after expiry is not trusted to re-open it: still the row decides.
    assert not Event.objects.exists()


def test_partial_refunds_reverse_the_refunded_part_exactly(world, stripe_proxy):
    acme = world["acme"]
    topup = _paid(acme)  # $10.00 + $0.55
    # Refund $5.00 of $10.55: the wallet gives back 1000/1055 of it, the fee the rest.
    first = post_event(stripe_event("charge.refunded", refunded(stripe_proxy, topup, 500)))
    assert first.json()["outcome"] == "reversed"
    assert _balances(acme) == {
        "cash": 555 * CENT,
        "wallet": 1000 * CENT - 4_739_336_492,
        "fees": 55 * CENT - 260_663_508,
    }
    # A late copy of an older, smaller refund changes nothing: Stripe still says 500.
    stale = refunded(stripe_proxy, topup, 500, said=200)
    older = post_event(stripe_event("charge.refunded", stale))
    assert older.json()["outcome"] == "recorded"
    # Refunded in full: everything the payment booked is reversed, to the unit.
    full = post_event(stripe_event("charge.refunded", refunded(stripe_proxy, topup, 1055)))
    assert full.json()["outcome"] == "reversed"
    assert _balances(acme) == {"cash": 0, "wallet": 0, "fees": 0}
    again = post_event(stripe_event("charge.refunded", refunded(stripe_proxy, topup, 1055)))
    assert again.json()["outcome"] == "recorded"
    assert Event.objects.filter(type=postings.TOPUP_REVERSAL_EVENT).count() == 2
    topup.refresh_from_db()
    assert (topup.wallet_reversed_minor, topup.fee_reversed_minor) == (1000 * CENT, 55 * CENT)


def test_a_dispute_takes_the_money_back_and_a_won_one_returns_it(world, stripe_api):
    acme = world["acme"]
    topup = _paid(acme)
    wallet_spend(acme, 800 * CENT)  # $8 of the $10 is spent
    opened = post_event(
        stripe_event("charge.dispute.created", dispute(topup, status="needs_response"))
    )
    assert opened.json()["outcome"] == "reversed"
    # The whole payment is withdrawn: the wallet goes negative (visible exposure).
    assert wallet(acme).balance == 200 * CENT - 1000 * CENT
    assert _balances(acme)["cash"] == 0 and _balances(acme)["fees"] == 0
    updated = post_event(
        stripe_event("charge.dispute.updated", dispute(topup, status="under_review"))
    )
    assert updated.json()["outcome"] == "recorded"
    won = post_event(stripe_event("charge.dispute.closed", dispute(topup, status="won")))
    assert won.json()["outcome"] == "reversed"
    assert wallet(acme).balance == 200 * CENT
    assert _balances(acme)["fees"] == 55 * CENT
    # A late `created` after the dispute was closed changes nothing.
    late = post_event(
        stripe_event("charge.dispute.created", dispute(topup, status="needs_response"))
    )
    assert late.json()["outcome"] == "recorded"
    assert wallet(acme).balance == 200 * CENT


def test_a_lost_dispute_stays_reversed_and_inquiries_move_nothing(world, stripe_proxy):
    acme = world["acme"]
    topup = _paid(acme)
    inquiry = dispute(topup, status="warning_needs_response", dispute_id="dp_inquiry")
    assert post_event(stripe_event("charge.dispute.created", inquiry)).json()["outcome"] == (
        "recorded"
    )
    assert wallet(acme).balance == 1000 * CENT
    # A partial refund, then a dispute of the rest, then lost.
    post_event(stripe_event("charge.refunded", refunded(stripe_proxy, topup, 55)))
    rest = dispute(topup, status="needs_response", amount=1000, dispute_id="dp_rest")
    post_event(stripe_event("charge.dispute.created", rest))
    lost = dispute(topup, status="lost", amount=1000, dispute_id="dp_rest")
    assert post_event(stripe_event("charge.dispute.closed", lost)).json()["outcome"] == "recorded"
    assert _balances(acme) == {"cash": 0, "wallet": 0, "fees": 0}
    topup.refresh_from_db()
    assert (topup.refunded_stripe, topup.disputed_stripe, topup.dispute_status) == (
        55,
        1000,
        "lost",
    )


def test_a_refund_that_fails_gives_the_wallet_its_share_back(world, stripe_proxy):
    """Stripe lowers the charge's amount_refunded when a refund fails; whichever refund
    event arrives, and in whatever order, the books follow what Stripe says now."""
    acme = world["acme"]
    topup = _paid(acme)
    first = post_event(stripe_event("charge.refunded", refunded(stripe_proxy, topup, 1055)))
    assert first.json()["outcome"] == "reversed"
    assert _balances(acme) == {"cash": 0, "wallet": 0, "fees": 0}

    refunded(stripe_proxy, topup, 0)  # the refund failed: Stripe has the money back
    failed = post_event(
        stripe_event("charge.refund.updated", refund(topup, amount=1055, status="failed"))
    )
    assert failed.json()["outcome"] == "reversed"
    assert _balances(acme) == {"cash": 1055 * CENT, "wallet": 1000 * CENT, "fees": 55 * CENT}
    # The same news again (refund.failed) or a stale charge.refunded changes nothing.
    again = post_event(stripe_event("refund.failed", refund(topup, amount=1055, status="failed")))
    assert again.json()["outcome"] == "recorded"
    stale = refunded(stripe_proxy, topup, 0, said=1055)
    assert post_event(stripe_event("charge.refunded", stale)).json()["outcome"] == "recorded"
    # A second, smaller refund that succeeds is taken back as usual.
    partial = refunded(stripe_proxy, topup, 211)
    assert post_event(stripe_event("charge.refunded", partial)).json()["outcome"] == "reversed"
    topup.refresh_from_db()
    assert topup.refunded_stripe == 211 and topup.reversal_count == 3
    # The credit given back is paid credit again, and the ledger (lots included) verifies.
    assert wallet(acme).balance == 1000 * CENT - topup.wallet_reversed_minor
    report = verify_ledger()
    assert report.ok, report.problems


def test_a_refund_event_naming_another_payments_charge_books_nothing(world, stripe_proxy):
    acme = world["acme"]
    topup = _paid(acme)
    elsewhere = refunded(stripe_proxy, topup, 1055)
    stripe_proxy.charges[elsewhere["id"]]["payment_intent"] = "pi_someone_else"

    event = stripe_event("charge.refunded", elsewhere)

    assert post_event(event).json()["outcome"] == "malformed"
    assert "belongs to payment pi_someone_else" in _detail(event)
    assert wallet(acme).balance == 1000 * CENT


def test_a_refund_event_is_retried_when_stripe_cannot_say_the_charge(world, stripe_proxy):
    acme = world["acme"]
    topup = _paid(acme)
    stripe_proxy.answer_next(3, (500, {"error": {"type": "api_error", "message": "down"}}))

    event = stripe_event("charge.refunded", refunded(stripe_proxy, topup, 1055))
    answer = post_event(event)

    # Not recorded, so Stripe's redelivery is processed in full once Stripe answers.
    assert answer.status_code == 502 and answer.json()["error"]["code"] == "stripe_unavailable"
    assert not StripeEvent.objects.filter(event_id=event["id"]).exists()
    assert wallet(acme).balance == 1000 * CENT
    assert post_event(event).json()["outcome"] == "reversed"


def test_an_event_that_must_read_stripe_answers_503_while_stripe_is_not_configured(
    world, stripe_proxy, settings
):
    acme = world["acme"]
    topup = _paid(acme)
    event = stripe_event("charge.refunded", refunded(stripe_proxy, topup, 1055))
    settings.STRIPE_API_KEY = ""
    answer = post_event(event)
    # A JSON 503, not a 500: not recorded, so Stripe's redelivery is processed in full.
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "stripe_not_configured"
    assert not StripeEvent.objects.filter(event_id=event["id"]).exists()
    assert wallet(acme).balance == 1000 * CENT
    settings.STRIPE_API_KEY = "sk_test_123"
    assert post_event(event).json()["outcome"] == "reversed"
    assert wallet(acme).balance == 0


def _detail(event: dict) -> str:
    return StripeEvent.objects.get(event_id=event["id"]).detail


def _stripe_fees(customer) -> int:
    account = customer_book_account(
        customer=customer, code=topups.STRIPE_FEES_ACCOUNT_CODE, type="expense"
    )
    return account_balance_get(account_id=account.id).balance


def test_stripe_dispute_fee_is_booked_once_and_returned_when_stripe_returns_it(world, stripe_api):
    acme = world["acme"]
    topup = _paid(acme)
    withdrawal = dispute_balance_transaction(-topup.total_stripe, 1500)
    opened = dispute(topup, status="needs_response", balance_transactions=[withdrawal])
    event = stripe_event("charge.dispute.created", opened)

    assert post_event(event).json()["outcome"] == "reversed"
    assert "Stripe dispute fee +15000000000 minor units" in _detail(event)
    # The payment went back and Stripe's $15 fee came out of the cash it holds for us.
    assert _stripe_fees(acme) == 1500 * CENT
    assert _balances(acme)["cash"] == -1500 * CENT
    assert post_event(event).json()["duplicate"] is True  # redelivered: nothing more
    same_fees = dispute(topup, status="under_review", balance_transactions=[withdrawal])
    assert post_event(stripe_event("charge.dispute.updated", same_fees)).json()["outcome"] == (
        "recorded"
    )
    assert _stripe_fees(acme) == 1500 * CENT

    reinstated = dispute_balance_transaction(topup.total_stripe, -1500, kind="reinstatement")
    won = dispute(topup, status="won", balance_transactions=[withdrawal, reinstated])
    assert post_event(stripe_event("charge.dispute.closed", won)).json()["outcome"] == "reversed"
    assert _stripe_fees(acme) == 0
    assert _balances(acme) == {"cash": 1055 * CENT, "wallet": 1000 * CENT, "fees": 55 * CENT}
    topup.refresh_from_db()
    assert (topup.dispute_fees_stripe, topup.dispute_fee_bookings) == (0, 2)
    assert Event.objects.filter(type=postings.TOPUP_DISPUTE_FEE_EVENT).count() == 2
    assert verify_ledger().ok


def test_a_dispute_fee_in_another_currency_is_not_booked_and_the_detail_says_so(world, stripe_api):
    acme = world["acme"]
    topup = _paid(acme)
    in_euros = dispute_balance_transaction(-topup.total_stripe, 1500, currency="eur")
    opened = dispute(topup, status="needs_response", balance_transactions=[in_euros])

    event = stripe_event("charge.dispute.created", opened)

    assert post_event(event).json()["outcome"] == "reversed"  # the amount still goes back
    assert "dispute fee in EUR not booked (the top-up is in USD)" in _detail(event)
    assert _stripe_fees(acme) == 0
    assert wallet(acme).balance == 0


def test_a_dispute_with_a_malformed_fee_books_nothing(world, stripe_api):
    acme = world["acme"]
    topup = _paid(acme)
    broken = dispute_balance_transaction(-topup.total_stripe, 1500)
    broken["fee"] = "15.00"
    opened = dispute(topup, status="needs_response", balance_transactions=[broken])

    event = stripe_event("charge.dispute.created", opened)

    assert post_event(event).json()["outcome"] == "malformed"
    assert "balance_transactions[].fee must be an integer" in _detail(event)
    assert wallet(acme).balance == 1000 * CENT and _stripe_fees(acme) == 0


def test_a_refund_of_an_unbooked_top_up_books_nothing(world, stripe_api):
    topup = _open_topup(world["acme"])
    topup.stripe_payment_intent_id = "pi_never_completed"
    topup.save(update_fields=["stripe_payment_intent_id"])
    answer = post_event(stripe_event("charge.refunded", charge(topup, amount_refunded=100)))
    assert answer.json()["outcome"] == "unmatched"
    assert not Event.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_same_event_posted_concurrently_books_once_and_the_ledger_verifies(world, stripe_proxy):
    """Committed for real (the ledger's deferred balance checks run at commit), with two
    deliveries of one event racing on their own connections."""
    acme = world["acme"]
    topup = _open_topup(acme)
    event = stripe_event("checkout.session.completed", checkout_session(topup))
    payload = json.dumps(event).encode()
    start = threading.Barrier(4)
    answers, failures = [], []

    def deliver() -> None:
        try:
            start.wait(timeout=30)
            answers.append(post_event(payload=payload).json())
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert sorted(a["duplicate"] for a in answers) == [False, True, True, True]
    assert [a["outcome"] for a in answers if not a["duplicate"]] == ["booked"]
    assert _balances(acme) == {"cash": 1055 * CENT, "wallet": 1000 * CENT, "fees": 55 * CENT}
    topup.refresh_from_db()
    post_event(stripe_event("charge.refunded", refunded(stripe_proxy, topup, 333)))
    report = verify_ledger()
    assert report.ok, report.problems


def test_top_ups_keep_their_paid_credit_lot_in_step(world, stripe_proxy):
    """A paid top-up opens a paid lot for what it credited; a refund draws that lot back by
    what it took from the wallet; a won dispute's return is paid credit again; and the
    lots sub-ledger still agrees with the wallet (ledger_verify replays it)."""
    from wallets.lots.services import lots_allocate
    from wallets.models import Lot, LotReversal

    acme = world["acme"]
    topup = _paid(acme)
    [lot] = Lot.objects.filter(customer=acme)
    assert (lot.kind, lot.amount_minor, lot.source) == (
        "paid",
        1000 * CENT,
        f"topup:{topup.public_id}",
    )
    post_event(stripe_event("charge.refunded", refunded(stripe_proxy, topup, 211)))
    topup.refresh_from_db()
    [drawn_back] = LotReversal.objects.filter(lot=lot)
    assert drawn_back.amount_minor == topup.wallet_reversed_minor > 0

    post_event(stripe_event("charge.dispute.created", dispute(topup, status="needs_response")))
    topup.refresh_from_db()
    assert sum(r.amount_minor for r in LotReversal.objects.filter(lot=lot)) == lot.amount_minor
    post_event(stripe_event("charge.dispute.closed", dispute(topup, status="won")))
    topup.refresh_from_db()
    returned = Lot.objects.filter(customer=acme).exclude(pk=lot.pk).get()
    assert (returned.kind, returned.source) == ("paid", f"topup:{topup.public_id}:returned")
    assert returned.amount_minor == 1000 * CENT - topup.wallet_reversed_minor

    lots_allocate()
    lot.refresh_from_db()
    returned.refresh_from_db()
    assert lot.reversed_minor == lot.amount_minor and lot.consumed_minor == 0
    assert returned.remaining_minor == returned.amount_minor == wallet(acme).balance
    assert verify_ledger().ok
