"""Credit benchmark: exposure over 10,000 customers and the nightly aging/allowance job
over 10,000 customers x 12 months of invoices.

    .venv/bin/python benchmarks/credit_bench.py [--customers N] [--months N] [--rounds N]

Needs PostgreSQL (`python -m devservices up postgres`); works in a database of its own
(bench_credit, made afresh and dropped at the end unless --keep-db).

The world. N credit customers of one seller book; for each, a month's invoice per month
(issued on the 2nd of the next month, due 30 days later), paid when the next one is
issued, except the last month (open, not yet due) and, for one customer in twenty,
a run of older months left unpaid (so every aging bucket is filled); the receivable,
unbilled usage and a hold of each customer are booked in the ledger through
ledger.services (one adjustment per 1,000 customers), so exposure reads real balances.
Invoices and their payments are bulk-inserted as rows (going through invoicing's
finalize and payment services for 120,000 invoices would take the best part of an hour
at their ~50/s and measure invoicing, not credit); a check before timing verifies that
each customer's open invoices add up to its ledger receivable.

It prints, each beside its floor measured in the same run and database:
  - the exposure selector (credit.selectors.credit_positions_list) for all customers,
    against the one balances query it is built on (ledger.selectors.
    account_balances_by_code) alone;
  - the nightly job (credit.losses.services.allowances_book_period_end: aging as of the
    period end, the matrix, the booking), against the bare aggregate of the same
    invoices (one scan of invoicing_invoice, sum of totals per buyer); goal < 2 s;
  - the dunning job (credit.dunning.services.dunning_evaluate_all) over the customers
    with something overdue, for information.
Each figure is the best of --rounds (the machine is shared).
"""

import argparse
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks._bench_db import (  # noqa: E402
    bench_database_name,
    bench_django_setup,
    bench_django_teardown,
)

BENCH_DB = bench_database_name("bench_credit")
GOAL_JOB_S = 2.0
CHUNK = 1_000
CENT = 10**7  # USD at scale 9
FIRST_MONTH = (2025, 1)
RATES = {"current": 50, "d1_30": 300, "d31_60": 1500, "d61_90": 4000, "over_90": 8000}


