"""Closing a period: every credit customer and reseller of a seller book drafted, drafts
finalized after the grace period, by the services, the Celery tasks and the command."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from invoicing import services, tasks
from invoicing.models import Invoice
from ledger.integrity import verify_ledger
from metering.models import UsageRecord
from tests.invoicing.conftest import AFTER_JUNE, JUNE, book_usage
from wallets.models import Customer

pytestmark = pytest.mark.django_db


def test_a_period_is_drafted_for_every_buyer_and_finalized_after_the_grace(world):
    book_usage("initech", days=range(1, 4))
    book_usage("umbrella", days=range(1, 4))  # prepaid: on the reseller's bill only
    book_usage("globex", days=range(1, 4))
    book_usage("acme", days=range(1, 4))  # prepaid direct customer: nothing to invoice
    distributor = services.invoices_draft_period(
        seller_book=world["distributor"], period_start=JUNE[0], period_end=JUNE[1], actor="t"
    )
    assert (distributor.done, distributor.skipped, distributor.failed) == (2, 0, {})
    assert {i.buyer_key for i in distributor.invoices} == {"globex", "reseller:apex"}
    reseller = services.invoices_draft_period(
        seller_book=world["reseller"], period_start=JUNE[0], period_end=JUNE[1], actor="t"
    )
    assert [i.buyer_key for i in reseller.invoices] == ["initech"]
    # A second run regenerates the same drafts.
    again = services.invoices_draft_period(
        seller_book=world["reseller"], period_start=JUNE[0], period_end=JUNE[1], actor="t"
    )
    assert again.done == 1 and Invoice.objects.count() == 3

    with override_settings(INVOICE_GRACE_DAYS=3):
        early = services.invoices_finalize_due(actor="t", now=timezone.now())
        assert early.done == 0
        due = services.invoices_finalize_due(actor="t", now=timezone.now() + timedelta(days=3))
    assert (due.done, due.failed) == (3, {})
    assert set(Invoice.objects.values_list("state", flat=True)) == {"finalized"}
    assert verify_ledger().ok


def test_a_buyer_that_fails_is_reported_and_the_others_go_on(world):
    book_usage("initech", days=range(1, 4))
    services.buyer_details_set(customer=world["initech"], legal_name="I", region="FR", actor="t")
    report = services.invoices_draft_period(
        seller_book=world["reseller"], period_start=JUNE[0], period_end=JUNE[1], actor="t"
    )
    assert report.failed == {"initech": "tax_region_unknown"} and report.done == 0


def test_the_command_closes_a_month_and_finalizes(world):
    book_usage("initech", days=range(1, 4))
    out = StringIO()
    call_command(
        "invoicing_close_period", "--book", "apex", "--period", "2026-06", "--finalize", stdout=out
    )
    text = out.getvalue()
    assert "1/1 buyers: 1 drafted" in text and "finalized 1 of 1" in text
    assert Invoice.objects.get().number_text == "APX-000001"


def test_the_monthly_task_drafts_the_month_just_closed(world):
    now = timezone.now()
    month = tasks.previous_month(now)
    year, number = int(month[:4]), int(month[5:])
    book_usage("globex", days=range(1, 3), month=number, year=year)
    result = tasks.close_previous_month()
    assert result["distributor"] == {"drafted": 1, "empty": 1, "failed": {}}  # apex: none
    assert result["apex"] == {"drafted": 0, "empty": 1, "failed": {}}  # initech: no usage
    start, end = services.month_bounds(month)
    invoice = Invoice.objects.get()
    assert (invoice.period_start, invoice.period_end) == (start, end)
    assert tasks.issue_receipts() == {"issued": 0, "failed": {}}


def test_month_bounds():
    start, end = services.month_bounds("2026-12")
    assert (start.month, end.year, end.month) == (12, 2027, 1)
    for bad in ("2026-13", "2026-6", "june"):
        with pytest.raises(services.InvalidInvoicingInput):
            services.month_bounds(bad)
    assert tasks.previous_month(AFTER_JUNE) == "2026-06"


def test_the_batch_path_ties_out_and_takes_late_usage_once(world):
    from tests.invoicing.conftest import AFTER_JULY, JULY, late_usage
    from tests.invoicing.test_invoices import ties_out

    reseller = world["reseller"]
    buyers = ["initech"]
    for index in range(5):
        customer = Customer.objects.create(
            external_id=f"batch-{index}", book=reseller, currency=world["usd"], billing="credit"
        )
        services.buyer_details_set(
            customer=customer, legal_name=f"B{index}", region="DE", actor="t"
        )
        buyers.append(customer.external_id)
    services.buyer_details_set(
        customer=Customer.objects.get(external_id="batch-4"),
        legal_name="B4",
        region="FR",
        actor="t",
    )
    for buyer in buyers:
        book_usage(buyer, days=range(1, 6))
    june = services.invoices_draft_period(
        seller_book=reseller, period_start=JUNE[0], period_end=JUNE[1], actor="t", now=AFTER_JUNE
    )
    assert june.done == 5 and june.failed == {"batch-4": "tax_region_unknown"}
    finalized = services.invoices_finalize(invoices=june.invoices, actor="t", now=AFTER_JUNE)
    assert (finalized.done, finalized.failed) == (5, {})
    assert sorted(i.number for i in finalized.invoices) == [1, 2, 3, 4, 5]
    for invoice in finalized.invoices:
        ties_out(invoice)
        records = UsageRecord.objects.filter(customer=invoice.buyer_key)
        assert invoice.exact_subtotal == sum(r.price_minor for r in records)
    for buyer in buyers[:4]:
        late_usage(buyer, "2026-06-30T22:00:00+00:00")
        book_usage(buyer, days=range(1, 3), month=7)
    july = services.invoices_draft_period(
        seller_book=reseller, period_start=JULY[0], period_end=JULY[1], actor="t", now=AFTER_JULY
    )
    assert july.done == 4 and july.skipped == 1  # batch-3 had nothing new
    finalized = services.invoices_finalize(invoices=july.invoices, actor="t", now=AFTER_JULY)
    assert sorted(i.number for i in finalized.invoices) == [6, 7, 8, 9]
    for buyer in buyers[:4]:
        records = UsageRecord.objects.filter(customer=buyer)
        invoiced = Invoice.objects.filter(buyer_key=buyer).values_list("exact_subtotal", flat=True)
        assert sum(invoiced) == sum(r.price_minor for r in records)
    assert balance_zero()
    report = verify_ledger()
    assert report.ok, report.problems


def balance_zero() -> bool:
    from ledger.selectors import trial_balance_list

    return all(row.difference == 0 for row in trial_balance_list())
