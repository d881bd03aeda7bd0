"""Credit lots benchmark: how fast the allocator attributes wallet movements to lots.

    .venv/bin/python benchmarks/lots_bench.py [--wallets 5000] [--batches 60]
                                              [--wallets-per-batch 1000]

Needs PostgreSQL (`python -m devservices up postgres`). Self-contained: it creates a
private database (`bench_lots`, dropped at the end unless --keep-db), migrates it, makes
--wallets prepaid customers, each with a paid lot (a booked top-up) and an expiring
promotional lot, then books --batches ledger events shaped like metering's usage batches
(one debit per wallet touched, aggregated, one credit to revenue), each touching
--wallets-per-batch random wallets: about a minute of busy traffic. It times:
  first:   lots_allocate over every wallet (the grants and all the batches);
  again:   a second run that finds nothing new (the idempotent case);
  expiry:  lots_expire of every promotional lot (allocation under the chain lock, then
           one breakage event per lot).
  verify:  ledger_verify's replay of every wallet's allocation.
It prints movements/s and wallets/s for each. The allocator runs every minute from
Celery beat: the first figure must be far below 60 s for a minute of traffic.
"""

import argparse
import random
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks._bench_db import (  # noqa: E402
    bench_database_name,
    bench_django_setup,
    bench_django_teardown,
)

BENCH_DB = bench_database_name("bench_lots")


def progress(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", flush=True)


def build_world(wallets: int) -> tuple[list, dict, object]:
    """Customers with a paid and a promotional lot each; returns them, their wallet
    account ids and the revenue account."""
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from ledger import services as ledger_services
    from ledger.posting_rules import EntrySpec, PostingSpec, entry_payload
    from ledger.services import NewEvent
    from wallets.lots import services as lots
    from wallets.models import Customer

    call_command("migrate", verbosity=0)
    usd = ledger_services.asset_create(code="USD", scale=9)
    book = ledger_services.book_create(code="bench", name="Bench distributor")
    cash = ledger_services.account_create(book=book, asset=usd, code="cash:bench", type="asset")
    revenue = ledger_services.account_create(
        book=book, asset=usd, code="revenue:usage", type="revenue"
    )
    customers = Customer.objects.bulk_create(
        [Customer(external_id=f"bench-{i}", book=book, currency=usd) for i in range(wallets)]
    )
    wallet_ids = {}
    expires = timezone.now() + timedelta(days=30)
    for index, customer in enumerate(customers):
        wallet = lots.wallet_account(customer=customer)
        wallet_ids[customer.pk] = wallet.id
        with transaction.atomic():
            entry = EntrySpec(
                book.id,
                (
                    PostingSpec(cash.id, usd.id, "D", 10**9),
                    PostingSpec(wallet.id, usd.id, "C", 10**9),
                ),
                "bench top-up",
            )
            [event] = ledger_services.events_record_batch(
                events=[
                    NewEvent("ledger.transfer", {"entries": [entry_payload(entry)]}, f"t:{index}")
                ],
                actor="bench",
            )
            lots.lot_open_for_booked_credit(
                customer=customer,
                event=event,
                amount_minor=10**9,
                idempotency_key=f"topup:{index}",
                actor="bench",
            )
        lots.lot_grant(
            customer=customer,
            amount_minor=10**8,
            priority=10,
            expires_at=expires,
            idempotency_key=f"promo:{index}",
            actor="bench",
        )
        if index and index % 2000 == 0:
            progress(f"{index} wallets with two lots each")
    return customers, wallet_ids, revenue


def book_batches(customers, wallet_ids, revenue, batches: int, per_batch: int) -> int:
    """Events shaped like metering's usage batches; returns how many wallet movements."""
    from django.db import transaction

    from ledger.posting_rules import EntrySpec, PostingSpec, entry_payload
    from ledger.services import NewEvent, events_record_batch

    rng = random.Random(7)
    asset = customers[0].currency_id
    book = customers[0].book_id
    movements = 0
    for _batch in range(batches):
        touched = rng.sample(customers, min(per_batch, len(customers)))
        debits = [
            PostingSpec(wallet_ids[c.pk], asset, "D", rng.randint(1_000, 2_000_000))
            for c in touched
        ]
        total = sum(p.amount for p in debits)
        entry = EntrySpec(book, (*debits, PostingSpec(revenue.id, asset, "C", total)), "usage")
        event = NewEvent(
            "ledger.transfer", {"entries": [entry_payload(entry)]}, f"batch:{uuid.uuid4()}"
        )
        with transaction.atomic():
            events_record_batch(events=[event], actor="bench")
        movements += len(touched)
    return movements


def timed(label: str, call, units: dict[str, int]) -> None:
    started = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - started
    rates = ", ".join(f"{n / seconds:,.0f} {name}/s" for name, n in units.items() if n)
    print(f"{label:8} {seconds:8.2f} s  ({result} returned) {rates}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wallets", type=int, default=5_000)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--wallets-per-batch", type=int, default=1_000)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    bench_django_setup(BENCH_DB)
    from django.utils import timezone

    from wallets.lots import services as lots

    try:
        progress(f"building {args.wallets} wallets")
        customers, wallet_ids, revenue = build_world(args.wallets)
        progress(f"booking {args.batches} usage-shaped batches")
        movements = book_batches(
            customers, wallet_ids, revenue, args.batches, args.wallets_per_batch
        )
        grants = 2 * args.wallets
        print(f"\n{args.wallets} wallets, {movements} usage movements, {grants} lot openings")
        timed(
            "first",
            lots.lots_allocate,
            {"movements": movements + grants, "wallets": args.wallets},
        )
        timed("again", lots.lots_allocate, {"wallets": args.wallets})
        later = timezone.now() + timedelta(days=31)
        timed("expiry", lambda: lots.lots_expire(now=later), {"lots": args.wallets})
        timed("verify", lots.lot_allocations_verify, {"wallets": args.wallets})
        problems = lots.lot_allocations_verify()
        print(f"replay check: {'ok' if not problems else problems[:3]}")
    finally:
        bench_django_teardown(BENCH_DB, keep=args.keep_db)


if __name__ == "__main__":
    main()
