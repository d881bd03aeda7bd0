"""Per-request reconciliation (OpenRouter generations) on the real PostgreSQL: the two
indexed reads it makes of metering's records, the rest of a day past the listing bound,
and OpenRouter's daily activity checked against the day's generations (the provider's
two statements disagreeing is reported, never booked)."""

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from metering import selectors as metering_selectors
from metering.models import UsageRecord
from metering.pipeline import Pipeline
from pricing import services as pricing_services
from settlement.commitments.drawdown import commitments_draw_down_all
from settlement.commitments.services import contract_create
from settlement.errors import NothingToTrueUp
from settlement.reconciliation import selectors
from settlement.reconciliation.models import Difference, TrueUp
from settlement.reconciliation.selectors import STATEMENTS_CHECK
from settlement.reconciliation.services import difference_accept, reconciliation_run
from settlement.statements.services import statement_import
from tests.metering.conftest import PRICES_FROM, raw, usage
from tests.settlement import statement_files as files
from tests.settlement.test_reconciliation import JUNE, OPENROUTER_PRICES, QWEN, at, kinds

pytestmark = pytest.mark.django_db

CATALOGUE = Path(__file__).resolve().parents[2] / "../shared/data/model_prices_litellm.json"
# OpenRouter resells OpenAI's gpt-4o-mini at OpenAI's list price: the catalogue's entry,
# under OpenRouter's model id.
MINI = "openai/gpt-4o-mini"
RECORDS = 8


@pytest.fixture
def openrouter(world):
    catalogue = json.loads(CATALOGUE.resolve().read_text())
    prices = dict(OPENROUTER_PRICES)
    prices[MINI] = {**catalogue["gpt-4o-mini"], "litellm_provider": "openrouter"}
    pricing_services.catalog_import(
        data=prices,
        effective_from=PRICES_FROM + timedelta(days=31),
        actor="t",
        source_name="openrouter",
    )
    contract = contract_create(
        book=world["distributor"],
        provider="openrouter",
        name="or",
        currency=world["usd"],
        tolerance_bps=10,
        tolerance_minor=1000,
        actor="t",
    )
    events = [
        usage(
            "acme",
            QWEN,
            "openrouter",
            event_id=f"gen-{n:04d}",
            input=1000 + 10 * n,
            output=100 + n,
            occurred_at=at(JUNE, n),
        )
        for n in range(RECORDS)
    ]
    Pipeline().process([raw(event) for event in events])
    commitments_draw_down_all()
    return contract


def records():
    return list(UsageRecord.objects.filter(provider="openrouter").order_by("event_id"))


def run_day(contract):
    return reconciliation_run(
        contract=contract, since=JUNE, until=JUNE + timedelta(days=1), actor="t"
    ).run


def import_json(contract, document) -> None:
    statement_import(contract=contract, content=files.json_bytes(document), actor="t")


def activity(**changes) -> dict:
    """OpenRouter's /api/v1/activity of what we metered, with `changes` to its row."""
    document = json.loads(
        files.openrouter_activity(files.metered("openrouter")), parse_float=Decimal
    )
    document["data"][0].update(changes)
    return document


def test_generations_and_activity_that_agree_leave_no_difference(openrouter):
    import_json(openrouter, {"data": files.openrouter_generation_records(records())})
    import_json(openrouter, activity())
    run = run_day(openrouter)
    assert kinds(run) == {}
    assert run.keys_compared == RECORDS + 1  # each request, and the activity's check


def test_activity_that_disagrees_with_the_generations_is_reported_and_never_booked(
    openrouter,
):
    generations = files.openrouter_generation_records(records())
    generations[3]["total_cost"] *= 2  # one request billed dearer: a price difference
    import_json(openrouter, {"data": generations})
    day = files.metered("openrouter")[(JUNE, QWEN)]
    # The activity counts two requests more than the generations list.
    import_json(openrouter, activity(requests=day.requests + 2))
    run = run_day(openrouter)
    assert kinds(run) == {
        (JUNE, QWEN, "gen-0003"): "price",
        (JUNE, QWEN, STATEMENTS_CHECK): "tokens",
    }
    check = Difference.objects.get(run=run, request_id=STATEMENTS_CHECK)
    assert (check.ours_requests, check.theirs_requests, check.delta_minor) == (
        RECORDS,
        RECORDS + 2,
        0,
    )
    assert "statements disagree" in check.explanation
    assert "says 10 requests" in check.explanation
    with pytest.raises(NothingToTrueUp):
        difference_accept(difference=check, actor="t")
    priced = Difference.objects.get(run=run, request_id="gen-0003")
    difference_accept(difference=priced, actor="t")
    assert list(TrueUp.objects.values_list("difference_id", flat=True)) == [priced.pk]


