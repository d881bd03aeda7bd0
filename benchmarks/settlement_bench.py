"""Settlement draw-down benchmark: how fast commitments are drawn down by usage batches.

    .venv/bin/python benchmarks/settlement_bench.py [--batches 500] [--records 100]

Needs PostgreSQL (`python -m devservices up postgres`). Self-contained: it creates a
private database (`bench_settlement`, dropped at the end unless --keep-db), migrates it,
imports real catalogue prices for four models, makes a distributor, a reseller and 200
customers, a 10 % contract with OpenAI and four commitments under it (a gpt-4o token
pack drawn first, then money at three priorities, one covering one model only),
and books --batches usage batches of --records records each through the real metering
pipeline (a realistic mix of providers and models over a month). It times:
  metering: the pipeline booking those batches (what the draw-down follows);
  floor:    the draw-down's reads alone over the same batches (the batch list and the
            per batch x provider x model cost sums), in runs of the same size: no job
            reading these batches can beat it;
  drawdown: commitments_draw_down_all, every batch, 500 per run (the beat task's size);
  again:    a second run that finds nothing new (the idempotent case).
It prints batches/s and records/s for each. The job runs every minute: it keeps up while
its batches/s exceed metering's. It also prints what reconciliation's daily rollup adds
to each draw-down run (rollup_add from the run's own read of the same batches, rolled
back), per batch.

    .venv/bin/python benchmarks/settlement_bench.py --reconcile [--requests 10000000]

Reconciliation of a month (`bench_settlement_recon`, dropped at the end unless
--keep-db): --requests usage records of ten real OpenAI models over June are written
straight into metering's table with one INSERT ... SELECT FROM generate_series (not
through the pipeline: this measures reading them), in batches of --batch-records
records (one ledger sequence each). It times:
  floor:    a bare GROUP BY day x model over the raw records (what reconciling without
            the rollup would read, at best);
  rollup:   rollup_add over every batch, 500 batches per call (the draw-down run's
            size): its cost per metering batch, beside the draw-down's own cost read
            (usage_batch_costs_list) of the same batches;
  read:     the rollup rows of the month (the run's own read), the floor of the run;
  reconcile: reconciliation_run of the month against an OpenAI usage and costs statement
            with three injected differences (a missing day, a price change, extra
            requests), which it must find, and only those. Goal: under 10 s.

    .venv/bin/python benchmarks/settlement_bench.py --reconcile --per-request \
        [--generations 200000] [--background 1000000]

Reconciliation per request: --background OpenAI records and --generations OpenRouter
ones over June (four OpenAI models at the catalogue's prices under OpenRouter's ids),
written the same way, the rollup built, OpenRouter's generation records of them and its
daily activity imported with injected differences (50 requests missing from the
generations over ten days, 10 priced differently, 20 we never metered, one day whose
activity counts three requests more than its generations), and June reconciled request
by request: it must find those and only those. It prints the run's time beside its
floor (one bare indexed lookup of the statement's ids plus one read of its lines), the
same lookup and one day's unlisted read with metering 0007's indexes dropped (rolled
back), and EXPLAIN ANALYZE of the run's two reads. BENCH_RECONCILE_DB names the private
database (default `bench_settlement_recon`).
"""

import argparse
import json
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks._bench_db import (  # noqa: E402
    bench_database_name,
    bench_django_setup,
    bench_django_teardown,
)

BENCH_DB = bench_database_name(os.environ.get("BENCH_SETTLEMENT_DB", "bench_settlement"))

CATALOGUE = (REPO_ROOT / "../shared/data/model_prices_litellm.json").resolve()
MODELS = {  # catalogue key: (provider, model as usage names it, share of traffic)
    "gpt-4o": ("openai", "gpt-4o", 5),
    "claude-sonnet-4-5": ("anthropic", "claude-sonnet-4-5", 3),
    "deepseek/deepseek-chat": ("deepseek", "deepseek-chat", 1),
    "gemini/gemini-2.5-pro": ("gemini", "gemini-2.5-pro", 1),
}
JUNE = datetime(2026, 6, 1, tzinfo=UTC)
CUSTOMERS = 200


