"""Reconciliation of a month of 10 million requests, by day x model, and of a month of
OpenRouter generations request by request (`--per-request`); run through
`benchmarks/settlement_bench.py --reconcile`, whose docstring says what is timed.

The records are written straight into metering's table by one INSERT ... SELECT FROM
generate_series per million in the private database `bench_settlement_recon`: the
bench measures reading them, not booking them (benchmarks/metering_bench.py does that).
Every figure is printed beside its floor, measured in the same run.
"""

import json
import os
import random
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
BENCH_DB = bench_database_name(os.environ.get("BENCH_RECONCILE_DB", "bench_settlement_recon"))
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
    return contract, distributor, nano_prices(subset, MODELS)


def nano_prices(entries: dict, models: list[str]) -> list[tuple[int, int]]:
    """Nano-dollars per input and output token, exactly (Decimal(str(x)) of the
    catalogue's numbers)."""
    return [
        (
            int(Decimal(str(entries[m]["input_cost_per_token"])) * 10**9),
            int(Decimal(str(entries[m]["output_cost_per_token"])) * 10**9),
        )
        for m in models
    ]


def generate(
    requests: int,
    batch_records: int,
    book_id: int,
    prices,
    *,
    provider: str = "openai",
    models: list[str] = MODELS,
    source: str = "bench",
    id_prefix: str = "r",
    first_sequence: int = 1,
) -> float:
    """`requests` records over June, the models round-robin, tokens spread by a hash of
    the row number; cost at the catalogue's list prices. One ledger sequence per batch,
    from `first_sequence`."""
    from django.db import connection

    models_sql = "ARRAY[" + ",".join(f"'{m}'" for m in models) + "]"
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
                SELECT %(source)s, %(prefix)s || i, occurred, occurred, 'c' || (i %% 200), '',
                       m.model, %(provider)s, '', '', t.input, t.output, 0, 0, 0, 'USD',
                       c.cost * 12 / 10, NULL, c.cost, c.cost * 2 / 10, 0, 0, 0, NULL, NULL,
                       NULL, %(book)s, %(sequence)s + i / %(per_batch)s, '{{}}'::jsonb
                  FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS i,
                       LATERAL (SELECT timestamptz '2026-06-01 00:00:00+00'
                                       + make_interval(secs => (i * %(month_s)s)::float8
                                                               / %(requests)s) AS occurred) o,
                       LATERAL (SELECT 1 + (i %% %(models)s)::int AS k) kk,
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
                    "source": source,
                    "prefix": id_prefix,
                    "provider": provider,
                    "sequence": first_sequence,
                    "models": len(models),
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
    if args.per_request:
        per_request_main(args)
        return
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


# --- per request: a month of OpenRouter generations ------------------------------------

# OpenRouter resells OpenAI's models at OpenAI's list prices: the catalogue's entries,
# under OpenRouter's model ids (the catalogue has no OpenRouter entries of its own).
OPENROUTER_MODELS = ["gpt-4o", "gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1-nano"]
MISSING_DAYS, MISSING_PER_DAY, PRICED, EXTRA = 10, 5, 10, 20


def build_openrouter(distributor):
    from pricing import services as pricing_services
    from settlement.commitments.services import contract_create

    catalogue = json.loads(CATALOGUE.read_text())
    entries = {
        f"openai/{m}": {**catalogue[m], "litellm_provider": "openrouter"} for m in OPENROUTER_MODELS
    }
    pricing_services.catalog_import(
        data=entries,
        effective_from=datetime(2026, 1, 2, tzinfo=UTC),  # after OpenAI's, another source
        actor="bench",
        source_name="openrouter",
    )
    contract = contract_create(
        book=distributor,
        provider="openrouter",
        name="bench",
        currency=distributor_usd(),
        tolerance_bps=10,
        tolerance_minor=1000,
        actor="bench",
    )
    return contract, list(entries), nano_prices(entries, list(entries))


def distributor_usd():
    from ledger.models import Asset

    return Asset.objects.get(code="USD")