def test_an_activity_costing_more_than_the_generations_is_a_price_check(openrouter):
    import_json(openrouter, {"data": files.openrouter_generation_records(records())})
    row = activity()["data"][0]
    import_json(openrouter, activity(usage=row["usage"] * Decimal("1.05")))
    run = run_day(openrouter)
    assert kinds(run) == {(JUNE, QWEN, STATEMENTS_CHECK): "price"}


def test_an_activity_covering_the_day_without_the_generations_model(openrouter):
    import_json(openrouter, {"data": files.openrouter_generation_records(records())})
    # The day's activity lists only gpt-4o-mini, which we never metered.
    import_json(
        openrouter,
        activity(model=MINI, model_permaslug=MINI, requests=1, usage="0.001"),
    )
    run = run_day(openrouter)
    assert kinds(run) == {
        (JUNE, QWEN, STATEMENTS_CHECK): "missing_theirs",
        (JUNE, MINI, ""): "missing_ours",
    }
    check = Difference.objects.get(run=run, request_id=STATEMENTS_CHECK)
    assert "covers the day without this model" in check.explanation
    assert check.delta_minor == 0


def test_the_rest_of_a_day_past_the_listing_bound_is_one_difference(openrouter, monkeypatch):
    monkeypatch.setattr(selectors, "REQUESTS_LISTED_MAX", 2)
    ours = records()
    listed = ours[:3]  # gen-0000..0002 on their statement; 0003..0007 not
    generations = files.openrouter_generation_records(listed)
    generations[0]["total_cost"] *= 2
    import_json(openrouter, {"data": generations})
    run = run_day(openrouter)
    assert kinds(run) == {
        (JUNE, QWEN, "gen-0000"): "price",
        (JUNE, QWEN, "gen-0003"): "missing_theirs",
        (JUNE, QWEN, "gen-0004"): "missing_theirs",
        (JUNE, QWEN, ""): "missing_theirs",  # gen-0005..0007, summed
    }
    rest = Difference.objects.get(run=run, request_id="")
    tail = ours[5:]
    assert rest.ours_requests == 3
    assert rest.ours_tokens == sum(r.input_tokens + r.output_tokens for r in tail)


def _plan(query: dict, *, without: str) -> str:
    """The plan of a query the selector ran, with sequential scans priced out and the
    other candidate index dropped (in a transaction rolled back): on a test-sized table
    every plan costs the same, so this shows the query is one its index answers (the
    bench, benchmarks/settlement_reconcile_bench.py --per-request, shows it chosen at
    scale)."""
    with connection.cursor() as cursor:
        try:
            with transaction.atomic():
                cursor.execute("SET LOCAL enable_seqscan = off")
                cursor.execute(f"DROP INDEX {without}")
                cursor.execute("EXPLAIN " + query["sql"])
                plan = "\n".join(row[0] for row in cursor.fetchall())
                raise _RolledBack
        except _RolledBack:
            return plan


class _RolledBack(Exception):
    pass


def _scans(plan: str, index: str) -> bool:
    return f"Index Scan using {index} " in plan or f"Bitmap Index Scan on {index}" in plan


def test_both_reads_of_single_requests_can_use_their_index(openrouter):
    ours = records()
    with CaptureQueriesContext(connection) as queries:
        found = metering_selectors.usage_requests_by_event_ids(
            provider="openrouter",
            event_ids=[r.event_id for r in ours[:3]] + ["gen-nope"],
            through_sequence=10**9,
        )
        unlisted = metering_selectors.usage_requests_of_day(
            provider="openrouter",
            model=QWEN,
            day=JUNE,
            through_sequence=10**9,
            excluding=[r.event_id for r in ours[:3]],
            limit=2,
        )
    assert [r.event_id for r in found] == ["gen-0000", "gen-0001", "gen-0002"]
    assert [r.event_id for r in unlisted] == ["gen-0003", "gen-0004"]
    by_ids, of_day = queries.captured_queries
    plan = _plan(by_ids, without="usage_record_openrouter_day")
    assert _scans(plan, "usage_record_openrouter_id")
    assert "event_id)::text = ANY" in plan.split("Index Cond:")[1].split("\n")[0]
    plan = _plan(of_day, without="usage_record_openrouter_id")
    assert _scans(plan, "usage_record_openrouter_day")
    assert "occurred_at <" in plan.split("Index Cond:")[1].split("\n")[0]


def test_one_lines_totals_are_the_general_sums_of_it():
    base = selectors._Line(JUNE, QWEN, "gen-1", "cost", 1, True, 900, 120, 100, 0, 1120, 5, False)
    variants = [
        base,
        base._replace(kind="usage", cost_minor=None),
        base._replace(tokens_split=False, input_tokens=None, output_tokens=None),
        base._replace(cache_write_tokens=None),
        base._replace(total_tokens=None, requests=None),  # a cost row without tokens
        base._replace(fx=True),
        base._replace(cost_minor=None, fx=True),
        base._replace(kind="usage", total_tokens=None, requests=None),
    ]
    for line in variants:
        assert selectors._theirs_one(line) == selectors._theirs_many([line]), line
