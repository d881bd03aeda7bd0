"""Reconciliation on the real PostgreSQL: usage booked through the real metering
pipeline, rolled up by the draw-down job, compared with provider statements built in the
providers' documented shapes; injected differences found, each and only those; a
difference accepted books one true-up, once."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Count, Sum

from ledger.integrity import verify_ledger
from ledger.models import Account
from ledger.selectors import account_balance_get, trial_balance_list
from metering.models import UsageRecord
from metering.pipeline import Pipeline
from pricing import services as pricing_services
from settlement.commitments.drawdown import commitments_draw_down, commitments_draw_down_all
from settlement.commitments.services import contract_create
from settlement.errors import DifferenceStale, InvalidReconciliation, NothingToTrueUp
from settlement.reconciliation.models import DailyUsageRollup, Difference, TrueUp
from settlement.reconciliation.services import difference_accept, reconciliation_run
from settlement.statements.services import statement_import
from tests.metering.conftest import PRICES_FROM, raw, usage
from tests.settlement import statement_files as files

pytestmark = pytest.mark.django_db

JUNE = date(2026, 6, 1)
DAYS = 10
UNTIL = JUNE + timedelta(days=DAYS)
QWEN = "qwen/qwen-2.5-72b-instruct"
# OpenRouter's price of qwen-2.5-72b, as the README imports it (../shared/data has no
# OpenRouter entries).
OPENROUTER_PRICES = {
    QWEN: {
        "litellm_provider": "openrouter",
        "mode": "chat",
        "input_cost_per_token": 3.5e-07,
        "output_cost_per_token": 4e-07,
    }
}


def at(day: date, hour: int) -> str:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC).isoformat()


def book_month(provider="openai", model="gpt-4o", *, days=DAYS, per_day=6, **tokens) -> None:
    """A batch per day: the distributor's customer and a reseller's (its usage is the
    distributor's cost too)."""
    for n in range(days):
        day = JUNE + timedelta(days=n)
        events = [
            usage(
                "initech" if i % 3 == 0 else "acme",
                model,
                provider,
                input=1000 + 100 * i,
                output=200 + n,
                occurred_at=at(day, i),
                **tokens,
            )
            for i in range(per_day)
        ]
        Pipeline().process([raw(event) for event in events])


@pytest.fixture
def month(openai_contract):
    book_month()
    commitments_draw_down_all()
    return openai_contract


def kinds(run) -> dict:
    return {
        (d.usage_day, d.model, d.request_id): d.kind for d in Difference.objects.filter(run=run)
    }


def test_the_rollup_holds_every_record_once_keyed_by_the_distributors_book(openai_contract, world):
    book_month(days=3)
    commitments_draw_down(batches_max=2)  # two runs: the rollup adds each batch once
    commitments_draw_down_all()
    commitments_draw_down_all()  # nothing new
    raw_sums = (
        UsageRecord.objects.values("model")
        .annotate(n=Count("id"), cost=Sum("cost_minor"), tokens=Sum("input_tokens"))
        .get()
    )
    rows = DailyUsageRollup.objects.filter(provider="openai")
    assert rows.count() == 3  # three days of one model
    assert {row.book_id for row in rows} == {world["distributor"].pk}
    assert (
        sum(r.requests for r in rows),
        sum(r.cost_minor for r in rows),
        sum(r.input_tokens for r in rows),
    ) == (raw_sums["n"], raw_sums["cost"], raw_sums["tokens"])
    assert verify_ledger().ok  # the rollup check agrees with the records


def test_a_statement_that_agrees_leaves_no_difference(month):
    truth = files.metered("openai")
    statement_import(contract=month, content=files.openai_usage(truth, JUNE, UNTIL), actor="t")
    statement_import(
        contract=month,
        content=files.openai_costs(truth, JUNE, UNTIL, month.discount_bps),
        actor="t",
    )
    result = reconciliation_run(contract=month, since=JUNE, until=UNTIL, actor="t")
    assert result.differences == 0
    assert (result.run.keys_compared, result.run.keys_matched) == (DAYS, DAYS)
    assert result.run.ours_cost_minor == result.run.theirs_cost_minor > 0


def inject(truth: dict) -> tuple[dict, dict]:
    """A missing day (the 3rd), extra requests (the 7th) in the usage; the price of the
    5th changed in the costs."""
    usage_days = {key: files.Day(**vars(d)) for key, d in truth.items()}
    del usage_days[(JUNE + timedelta(days=2), "gpt-4o")]
    extra = usage_days[(JUNE + timedelta(days=6), "gpt-4o")]
    extra.requests += 2
    extra.input += 4000
    extra.output += 400
    extra.cost_minor += 14_000_000  # what 4,000 in and 400 out cost on gpt-4o
    cost_days = dict(usage_days)
    return usage_days, cost_days


def test_injected_differences_are_found_each_and_only_those(month):
    truth = files.metered("openai")
    usage_days, cost_days = inject(truth)
    fifth = JUNE + timedelta(days=4)

    def price(day, model, usd):
        return usd * Decimal("1.10") if day == fifth else usd

    statement_import(contract=month, content=files.openai_usage(usage_days, JUNE, UNTIL), actor="t")
    statement_import(
        contract=month,
        content=files.openai_costs(cost_days, JUNE, UNTIL, month.discount_bps, price=price),
        actor="t",
    )
    run = reconciliation_run(contract=month, since=JUNE, until=UNTIL, actor="t").run
    assert kinds(run) == {
        (JUNE + timedelta(days=2), "gpt-4o", ""): "missing_theirs",
        (fifth, "gpt-4o", ""): "price",
        (JUNE + timedelta(days=6), "gpt-4o", ""): "tokens",
    }
    missing = Difference.objects.get(run=run, kind="missing_theirs")
    assert missing.theirs_cost_minor is None and missing.delta_minor == -missing.ours_cost_minor
    priced = Difference.objects.get(run=run, kind="price")
    assert priced.ours_tokens == priced.theirs_tokens
    assert priced.delta_minor == priced.theirs_cost_minor - priced.ours_cost_minor > 0
    tokens = Difference.objects.get(run=run, kind="tokens")
    assert tokens.theirs_requests == tokens.ours_requests + 2
    assert "requests: ours 6, theirs 8" in tokens.explanation
    assert run.keys_compared == DAYS and run.keys_matched == DAYS - 3


def test_within_tolerance_is_no_difference(month):
    truth = files.metered("openai")
    # 1,000 nano-dollars (the contract's absolute tolerance) more on one day: agreed.
    first = (JUNE, "gpt-4o")

    def price(day, model, usd):
        return usd + Decimal("0.000001") if (day, model) == first else usd

    statement_import(
        contract=month,
        content=files.openai_costs(truth, JUNE, UNTIL, month.discount_bps, price=price),
        actor="t",
    )
    assert reconciliation_run(contract=month, since=JUNE, until=UNTIL, actor="t").differences == 0


def balance(book, code) -> int:
    account = Account.objects.filter(book=book, code=code).first()
    return account_balance_get(account_id=account.id).balance if account else 0


def test_an_accepted_difference_is_booked_once(month, world):
    truth = files.metered("openai")
    fifth = JUNE + timedelta(days=4)
    statement_import(
        contract=month,
        content=files.openai_costs(
            truth,
            JUNE,
            UNTIL,
            month.discount_bps,
            price=lambda day, model, usd: usd * 2 if day == fifth else usd,
        ),
        actor="t",
    )
    first = reconciliation_run(contract=month, since=JUNE, until=UNTIL, actor="t").run
    second = reconciliation_run(contract=month, since=JUNE, until=UNTIL, actor="t").run
    assert kinds(first) == kinds(second) == {(fifth, "gpt-4o", ""): "price"}
    difference = Difference.objects.get(run=first)
    distributor = world["distributor"]
    payable_before = balance(distributor, "payable:openai")
    accepted = difference_accept(difference=difference, actor="finance", note="rate card")
    assert not accepted.replayed and accepted.true_up.amount_minor == difference.delta_minor
    # They bill more than we metered: we owe it, as an expense.
    assert balance(distributor, "expense:upstream_true_up") == difference.delta_minor
    assert balance(distributor, "payable:openai") == payable_before + difference.delta_minor
    again = difference_accept(difference=difference, actor="finance")
    assert again.replayed and again.true_up.pk == accepted.true_up.pk
    # The same difference found by the other run is settled now: not booked again.
    with pytest.raises(DifferenceStale):
        difference_accept(difference=Difference.objects.get(run=second), actor="finance")
    assert TrueUp.objects.count() == 1
    third = reconciliation_run(contract=month, since=JUNE, until=UNTIL, actor="t")
    assert third.differences == 0  # the true-up explains it
    report = verify_ledger()
    assert report.ok, report.problems
    assert all(row.difference == 0 for row in trial_balance_list())


def test_missing_ours_and_a_converted_currency(month):
    truth = files.metered("openai")
    extra_day = JUNE + timedelta(days=DAYS + 1)  # a day we metered nothing on
    billed = dict(truth)
    billed[(extra_day, "gpt-4o")] = files.Day(3, 3000, 300, 0, 0, 0, 10_500_000)
    # Billed in EUR at 1 EUR = 1.1 USD, but the rate the provider used was another: the
    # converted amounts are off by the same ratio on every day.
    eur = {
        key: files.Day(**{**vars(d), "cost_minor": d.cost_minor * 10 // 11 + d.cost_minor // 50})
        for key, d in billed.items()
    }
    statement_import(
        contract=month,
        content=files.focus_csv(eur, month.discount_bps, currency="EUR"),
        fx_rate=Decimal("1.1"),
        actor="t",
    )
    until = extra_day + timedelta(days=1)
    run = reconciliation_run(contract=month, since=JUNE, until=until, actor="t").run
    found = kinds(run)
    assert found.pop((extra_day, "gpt-4o", "")) == "missing_ours"
    assert set(found.values()) == {"fx"} and len(found) == DAYS


def test_tokens_only_differences_book_nothing(month):
    truth = files.metered("openai")
    usage_days, _ = inject(truth)
    statement_import(contract=month, content=files.openai_usage(usage_days, JUNE, UNTIL), actor="t")
    run = reconciliation_run(contract=month, since=JUNE, until=UNTIL, actor="t").run
    tokens = Difference.objects.get(run=run, kind="tokens")
    assert tokens.delta_minor == 0 and tokens.theirs_cost_minor is None
    with pytest.raises(NothingToTrueUp):
        difference_accept(difference=tokens, actor="finance")


def test_anthropic_usage_and_cost_reports_tie_out(world):
    contract = contract_create(
        book=world["distributor"],
        provider="anthropic",
        name="claude",
        currency=world["usd"],
        discount_bps=500,
        actor="t",
    )
    book_month("anthropic", "claude-sonnet-4-5", days=4, cache_read=4096, cache_write=2048)
    commitments_draw_down_all()
    truth = files.metered("anthropic")
    until = JUNE + timedelta(days=4)
    statement_import(
        contract=contract, content=files.anthropic_usage(truth, JUNE, until), actor="t"
    )
    statement_import(
        contract=contract, content=files.anthropic_costs(truth, JUNE, until, 500), actor="t"
    )
    result = reconciliation_run(contract=contract, since=JUNE, until=until, actor="t")
    assert result.differences == 0 and result.run.keys_matched == 4


def test_openrouter_generations_are_reconciled_request_by_request(world):
    pricing_services.catalog_import(
        data=OPENROUTER_PRICES,
        effective_from=PRICES_FROM + timedelta(days=31),
        actor="t",
        source_name="openrouter",
    )
    contract = contract_create(
        book=world["distributor"],
        provider="openrouter",
        name="or",
        currency=world["usd"],
        actor="t",
    )
    events = [
        usage("acme", QWEN, "openrouter", event_id=f"gen-{n:04d}", occurred_at=at(JUNE, n))
        for n in range(8)
    ]
    Pipeline().process([raw(event) for event in events])
    commitments_draw_down_all()
    records = list(UsageRecord.objects.filter(provider="openrouter").order_by("event_id"))
    theirs = records[1:]  # gen-0000 is not on their statement
    priced = theirs[2]  # gen-0003 cost them more
    generations = files.openrouter_generation_records(theirs)
    for generation in generations:
        if generation["id"] == priced.event_id:
            generation["total_cost"] *= 3
    generations.append(
        {  # a generation we never metered
            "id": "gen-9999",
            "created_at": at(JUNE, 20),
            "model": QWEN,
            "tokens_prompt": 10,
            "tokens_completion": 10,
            "total_cost": Decimal("0.0000075"),
        }
    )
    doc = {"data": generations}
    statement_import(contract=contract, content=files.json_bytes(doc), actor="t")
    run = reconciliation_run(
        contract=contract, since=JUNE, until=JUNE + timedelta(days=1), actor="t"
    ).run
    assert kinds(run) == {
        (JUNE, QWEN, "gen-0000"): "missing_theirs",
        (JUNE, QWEN, priced.event_id): "price",
        (JUNE, QWEN, "gen-9999"): "missing_ours",
    }
    assert run.keys_compared == 9


def test_a_period_is_bounded(month):
    with pytest.raises(InvalidReconciliation):
        reconciliation_run(contract=month, since=UNTIL, until=JUNE, actor="t")
    with pytest.raises(InvalidReconciliation):
        reconciliation_run(contract=month, since=JUNE, until=JUNE + timedelta(days=200), actor="t")
