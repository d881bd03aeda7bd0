"""Commitments on the real PostgreSQL: bought, drawn down by usage booked through the
real metering pipeline, written off at expiry, tied out in the ledger."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db.models import Sum

from ledger.amounts import InvalidAmount
from ledger.integrity import verify_ledger
from ledger.models import Account
from ledger.selectors import account_balance_get, head_sequence_get, trial_balance_list
from metering.models import UsageRecord
from metering.pipeline import Pipeline
from settlement.commitments import selectors
from settlement.commitments.drawdown import (
    commitments_draw_down,
    commitments_draw_down_all,
    commitments_expire,
)
from settlement.commitments.models import (
    Breakage,
    Commitment,
    Contract,
    DrawdownBatch,
    DrawdownDiscount,
    DrawdownLine,
)
from settlement.commitments.services import commitment_purchase, contract_create
from settlement.errors import (
    ContractConflict,
    CurrencyMismatch,
    IdempotencyConflict,
    InvalidCommitment,
    InvalidContract,
    UnknownProvider,
)
from settlement.terms import net_of_discount
from tests.metering.conftest import raw, usage

pytestmark = pytest.mark.django_db

JUNE = datetime(2026, 6, 1, tzinfo=UTC)
MID_JUNE = datetime(2026, 6, 15, tzinfo=UTC)
JULY = datetime(2026, 7, 1, tzinfo=UTC)
USD = 10**9  # nano-dollars per dollar
# gpt-4o, 2000 in / 100 out: $0.006 (tests/metering/test_pipeline.py).
GPT_4O_COST = 6_000_000


def balance(book, code) -> int:
    account = Account.objects.filter(book=book, code=code).first()
    return account_balance_get(account_id=account.id).balance if account else 0


def book_day(day: datetime, *, requests: int = 20) -> int:
    """A day of usage in one metering batch: openai through the distributor's own
    customers and a reseller's, and deepseek, which no commitment covers."""
    events = []
    for n in range(requests):
        at = (day + timedelta(hours=n % 24, minutes=n)).isoformat()
        customer = "initech" if n % 4 == 0 else "acme"
        events.append(usage(customer, "gpt-4o", "openai", input=2000, output=100, occurred_at=at))
    events.append(usage("acme", "deepseek-chat", "deepseek", occurred_at=day.isoformat()))
    return Pipeline().process([raw(event) for event in events]).ledger_sequence


@pytest.fixture
def contract(world):
    return contract_create(
        book=world["distributor"],
        provider="openai",
        name="2026 enterprise",
        currency=world["usd"],
        discount_bps=1500,
        tolerance_bps=50,
        actor="test",
    )


def buy(contract, key, **terms) -> Commitment:
    values = {
        "amount_minor": 2 * USD,
        "currency": "USD",
        "starts_at": JUNE,
        "expires_at": JULY,
        "funded_from": Commitment.FundedFrom.CASH,
        "priority": 100,
    } | terms
    return commitment_purchase(
        contract=contract, idempotency_key=key, actor="test", **values
    ).commitment


def openai_cost(*, since=None, until=None, sequences=None) -> int:
    records = UsageRecord.objects.filter(provider="openai")
    if since is not None:
        records = records.filter(occurred_at__gte=since)
    if until is not None:
        records = records.filter(occurred_at__lt=until)
    if sequences is not None:
        records = records.filter(ledger_event__in=sequences)
    return records.aggregate(total=Sum("cost_minor"))["total"] or 0


def drawn(commitment) -> int:
    """Money the commitment paid for usage."""
    return commitment.draws.aggregate(total=Sum("amount_minor"))["total"] or 0


def covered(commitment) -> int:
    """List cost of the usage it covered."""
    return commitment.draws.aggregate(total=Sum("list_minor"))["total"] or 0


def net(list_minor: int) -> int:
    """At the fixture contract's 15 % discount: gpt-4o's $0.006 a request is $0.0051."""
    return list_minor * 85 // 100


