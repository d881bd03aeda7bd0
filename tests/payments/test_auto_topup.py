"""Auto top-up: one attempt per crossing of the threshold, charged off-session on
stripe-mock with an idempotency key derived from the attempt, booked once when Stripe
says it succeeded; failures recorded and retried with a bound, then given up."""

from datetime import timedelta

import pytest

from ledger.models import Event
from ledger.selectors import account_balance_get
from payments import postings
from payments.alerts.balance_watch import balances_watch
from payments.auto_topup import attempts, configuration
from payments.models import AutoTopUpAttempt, AutoTopUpSettings, TopUp
from payments.tasks import charge_auto_topup, watch_balances
from payments.topups import services as topups
from tests.payments.stripe_helpers import payment_intent, post_event, stripe_event
from tests.wallets.factories import wallet, wallet_spend, wallet_topup

pytestmark = pytest.mark.django_db

USD = 10**9
CENT = 10**7


def _configure(customer, *, threshold=5 * USD, target=20 * USD, enabled=True):
    return configuration.auto_topup_settings_set(
        customer=customer,
        enabled=enabled,
        threshold_minor=threshold,
        target_minor=target,
        stripe_customer_id="cus_acme",
        stripe_payment_method_id="pm_card_visa",
        actor="test",
    )


def _triggered(customer, available=3 * USD) -> AutoTopUpAttempt:
    wallet_topup(customer, available)
    _configure(customer)
    [attempt_id] = balances_watch().attempt_ids
    return AutoTopUpAttempt.objects.select_related("topup").get(pk=attempt_id)


def _charge(attempt: AutoTopUpAttempt, **kwargs) -> AutoTopUpAttempt:
    attempts.auto_topup_charge(attempt_id=attempt.pk, **kwargs)
    return AutoTopUpAttempt.objects.select_related("topup").get(pk=attempt.pk)


def test_settings_through_the_api(world, finance):
    url = "/api/wallets/customers/acme/auto-topup/"
    missing = finance.get(url)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "auto_topup_not_configured"
    body = {
        "enabled": True,
        "threshold": "5",
        "target": "20.50",
        "stripe_customer_id": "cus_acme",
        "stripe_payment_method_id": "pm_card_visa",
    }
    saved = finance.put(url, body, format="json")
    assert saved.status_code == 200, saved.content
    assert saved.json() | {"updated_at": None, "payment_method_saved_at": None} == {
        "customer": "acme",
        "enabled": True,
        "threshold": "5.000000000",
        "target": "20.500000000",
        "currency": "USD",
        "stripe_customer_id": "cus_acme",
        "stripe_payment_method_id": "pm_card_visa",
        "payment_method_source": "manual",
        "payment_method_reference": None,
        "payment_method_saved_at": None,
        "card_brand": None,
        "card_last4": None,
        "armed": True,
        "updated_at": None,
        "updated_by": "user:boss",
    }
    assert finance.get(url).json()["target"] == "20.500000000"
    for change, code in (
        ({"target": "5"}, "invalid_auto_topup_settings"),  # not above the threshold
        ({"target": "10001"}, "invalid_auto_topup_settings"),  # above the largest top-up
        ({"stripe_customer_id": "acme"}, "invalid_auto_topup_settings"),
        ({"stripe_payment_method_id": "pm_x; drop"}, "invalid_auto_topup_settings"),
        ({"threshold": "-1"}, "invalid_auto_topup_settings"),
        ({"threshold": "0.0000000001"}, "invalid_amount"),  # below the ledger's scale
    ):
        refused = finance.put(url, body | change, format="json")
        assert refused.status_code == 400, (change, refused.content)
        assert refused.json()["error"]["code"] == code, change
    credit = finance.put("/api/wallets/customers/globex/auto-topup/", body, format="json")
    assert credit.json()["error"]["code"] == "prepaid_only"


