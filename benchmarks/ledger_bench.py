"""Throughput of the ledger's write paths against the configured PostgreSQL.

    .venv/bin/python benchmarks/ledger_bench.py [--postings N] [--accounts N]
                                                [--batch-size N] [--single N]

One run measures:
  batch    postings/s through services.events_record_batch: 2-posting "ledger.transfer"
           entries between random pairs of accounts;
  hot      the same with one hot account (revenue) on the credit side of every entry
           (spread and hot batches take turns, so that drift weighs on both alike);
  single   transactions/s through services.event_record, one event per transaction,
           on a fresh connection, and again on a connection that has just recorded a batch;
  ceiling  rows/s of a plain COPY of posting-shaped rows into a scratch table with no
           index, constraint or trigger: what PostgreSQL and psycopg can do at best;
  floor    transactions/s of the least a single entry can be: one statement per
           transaction that takes the chain lock and inserts one row into a scratch table,
           committed durably, one after the other (fsync and round trip, nothing else).

Each run creates its own book and accounts (codes unique per run). The journal is
append-only, so the bench's events, entries and postings stay in the database.
"""

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import django

# Run as a script from any directory: the project's packages live one level up.
REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
# Production-like by default: with DEBUG on, Django keeps a copy of every query.
os.environ.setdefault("DEBUG", "false")
django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from ledger import services  # noqa: E402
from ledger.locks import CHAIN_LOCK_KEY  # noqa: E402
from ledger.models import Account, Asset, Balance, Book  # noqa: E402
from ledger.posting_rules import CREDIT, DEBIT, EntrySpec, PostingSpec, entry_payload  # noqa: E402
from ledger.selectors import trial_balance_list  # noqa: E402
from ledger.services import NewEvent  # noqa: E402

ACTOR = "bench:ledger"
ASSET_CODE = "BENCHTOK"  # shared by every run: assets are global reference data
EVENT_TYPE = "ledger.transfer"
AMOUNT_MAX = 1_000_000

# The goals the figures are judged against.
GOAL_BATCH_POSTINGS_PER_S = 50_000
GOAL_BATCH_OVER_CEILING = 1 / 3
GOAL_HOT_OVER_SPREAD = 0.8
GOAL_SINGLE_TXN_PER_S = 1_000

# A pair of account ids: (debit, credit).
PairPicker = Callable[[random.Random], tuple[int, int]]


# --- set-up ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixture:
    run_id: str
    book: Book
    asset: Asset
    spread_account_ids: list[int]
    hot_account_id: int


def create_fixture(run_id: str, accounts_count: int) -> Fixture:
    """A fresh book with `accounts_count` spread accounts and one hot revenue account."""
    asset = services.asset_create(code=ASSET_CODE, scale=0, description="ledger benchmark")
    book = services.book_create(code=f"bench-{run_id}", name=f"Ledger benchmark {run_id}")
    hot = services.account_create(
        book=book, asset=asset, code="revenue", type=Account.Type.REVENUE, name="hot account"
    )
    # One INSERT per account through account_create would dominate the set-up; the
    # database trigger creates each balance row whichever way the account is inserted.
    spread = Account.objects.bulk_create(
        [
            Account(book=book, asset=asset, code=f"customer-{i:06d}", type=Account.Type.LIABILITY)
            for i in range(accounts_count)
        ],
        batch_size=2_000,
    )
    balances_count = Balance.objects.filter(account__book=book).count()
    if balances_count != accounts_count + 1:
        sys.exit(f"expected {accounts_count + 1} balance rows, found {balances_count}")
    return Fixture(run_id, book, asset, [account.id for account in spread], hot.id)


# --- events ---------------------------------------------------------------------------


def transfer_event(
    fixture: Fixture, debit_id: int, credit_id: int, amount: int, idempotency_key: str
) -> NewEvent:
    entry = EntrySpec(
        fixture.book.id,
        (
            PostingSpec(debit_id, fixture.asset.id, DEBIT, amount),
            PostingSpec(credit_id, fixture.asset.id, CREDIT, amount),
        ),
        memo="bench",
    )
    return NewEvent(EVENT_TYPE, {"entries": [entry_payload(entry)]}, idempotency_key)


def spread_pairs(fixture: Fixture) -> PairPicker:
    ids = fixture.spread_account_ids
    return lambda rng: tuple(rng.sample(ids, 2))


def hot_pairs(fixture: Fixture) -> PairPicker:
    ids, hot_id = fixture.spread_account_ids, fixture.hot_account_id
    return lambda rng: (rng.choice(ids), hot_id)


# --- measurements ---------------------------------------------------------------------


