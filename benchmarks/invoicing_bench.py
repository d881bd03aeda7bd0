"""Invoicing benchmark: a month closed for 1,000 customers on credit.

    .venv/bin/python benchmarks/invoicing_bench.py [--customers N] [--events-per-customer N]

Needs PostgreSQL (`python -m devservices up postgres`); works in a database of its own
(bench_invoicing, made afresh and dropped at the end unless --keep-db). It imports the
real LiteLLM catalogue from ../shared/data, picks 100 models that rate, books a month of
usage for each customer over a mix of them through metering's real pipeline in large
batches, then invoices every customer: the first 100 one by one (invoice_draft and
invoice_finalize, one transaction each, as finance does by hand), the others as the
monthly Celery job does (invoices_draft_period and invoices_finalize: chunks of
customers per transaction, one ledger append per chunk). It prints invoices/s of both
with the goal beside two floors measured in the same run and database:
  - the bare ledger append: 1,000 one-event appends, one transaction each (what every
    finalization does at least once);
  - the usage aggregation alone: the selector an invoice's draft runs, once per customer.
It checks what it made: every total equals the receivable movement it booked, the trial
balance is zero. Then it renders --pdf-invoices (20) of the finalized invoices to PDF
from their stored rows (invoicing.selectors.invoice_document_get, then WeasyPrint) and
prints pages/s beside the PDF floor measured in the same run: a one-line receipt through
the same rendering path (what any page costs at least). Pages are counted with pdfinfo.
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

# A private name per run (BENCH_INVOICING_DB) keeps two benchmarks from dropping each other's.
BENCH_DB = bench_database_name(os.environ.get("BENCH_INVOICING_DB", "bench_invoicing"))
CATALOGUE = (REPO_ROOT / "../shared/data/model_prices_litellm.json").resolve()
PRICES_FROM = datetime(2026, 1, 1, tzinfo=UTC)
PERIOD = (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
MODELS_IN_MIX = 100
MODELS_PER_CUSTOMER = 20  # each customer uses a fifth of the mix
BOOKING_BATCH = 5_000
GOAL_INVOICES_PER_S = 50
SINGLE_PATH_CUSTOMERS = 100  # invoiced one by one first, the rest by the period close
PDF_INVOICES_MAX = 200  # rendering is ~10 pages/s a core: keep the PDF part bounded
PDF_FLOOR_DOCUMENTS = 10


def progress(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", flush=True)


def build_world(customers_count: int):
    from django.core.management import call_command

    from invoicing import services
    from ledger import services as ledger_services
    from pricing import services as pricing_services
    from wallets.models import Customer

    call_command("migrate", verbosity=0)
    pricing_services.catalog_import(path=CATALOGUE, effective_from=PRICES_FROM, actor="bench")
    usd = ledger_services.asset_create(code="USD", scale=9)
    book = ledger_services.book_create(code="bench", name="Bench distributor")
    pricing_services.retail_price_book_create(
        book=book, name="list", markup_bps=2000, effective_from=PRICES_FROM, actor="bench"
    )
    profile = services.billing_profile_set(
        book=book, legal_name="Bench Distributor Ltd", currency=usd, actor="bench"
    )
    services.tax_rate_add(
        profile=profile, region="DE", rate_bps=1900, effective_from=PRICES_FROM, actor="bench"
    )
    customers = Customer.objects.bulk_create(
        [
            Customer(
                external_id=f"bench-{index:04d}",
                book=book,
                currency=usd,
                billing=Customer.Billing.CREDIT,
            )
            for index in range(customers_count)
        ]
    )
    for customer in customers:
        services.buyer_details_set(
            customer=customer, legal_name=f"Customer {customer.pk}", region="DE", actor="bench"
        )
    return book, customers


def _event(customer: str, provider: str, model: str, at: datetime, rng: random.Random) -> dict:
    return {
        "event_id": uuid.uuid4().hex,
        "source": "bench-gw",
        "occurred_at": at.isoformat(),
        "customer": customer,
        "model": model,
        "provider": provider,
        "tokens": {
            "input": 200 + int(rng.lognormvariate(6.5, 1.0)) % 50_000,
            "output": 50 + int(rng.lognormvariate(5.5, 1.0)) % 10_000,
            "cache_read": rng.choice((0, 0, 0, 512)),
            "cache_write": 0,
            "reasoning": 0,
        },
    }


def _raw(event: dict):
    from metering.pipeline import RawMessage

    return RawMessage(
        "usage.events", None, None, event["customer"].encode(), json.dumps(event).encode()
    )


def pick_models(probe_customer: str, rng: random.Random) -> list[tuple[str, str]]:
    """100 chat models of the catalogue that rate: one probe event each through the
    pipeline (booked for a probe customer, outside the invoiced set)."""
    from metering.models import UsageRecord
    from metering.pipeline import Pipeline
    from pricing.models import UpstreamPrice

    candidates = list(
        UpstreamPrice.objects.filter(
            mode="chat", input_per_token_atto__gt=0, output_per_token_atto__gt=0
        )
        .order_by("provider", "model")
        .values_list("provider", "model")
    )
    rng.shuffle(candidates)
    at = PERIOD[0] - timedelta(days=1)
    events = [_event(probe_customer, p, m, at, rng) for p, m in candidates[: MODELS_IN_MIX * 3]]
    Pipeline().process([_raw(event) for event in events])
    rated = set(
        UsageRecord.objects.filter(customer=probe_customer).values_list("provider", "model")
    )
    return [pair for pair in candidates[: MODELS_IN_MIX * 3] if pair in rated][:MODELS_IN_MIX]


def book_month(customers, models, per_customer: int, rng: random.Random) -> tuple[int, float]:
    from metering.pipeline import Pipeline

    pipeline = Pipeline()
    seconds = int((PERIOD[1] - PERIOD[0]).total_seconds())
    started, booked, batch = time.monotonic(), 0, []
    for customer in customers:
        mix = rng.sample(models, MODELS_PER_CUSTOMER)
        for _ in range(per_customer):
            provider, model = rng.choice(mix)
            at = PERIOD[0] + timedelta(seconds=rng.randrange(seconds))
            batch.append(_raw(_event(customer.external_id, provider, model, at, rng)))
            if len(batch) == BOOKING_BATCH:
                result = pipeline.process(batch)
                assert result.rejected == 0, result
                booked += result.processed
                batch = []
    if batch:
        booked += pipeline.process(batch).processed
    return booked, time.monotonic() - started


def floor_ledger_append(book, count: int = 1_000) -> float:
    """1,000 one-event appends (two postings each), one transaction each."""
    from ledger import services as ledger_services
    from ledger.models import Asset
    from ledger.posting_rules import CREDIT, DEBIT, PostingSpec

    usd = Asset.objects.get(code="USD")
    debit = ledger_services.account_ensure(
        book_id=book.id, asset_id=usd.id, code="floor:a", type="asset"
    )
    credit = ledger_services.account_ensure(
        book_id=book.id, asset_id=usd.id, code="floor:b", type="liability"
    )
    run = uuid.uuid4().hex
    started = time.monotonic()
    for index in range(count):
        ledger_services.adjustment_post(
            book=book,
            postings=[
                PostingSpec(debit.id, usd.id, DEBIT, 10_000_000),
                PostingSpec(credit.id, usd.id, CREDIT, 10_000_000),
            ],
            memo="floor",
            idempotency_key=f"bench:floor:{run}:{index}",
            actor="bench",
        )
    return count / (time.monotonic() - started)


def floor_aggregation(book, customers) -> float:
    from ledger.selectors import head_sequence_get
    from metering.selectors import usage_invoice_lines_list

    head = head_sequence_get()
    started = time.monotonic()
    for customer in customers:
        usage_invoice_lines_list(
            seller_book_id=book.id,
            customer=customer.external_id,
            until=PERIOD[1],
            through_sequence=head,
        )
    return len(customers) / (time.monotonic() - started)


def check(book, invoices) -> None:
    from invoicing import postings
    from ledger.models import Account
    from ledger.selectors import account_event_net_get, trial_balance_list

    receivables = dict(
        Account.objects.filter(book=book, code__startswith="receivable:").values_list("code", "id")
    )
    for invoice in invoices:
        code, _type = postings.receivable(invoice.buyer_key)
        moved = -account_event_net_get(
            account_id=receivables[code], sequence=invoice.ledger_event_sequence
        )
        assert moved == invoice.total, (invoice.number_text, moved, invoice.total)
        assert invoice.subtotal == sum(line.amount for line in invoice.lines.all())
    assert all(row.difference == 0 for row in trial_balance_list())


def _pdf_pages(pdf: bytes) -> int:
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".pdf") as file:
        file.write(pdf)
        file.flush()
        info = subprocess.run(
            ["pdfinfo", file.name], capture_output=True, text=True, check=True, timeout=60
        ).stdout
    return int(next(line for line in info.splitlines() if line.startswith("Pages:")).split()[1])


def pdf_figures(invoices, count: int) -> dict:
    """Real invoices to PDF from their rows, and the floor, in the same process."""
    from dataclasses import replace

    from invoicing.documents import render, samples
    from invoicing.selectors import invoice_document_get

    def timed(work):
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        return result, time.perf_counter() - wall, time.process_time() - cpu

    trivial = replace(samples.receipt(), number="FLOOR-000001")
    render.render_pdf(trivial)  # fonts found, cut and registered once per process
    floor, floor_s, floor_cpu = timed(
        lambda: [render.render_pdf(trivial) for _ in range(PDF_FLOOR_DOCUMENTS)]
    )
    chosen = invoices[:count]
    documents, build_s, _ = timed(lambda: [invoice_document_get(i) for i in chosen])
    pdfs, render_s, render_cpu = timed(lambda: [render.render_pdf(d) for d in documents])
    floor_pages = sum(_pdf_pages(pdf) for pdf in floor)
    pages = sum(_pdf_pages(pdf) for pdf in pdfs)
    return {
        "invoices": len(chosen),
        "pages": pages,
        "documents_per_s": len(chosen) / build_s,
        "pages_per_s": pages / (build_s + render_s),
        "pages_per_cpu_s": pages / render_cpu,
        "floor_pages_per_s": floor_pages / floor_s,
        "floor_pages_per_cpu_s": floor_pages / floor_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--events-per-customer", type=int, default=200)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--pdf-invoices", type=int, default=20)
    args = parser.parse_args()
    pdf_count = max(1, min(args.pdf_invoices, PDF_INVOICES_MAX))
    customers_count = max(10, min(args.customers, 100_000))
    per_customer = max(1, min(args.events_per_customer, 10_000))

    progress(f"creating database {BENCH_DB}")
    bench_django_setup(BENCH_DB)

    from invoicing.services import (
        invoice_draft,
        invoice_finalize,
        invoices_draft_period,
        invoices_finalize,
    )
    from wallets.models import Customer

    try:
        rng = random.Random(11)
        progress(f"migrating, importing the catalogue, {customers_count:,} customers on credit")
        book, customers = build_world(customers_count)
        probe = Customer.objects.create(
            external_id="bench-probe", book=book, currency=customers[0].currency
        )
        models = pick_models(probe.external_id, rng)
        assert len(models) == MODELS_IN_MIX, f"only {len(models)} models rate"
        progress(
            f"booking {customers_count * per_customer:,} usage events over {len(models)} models"
        )
        booked, booking_s = book_month(customers, models, per_customer, rng)
        progress(f"booked {booked:,} records in {booking_s:.1f}s ({booked / booking_s:,.0f}/s)")
        now = PERIOD[1] + timedelta(days=1)

        progress("floors: 1,000 bare ledger appends; the usage aggregation per customer")
        append_per_s = floor_ledger_append(book)
        aggregation_per_s = floor_aggregation(book, customers)

        singles = customers[:SINGLE_PATH_CUSTOMERS]
        progress(f"one by one: drafting, then finalizing {len(singles)} invoices")
        started = time.monotonic()
        drafts = [
            invoice_draft(
                seller_book=book,
                customer=customer,
                period_start=PERIOD[0],
                period_end=PERIOD[1],
                actor="bench",
                now=now,
            )
            for customer in singles
        ]
        single_draft_s = time.monotonic() - started
        started = time.monotonic()
        invoices = [invoice_finalize(invoice=draft, actor="bench", now=now) for draft in drafts]
        single_finalize_s = time.monotonic() - started

        rest = len(customers) - len(singles)
        progress(f"closing the period: drafting, then finalizing the other {rest:,} invoices")
        started = time.monotonic()
        drafted = invoices_draft_period(
            seller_book=book, period_start=PERIOD[0], period_end=PERIOD[1], actor="bench", now=now
        )
        draft_s = time.monotonic() - started
        assert (drafted.done, drafted.skipped, drafted.failed) == (rest, len(singles), {})
        started = time.monotonic()
        finalized = invoices_finalize(invoices=drafted.invoices, actor="bench", now=now)
        finalize_s = time.monotonic() - started
        assert (finalized.done, finalized.failed) == (rest, {})
        invoices += finalized.invoices
        progress("checking every total against its ledger movement")
        check(book, invoices)
        lines = sum(invoice.lines.count() for invoice in invoices[:100]) / min(100, len(invoices))
        progress(f"rendering {pdf_count} of the finalized invoices to PDF, and the PDF floor")
        pdf = pdf_figures(invoices, pdf_count)

        count = len(invoices)
        print()
        print(f"invoicing {count:,} customers, {booked:,} usage records, ~{lines:.0f} lines each")
        print(
            f"  closing the period ({rest:,} invoices: invoices_draft_period + invoices_finalize)"
        )
        rate = rest / (draft_s + finalize_s)
        print(
            f"    draft + finalize      {rate:10,.1f} invoices/s   (goal >= {GOAL_INVOICES_PER_S})"
        )
        print(f"      drafting            {rest / draft_s:10,.1f} invoices/s")
        print(f"      finalizing          {rest / finalize_s:10,.1f} invoices/s")
        n = len(singles)
        print(f"  one by one ({n} invoices: invoice_draft + invoice_finalize, as finance does)")
        rate = n / (single_draft_s + single_finalize_s)
        print(f"    draft + finalize      {rate:10,.1f} invoices/s")
        print(f"      drafting            {n / single_draft_s:10,.1f} invoices/s")
        print(f"      finalizing          {n / single_finalize_s:10,.1f} invoices/s")
        print(f"  floor: ledger append    {append_per_s:10,.1f} events/s (1 event, 1 transaction)")
        print(
            f"  floor: aggregation      {aggregation_per_s:10,.1f} customers/s (the draft's query)"
        )
        print(f"  pdf ({pdf['invoices']} real invoices, {pdf['pages']} pages, from their rows)")
        print(
            f"    rendering           {pdf['pages_per_s']:10,.1f} pages/s "
            f"({pdf['pages_per_cpu_s']:.1f} per CPU s; rows to Document "
            f"{pdf['documents_per_s']:,.0f} invoices/s)"
        )
        print(
            f"  floor: pdf            {pdf['floor_pages_per_s']:10,.1f} pages/s "
            f"({pdf['floor_pages_per_cpu_s']:.1f} per CPU s; a 1-line receipt, same path)"
        )
        numbers = sorted(invoice.number for invoice in invoices)
        print(f"  numbers 1..{numbers[-1]}: contiguous = {numbers == list(range(1, count + 1))}")
    finally:
        bench_django_teardown(BENCH_DB, keep=args.keep_db)


if __name__ == "__main__":
    main()
