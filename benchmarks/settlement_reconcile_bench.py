"""Reconciliation of a month of 10 million requests, by day x model (run through
`benchmarks/settlement_bench.py --reconcile`, whose docstring says what is timed).

The records are written straight into metering's table by one INSERT ... SELECT FROM
generate_series per million in the private database `bench_settlement_recon`: the
bench measures reading them, not booking them (benchmarks/metering_bench.py does that).
Every figure is printed beside its floor, measured in the same run.
"""

import json
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from benchmarks._bench_db import (
    bench_database_name,
    bench_django_setup,
    bench_django_teardown,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = bench_database_name("bench_settlement_recon")
CATALOGUE = (REPO_ROOT / "../shared/data/model_prices_litellm.json").resolve()
# Ten real OpenAI models of the catalogue, cheap and dear.
MODELS = [
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "o3",
    "o4-mini",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
]
JUNE = date(2026, 6, 1)
JULY = date(2026, 7, 1)
CHUNK = 1_000_000
BATCHES_PER_RUN = 500


def progress(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", flush=True)


def build_world():
    from django.core.management import call_command

    from ledger import services as ledger_services
    from pricing import services as pricing_services
    from settlement.commitments.services import contract_create

    call_command("migrate", verbosity=0)
    catalogue = json.loads(CATALOGUE.read_text())
    subset = {model: catalogue[model] for model in MODELS}
    pricing_services.catalog_import(
        data=subset, effective_from=datetime(2026, 1, 1, tzinfo=UTC), actor="bench"
    )
    usd = ledger_services.asset_create(code="USD", scale=9)
    distributor = ledger_services.book_create(code="distributor", name="Distributor")
    contract = contract_create(
        book=distributor,
        provider="openai",
        name="bench",
        currency=usd,
        discount_bps=1000,
        tolerance_bps=10,
        tolerance_minor=1000,
        actor="bench",
    )
    # Nano-dollars per token, exactly (Decimal(str(x)) of the catalogue's numbers).
    prices = [
        (
            int(Decimal(str(subset[m]["input_cost_per_token"])) * 10**9),
            int(Decimal(str(subset[m]["output_cost_per_token"])) * 10**9),
        )
        for m in MODELS
    ]
    return contract, distributor, prices


def generate(requests: int, batch_records: int, book_id: int, prices) -> float:
    """`requests` records over June, ten models round-robin, tokens spread by a hash of
    the row number; cost at the catalogue's list prices. One ledger sequence per batch."""
    from django.db import connection

    models_sql = "ARRAY[" + ",".join(f"'{m}'" for m in MODELS) + "]"
    in_sql = "ARRAY[" + ",".join(str(p[0]) for p in prices) + "]::bigint[]"
    out_sql = "ARRAY[" + ",".join(str(p[1]) for p in prices) + "]::bigint[]"
    month_s = (JULY - JUNE).days * 86_400
    started = time.perf_counter()
    for first in range(0, requests, CHUNK):
        last = min(first + CHUNK, requests) - 1
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO metering_usagerecord (source, event_id, occurred_at, recorded_at,
                    customer, api_key, model, provider, upstream_request_id, authorization_id,
                    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
                    reasoning_tokens, currency, price_minor, wholesale_minor, cost_minor,
                    margin_minor, price_remainder_atto, cost_remainder_atto, upstream_price_id,
                    retail_price_book_id, retail_override_id, wholesale_price_book_id,
                    seller_book_id, ledger_event_sequence, metadata)
                SELECT 'bench', 'r' || i, occurred, occurred, 'c' || (i %% 200), '', m.model,
                       'openai', '', '', t.input, t.output, 0, 0, 0, 'USD',
                       c.cost * 12 / 10, NULL, c.cost, c.cost * 2 / 10, 0, 0, 0, NULL, NULL,
                       NULL, %(book)s, 1 + i / %(per_batch)s, '{{}}'::jsonb
                  FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS i,
                       LATERAL (SELECT timestamptz '2026-06-01 00:00:00+00'
                                       + make_interval(secs => (i * %(month_s)s)::float8
                                                               / %(requests)s) AS occurred) o,
                       LATERAL (SELECT 1 + (i %% 10)::int AS k) kk,
                       LATERAL (SELECT ({models_sql})[kk.k] AS model) m,
                       LATERAL (SELECT 100 + (i * 7919) %% 4000 AS input,
                                       10 + (i * 104729) %% 800 AS output) t,
                       LATERAL (SELECT t.input * ({in_sql})[kk.k]
                                       + t.output * ({out_sql})[kk.k] AS cost) c
                """,
                {
                    "book": book_id,
                    "per_batch": batch_records,
                    "first": first,
                    "last": last,
                    "month_s": month_s,
                    "requests": requests,
                },
            )
        progress(f"{last + 1:,} records written")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE metering_usagerecord")
    return time.perf_counter() - started


def raw_group_by() -> tuple[float, int]:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (occurred_at AT TIME ZONE 'UTC')::date, model, count(*), sum(input_tokens),"
            "       sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens),"
            "       sum(reasoning_tokens), sum(cost_minor)"
            "  FROM metering_usagerecord"
            " WHERE provider = 'openai' AND occurred_at >= %s AND occurred_at < %s"
            " GROUP BY 1, 2",
            [datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)],
        )
        rows = cursor.fetchall()
    return time.perf_counter() - started, len(rows)


def build_rollup(batches: int) -> tuple[float, float]:
    """(rollup_add seconds, the draw-down's own cost read seconds) over every batch in
    runs of BATCHES_PER_RUN, as the draw-down job calls them, in one transaction per
    run: the rollup sums the rows of that read and writes them in one upsert."""
    from django.db import transaction
    from django.utils import timezone

    from ledger.models import Book
    from metering import selectors
    from settlement.commitments.models import DrawdownCursor
    from settlement.reconciliation.rollup import rollup_add

    distributors = {pk: p or pk for pk, p in Book.objects.values_list("pk", "wholesale_from_id")}
    rollup_s = read_s = 0.0
    for after in range(0, batches, BATCHES_PER_RUN):
        through = min(after + BATCHES_PER_RUN, batches)
        with transaction.atomic():
            started = time.perf_counter()
            costs = selectors.usage_batch_costs_list(after_sequence=after, through_sequence=through)
            read_s += time.perf_counter() - started
            started = time.perf_counter()
            rollup_add(costs=costs, distributors=distributors)
            rollup_s += time.perf_counter() - started
    # The rollup is true through the last batch: the draw-down's watermark says so.
    DrawdownCursor.objects.update_or_create(
        name="drawdown", defaults={"through_sequence": batches, "updated_at": timezone.now()}
    )
    return rollup_s, read_s


def statements(contract):
    """OpenAI usage and costs pages of the month from the rollup (what the provider
    would bill), with a missing day, a price change and extra requests injected."""
    from settlement.reconciliation.models import DailyUsageRollup
    from tests.settlement import statement_files as files

    truth = {
        (r.usage_day, r.model): files.Day(
            r.requests,
            r.input_tokens,
            r.output_tokens,
            r.cache_read_tokens,
            r.cache_write_tokens,
            r.reasoning_tokens,
            r.cost_minor,
        )
        for r in DailyUsageRollup.objects.all()
    }
    missing, priced, extra = (
        (JUNE + timedelta(days=2), "gpt-4o"),
        (
            JUNE + timedelta(days=9),
            "o3",
        ),
        (JUNE + timedelta(days=20), "gpt-5-mini"),
    )
    del truth[missing]
    truth[extra].requests += 5
    truth[extra].input += 5000
    usage = files.openai_usage(truth, JUNE, JULY)
    costs = files.openai_costs(
        truth,
        JUNE,
        JULY,
        contract.discount_bps,
        price=lambda day, model, usd: usd * Decimal("1.02") if (day, model) == priced else usd,
    )
    return usage, costs, {missing: "missing_theirs", priced: "price", extra: "tokens"}


def rollup_read(contract) -> float:
    from settlement.reconciliation.selectors import rollup_days_list

    started = time.perf_counter()
    _through, rows = rollup_days_list(contract=contract, since=JUNE, until=JULY)
    elapsed = time.perf_counter() - started
    assert len(rows) == 30 * len(MODELS), len(rows)
    return elapsed


def main(args) -> None:
    bench_django_setup(BENCH_DB)

    from settlement.reconciliation.models import Difference
    from settlement.reconciliation.services import reconciliation_run
    from settlement.statements.services import statement_import

    requests, per_batch = args.requests, args.batch_records
    batches = -(-requests // per_batch) + 1  # sequences start at 1 + 0 // per_batch
    try:
        progress("building the world: ten OpenAI models of the catalogue, a contract")
        contract, distributor, prices = build_world()
        progress(f"writing {requests:,} usage records ({per_batch} per batch)")
        generate_s = generate(requests, per_batch, distributor.pk, prices)
        print(f"\n{requests:,} usage records of June written in {generate_s:.1f} s")
        floor_s, groups = raw_group_by()
        rollup_s, drawdown_read_s = build_rollup(batches)
        read_s = rollup_read(contract)
        usage, costs, injected = statements(contract)
        started = time.perf_counter()
        statement_import(contract=contract, content=usage, actor="bench")
        statement_import(contract=contract, content=costs, actor="bench")
        import_s = time.perf_counter() - started
        started = time.perf_counter()
        result = reconciliation_run(contract=contract, since=JUNE, until=JULY, actor="bench")
        reconcile_s = time.perf_counter() - started
        found = {(d.usage_day, d.model): d.kind for d in Difference.objects.filter(run=result.run)}
        print(
            f"floor     {floor_s:8.2f} s  a bare GROUP BY day x model over the raw records "
            f"({groups} groups)"
        )
        print(
            f"reconcile {reconcile_s:8.3f} s  the month by day x model from the rollup "
            f"({result.run.keys_compared} keys, {result.differences} differences; goal < 10 s)"
        )
        print(f"read      {read_s:8.3f} s  the run's rollup read alone (its floor)")
        print(
            f"import    {import_s:8.3f} s  the two statement files "
            f"({len(usage) + len(costs):,} bytes)"
        )
        print(
            f"rollup    {rollup_s / batches * 1000:8.3f} ms per metering batch of {per_batch} "
            f"records ({rollup_s:.1f} s for {batches:,} batches, {BATCHES_PER_RUN} per run); "
            f"the draw-down's own cost read of the same batches: "
            f"{drawdown_read_s / batches * 1000:.3f} ms per batch"
        )
        assert found == injected, (found, injected)
        print("the three injected differences were found, and only those")
    finally:
        bench_django_teardown(BENCH_DB, keep=args.keep_db)