def generations_statement(or_models):
    """OpenRouter's generation records of the month (GET /api/v1/generation's `data`,
    the fields the import reads) from our records, and its /api/v1/activity summed from
    them (the provider's two statements agreeing), with injected differences: requests
    missing from the generations, a price change, generations we never metered, and one
    day whose activity counts three requests more than its generations."""
    from django.db import connection

    from settlement.reconciliation.selectors import STATEMENTS_CHECK

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_id, occurred_at, model, input_tokens, output_tokens, cost_minor"
            "  FROM metering_usagerecord WHERE provider = 'openrouter' ORDER BY id"
        )
        rows = cursor.fetchall()
    rng = random.Random(13)
    by_day: dict[date, list[int]] = {}
    for n, row in enumerate(rows):
        by_day.setdefault(row[1].astimezone(UTC).date(), []).append(n)
    injected: dict[tuple, str] = {}
    dropped: set[int] = set()
    for day in rng.sample(sorted(by_day), MISSING_DAYS):
        for n in rng.sample(by_day[day], MISSING_PER_DAY):
            dropped.add(n)
            injected[(day, rows[n][2], rows[n][0])] = "missing_theirs"
    priced = set(rng.sample([n for n in range(len(rows)) if n not in dropped], PRICED))
    generations = []
    for n, (event_id, occurred, model, inputs, outputs, cost) in enumerate(rows):
        if n in dropped:
            continue
        total = Decimal(cost) / 10**9
        if n in priced:
            total *= Decimal("1.5")
            injected[(occurred.astimezone(UTC).date(), model, event_id)] = "price"
        generations.append(generation(event_id, occurred, model, inputs, outputs, total))
    for n in range(EXTRA):
        occurred = datetime(2026, 6, 1 + n, 12, tzinfo=UTC)
        model = or_models[n % len(or_models)]
        generations.append(generation(f"gen-x{n}", occurred, model, 500, 50, Decimal("0.0002")))
        injected[(occurred.date(), model, f"gen-x{n}")] = "missing_ours"
    activity: dict[tuple[date, str], dict] = {}
    for g in generations:
        key = (date.fromisoformat(g["created_at"][:10]), g["model"])
        row = activity.setdefault(
            key, {"requests": 0, "prompt": 0, "completion": 0, "usage": Decimal(0)}
        )
        row["requests"] += 1
        row["prompt"] += g["native_tokens_prompt"]
        row["completion"] += g["native_tokens_completion"]
        row["usage"] += g["total_cost"]
    counted_more = (JUNE + timedelta(days=17), or_models[1])
    activity[counted_more]["requests"] += 3
    injected[(*counted_more, STATEMENTS_CHECK)] = "tokens"
    activity_doc = {
        "data": [
            {
                "date": f"{day.isoformat()} 00:00:00",
                "model": model,
                "model_permaslug": model,
                "endpoint_id": "ep-1",
                "provider_name": "OpenAI",
                "usage": row["usage"],
                "byok_usage_inference": Decimal(0),
                "requests": row["requests"],
                "prompt_tokens": row["prompt"],
                "completion_tokens": row["completion"],
                "reasoning_tokens": 0,
            }
            for (day, model), row in sorted(activity.items())
        ]
    }
    return dumps({"data": generations}), dumps(activity_doc), injected


def generation(event_id, occurred, model, inputs, outputs, total_cost) -> dict:
    return {
        "id": event_id,
        "created_at": occurred.isoformat(),
        "model": model,
        "native_tokens_prompt": inputs,
        "native_tokens_completion": outputs,
        "native_tokens_reasoning": 0,
        "native_tokens_cached": 0,
        "total_cost": total_cost,
        "is_byok": False,
    }


def dumps(document) -> bytes:
    from tests.settlement import statement_files as files

    return files.json_bytes(document)