@dataclass
class BatchRun:
    name: str
    events: int = 0
    postings: int = 0
    amount_total: int = 0  # sum of debits, for the trial balance check
    payload_s: float = 0.0
    service_s: float = 0.0
    batch_service_s: list[float] = field(default_factory=list)

    @property
    def postings_per_s(self) -> float:
        return self.postings / self.service_s

    @property
    def postings_per_s_with_payload(self) -> float:
        return self.postings / (self.service_s + self.payload_s)


def record_batch(
    run: BatchRun,
    fixture: Fixture,
    pick_pair: PairPicker,
    events_count: int,
    rng: random.Random,
) -> float:
    """Record one batch of transfers into `run`; return its service time in seconds."""
    started = time.perf_counter()
    events, amount_total = [], 0
    for i in range(run.events, run.events + events_count):
        debit_id, credit_id = pick_pair(rng)
        amount = rng.randint(1, AMOUNT_MAX)
        amount_total += amount
        key = f"bench:{fixture.run_id}:{run.name}:{i}"
        events.append(transfer_event(fixture, debit_id, credit_id, amount, key))
    built = time.perf_counter()
    results = services.events_record_batch(events=events, actor=ACTOR)
    done = time.perf_counter()

    if len(results) != events_count or any(result.replayed for result in results):
        sys.exit(f"{run.name}: a batch did not record {events_count} fresh events")
    run.events += events_count
    run.postings += 2 * events_count
    run.amount_total += amount_total
    run.payload_s += built - started
    run.service_s += done - built
    run.batch_service_s.append(done - built)
    return done - built