def progress(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", flush=True)


def month_start(index: int) -> datetime:
    year, month = FIRST_MONTH[0], FIRST_MONTH[1] + index
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


def build_world(customers_count: int, months: int, rng: random.Random):
    from django.core.management import call_command
    from django.db import transaction

    from invoicing.models import Invoice, InvoicePayment
    from ledger import services as ledger_services
    from ledger.posting_rules import CREDIT, DEBIT, PostingSpec
    from wallets.models import Customer

    call_command("migrate", verbosity=0)
    usd = ledger_services.asset_create(code="USD", scale=9)
    book = ledger_services.book_create(code="bench", name="Bench distributor")
    customers = Customer.objects.bulk_create(
        [
            Customer(
                external_id=f"bench-{index:05d}",
                book=book,
                currency=usd,
                billing=Customer.Billing.CREDIT,
            )
            for index in range(customers_count)
        ]
    )
    revenue = ledger_services.account_ensure(
        book_id=book.pk, asset_id=usd.pk, code="revenue:usage", type="revenue"
    )
    refs = {}
    for c in customers:
        for code in (f"receivable:{c.external_id}", f"unbilled:{c.external_id}"):
            refs[code] = ledger_services.AccountRef(book.pk, usd.pk, code, "asset")
    ids = ledger_services.accounts_ensure(refs=refs.values())

    now = datetime.now(UTC)
    number = 0
    open_by_customer: dict[int, int] = {}
    invoices, paid_flags = [], []
    for c in customers:
        behind = rng.random() < 0.05  # a late payer: an unpaid run of older months
        unpaid_from = rng.randrange(max(months - 6, 0), months - 1) if behind else months - 1
        for m in range(months):
            total = rng.randrange(500, 50_000) * CENT
            start, end = month_start(m), month_start(m + 1)
            issued = end + timedelta(days=1)
            number += 1
            paid = m < unpaid_from
            invoices.append(
                Invoice(
                    seller_book=book,
                    buyer_customer=c,
                    buyer_key=c.external_id,
                    currency=usd,
                    period_start=start,
                    period_end=end,
                    state=Invoice.State.PAID if paid else Invoice.State.FINALIZED,
                    number=number,
                    number_text=f"INV-{number:07d}",
                    issued_at=issued,
                    due_at=issued + timedelta(days=30),
                    usage_watermark=0,
                    exact_subtotal=total,
                    subtotal=total,
                    total=total,
                    ledger_event_sequence=1,
                    created_at=now,
                    created_by="bench",
                    updated_at=now,
                )
            )
            paid_flags.append(paid)
            if not paid:
                open_by_customer[c.pk] = open_by_customer.get(c.pk, 0) + total
    progress(f"inserting {len(invoices):,} invoices and their payments")
    with transaction.atomic():
        Invoice.objects.bulk_create(invoices, batch_size=5_000)
        InvoicePayment.objects.bulk_create(
            [
                InvoicePayment(
                    invoice=invoice,
                    method="bank_transfer",
                    amount=invoice.total,
                    applied=invoice.total,
                    to_wallet=0,
                    recorded_by="bench",
                    recorded_at=invoice.issued_at + timedelta(days=rng.randrange(5, 29)),
                    ledger_event_sequence=1,
                )
                for invoice, paid in zip(invoices, paid_flags, strict=True)
                if paid
            ],
            batch_size=5_000,
        )
    progress("booking receivables and unbilled usage in the ledger (adjustments)")
    for offset in range(0, len(customers), CHUNK):
        chunk = customers[offset : offset + CHUNK]
        postings, total = [], 0
        for c in chunk:
            receivable = open_by_customer.get(c.pk, 0)
            unbilled = rng.randrange(1, 5_000) * CENT
            postings.append(
                PostingSpec(ids[refs[f"receivable:{c.external_id}"]], usd.pk, DEBIT, receivable)
            )
            postings.append(
                PostingSpec(ids[refs[f"unbilled:{c.external_id}"]], usd.pk, DEBIT, unbilled)
            )
            total += receivable + unbilled
        postings.append(PostingSpec(revenue.id, usd.pk, CREDIT, total))
        ledger_services.adjustment_post(
            book=book,
            postings=[p for p in postings if p.amount],
            memo="bench receivables",
            idempotency_key=f"bench:receivables:{offset}",
            actor="bench",
        )
    return book, usd, customers, open_by_customer


def best_of(rounds: int, work) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(rounds):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    customers_count = max(100, min(args.customers, 100_000))
    months = max(4, min(args.months, 36))
    rounds = max(1, min(args.rounds, 10))

    progress(f"creating database {BENCH_DB}")
    bench_django_setup(BENCH_DB)
    import logging

    from django.db import connection

    logging.getLogger("credit").setLevel(logging.WARNING)  # a line per customer otherwise

    from credit import selectors
    from credit.dunning import services as dunning
    from credit.losses import selectors as losses_selectors
    from credit.losses import services as losses
    from credit.models import AllowanceBooking, DunningStep
    from ledger.selectors import account_balances_by_code, trial_balance_list
    from wallets.models import Customer

    try:
        rng = random.Random(12)
        progress(f"{customers_count:,} customers x {months} months of invoices")
        book, usd, customers, open_by_customer = build_world(customers_count, months, rng)
        customers = list(Customer.objects.select_related("currency", "book").order_by("pk"))
        period_end = (month_start(months) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        period_end = period_end.date()
        # The check before timing: aging and ledger agree, customer by customer.
        aging = losses_selectors.aging_list(as_of=date.today())
        assert {r.customer_id: r.total for r in aging} == {
            k: v for k, v in open_by_customer.items() if v
        }, "open invoices do not add up to the open receivables"
        keys = [
            (c.book_id, c.currency_id, code)
            for c in customers
            for code in (
                f"receivable:{c.external_id}",
                f"unbilled:{c.external_id}",
                f"wallet:{c.external_id}",
            )
        ]
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

        progress("exposure: floor (the one balances query), then the selector")
        floor_exposure_s, _ = best_of(rounds, lambda: account_balances_by_code(keys=keys))
        exposure_s, positions = best_of(
            rounds, lambda: selectors.credit_positions_list(customers=customers)
        )
        assert sum(p.exposure.receivable_minor for p in positions) == sum(open_by_customer.values())

        progress("nightly job: floor (the bare aggregate), then aging + allowance booking")
        from django.db.models import Sum

        from invoicing.models import Invoice

        def bare_aggregate():
            return list(
                Invoice.objects.filter(seller_book=book)
                .values("buyer_key")
                .annotate(total=Sum("total"))
                .values_list("buyer_key", "total")
            )

        floor_job_s, _ = best_of(rounds, bare_aggregate)
        losses.provision_matrix_set(
            book=book, effective_from=date(2024, 1, 1), rates_bps=RATES, actor="bench"
        )

        job_times = []
        for index in range(rounds):
            stamp = period_end - timedelta(days=index)  # a new period end each round
            started = time.perf_counter()
            bookings = losses.allowances_book_period_end(period_end=stamp, actor="bench")
            job_times.append(time.perf_counter() - started)
            assert len(bookings) == 1 and bookings[0].allowance_minor > 0
        job_s = min(job_times)
        booking = AllowanceBooking.objects.order_by("-period_end").first()
        total = losses_selectors.aging_totals(
            losses_selectors.aging_list(as_of=booking.period_end)
        )[0]
        assert (
            booking.allowance_minor
            == losses_selectors.allowance_of(
                total, losses_selectors.provision_matrix_in_force(book_id=book.pk, on=period_end)
            ).allowance_minor
        )

        progress("dunning: one reminder step, every overdue customer")
        DunningStep.objects.create(book=book, position=1, days_past_due=1, action="reminder")
        started = time.perf_counter()
        counts = dunning.dunning_evaluate_all(
            now=datetime.combine(period_end, datetime.min.time(), tzinfo=UTC)
        )
        dunning_s = time.perf_counter() - started

        # (ledger_verify is not run: its invoicing check would rightly find that the
        # bulk-inserted invoices have no finalization booking of their own.)
        assert all(r.difference == 0 for r in trial_balance_list())
        invoices = customers_count * months
        print()
        print(
            f"credit bench: {customers_count:,} customers, {invoices:,} invoices, best of {rounds}"
        )
        print(
            f"  exposure selector, all customers: {exposure_s:.3f} s"
            f"   floor (balances query alone): {floor_exposure_s:.3f} s"
            f"   ({exposure_s / floor_exposure_s:.1f}x)"
        )
        print(
            f"  nightly aging + allowance job:    {job_s:.3f} s"
            f"   floor (bare aggregate): {floor_job_s:.3f} s"
            f"   ({job_s / floor_job_s:.1f}x)   goal < {GOAL_JOB_S:.0f} s:"
            f" {'met' if job_s < GOAL_JOB_S else 'NOT met'}"
        )
        print(
            f"  dunning run, {counts['customers']:,} overdue customers:"
            f" {dunning_s:.3f} s ({counts['customers'] / dunning_s:,.0f} customers/s)"
        )
    finally:
        bench_django_teardown(BENCH_DB, keep=args.keep_db)


if __name__ == "__main__":
    main()
