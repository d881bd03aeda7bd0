"""Dunning: a customer walks its book's ladder day by day (the clock each run is given,
frozen per day), through a real Celery worker on Redis, a real webhook event, Stripe
(stripe-mock behind a scripting proxy) for the card retry; it is suspended, pays, and is
reinstated at once. Authorizations (over HTTP) answer accordingly at each step."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from config.celery import app as celery_app
from credit import selectors, tasks
from credit.dunning import services as dunning
from credit.dunning.cards import dunning_card_set
from credit.losses.services import write_off_create
from credit.models import DunningAction, DunningStanding, DunningStep
from invoicing import services as invoicing
from tests.celery_worker import celery_worker_start, celery_worker_stop
from tests.credit.test_losses import invoiced
from tests.invoicing.conftest import AFTER_JULY, AFTER_JUNE, JULY, JUNE, book_usage, world
from tests.payments.stripe_helpers import CARD_DECLINED
from tests.wallets.factories import ApiKeyFactory, gateway_key
from tests.wallets.test_authorizations import MAX_IN, MAX_OUT, MODEL, PROVIDER, expected_estimate
from webhooks.models import WebhookEvent

__all__ = ["world"]  # invoicing's world

HARD_DECLINE = (
    402,
    {
        "error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "lost_card",
            "message": "Your card has been declined.",
        }
    },
)
LADDER = [  # (days past due, action)
    (1, "reminder"),
    (5, "card_retry"),
    (10, "restrict"),
    (20, "suspend"),
]


def _ladder(book, cap_minor: int, tries: int = 3):
    for position, (days, action) in enumerate(LADDER, start=1):
        dunning.dunning_step_set(
            book=book,
            position=position,
            days_past_due=days,
            action=action,
            restrict_request_max_minor=cap_minor if action == "restrict" else None,
            card_tries_max=tries,
            actor="finance",
        )


def _card(customer):
    dunning_card_set(
        customer=customer,
        stripe_customer_id="cus_globex",
        stripe_payment_method_id="pm_card_visa",
        actor="finance",
    )


def _gateway() -> APIClient:
    _key, token = gateway_key(f"gw-{uuid.uuid4().hex[:6]}")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _answer(gateway, key, *, max_in=MAX_IN) -> tuple[str, str | None]:
    body = gateway.post(
        "/v1/authorizations",
        {
            "api_key": key.raw,
            "provider": PROVIDER,
            "model": MODEL,
            "max_input_tokens": max_in,
            "max_output_tokens": MAX_OUT,
        },
        format="json",
    ).json()
    return body["decision"], body["reason"]


def _noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_customer_walks_the_ladder_is_suspended_pays_and_is_reinstated(
    world, redis_url, stripe_proxy
):
    globex, distributor = world["globex"], world["distributor"]
    book_usage("globex", month=6)
    june = invoiced(world, globex, JUNE, AFTER_JUNE)  # due 1 August
    assert june.due_at.date() == date(2026, 8, 1)
    small = expected_estimate(globex)  # what a restricted customer may still ask for
    _ladder(distributor, cap_minor=small, tries=3)
    _card(globex)
    # The first card try is declined softly (retried), the second hard (not retried).
    stripe_proxy.answer_next(1, CARD_DECLINED)
    stripe_proxy.answer_next(1, HARD_DECLINE)
    key, gateway = ApiKeyFactory(customer=globex), _gateway()

    queue = f"credit-{uuid.uuid4().hex[:8]}"
    worker = celery_worker_start(
        queue=queue,
        redis_url=redis_url,
        CELERY_TASK_ALWAYS_EAGER="false",
        STRIPE_API_BASE=stripe_proxy.url,
    )
    broker = celery_app.conf.broker_url
    seen: dict[date, tuple] = {}
    try:
        celery_app.conf.broker_url = redis_url
        day = date(2026, 8, 1)
        while day <= date(2026, 8, 22):
            # Celery beat's task, as beat sends it, with the day's clock.
            result = tasks.dunning_evaluate.apply_async(
                kwargs={"now": _noon(day).isoformat()}, queue=queue
            )
            result.get(timeout=60)
            seen[day] = (_answer(gateway, key), _answer(gateway, key, max_in=MAX_IN * 4))
            day += timedelta(days=1)
        # The customer pays the overdue invoice: good standing at once, before any run.
        invoicing.invoice_payment_record(
            invoice=june,
            method="bank_transfer",
            amount=june.total,
            actor="finance",
            now=_noon(date(2026, 8, 22)) + timedelta(hours=1),
        )
        after_payment = (_answer(gateway, key), _answer(gateway, key, max_in=MAX_IN * 4))
        tasks.dunning_evaluate.apply_async(
            kwargs={"now": _noon(date(2026, 8, 23)).isoformat()}, queue=queue
        ).get(timeout=60)
    finally:
        celery_app.conf.broker_url = broker
        output = celery_worker_stop(worker)

    approved, restricted = ("approved", None), ("declined", "customer_restricted")
    suspended = ("declined", "customer_suspended")
    for day, answers in seen.items():
        late = (day - date(2026, 8, 1)).days
        if late < 10:
            assert answers == (approved, approved), (day, answers, output)
        elif late < 20:
            assert answers == (approved, restricted), (day, answers, output)
        else:
            assert answers == (suspended, suspended), (day, answers, output)
    assert after_payment == (approved, approved)

    actions = list(DunningAction.objects.filter(customer=globex).order_by("pk"))
    assert [(a.action, a.days_past_due) for a in actions] == [
        ("reminder", 1),
        ("card_retry", 5),
        ("restrict", 10),
        ("suspend", 20),
        ("reinstate", 0),
    ]
    assert all(a.reason for a in actions) and {a.episode for a in actions} == {1}
    card = actions[1]
    assert card.outcome == "card_declined"  # the hard decline ended it: 2 tries of 3
    assert [t["hard"] for t in card.details["tries"]] == [False, True]
    keys = stripe_proxy.idempotency_keys()
    assert len(keys) == 2 and len(set(keys)) == 2
    reminder = WebhookEvent.objects.get(type="customer.reminder")
    assert reminder.payload["customer"] == "globex" and reminder.book_id == distributor.pk
    standing = DunningStanding.objects.get(customer=globex)
    assert (standing.level, standing.last_position, standing.overdue_minor) == ("good", 0, 0)


@pytest.mark.django_db
def test_a_card_retry_that_succeeds_pays_the_overdue_invoice(world, stripe_proxy):
    globex, distributor = world["globex"], world["distributor"]
    book_usage("globex", month=6)
    june = invoiced(world, globex, JUNE, AFTER_JUNE)
    DunningStep.objects.create(book=distributor, position=1, days_past_due=3, action="card_retry")
    _card(globex)
    stripe_proxy.intent_status = "succeeded"

    counts = dunning.dunning_evaluate_all(now=_noon(date(2026, 8, 4)))

    assert counts == {"customers": 1, "actions": 1, "card_tries": 1}
    action = DunningAction.objects.get(customer=globex)
    assert action.outcome == "card_charged"
    june.refresh_from_db()
    assert june.state == "paid"
    [charge] = stripe_proxy.posted("/v1/payment_intents")
    assert int(charge["amount"]) * 10**7 == june.total  # cents of the ledger's nano-dollars
    assert selectors.credit_position_get(customer=globex).standing.level == "good"


@pytest.mark.django_db
def test_soft_declines_are_retried_up_to_the_steps_tries_then_given_up(world, stripe_proxy):
    globex, distributor = world["globex"], world["distributor"]
    book_usage("globex", month=6)
    invoiced(world, globex, JUNE, AFTER_JUNE)
    DunningStep.objects.create(
        book=distributor, position=1, days_past_due=3, action="card_retry", card_tries_max=2
    )
    _card(globex)
    stripe_proxy.answer_next(5, CARD_DECLINED)

    first = _noon(date(2026, 8, 4))
    dunning.dunning_evaluate_all(now=first)
    dunning.dunning_evaluate_all(now=first + timedelta(minutes=1))  # not due yet: no try
    dunning.dunning_evaluate_all(now=first + timedelta(days=1))
    dunning.dunning_evaluate_all(now=first + timedelta(days=2))  # given up: no third try

    action = DunningAction.objects.get(customer=globex)
    assert action.outcome == "card_failed"
    assert len(action.details["tries"]) == 2
    assert len(stripe_proxy.idempotency_keys()) == 2


@pytest.mark.django_db
def test_a_write_off_is_not_a_payment_at_authorization(world):
    globex, distributor = world["globex"], world["distributor"]
    book_usage("globex", month=6)
    june = invoiced(world, globex, JUNE, AFTER_JUNE)
    DunningStep.objects.create(book=distributor, position=1, days_past_due=1, action="suspend")
    dunning.dunning_evaluate(customer=globex, now=_noon(date(2026, 8, 2)))
    assert selectors.credit_position_get(customer=globex).standing.level == "suspended"
    write_off_create(
        invoice=june,
        amount_minor=june.total,
        reason="insolvent",
        approved_by="cfo",
        actor="f",
        now=_noon(date(2026, 8, 2)) + timedelta(hours=1),
    )
    # Written off, not paid: authorizations still see the suspension. The next evaluation
    # finds nothing overdue any more and records the reinstatement with its reason.
    assert selectors.credit_position_get(customer=globex).standing.level == "suspended"
    [reinstated] = dunning.dunning_evaluate(customer=globex, now=_noon(date(2026, 8, 3)))
    assert reinstated.action == "reinstate"


@pytest.mark.django_db
def test_a_payment_on_a_later_invoice_leaves_the_suspension_of_an_overdue_one(world):
    """June is overdue and suspends globex; July is issued but not due. Paying July in
    full (more than June's total) leaves June open: authorizations still refuse, over
    HTTP. Paying June all but a cent: still refused. The last cent: approved at once,
    before any run; the next run records the reinstatement."""
    globex, distributor = world["globex"], world["distributor"]
    book_usage("globex", month=6)
    june = invoiced(world, globex, JUNE, AFTER_JUNE)  # due 1 August
    book_usage("globex", month=7, per_day=6)
    july = invoiced(world, globex, JULY, AFTER_JULY)  # issued 2 August, due 1 September
    assert july.total > june.total > 10**7
    DunningStep.objects.create(book=distributor, position=1, days_past_due=1, action="suspend")
    evaluated = _noon(date(2026, 8, 3))
    [suspend] = dunning.dunning_evaluate(customer=globex, now=evaluated)
    assert suspend.action == "suspend"
    key, gateway = ApiKeyFactory(customer=globex), _gateway()
    suspended = ("declined", "customer_suspended")
    assert _answer(gateway, key) == suspended

    def pay(invoice, amount, hours):
        invoicing.invoice_payment_record(
            invoice=invoice,
            method="bank_transfer",
            amount=amount,
            actor="finance",
            now=evaluated + timedelta(hours=hours),
        )

    pay(july, july.total, 1)  # the old rule: credits since >= overdue, so lifted
    assert _answer(gateway, key) == suspended
    assert selectors.credit_position_get(customer=globex).standing.level == "suspended"
    cent = 10**7  # invoices are paid in whole cents (USD at the ledger's scale 9)
    pay(june, june.total - cent, 2)
    assert _answer(gateway, key) == suspended
    pay(june, cent, 3)
    assert _answer(gateway, key) == ("approved", None)
    standing = selectors.credit_position_get(customer=globex).standing
    assert (standing.level, standing.lifted_by_payment) == ("good", True)
    [reinstated] = dunning.dunning_evaluate(customer=globex, now=evaluated + timedelta(days=1))
    assert reinstated.action == "reinstate"


@pytest.mark.django_db
def test_an_invoice_paid_before_the_evaluation_does_not_hold_the_standing(world):
    """Only invoices still open hold the standing: June paid, July overdue (evaluated in
    September) suspends; paying July lifts it although June was past due too."""
    globex, distributor = world["globex"], world["distributor"]
    book_usage("globex", month=6)
    june = invoiced(world, globex, JUNE, AFTER_JUNE)
    book_usage("globex", month=7)
    july = invoiced(world, globex, JULY, AFTER_JULY)
    invoicing.invoice_payment_record(
        invoice=june, method="bank_transfer", amount=june.total, actor="f", now=AFTER_JULY
    )
    DunningStep.objects.create(book=distributor, position=1, days_past_due=1, action="suspend")
    evaluated = _noon(date(2026, 9, 3))
    [suspend] = dunning.dunning_evaluate(customer=globex, now=evaluated)
    assert suspend.overdue_minor == july.total
    key, gateway = ApiKeyFactory(customer=globex), _gateway()
    assert _answer(gateway, key) == ("declined", "customer_suspended")
    invoicing.invoice_payment_record(
        invoice=july,
        method="bank_transfer",
        amount=july.total,
        actor="f",
        now=evaluated + timedelta(hours=1),
    )
    assert _answer(gateway, key) == ("approved", None)


def test_beat_runs_dunning_hourly_and_the_allowance_daily_for_the_last_month_end(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["credit-dunning-evaluate"] == {
        "task": "credit.dunning_evaluate",
        "schedule": 3600.0,
    }
    assert schedule["credit-allowance-period-end"]["task"] == "credit.allowance_period_end"
    assert tasks.last_period_end(date(2026, 3, 1)) == date(2026, 2, 28)
    assert tasks.last_period_end(date(2026, 1, 17)) == date(2025, 12, 31)