def test_a_month_of_usage_draws_two_commitments_in_order_and_books_breakage_once(world, contract):
    distributor = world["distributor"]
    # Expires mid-month, drawn first (lower priority number); bought with cash.
    early = buy(contract, "early", amount_minor=2 * USD, expires_at=MID_JUNE, priority=10)
    # The whole month, only gpt-4o; owed to the provider (payable:openai).
    late = buy(
        contract,
        "late",
        amount_minor=1 * USD,
        priority=20,
        covered_models=["gpt-4o"],
        funded_from=Commitment.FundedFrom.PAYABLE,
    )
    assert balance(distributor, f"prepaid_capacity:openai:{early.pk}") == 2 * USD
    assert balance(distributor, "cash:bank") == -2 * USD

    first_half = [book_day(JUNE + timedelta(days=d)) for d in range(16)]  # 1..16 June
    # Usage of 14 June metered late (after 16 June's batch), before the breakage: it
    # still draws from the early commitment.
    late_within_grace = book_day(datetime(2026, 6, 14, 22, tzinfo=UTC), requests=2)
    runs = commitments_draw_down_all(batches_max=5)
    assert [run.batches for run in runs] == [5, 5, 5, 2]
    assert DrawdownBatch.objects.count() == 17

    before_expiry = [*first_half[:14], late_within_grace]
    early_list = openai_cost(until=MID_JUNE)
    assert (
        early_list
        == openai_cost(sequences=before_expiry)
        == 14 * 20 * GPT_4O_COST + 2 * (GPT_4O_COST)
    )
    # Every openai cost before expiry, nothing after, paid at the contract's discount.
    assert covered(early) == early_list
    early_drawn = drawn(early)
    assert early_drawn == net(early_list) == 1_438_200_000
    assert not early.draws.filter(usage_day__gte=MID_JUNE.date()).exists()
    # From 15 June the late commitment takes over.
    assert covered(late) == openai_cost(since=MID_JUNE)
    assert drawn(late) == net(openai_cost(since=MID_JUNE))
    assert late.draws.order_by("usage_day").first().usage_day == MID_JUNE.date()

    # Within the grace (24 h by default) nothing is written off; after it, once.
    assert commitments_expire(now=MID_JUNE + timedelta(hours=12)).closed == 0
    leftover = 2 * USD - early_drawn
    run = commitments_expire(now=MID_JUNE + timedelta(hours=25))
    assert (run.closed, run.amount_minor) == (1, leftover)
    assert balance(distributor, "expense:breakage") == leftover
    assert commitments_expire(now=MID_JUNE + timedelta(hours=26)).closed == 0
    assert balance(distributor, f"prepaid_capacity:openai:{early.pk}") == 0

    # Usage of 14 June metered after the breakage: the early commitment is closed; the
    # late one was active then, and covers it.
    after_breakage = book_day(datetime(2026, 6, 14, 23, tzinfo=UTC), requests=1)
    second_half = [book_day(JUNE + timedelta(days=d)) for d in range(16, 30)]  # 17..30 June
    commitments_draw_down_all(batches_max=4)
    assert drawn(early) == early_drawn
    assert late.draws.filter(batch__metering_sequence=after_breakage).exists()
    # The late commitment runs out, to the unit; what is not covered stays on
    # payable:openai, less the contract's discount.
    assert drawn(late) == 1 * USD
    assert balance(distributor, f"prepaid_capacity:openai:{late.pk}") == 0
    total = openai_cost()
    uncovered = total - covered(early) - covered(late)
    discounts = DrawdownDiscount.objects.filter(contract=contract)
    assert discounts.aggregate(t=Sum("list_minor"))["t"] == uncovered > 0
    for row in discounts:  # each row's discount is 15 % of its list cost, half-even
        assert row.amount_minor == row.list_minor - net_of_discount(row.list_minor, 1500)
    discount = discounts.aggregate(t=Sum("amount_minor"))["t"]
    assert abs(discount - uncovered * 15 // 100) <= discounts.count()
    # What we owe: the late purchase, and the uncovered usage at the discount.
    assert balance(distributor, "payable:openai") == 1 * USD + uncovered - discount
    # What openai's usage cost us: what the commitments paid, and the rest at discount.
    assert balance(distributor, "cogs:openai") == early_drawn + 1 * USD + uncovered - discount
    deepseek = UsageRecord.objects.filter(provider="deepseek").aggregate(t=Sum("cost_minor"))["t"]
    # No contract with deepseek: no commitment, no discount, owed at list.
    assert balance(distributor, "payable:deepseek") == deepseek
    assert balance(distributor, "cogs:deepseek") == deepseek

    run = commitments_expire(now=JULY + timedelta(days=2))
    assert (run.closed, run.amount_minor) == (1, 0)  # nothing left: a row, no event
    assert Breakage.objects.get(commitment=late).ledger_sequence is None
    assert Breakage.objects.count() == 2

    # Ties out: each commitment's ledger balance is its amount less draw-down and breakage.
    for commitment in (early, late):
        figures = selectors.commitment_balance_get(commitment=commitment)
        assert figures.remaining_minor == (
            figures.amount_minor - figures.drawn_minor - figures.breakage_minor
        )
    assert DrawdownBatch.objects.count() == len(first_half) + len(second_half) + 2
    assert all(row.difference == 0 for row in trial_balance_list())
    report = verify_ledger()
    assert report.ok, report.problems

    # Idempotent: a rerun of either job changes nothing.
    head = head_sequence_get()
    assert commitments_draw_down().batches == 0
    assert commitments_expire(now=JULY + timedelta(days=3)).closed == 0
    assert head_sequence_get() == head
    assert DrawdownLine.objects.aggregate(t=Sum("amount_minor"))["t"] == early_drawn + 1 * USD
    assert DrawdownDiscount.objects.aggregate(t=Sum("amount_minor"))["t"] == discount


def test_the_draw_down_covers_only_the_contracts_provider_models_and_period(world, contract):
    gpt_only = buy(contract, "gpt", covered_models=["gpt-4o-mini"], priority=1)
    june_10 = buy(contract, "later", starts_at=datetime(2026, 6, 10, tzinfo=UTC), priority=2)
    book_day(JUNE)  # before june_10 starts; gpt-4o-mini is not used
    commitments_draw_down()
    assert drawn(gpt_only) == drawn(june_10) == 0
    batch = DrawdownBatch.objects.get()
    assert (batch.covered_minor, batch.drawn_minor) == (0, 0)
    assert batch.cost_minor == UsageRecord.objects.aggregate(t=Sum("cost_minor"))["t"]
    # Nothing covered, but the contract's discount on openai's usage is booked (deepseek
    # has no contract).
    openai_list = openai_cost()
    assert batch.discount_minor == openai_list - net(openai_list)
    assert batch.ledger_sequence is not None
    book_day(datetime(2026, 6, 10, tzinfo=UTC), requests=3)
    commitments_draw_down()
    assert covered(june_10) == 3 * GPT_4O_COST
    assert drawn(june_10) == net(3 * GPT_4O_COST)
    assert verify_ledger().ok


def test_batches_are_drawn_once_even_before_any_commitment_exists(world, contract):
    book_day(JUNE, requests=2)
    run = commitments_draw_down()
    # No commitment: nothing drawn, the contract's discount booked (one event).
    assert (run.batches, run.events, run.drawn_minor, run.covered_minor) == (1, 1, 0, 0)
    assert run.discount_minor == openai_cost() - net(openai_cost())
    assert run.cost_minor == UsageRecord.objects.aggregate(t=Sum("cost_minor"))["t"]
    buy(contract, "k")  # bought later: the batch drawn before stays on payable
    assert commitments_draw_down().batches == 0
    assert DrawdownBatch.objects.get().drawn_minor == 0


def test_runs_go_past_long_stretches_of_other_events(world, contract):
    """A run scans a bounded range of the log; events that are not usage batches (here,
    purchases) only move the watermark, and the next run goes on."""
    commitment = buy(contract, "first", amount_minor=10 * USD)
    book_day(JUNE, requests=1)
    for n in range(50):  # more than one run's range at one batch per run
        buy(contract, f"filler-{n}", amount_minor=1, priority=900)
    last = book_day(JUNE + timedelta(days=1), requests=1)
    runs = commitments_draw_down_all(batches_max=1)
    assert [run.batches for run in runs] == [1, 1]
    assert runs[-1].through_sequence == last
    assert covered(commitment) == 2 * GPT_4O_COST
    # Past it lie only the draw-down's own events: the next run moves over them.
    assert commitments_draw_down(batches_max=1).caught_up


def test_the_command_draws_everything_and_prints_progress(world, contract, capsys):
    buy(contract, "k")
    for day in range(3):
        book_day(JUNE + timedelta(days=day), requests=2)
    call_command("settlement_drawdown", "--batches-per-run", "2")
    out = capsys.readouterr().out
    assert "2 batches drawn" in out and "done: 3 batches, 3 draw-down events" in out
    assert DrawdownBatch.objects.count() == 3


def test_a_drawn_batch_that_does_not_tie_out_is_reported_by_verify(world, contract):
    commitment = buy(contract, "k")
    book_day(JUNE, requests=2)
    commitments_draw_down()
    assert verify_ledger().ok
    batch = DrawdownBatch.objects.get()
    DrawdownLine.objects.create(
        batch=batch, commitment=commitment, model="gpt-4o", usage_day=JUNE, amount_minor=1
    )
    problems = verify_ledger().problems
    assert any("lines do not sum" in problem for problem in problems), problems
    assert any(f"commitment {commitment.pk}" in problem for problem in problems), problems


# --- bad input: a clear error, nothing booked --------------------------------------------


def test_a_contract_with_an_unknown_provider_or_bad_terms_is_refused(world):
    kwargs = {"book": world["distributor"], "currency": world["usd"], "actor": "test"}
    with pytest.raises(UnknownProvider):
        contract_create(provider="no-such-provider", name="x", **kwargs)
    with pytest.raises(InvalidContract):
        contract_create(provider="openai", name="x", discount_bps=10_001, **kwargs)
    with pytest.raises(InvalidContract):
        contract_create(provider="openai", name="  ", **kwargs)
    contract_create(provider="openai", name="x", **kwargs)
    with pytest.raises(ContractConflict):
        contract_create(provider="openai", name="x", **kwargs)
    assert Contract.objects.count() == 1


@pytest.mark.parametrize(
    ("terms", "error"),
    [
        ({"expires_at": JUNE - timedelta(days=1)}, InvalidCommitment),
        ({"expires_at": JUNE}, InvalidCommitment),
        ({"amount_minor": -5}, InvalidAmount),
        ({"amount_minor": 0}, InvalidAmount),
        ({"currency": "EUR"}, CurrencyMismatch),
        ({"funded_from": "credit-card"}, InvalidCommitment),
        ({"priority": -1}, InvalidCommitment),
        ({"covered_models": [""]}, InvalidCommitment),
        ({"covered_models": "gpt-4o"}, InvalidCommitment),
    ],
)
def test_a_bad_commitment_is_refused_and_books_nothing(world, contract, terms, error):
    head = head_sequence_get()
    with pytest.raises(error):
        buy(contract, "bad", **terms)
    assert head_sequence_get() == head
    assert not Commitment.objects.exists()


def test_a_purchase_retried_with_its_key_books_once(world, contract):
    first = buy(contract, "same", covered_models=["gpt-4o", "gpt-4o"])
    head = head_sequence_get()
    again = commitment_purchase(
        contract=contract,
        idempotency_key="same",
        actor="test",
        amount_minor=2 * USD,
        currency="USD",
        starts_at=JUNE,
        expires_at=JULY,
        funded_from="cash",
        covered_models=["gpt-4o"],
    )
    assert again.replayed and again.commitment.pk == first.pk
    assert head_sequence_get() == head
    with pytest.raises(IdempotencyConflict):
        buy(contract, "same", amount_minor=3 * USD)
    assert Commitment.objects.count() == 1
    assert balance(world["distributor"], "cash:bank") == -2 * USD


# --- forecast ---------------------------------------------------------------------------


def test_the_forecast_projects_run_out_and_breakage_from_the_burn_rate(world, contract):
    big = buy(contract, "big", amount_minor=10 * USD, priority=1)
    for day in range(7):  # 1..7 June, 20 requests a day: $0.12 a day at list
        book_day(JUNE + timedelta(days=day))
    commitments_draw_down()
    now = datetime(2026, 6, 8, tzinfo=UTC)
    forecast = selectors.commitment_forecast(commitment=big, days=7, now=now)
    per_day = net(20 * GPT_4O_COST)  # paid at the contract's discount: $0.102
    assert forecast.status == "active"
    assert forecast.drawn_in_window_minor == 7 * per_day
    assert forecast.burn_per_day_minor == per_day
    assert forecast.remaining_minor == 10 * USD - 7 * per_day
    # 23 days to expiry at $0.102: $2.346 more, the rest breaks.
    assert forecast.expected_breakage_minor == forecast.remaining_minor - 23 * per_day
    assert forecast.shortfall_at is None
    # A run-out far after expiry (9.286 / 0.102 days).
    assert forecast.run_out_at == now + timedelta(
        seconds=-(-forecast.remaining_minor * 86400 // per_day)
    )

    # Three days after its start, the rate is over those three days, not seven.
    early_days = selectors.commitment_forecast(
        commitment=big, days=7, now=datetime(2026, 6, 4, 12, tzinfo=UTC)
    )
    assert (early_days.window_days, early_days.burn_per_day_minor) == (3, per_day)
    # Not started yet: nothing burns, all of it would break.
    pending = buy(contract, "pending", starts_at=JULY, expires_at=JULY + timedelta(days=30))
    forecast = selectors.commitment_forecast(commitment=pending, now=now)
    assert (forecast.status, forecast.run_out_at, forecast.burn_per_day_minor) == (
        "pending",
        None,
        0,
    )
    assert forecast.expected_breakage_minor == 2 * USD

    small = buy(contract, "small", amount_minor=1 * USD, priority=0)
    book_day(datetime(2026, 6, 8, tzinfo=UTC))
    commitments_draw_down()
    later = datetime(2026, 6, 9, tzinfo=UTC)
    forecast = selectors.commitment_forecast(commitment=small, days=1, now=later)
    assert forecast.burn_per_day_minor == per_day
    assert forecast.expected_breakage_minor == 0
    assert forecast.shortfall_at == later + timedelta(
        seconds=-(-(1 * USD - per_day) * 86400 // per_day)
    )
    assert forecast.shortfall_at < small.expires_at


def test_the_celery_tasks_draw_and_break_and_beat_runs_them_every_minute(world, contract, settings):
    from settlement.tasks import draw_down_commitments, expire_commitments

    settings.SETTLEMENT_BREAKAGE_GRACE_HOURS = 0
    expired = buy(contract, "k", expires_at=datetime(2026, 6, 2, tzinfo=UTC))
    book_day(JUNE, requests=2)
    assert draw_down_commitments.apply().get() == 1
    assert drawn(expired) == net(2 * GPT_4O_COST)
    # Long expired (the test runs after June 2026): no grace, closed now, once.
    assert expire_commitments.apply().get() == 1
    assert expire_commitments.apply().get() == 0
    assert Breakage.objects.get().amount_minor == 2 * USD - net(2 * GPT_4O_COST)
    schedule = settings.CELERY_BEAT_SCHEDULE
    for name, task in (
        ("settlement-draw-down-commitments", "settlement.draw_down_commitments"),
        ("settlement-expire-commitments", "settlement.expire_commitments"),
    ):
        assert (schedule[name]["task"], schedule[name]["schedule"]) == (task, 60.0)


def test_usage_metered_after_the_breakage_stays_on_payable(world, contract):
    only = buy(contract, "only", expires_at=datetime(2026, 6, 2, tzinfo=UTC))
    assert commitments_expire(now=datetime(2026, 6, 3, 1, tzinfo=UTC)).closed == 1
    payable_before = balance(world["distributor"], "payable:openai")
    book_day(JUNE, requests=2)  # occurred while it was active, metered after its breakage
    commitments_draw_down()
    assert drawn(only) == 0 and DrawdownBatch.objects.get().drawn_minor == 0
    # Owed at the contract's discount.
    assert balance(world["distributor"], "payable:openai") == payable_before + net(openai_cost())
    assert verify_ledger().ok
