"""Upstream savings benchmark: settlement's upstream_savings_list (the finance
dashboard's savings) over a year of draw-down rows.

    .venv/bin/python benchmarks/savings_bench.py [--batches 100000] [--lines 4] [--discounts 2]

Needs PostgreSQL (`python -m devservices up postgres`). Self-contained: it creates a
private database (`bench_savings`, dropped at the end unless --keep-db), migrates it,
makes a distributor's book, four contracts and twelve commitments, and writes --batches
draw-down batches spread over a year (the beat job draws every minute; 100,000 batches
is one every five minutes) with --lines DrawdownLine and --discounts DrawdownDiscount
rows each, straight into settlement's tables with INSERT ... SELECT FROM
generate_series (this measures reading them, not the draw-down: no ledger event is
booked, so no ledger_* table is written). It times, per period (7, 30, 90, 365 days):
  floor:   a bare SUM of the period's lines and discounts by usage_day, no join, no
           grouping (what any read of these rows costs at the least);
  savings: upstream_savings_list(by_model=True, by_day=True), what the dashboard reads;
and prints the plan of its line query for 30 days (EXPLAIN ANALYZE, BUFFERS).
"""

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
from benchmarks._bench_db import (  # noqa: E402  (after the path is set)
    bench_database_name,
    bench_django_setup,
    bench_django_teardown,
)

BENCH_DB = bench_database_name(os.environ.get("BENCH_SAVINGS_DB", "bench_savings"))
MODELS = ["gpt-4o", "gpt-4o-mini", "o4-mini", "claude-sonnet-4-5", "gemini-2.5-pro", "deepseek"]
RUNS = 5
TODAY = date(2027, 1, 1)


def build(batches: int, lines: int, discounts: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    from ledger import services as ledger_services
    from settlement.commitments.models import Commitment, Contract

    call_command("migrate", verbosity=0)
    usd = ledger_services.asset_create(code="USD", scale=9)
    book = ledger_services.book_create(code="distributor", name="Distributor")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    contracts = [
        Contract.objects.create(
            book=book,
            provider=provider,
            name="bench",
            currency=usd,
            discount_bps=bps,
            created_at=at,
            created_by="bench",
        )
        for provider, bps in (("openai", 1000), ("anthropic", 500), ("gemini", 800), ("x", 0))
    ]
    for n in range(12):
        Commitment.objects.create(
            contract=contracts[n % 3],
            amount_minor=10**12,
            tokens=10**9 if n % 4 == 0 else None,
            starts_at=at,
            expires_at=at + timedelta(days=800),
            funded_from="cash",
            idempotency_key=f"bench:{n}",
            created_at=at,
            created_by="bench",
        )
    commitment_ids = list(Commitment.objects.order_by("pk").values_list("pk", flat=True))
    contract_ids = [c.pk for c in contracts[:3]]
    models = "ARRAY[" + ",".join(f"'{m}'" for m in MODELS) + "]"
    first_day = TODAY - timedelta(days=365)
    with connection.cursor() as cursor:
        # A batch every 365 days / batches, its usage of the day it was drawn.
        cursor.execute(
            "INSERT INTO settlement_drawdownbatch (metering_sequence, ledger_sequence,"
            " cost_minor, covered_minor, drawn_minor, tokens, discount_minor, created_at)"
            " SELECT b, b, 10000000, 0, 0, 0, 0, now() FROM generate_series(1, %s) b",
            [batches],
        )
        cursor.execute(
            "INSERT INTO settlement_drawdownline (batch_id, commitment_id, model, usage_day,"
            " list_minor, amount_minor, tokens)"
            " SELECT bt.id, (%s::bigint[])[1 + (bt.metering_sequence * 7 + l) %% %s],"
            f" ({models})[1 + (bt.metering_sequence + l) %% {len(MODELS)}],"
            " %s::date + (bt.metering_sequence * 365 / %s)::int,"
            " 1000000 + l, 900000 + l, 0"
            " FROM settlement_drawdownbatch bt, generate_series(1, %s) l",
            [commitment_ids, len(commitment_ids), first_day, batches, lines],
        )
        cursor.execute(
            "INSERT INTO settlement_drawdowndiscount (batch_id, contract_id, model, usage_day,"
            " list_minor, amount_minor)"
            " SELECT bt.id, (%s::bigint[])[1 + (bt.metering_sequence + l) %% %s],"
            f" ({models})[1 + (bt.metering_sequence * 3 + l) %% {len(MODELS)}],"
            " %s::date + (bt.metering_sequence * 365 / %s)::int, 500000, 50000"
            " FROM settlement_drawdownbatch bt, generate_series(1, %s) l",
            [contract_ids, len(contract_ids), first_day, batches, discounts],
        )
        cursor.execute("ANALYZE settlement_drawdownline")
        cursor.execute("ANALYZE settlement_drawdowndiscount")
        cursor.execute("ANALYZE settlement_commitment")
        cursor.execute("ANALYZE settlement_contract")


def timed(fn) -> list[float]:
    fn()  # warm
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def floor(since: date, until: date) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("settlement_drawdownline", "settlement_drawdowndiscount"):
            cursor.execute(
                f"SELECT SUM(list_minor - amount_minor) FROM {table}"
                " WHERE usage_day >= %s AND usage_day <= %s",
                [since, until],
            )
            cursor.fetchall()


def explain(since: date, until: date) -> str:
    from django.db import connection
    from django.db.models import Sum

    from settlement.commitments.models import DrawdownLine

    query = (
        DrawdownLine.objects.filter(usage_day__gte=since, usage_day__lte=until)
        .values("commitment_id", "model", "usage_day")
        .annotate(list=Sum("list_minor"), drawn=Sum("amount_minor"))
        .order_by()
    )
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=4)
    parser.add_argument("--discounts", type=int, default=2)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    bench_django_setup(BENCH_DB)
    from settlement.commitments.models import DrawdownDiscount, DrawdownLine
    from settlement.commitments.selectors import upstream_savings_list

    try:
        started = time.perf_counter()
        build(args.batches, args.lines, args.discounts)
        print(
            f"upstream savings over {DrawdownLine.objects.count():,} lines and"
            f" {DrawdownDiscount.objects.count():,} discounts of {args.batches:,} batches"
            f" in a year (built in {time.perf_counter() - started:.0f} s); best of {RUNS}:"
        )
        until = TODAY - timedelta(days=1)
        for days in (7, 30, 90, 365):
            since = TODAY - timedelta(days=days)
            base = timed(lambda s=since: floor(s, until))
            read = timed(
                lambda s=since: upstream_savings_list(
                    since=s, until=until, by_model=True, by_day=True
                )
            )
            rows = len(upstream_savings_list(since=since, until=until, by_model=True, by_day=True))
            print(
                f"  {days:>3} days: savings {min(read):.1f} ms (median"
                f" {statistics.median(read):.1f}), {rows:,} rows;"
                f" floor {min(base):.1f} ms (median {statistics.median(base):.1f})"
            )
        print("plan of the line query, 30 days:")
        print(explain(TODAY - timedelta(days=30), until))
    finally:
        bench_django_teardown(BENCH_DB, keep=args.keep_db)


if __name__ == "__main__":
    main()