def bare_lookup(ids: list[str]) -> tuple[float, int]:
    """The floor: our records of every id of the statement, in one indexed read."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_id, occurred_at, seller_book_id, currency, model, input_tokens,"
            "       output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,"
            "       cost_minor FROM metering_usagerecord"
            " WHERE provider = 'openrouter' AND event_id = ANY(%s)",
            [ids],
        )
        found = len(cursor.fetchall())
    return time.perf_counter() - started, found


def lines_read(contract) -> float:
    """The floor's other half: the statement's lines of the month, read once."""
    from settlement.statements.models import StatementLine

    started = time.perf_counter()
    list(StatementLine.objects.filter(contract=contract).values_list("request_id", "cost_minor"))
    return time.perf_counter() - started


def explain(sql: str, params) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS OFF, TIMING OFF) " + sql, params)
        return [row[0] for row in cursor.fetchall()]


def plans(ids: list[str], day: date, model: str) -> dict[str, list[str]]:
    """EXPLAIN ANALYZE of the two reads of single requests as reconciliation makes them
    (one day and model's ids; the records of a day and model its statement lacks)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from metering import selectors

    with CaptureQueriesContext(connection) as queries:
        selectors.usage_requests_by_event_ids(
            provider="openrouter", event_ids=ids, through_sequence=10**12
        )
        unlisted_read(ids, day, model)
    by_ids, of_day = (query["sql"] for query in queries.captured_queries)
    return {"by ids": explain(by_ids, None), "of day": explain(of_day, None)}


def unlisted_read(day_ids: list[str], day: date, model: str) -> None:
    """A day and model's records its statement lacks, as reconciliation reads them."""
    from metering import selectors

    selectors.usage_requests_of_day(
        provider="openrouter",
        model=model,
        day=day,
        through_sequence=10**12,
        excluding=day_ids,
        limit=1000,
    )


def unindexed(
    ids: list[str], day_ids: list[str], day: date, model: str
) -> tuple[float, float, str]:
    """The same bare lookup and one day's unlisted read with metering 0007's indexes
    dropped (in a transaction rolled back): what the gap was; and the lookup's scan."""
    from django.db import connection, transaction

    class RolledBack(Exception):
        pass

    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DROP INDEX usage_record_openrouter_id")
            cursor.execute("DROP INDEX usage_record_openrouter_day")
            lookup_s, _found = bare_lookup(ids)
            # PostgreSQL 18 skip-scans the dedupe key (source, event_id) when there are
            # few sources; 17 cannot (it reads the table): say which this run had.
            cursor.execute(
                "EXPLAIN SELECT 1 FROM metering_usagerecord"
                " WHERE provider = 'openrouter' AND event_id = ANY(%s)",
                [ids[:1000]],
            )
            scan = next(row[0] for row in cursor.fetchall() if "Scan" in row[0])
            started = time.perf_counter()
            unlisted_read(day_ids, day, model)
            day_s = time.perf_counter() - started
            raise RolledBack
    except RolledBack:
        return lookup_s, day_s, scan.strip().split("  (")[0]


def per_request_main(args) -> None:
    bench_django_setup(BENCH_DB)
    from settlement.reconciliation.models import Difference
    from settlement.reconciliation.services import reconciliation_run
    from settlement.statements.models import StatementLine
    from settlement.statements.services import statement_import

    background, requests, per_batch = args.background, args.generations, args.batch_records
    try:
        progress("building the world: OpenAI and OpenRouter models of the catalogue, contracts")
        _contract, distributor, prices = build_world()
        contract, or_models, or_prices = build_openrouter(distributor)
        progress(f"writing {background:,} OpenAI records, then {requests:,} OpenRouter ones")
        generate(background, per_batch, distributor.pk, prices)
        last = -(-background // per_batch)
        generate(
            requests,
            per_batch,
            distributor.pk,
            or_prices,
            provider="openrouter",
            models=or_models,
            source="openrouter-gw",
            id_prefix="gen-",
            first_sequence=last + 1,
        )
        batches = last + 1 + (requests - 1) // per_batch
        progress(f"building the rollup over {batches:,} batches")
        build_rollup(batches)
        progress("building the generation records and the daily activity")
        generations, activity, injected = generations_statement(or_models)
        started = time.perf_counter()
        statement_import(contract=contract, content=generations, actor="bench")
        statement_import(contract=contract, content=activity, actor="bench")
        import_s = time.perf_counter() - started
        ids = list(
            StatementLine.objects.filter(contract=contract)
            .exclude(request_id="")
            .values_list("request_id", flat=True)
        )
        progress("reconciling June per request")
        started = time.perf_counter()
        result = reconciliation_run(contract=contract, since=JUNE, until=JULY, actor="bench")
        reconcile_s = time.perf_counter() - started
        lookup_s, found_n = bare_lookup(ids)
        read_s = lines_read(contract)
        day, model = JUNE + timedelta(days=11), or_models[2]
        day_ids = [
            i
            for i in StatementLine.objects.filter(
                contract=contract, usage_day=day, model=model
            ).values_list("request_id", flat=True)
            if i
        ]
        explained = plans(day_ids, day, model)
        no_index_lookup_s, no_index_day_s, no_index_scan = unindexed(ids, day_ids, day, model)
        found = {
            (d.usage_day, d.model, d.request_id): d.kind
            for d in Difference.objects.filter(run=result.run)
        }
        print(
            f"\n{requests:,} OpenRouter generations of June among {background + requests:,} "
            f"usage records; {len(generations):,} + {len(activity):,} bytes of statements"
        )
        print(
            f"reconcile {reconcile_s:8.3f} s  June per request "
            f"({result.run.keys_compared:,} keys, {result.differences} differences)"
        )
        print(
            f"floor     {lookup_s + read_s:8.3f} s  = {lookup_s:.3f} s a bare indexed lookup of "
            f"the statement's {len(ids):,} ids ({found_n:,} found) + {read_s:.3f} s reading "
            f"its lines once"
        )
        print(
            f"unindexed {no_index_lookup_s:8.3f} s  the same bare lookup without metering "
            f"0007's indexes ({no_index_scan}); one day x model's unlisted read: "
            f"{no_index_day_s:.3f} s"
        )
        print(f"import    {import_s:8.3f} s  the generation records and the daily activity")
        for name, plan in explained.items():
            print(f"EXPLAIN ANALYZE, {name} ({len(day_ids):,} ids of {day} {model}):")
            for row in [r for r in plan if "Scan" in r or "Sort Key" in r] + [plan[-1]]:
                print("    " + row)
        assert found == injected, (
            sorted(set(found.items()) - set(injected.items()))[:5],
            sorted(set(injected.items()) - set(found.items()))[:5],
        )
        print(
            f"the {len(injected)} injected differences were found, and only those: "
            f"{MISSING_DAYS * MISSING_PER_DAY} requests missing from the generations, "
            f"{PRICED} priced differently, {EXTRA} we never metered, and one day x model "
            "whose activity counts three requests more than its generations"
        )
    finally:
        bench_django_teardown(BENCH_DB, keep=args.keep_db)
