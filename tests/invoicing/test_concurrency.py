"""64 finalizations at once, each thread on its own connection: the numbers of the
seller's series are contiguous and unique, and one that rolls back after taking its
number (and booking) leaves no gap."""

import threading

import pytest

from invoicing import services
from invoicing.models import DocumentCounter, Invoice
from ledger.integrity import verify_ledger
from ledger.models import Event
from ledger.selectors import trial_balance_list
from metering.pipeline import Pipeline
from tests.invoicing.conftest import AFTER_JUNE, JUNE
from tests.metering.conftest import raw, usage
from tests.threads import in_thread
from wallets.models import Customer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

THREADS = 64


class Crash(Exception):
    """A failure after the number was taken and the event appended, before commit."""


def test_64_concurrent_finalizations_number_contiguously_and_a_rollback_leaves_no_gap(
    world, monkeypatch
):
    reseller, usd = world["reseller"], world["usd"]
    buyers = []
    for index in range(THREADS):
        customer = Customer.objects.create(
            external_id=f"buyer-{index:02d}", book=reseller, currency=usd, billing="credit"
        )
        services.buyer_details_set(
            customer=customer, legal_name=f"Buyer {index}", region="DE", actor="t"
        )
        buyers.append(customer)
    events = [
        raw(
            usage(
                customer.external_id,
                input=1000 + index,
                output=300,
                occurred_at=f"2026-06-{1 + index % 28:02d}T10:00:00+00:00",
            )
        )
        for index, customer in enumerate(buyers)
        for _ in range(3)
    ]
    assert Pipeline().process(events).rejected == 0
    drafts = [
        services.invoice_draft(
            seller_book=reseller,
            customer=customer,
            period_start=JUNE[0],
            period_end=JUNE[1],
            actor="test",
            now=AFTER_JUNE,
        )
        for customer in buyers
    ]
    doomed = drafts[THREADS // 2]
    real_event_record = services.event_record

    def event_record_then_crash(**kwargs):
        appended = real_event_record(**kwargs)
        if kwargs["payload"]["invoice"] == str(doomed.public_id):
            raise Crash("after booking, before commit")
        return appended

    monkeypatch.setattr(services, "event_record", event_record_then_crash)
    events_before = Event.objects.count()
    failures: list = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def finalize(invoice):
        return lambda: services.invoice_finalize(invoice=invoice, actor="test", now=AFTER_JUNE)

    threads = [in_thread(finalize(invoice), failures, lock, start) for invoice in drafts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert len(failures) == 1 and isinstance(failures[0], Crash), failures

    finalized = Invoice.objects.filter(state="finalized", seller_book=reseller)
    numbers = sorted(finalized.values_list("number", flat=True))
    assert numbers == list(range(1, THREADS))  # 63 invoices, 1..63, no gap, none twice
    assert Invoice.objects.get(pk=doomed.pk).state == "draft"
    assert Event.objects.count() == events_before + THREADS - 1  # the crash booked nothing
    counter = DocumentCounter.objects.get(seller_book=reseller, series="invoice")
    assert counter.next_number == THREADS

    monkeypatch.setattr(services, "event_record", real_event_record)
    last = services.invoice_finalize(invoice=doomed, actor="test", now=AFTER_JUNE)
    assert last.number == THREADS and last.number_text == f"APX-{THREADS:06d}"
    assert all(row.difference == 0 for row in trial_balance_list())
    report = verify_ledger()
    assert report.ok, report.problems