def run_batches(
    pickers: dict[str, PairPicker],
    fixture: Fixture,
    *,
    postings_total: int,
    batch_events: int,
    rng: random.Random,
) -> list[BatchRun]:
    """postings_total/2 transfers per picker, in batches that take turns between the
    pickers, so that drift (autovacuum, checkpoints) weighs on every run alike."""
    runs = {name: BatchRun(name) for name in pickers}
    events_total = postings_total // 2
    rounds_total = -(-events_total // batch_events)
    report_every = max(1, rounds_total // 5)
    for round_index in range(rounds_total):
        count = min(batch_events, events_total - round_index * batch_events)
        last_s = {
            name: record_batch(runs[name], fixture, pick_pair, count, rng)
            for name, pick_pair in pickers.items()
        }
        if (round_index + 1) % report_every == 0 or round_index + 1 == rounds_total:
            progress(
                f"batches: round {round_index + 1}/{rounds_total}, "
                + "; ".join(
                    f"{name} {runs[name].postings:,} postings, last {last_s[name]:.3f} s, "
                    f"{runs[name].postings_per_s:,.0f}/s so far"
                    for name in pickers
                )
            )
    return list(runs.values())


@dataclass
class SingleRun:
    transactions: int = 0
    amount_total: int = 0
    service_s: float = 0.0

    @property
    def transactions_per_s(self) -> float:
        return self.transactions / self.service_s


def run_single(name: str, fixture: Fixture, *, transactions: int, rng: random.Random) -> SingleRun:
    """One event per transaction, sequentially: the latency-bound path (API requests)."""
    run = SingleRun()
    pick_pair = spread_pairs(fixture)
    report_every = max(1, transactions // 5)
    for i in range(transactions):
        debit_id, credit_id = pick_pair(rng)
        amount = rng.randint(1, AMOUNT_MAX)
        key = f"bench:{fixture.run_id}:{name}:{i}"
        event = transfer_event(fixture, debit_id, credit_id, amount, key)
        started = time.perf_counter()
        services.event_record(
            event_type=event.type,
            payload=event.payload,
            idempotency_key=event.idempotency_key,
            actor=ACTOR,
        )
        run.service_s += time.perf_counter() - started
        run.transactions += 1
        run.amount_total += amount
        if (i + 1) % report_every == 0:
            progress(f"{name}: {i + 1}/{transactions}, {run.transactions_per_s:,.0f} txn/s so far")
    return run


@dataclass
class CopyRun:
    rows: int = 0
    copy_s: float = 0.0

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.copy_s


def run_copy_ceiling(
    run_id: str, *, rows_total: int, chunk_rows: int, rng: random.Random
) -> CopyRun:
    """COPY posting-shaped rows into a bare scratch table, one transaction per chunk
    (as the batch path commits once per batch), then drop the table."""
    table = "bench_copy_ceiling_" + run_id.replace("-", "_")
    columns = "entry_id, account_id, asset_id, side, phase, amount, sequence"
    run = CopyRun()
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {table} (entry_id bigint, account_id bigint, asset_id bigint,"
            " side varchar(1), phase varchar(1), amount bigint, sequence bigint)"
        )
        try:
            for first in range(0, rows_total, chunk_rows):
                count = min(chunk_rows, rows_total - first)
                # Rows are built before the clock starts: only COPY itself is measured.
                rows = [
                    (
                        first + i // 2,
                        rng.randint(1, 10_000),
                        1,
                        "DC"[i % 2],
                        "P",
                        rng.randint(1, AMOUNT_MAX),
                        first + i // 2,
                    )
                    for i in range(count)
                ]
                started = time.perf_counter()
                with transaction.atomic():
                    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                run.copy_s += time.perf_counter() - started
                run.rows += count
        finally:
            cursor.execute(f"DROP TABLE {table}")
    progress(f"ceiling: {run.rows:,} rows copied, {run.rows_per_s:,.0f} rows/s")
    return run


def run_single_floor(run_id: str, *, transactions: int) -> SingleRun:
    """One durable one-row statement per transaction, under the chain lock, sequentially:
    a round trip and a WAL flush, which every single entry pays at least once."""
    table = "bench_single_floor_" + run_id.replace("-", "_")
    run = SingleRun()
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {table} (id bigint, amount bigint)")
        try:
            for i in range(transactions):
                started = time.perf_counter()
                cursor.execute(
                    f"WITH locked AS (SELECT pg_advisory_xact_lock(%s))"
                    f" INSERT INTO {table} SELECT %s, 1 FROM locked",
                    [CHAIN_LOCK_KEY, i],
                )
                run.service_s += time.perf_counter() - started
                run.transactions += 1
        finally:
            cursor.execute(f"DROP TABLE {table}")
    progress(f"floor: {run.transactions:,} one-row transactions, {run.transactions_per_s:,.0f}/s")
    return run


def fresh_session() -> None:
    """Start the next phase on a new database connection.

    PL/pgSQL keeps the plans of the posting trigger for the whole session, planned for
    the first statement it saw; without a new session each figure would depend on the
    phases run before it. The "single after batch" phase measures that effect on purpose.
    """
    connection.close()


def progress(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- checks and report ----------------------------------------------------------------


def check_trial_balance(fixture: Fixture, expected_debits: int) -> bool:
    """The book must balance, and its debits must be exactly what the bench posted."""
    rows = trial_balance_list(book_id=fixture.book.id)
    print("\nTrial balance of the bench book")
    print(f"  {'book':<34} {'asset':<9} {'debits':>18} {'credits':>18} {'difference':>11}")
    for row in rows:
        print(
            f"  {row.book_code:<34} {row.asset_code:<9} {row.debits:>18,} "
            f"{row.credits:>18,} {row.difference:>11,}"
        )
    balanced = bool(rows) and all(row.difference == 0 for row in rows)
    complete = sum(row.debits for row in rows) == expected_debits
    print(
        f"  balanced: {'yes' if balanced else 'NO'}; debits equal the "
        f"{expected_debits:,} posted: {'yes' if complete else 'NO'}"
    )
    return balanced and complete


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_report(
    spread: BatchRun,
    hot: BatchRun,
    single: SingleRun,
    single_after_batch: SingleRun,
    ceiling: CopyRun,
    floor: SingleRun,
) -> None:
    print("\nBatch runs (service time = the events_record_batch calls only)")
    print(
        f"  {'run':<7} {'events':>9} {'postings':>9} {'payload_s':>10} {'service_s':>10} "
        f"{'postings/s':>11} {'incl. payload':>14} {'slowest batch_s':>16}"
    )
    for run in (spread, hot):
        print(
            f"  {run.name:<7} {run.events:>9,} {run.postings:>9,} {run.payload_s:>10.2f} "
            f"{run.service_s:>10.2f} {run.postings_per_s:>11,.0f} "
            f"{run.postings_per_s_with_payload:>14,.0f} {max(run.batch_service_s):>16.3f}"
        )

    batch_over_ceiling = spread.postings_per_s / ceiling.rows_per_s
    hot_over_spread = hot.postings_per_s / spread.postings_per_s
    figures = [
        (
            "batch postings/s (spread)",
            f"{spread.postings_per_s:,.0f}",
            f">= {GOAL_BATCH_POSTINGS_PER_S:,}",
            verdict(spread.postings_per_s >= GOAL_BATCH_POSTINGS_PER_S),
        ),
        ("hot postings/s", f"{hot.postings_per_s:,.0f}", "", ""),
        (
            "hot / spread",
            f"{hot_over_spread:.2f}x",
            f">= {GOAL_HOT_OVER_SPREAD:.1f}x",
            verdict(hot_over_spread >= GOAL_HOT_OVER_SPREAD),
        ),
        (
            "single transactions/s",
            f"{single.transactions_per_s:,.0f}",
            f">= {GOAL_SINGLE_TXN_PER_S:,}",
            verdict(single.transactions_per_s >= GOAL_SINGLE_TXN_PER_S),
        ),
        (
            "  same session after batch",
            f"{single_after_batch.transactions_per_s:,.0f}",
            f">= {GOAL_SINGLE_TXN_PER_S:,}",
            verdict(single_after_batch.transactions_per_s >= GOAL_SINGLE_TXN_PER_S),
        ),
        ("  floor: durable 1-row txn/s", f"{floor.transactions_per_s:,.0f}", "(reference)", ""),
        ("ceiling COPY rows/s", f"{ceiling.rows_per_s:,.0f}", "(reference)", ""),
        (
            "batch / ceiling",
            f"{batch_over_ceiling:.2f}",
            f">= {GOAL_BATCH_OVER_CEILING:.2f}",
            verdict(batch_over_ceiling >= GOAL_BATCH_OVER_CEILING),
        ),
    ]
    print("\nFigures against goals")
    print(f"  {'figure':<27} {'measured':>12}  {'goal':<12} result")
    for name, measured, goal, result in figures:
        print(f"  {name:<27} {measured:>12}  {goal:<12} {result}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postings", type=int, default=200_000, help="postings per batch run (spread and hot each)"
    )
    parser.add_argument(
        "--accounts", type=int, default=10_000, help="accounts the postings are spread over"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=5_000,
        help="events per events_record_batch call (2 postings each)",
    )
    parser.add_argument(
        "--single", type=int, default=3_000, help="transactions through event_record"
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    args = parser.parse_args()
    if args.postings < 2 or args.accounts < 2 or args.batch_size < 1 or args.single < 1:
        parser.error("--postings and --accounts need at least 2, the others at least 1")
    return args


def main() -> int:
    args = parse_args()
    run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    seed = args.seed if args.seed is not None else time.time_ns()
    rng = random.Random(seed)
    database = settings.DATABASES["default"]
    print(
        f"ledger bench {run_id}: settings {os.environ['DJANGO_SETTINGS_MODULE']}, "
        f"DEBUG={settings.DEBUG}, database {database['NAME']} on "
        f"{database['HOST']}:{database['PORT']}, seed {seed}"
    )
    if settings.DEBUG:
        print("  DEBUG=True: Django records every query; DEBUG=false gives production-like figures")
    print(
        f"  {args.postings:,} postings per batch run over {args.accounts:,} accounts, "
        f"{args.batch_size:,} events ({2 * args.batch_size:,} postings) per batch, "
        f"{args.single:,} single transactions"
    )

    started = time.perf_counter()
    fixture = create_fixture(run_id, args.accounts)
    progress(
        f"set-up: book {fixture.book.code}, {args.accounts + 1:,} accounts and balance rows "
        f"in {time.perf_counter() - started:.1f} s"
    )

    batch_options = {"postings_total": args.postings, "batch_events": args.batch_size, "rng": rng}
    fresh_session()
    pickers = {"spread": spread_pairs(fixture), "hot": hot_pairs(fixture)}
    spread, hot = run_batches(pickers, fixture, **batch_options)
    fresh_session()
    single = run_single("single", fixture, transactions=args.single, rng=rng)
    # A worker that records batches and single events on one connection: one batch
    # first (not timed), then a third as many single transactions.
    fresh_session()
    [warm] = run_batches(
        {"warm": spread_pairs(fixture)},
        fixture,
        postings_total=2 * args.batch_size,
        batch_events=args.batch_size,
        rng=rng,
    )
    single_after_batch = run_single(
        "single-after-batch", fixture, transactions=max(1, args.single // 3), rng=rng
    )
    fresh_session()
    ceiling = run_copy_ceiling(
        run_id, rows_total=spread.postings, chunk_rows=2 * args.batch_size, rng=rng
    )

    floor = run_single_floor(run_id, transactions=args.single)
    print_report(spread, hot, single, single_after_batch, ceiling, floor)
    expected_debits = sum(
        run.amount_total for run in (spread, hot, single, warm, single_after_batch)
    )
    balanced = check_trial_balance(fixture, expected_debits)
    print(f"\nTotal run time {time.perf_counter() - started:.0f} s")
    return 0 if balanced else 1


if __name__ == "__main__":
    sys.exit(main())
