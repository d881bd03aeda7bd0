"""Where the time of one events_record_batch call goes, in Python and in PostgreSQL.

    .venv/bin/python benchmarks/ledger_profile.py [--accounts N] [--batch-size N]

1. cProfile of one batch (after a warm-up batch that fills the journal's account cache),
   with the wall time of each SQL statement the service sends and of its commit.
2. The cost of each layer on ledger_posting: the same 2 x batch-size posting rows are
   copied into it in scratch transactions that are rolled back, with the balance trigger
   and the foreign keys switched on and off (foreign keys made IMMEDIATE so that their
   checks, normally run at commit, are inside the measured statement).
3. auto_explain (EXPLAIN ANALYZE) of the statements inside the posting trigger.

The rolled-back transactions leave nothing behind, but ALTER TABLE ... DISABLE TRIGGER
holds an exclusive lock on ledger_posting for the duration of one COPY (well under a
second): other writers to the same database wait that long.
"""

import argparse
import cProfile
import io
import pstats
import random
import sys
import time
from collections import defaultdict

from django.db import connection, transaction  # noqa: I001 (after ledger_bench's setup)

# ledger_bench sets up Django and holds the fixture and event helpers.
from ledger_bench import (
    ACTOR,
    AMOUNT_MAX,
    Fixture,
    create_fixture,
    progress,
    spread_pairs,
    transfer_event,
)

from ledger import services


class _Rollback(Exception):
    """Raised to leave a transaction.atomic block by rolling back."""


def make_batch(fixture: Fixture, label: str, batch_events: int, rng: random.Random) -> list:
    pick_pair = spread_pairs(fixture)
    return [
        transfer_event(
            fixture,
            *pick_pair(rng),
            rng.randint(1, AMOUNT_MAX),
            f"bench:{fixture.run_id}:{label}:{i}",
        )
        for i in range(batch_events)
    ]


# --- 1. Python profile and SQL statement times ---------------------------------------


class StatementTimer:
    """A Django execute wrapper: wall time per SQL statement (COPY is not seen here)."""

    def __init__(self) -> None:
        self.elapsed_s: dict[str, float] = defaultdict(float)

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            label = " ".join(sql.split())[:70]
            self.elapsed_s[label] += time.perf_counter() - started


def profile_one_batch(fixture: Fixture, batch_events: int, rng: random.Random) -> None:
    events = make_batch(fixture, "profile", batch_events, rng)
    timer = StatementTimer()
    profiler = cProfile.Profile()
    started = time.perf_counter()
    with connection.execute_wrapper(timer):
        profiler.enable()
        services.events_record_batch(events=events, actor=ACTOR)
        profiler.disable()
    elapsed_s = time.perf_counter() - started
    print(
        f"\n1. One batch of {batch_events:,} events ({2 * batch_events:,} postings): "
        f"{elapsed_s:.3f} s wall (under cProfile)"
    )
    print("\n   SQL statements sent with cursor.execute (wall s):")
    for label, seconds in sorted(timer.elapsed_s.items(), key=lambda item: -item[1]):
        print(f"   {seconds:8.3f}  {label}")
    for sort_key in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(sort_key).print_stats(22)
        print(f"\n   cProfile, sorted by {sort_key}:")
        print("\n".join("   " + line for line in out.getvalue().splitlines()[6:]))


# --- 2. cost of each layer on ledger_posting -----------------------------------------

POSTING_COLUMNS = ("entry_id", "account_id", "asset_id", "side", "phase", "amount", "sequence")