def test_one_attempt_per_crossing_of_the_threshold(world, stripe_api):
    acme = world["acme"]
    attempt = _triggered(acme)  # $3 available, threshold $5, target $20
    assert attempt.state == AutoTopUpAttempt.State.PENDING
    assert attempt.available_minor == 3 * USD
    # The charge brings the balance to the target: $17 + 5.5 % fee.
    assert (attempt.topup.amount_stripe, attempt.topup.fee_stripe) == (1700, 94)
    assert attempt.topup.source == TopUp.Source.AUTO
    assert balances_watch().attempt_ids == []  # still below, not re-armed
    assert AutoTopUpAttempt.objects.count() == 1
    assert not AutoTopUpSettings.objects.get().armed

    # Paid: back above the threshold re-arms it; the next crossing makes a new attempt.
    _charge(attempt)
    attempt.refresh_from_db()
    intent = payment_intent(attempt.topup, attempt.topup.stripe_payment_intent_id)
    post_event(stripe_event("payment_intent.succeeded", intent))
    assert wallet(acme).available == 20 * USD
    assert balances_watch().attempt_ids == []
    assert AutoTopUpSettings.objects.get().armed
    wallet_spend(acme, 16 * USD)
    [second] = balances_watch().attempt_ids
    assert AutoTopUpAttempt.objects.get(pk=second).topup.amount_stripe == 1600


def test_an_off_session_charge_on_stripe_mock_books_once_when_stripe_says_so(world, stripe_proxy):
    acme = world["acme"]
    attempt = _charge(_triggered(acme))
    # stripe-mock took the charge; a successful answer that is not "succeeded" waits for
    # the webhook (live Stripe reports a failed off-session charge as an error).
    assert attempt.state == AutoTopUpAttempt.State.SUBMITTED and attempt.tries == 1
    intent_id = attempt.topup.stripe_payment_intent_id
    assert intent_id.startswith("pi_") and attempt.topup.state == TopUp.State.OPEN
    assert attempt.idempotency_key == f"tokenledger-autotopup-{attempt.public_id}-0"
    assert stripe_proxy.idempotency_keys() == [attempt.idempotency_key]
    assert not Event.objects.filter(type=postings.TOPUP_PAID_EVENT).exists()

    event = stripe_event("payment_intent.succeeded", payment_intent(attempt.topup, intent_id))
    assert post_event(event).json()["outcome"] == "booked"
    assert post_event(event).json()["duplicate"] is True
    again = stripe_event("payment_intent.succeeded", payment_intent(attempt.topup, intent_id))
    assert post_event(again).json()["outcome"] == "already_booked"
    attempt.refresh_from_db()
    assert attempt.state == AutoTopUpAttempt.State.SUCCEEDED and attempt.resolved_at
    assert wallet(acme).balance == 20 * USD
    balances = topups.topup_accounts(customer=acme)
    assert account_balance_get(account_id=balances.fees.id).balance == 94 * CENT
    assert Event.objects.filter(type=postings.TOPUP_PAID_EVENT).count() == 1
    # Nothing is due any more: a duplicate task delivery charges nothing.
    assert _charge(attempt).tries == 1 and len(stripe_proxy.requests) == 1


def test_a_succeeded_answer_books_at_once_and_the_webhook_finds_it_booked(world, stripe_proxy):
    acme = world["acme"]
    stripe_proxy.intent_status = "succeeded"  # what live Stripe answers for a plain card
    attempt = _charge(_triggered(acme))
    assert attempt.state == AutoTopUpAttempt.State.SUCCEEDED
    assert wallet(acme).balance == 20 * USD
    intent = payment_intent(attempt.topup, attempt.topup.stripe_payment_intent_id)
    assert post_event(stripe_event("payment_intent.succeeded", intent)).json()["outcome"] == (
        "already_booked"
    )
    assert wallet(acme).balance == 20 * USD