def progress(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", flush=True)


def build_world() -> None:
    from django.core.management import call_command

    from ledger import services as ledger_services
    from ledger.models import Book
    from pricing import services as pricing_services
    from settlement.commitments.services import commitment_purchase, contract_create
    from wallets.models import Customer

    call_command("migrate", verbosity=0)
    catalogue = json.loads(CATALOGUE.read_text())
    subset = {key: catalogue[key] for key in MODELS}
    since = datetime(2026, 1, 1, tzinfo=UTC)
    pricing_services.catalog_import(data=subset, effective_from=since, actor="bench")
    usd = ledger_services.asset_create(code="USD", scale=9)
    distributor = ledger_services.book_create(code="distributor", name="Distributor")
    reseller = ledger_services.book_create(code="apex", name="Apex", kind=Book.Kind.RESELLER)
    reseller.wholesale_from = distributor
    reseller.save(update_fields=["wholesale_from"])
    kwargs = {"effective_from": since, "actor": "bench"}
    pricing_services.retail_price_book_create(
        book=distributor, name="list", markup_bps=2000, **kwargs
    )
    pricing_services.retail_price_book_create(
        book=distributor, name="apex", customer="apex", markup_bps=550, **kwargs
    )
    pricing_services.retail_price_book_create(book=reseller, name="apex", markup_bps=3000, **kwargs)
    Customer.objects.bulk_create(
        [
            Customer(
                external_id=f"c{i}",
                book=reseller if i % 5 == 0 else distributor,
                currency=usd,
                billing=Customer.Billing.CREDIT,
            )
            for i in range(CUSTOMERS)
        ]
    )
    contract = contract_create(
        book=distributor,
        provider="openai",
        name="bench",
        currency=usd,
        discount_bps=1000,
        actor="bench",
    )
    # A token pack first, then money: every kind of draw and the uncovered discount.
    for key, days, priority, models, tokens, usd in (
        ("t", 30, 5, ["gpt-4o"], 20_000_000, 40),
        ("a", 15, 10, [], None, 1_000),
        ("b", 30, 20, ["gpt-4o"], None, 1_000),
        ("c", 30, 30, [], None, 1_000),
    ):
        commitment_purchase(
            contract=contract,
            tokens=tokens,
            amount_minor=10**9 * usd,
            currency="USD",
            starts_at=JUNE,
            expires_at=JUNE + timedelta(days=days),
            funded_from="cash",
            covered_models=models,
            priority=priority,
            idempotency_key=key,
            actor="bench",
        )


def book_usage(batches: int, records: int) -> float:
    from metering.pipeline import Pipeline, RawMessage

    rng = random.Random(13)
    choices = [value for value in MODELS.values() for _ in range(value[2])]
    pipeline = Pipeline()
    started = time.perf_counter()
    for index in range(batches):
        messages = []
        # The batches walk through June: a month of usage, a few per hour.
        at = JUNE + timedelta(seconds=index * 30 * 86_400 // batches)
        for n in range(records):
            provider, model, _share = rng.choice(choices)
            event = {
                "event_id": uuid.uuid4().hex,
                "source": "bench",
                "occurred_at": (at + timedelta(seconds=n)).isoformat(),
                "customer": f"c{rng.randrange(CUSTOMERS)}",
                "model": model,
                "provider": provider,
                "tokens": {
                    "input": rng.randint(100, 5000),
                    "output": rng.randint(10, 800),
                    "cache_read": 0,
                    "cache_write": 0,
                    "reasoning": 0,
                },
            }
            messages.append(
                RawMessage("usage.events", 0, index * records + n, b"k", json.dumps(event).encode())
            )
        pipeline.process(messages)
        if index and index % 100 == 0:
            progress(f"{index} batches booked")
    return time.perf_counter() - started


def read_floor(run_size: int) -> float:
    from django.db import transaction

    from metering import selectors

    started = time.perf_counter()
    after = 0
    splits = [JUNE, JUNE + timedelta(days=15), JUNE + timedelta(days=30)]
    while True:
        with transaction.atomic():
            sequences = selectors.usage_batch_sequences_list(
                after_sequence=after, through_sequence=2**62, limit=run_size
            )
            if not sequences:
                break
            selectors.usage_batch_costs_list(
                after_sequence=after, through_sequence=sequences[-1], split_at=splits
            )
        after = sequences[-1]
    return time.perf_counter() - started


def rollup_share(batches: int) -> float:
    """Seconds per batch that rollup_add adds to a draw-down run: over the same batches,
    500 per call, from the run's own cost read (not timed), rolled back (the rollup
    already holds them)."""
    from django.db import transaction

    from ledger.models import Book
    from metering import selectors
    from settlement.reconciliation.rollup import rollup_add

    distributors = {pk: p or pk for pk, p in Book.objects.values_list("pk", "wholesale_from_id")}
    elapsed = 0.0
    after = 0
    with transaction.atomic():
        while True:
            sequences = selectors.usage_batch_sequences_list(
                after_sequence=after, through_sequence=2**62, limit=500
            )
            if not sequences:
                break
            costs = selectors.usage_batch_costs_list(
                after_sequence=after, through_sequence=sequences[-1]
            )
            started = time.perf_counter()
            rollup_add(costs=costs, distributors=distributors)
            elapsed += time.perf_counter() - started
            after = sequences[-1]
        transaction.set_rollback(True)
    return elapsed / batches


def line(label: str, seconds: float, batches: int, records: int) -> None:
    print(
        f"{label:9} {seconds:8.2f} s  {batches / seconds:10,.0f} batches/s  "
        f"{records / seconds:12,.0f} records/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=500)
    parser.add_argument("--records", type=int, default=100)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--reconcile", action="store_true", help="the reconciliation bench")
    parser.add_argument("--requests", type=int, default=10_000_000)
    parser.add_argument("--batch-records", type=int, default=1000)
    parser.add_argument(
        "--per-request", action="store_true", help="with --reconcile: OpenRouter generations"
    )
    parser.add_argument("--generations", type=int, default=200_000)
    parser.add_argument("--background", type=int, default=1_000_000)
    args = parser.parse_args()
    if args.reconcile:
        from benchmarks.settlement_reconcile_bench import main as reconcile_main

        reconcile_main(args)
        return
    bench_django_setup(BENCH_DB)
    from django.core.management import call_command

    from settlement.commitments.drawdown import BATCHES_PER_RUN_DEFAULT, commitments_draw_down_all
    from settlement.commitments.models import DrawdownBatch, DrawdownLine

    try:
        progress("building the world: catalogue, books, customers, four commitments")
        build_world()
        progress(f"booking {args.batches} batches of {args.records} records through metering")
        records = args.batches * args.records
        metering_s = book_usage(args.batches, args.records)
        print(f"\n{args.batches} usage batches, {records} records")
        line("metering", metering_s, args.batches, records)
        line("floor", read_floor(BATCHES_PER_RUN_DEFAULT), args.batches, records)
        started = time.perf_counter()
        runs = commitments_draw_down_all()
        drawdown_s = time.perf_counter() - started
        line("drawdown", drawdown_s, sum(run.batches for run in runs), records)
        print(f"rollup    {rollup_share(args.batches) * 1000:8.3f} ms per batch (of the run above)")
        started = time.perf_counter()
        again = commitments_draw_down_all()
        print(f"again     {time.perf_counter() - started:8.2f} s  ({len(again)} runs with batches)")
        drawn = sum(run.drawn_minor for run in runs)
        covered = sum(run.covered_minor for run in runs)
        cost = sum(run.cost_minor for run in runs)
        print(
            f"{DrawdownBatch.objects.count()} batches drawn, {DrawdownLine.objects.count()} lines,"
            f" {covered / 10**9:,.2f} of {cost / 10**9:,.2f} USD list cost covered for"
            f" {drawn / 10**9:,.2f} USD, {sum(run.tokens for run in runs):,} tokens drawn,"
            f" {sum(run.discount_minor for run in runs) / 10**9:,.2f} USD discount on the rest"
        )
        call_command("ledger_verify", "--no-progress")  # raises if the ledger does not tie out
    finally:
        bench_django_teardown(BENCH_DB, keep=args.keep_db)


if __name__ == "__main__":
    main()