def posting_rows(fixture: Fixture, rows_count: int, rng: random.Random) -> list[tuple]:
    """Balanced debit/credit pairs on the bench's own entries, so that the foreign keys
    hold and the trigger queues no entry for the deferred balance check."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, event_sequence FROM ledger_entry WHERE book_id = %s ORDER BY id LIMIT %s",
            [fixture.book.id, rows_count // 2],
        )
        entries = cursor.fetchall()
    pick_pair = spread_pairs(fixture)
    rows = []
    for entry_id, sequence in entries:
        debit_id, credit_id = pick_pair(rng)
        amount = rng.randint(1, AMOUNT_MAX)
        rows.append((entry_id, debit_id, fixture.asset.id, "D", "P", amount, sequence))
        rows.append((entry_id, credit_id, fixture.asset.id, "C", "P", amount, sequence))
    return rows


def timed_posting_copy(rows: list[tuple], set_up_sql: list[str]) -> float:
    """COPY rows into ledger_posting after set_up_sql, in a transaction rolled back."""
    columns = ", ".join(POSTING_COLUMNS)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            for sql in set_up_sql:
                cursor.execute(sql)
            started = time.perf_counter()
            with cursor.copy(f"COPY ledger_posting ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            elapsed_s = time.perf_counter() - started
            raise _Rollback
    except _Rollback:
        pass
    return elapsed_s


def measure_layers(fixture: Fixture, rows: list[tuple]) -> None:
    immediate = "SET CONSTRAINTS ALL IMMEDIATE"
    no_trigger = "ALTER TABLE ledger_posting DISABLE TRIGGER ledger_posting_balances"
    # replica: no trigger fires at all, foreign keys' included (superuser only).
    bare = "SET LOCAL session_replication_role = replica"
    variants = [
        ("indexes only (no FK checks, no trigger)", [bare]),
        ("+ FK checks (no balance trigger)", [immediate, no_trigger]),
        (
            "+ balance trigger (no FK checks)",
            [bare, "ALTER TABLE ledger_posting ENABLE ALWAYS TRIGGER ledger_posting_balances"],
        ),
        ("everything (FK checks + balance trigger)", [immediate]),
    ]
    print(f"\n2. COPY of {len(rows):,} rows into ledger_posting, rolled back (best of 3):")
    for name, set_up_sql in variants:
        best_s = min(timed_posting_copy(rows, set_up_sql) for _ in range(3))
        print(f"   {best_s:7.3f} s  {len(rows) / best_s:>10,.0f} rows/s  {name}")


# --- 3. plans of the trigger's statements --------------------------------------------


def explain_trigger(rows: list[tuple]) -> None:
    """auto_explain prints, as NOTICEs, the analysed plan of each statement the trigger runs."""
    notices: list[str] = []
    connection.ensure_connection()
    raw = connection.connection
    handler = lambda diagnostic: notices.append(diagnostic.message_primary)  # noqa: E731
    raw.add_notice_handler(handler)
    try:
        timed_posting_copy(
            rows,
            [
                "LOAD 'auto_explain'",
                "SET LOCAL auto_explain.log_min_duration = 0",
                "SET LOCAL auto_explain.log_analyze = on",
                "SET LOCAL auto_explain.log_nested_statements = on",
                "SET LOCAL auto_explain.log_level = notice",
                "SET LOCAL client_min_messages = notice",
            ],
        )
    finally:
        raw.remove_notice_handler(handler)
    print(f"\n3. Plans of the statements run while copying {len(rows):,} postings:")
    for notice in notices:
        print("\n".join("   " + line for line in notice.splitlines()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=5_000, help="events per batch")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    run_id = f"prof-{time.strftime('%Y%m%d-%H%M%S')}"
    fixture = create_fixture(run_id, args.accounts)
    # The first batch also loads every account into the journal's cache: not profiled.
    services.events_record_batch(
        events=make_batch(fixture, "warmup", args.batch_size, rng), actor=ACTOR
    )
    progress(f"set-up and warm-up batch done, book {fixture.book.code}")
    profile_one_batch(fixture, args.batch_size, rng)
    rows = posting_rows(fixture, 2 * args.batch_size, rng)
    measure_layers(fixture, rows)
    explain_trigger(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