def test_declines_are_retried_as_new_charges_with_backoff_then_given_up(world, stripe_proxy):
    acme = world["acme"]
    stripe_proxy.answer_next(3)  # card_declined, as Stripe answers it (HTTP 402)
    attempt = _charge(_triggered(acme))
    assert attempt.state == AutoTopUpAttempt.State.RETRYING
    assert attempt.failures[0]["definitive"] is True
    assert "CardError card_declined" in attempt.failures[0]["error"]
    first_retry_at = attempt.next_try_at
    assert timedelta(seconds=59) < first_retry_at - attempt.created_at < timedelta(seconds=65)
    assert _charge(attempt).tries == 1  # not due yet: no request
    assert len(stripe_proxy.requests) == 1

    attempt = _charge(attempt, now=first_retry_at)
    assert attempt.state == AutoTopUpAttempt.State.RETRYING and attempt.tries == 2
    assert attempt.next_try_at - first_retry_at > timedelta(seconds=119)  # 60 s, then 120 s
    attempt = _charge(attempt, now=attempt.next_try_at)
    assert attempt.state == AutoTopUpAttempt.State.FAILED and attempt.tries == 3
    assert attempt.resolved_at and len(attempt.failures) == 3
    assert attempt.topup.state == TopUp.State.FAILED
    # Each try after a decline was a new charge: a new idempotency key.
    assert stripe_proxy.idempotency_keys() == [
        f"tokenledger-autotopup-{attempt.public_id}-{n}" for n in range(3)
    ]
    assert not Event.objects.filter(type=postings.TOPUP_PAID_EVENT).exists()
    assert attempts.auto_topup_attempts_due(now=attempt.created_at + timedelta(days=1)) == []
    assert balances_watch().attempt_ids == []  # gave up; no new attempt until re-armed
    _configure(acme)  # the customer saves a new card: re-armed
    assert len(balances_watch().attempt_ids) == 1


def test_a_network_error_retries_with_the_same_key(world, stripe_proxy, settings):
    acme = world["acme"]
    attempt = _triggered(acme)
    settings.STRIPE_API_BASE = "http://127.0.0.1:1"  # Stripe unreachable
    attempt = _charge(attempt)
    assert attempt.state == AutoTopUpAttempt.State.RETRYING
    assert attempt.failures[0]["definitive"] is False
    assert "APIConnectionError" in attempt.failures[0]["error"]
    settings.STRIPE_API_BASE = stripe_proxy.url
    attempt = _charge(attempt, now=attempt.next_try_at)
    # Stripe may have taken the first request: the same key makes it answer as before.
    assert attempt.state == AutoTopUpAttempt.State.SUBMITTED
    assert stripe_proxy.idempotency_keys() == [f"tokenledger-autotopup-{attempt.public_id}-0"]


def test_a_payment_failed_webhook_schedules_the_next_try(world, stripe_proxy):
    attempt = _charge(_triggered(world["acme"]))
    intent = payment_intent(
        attempt.topup, attempt.topup.stripe_payment_intent_id, status="requires_payment_method"
    )
    answer = post_event(stripe_event("payment_intent.payment_failed", intent))
    assert answer.json()["outcome"] == "recorded"
    attempt.refresh_from_db()
    assert attempt.state == AutoTopUpAttempt.State.RETRYING and attempt.charge_sequence == 1
    assert "card_declined" in attempt.failures[0]["error"]
    # The same failure told again changes nothing.
    post_event(stripe_event("payment_intent.payment_failed", intent))
    attempt.refresh_from_db()
    assert len(attempt.failures) == 1


def test_disabling_auto_top_up_ends_an_open_attempt(world, stripe_proxy):
    acme = world["acme"]
    stripe_proxy.answer_next(1)
    attempt = _charge(_triggered(acme))
    _configure(acme, enabled=False)
    attempt = _charge(attempt, now=attempt.next_try_at)
    assert attempt.state == AutoTopUpAttempt.State.FAILED
    assert attempt.failures[-1]["error"] == "auto top-up disabled"
    assert len(stripe_proxy.requests) == 1


def test_the_watch_task_triggers_and_charges(world, stripe_proxy, celery_eager):
    acme = world["acme"]
    wallet_topup(acme, 3 * USD)
    _configure(acme)
    summary = watch_balances.delay().get()
    assert summary == {"customers_checked": 1, "attempts": 1, "tries_enqueued": 1, "alerts": 0}
    attempt = AutoTopUpAttempt.objects.get()
    assert attempt.state == AutoTopUpAttempt.State.SUBMITTED
    assert charge_auto_topup.delay(attempt.pk).get() == "submitted"
    assert len(stripe_proxy.requests) == 1


def test_beat_runs_the_watch_every_minute(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["payments-watch-balances"]
    assert entry == {"task": watch_balances.name, "schedule": 60.0}
