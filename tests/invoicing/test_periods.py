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
from tests.invoicing.conftest import AFTER_JUNE, JUNE, book_usage

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
