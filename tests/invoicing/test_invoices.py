"""Invoices from real usage: totals tie out to their lines and to the ledger, in each
seller's book; coverage is nested, so late usage is invoiced once, on the next one."""

from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from invoicing import services
from invoicing.models import Invoice, InvoiceLine, InvoiceStateChange
from invoicing.selectors import invoice_document_get
from ledger.integrity import verify_ledger
from ledger.models import Account
from ledger.selectors import account_balance_get, account_event_net_get, trial_balance_list
from metering.models import UsageRecord
from tests.invoicing.conftest import AFTER_JULY, AFTER_JUNE, JULY, JUNE, book_usage, late_usage

pytestmark = pytest.mark.django_db

UNIT = 10**7  # one cent in nano-dollars


def balance(book, code) -> int:
    account = Account.objects.filter(book=book, code=code).first()
    return account_balance_get(account_id=account.id).balance if account else 0


def draft(world, *, customer=None, reseller=False, period=JUNE, now=AFTER_JUNE):
    seller = world["distributor"] if (reseller or customer is world["globex"]) else None
    seller = seller or customer.book
    return services.invoice_draft(
        seller_book=seller,
        customer=customer,
        reseller_book=world["reseller"] if reseller else None,
        period_start=period[0],
        period_end=period[1],
        actor="test",
        now=now,
    )


def finalize(invoice, now=AFTER_JUNE):
    return services.invoice_finalize(invoice=invoice, actor="test", now=now)


def ties_out(invoice: Invoice) -> None:
    lines = list(invoice.lines.all())
    assert invoice.subtotal == sum(line.amount for line in lines)
    assert invoice.exact_subtotal == sum(line.exact_amount for line in lines)
    assert all(line.amount % UNIT == 0 for line in lines)
    assert all(abs(line.amount - line.exact_amount) <= UNIT // 2 for line in lines)
    receivable = Account.objects.get(
        book=invoice.seller_book, code=f"receivable:{invoice.buyer_key}"
    )
    movement = account_event_net_get(
        account_id=receivable.id, sequence=invoice.ledger_event_sequence
    )
    assert -movement == invoice.total  # debited by exactly the total
    unbilled = Account.objects.get(book=invoice.seller_book, code=f"unbilled:{invoice.buyer_key}")
    moved = account_event_net_get(account_id=unbilled.id, sequence=invoice.ledger_event_sequence)
    assert moved == invoice.exact_subtotal  # the exact usage left unbilled


def test_a_resellers_customer_month_ties_out_in_both_books(world):
    book_usage("initech")
    book_usage("umbrella")  # prepaid: no usage invoice, but on the reseller's wholesale bill
    records = UsageRecord.objects.filter(customer="initech")
    assert records.count() == 90
    # Real sub-cent prices: no record is a whole number of cents.
    assert sum(1 for r in records if r.price_minor % UNIT) == 90

    retail = finalize(draft(world, customer=world["initech"]))
    assert retail.seller_book == world["reseller"] and retail.number_text == "APX-000001"
    assert retail.exact_subtotal == sum(r.price_minor for r in records)
    assert retail.subtotal != retail.exact_subtotal  # rounded, remainder on `rounding`
    # 19% of the rounded subtotal, rounded once half-even to the cent (Decimal's own).
    cents = (Decimal(retail.subtotal) * Decimal("0.19") / UNIT).quantize(1, ROUND_HALF_EVEN)
    assert retail.tax == int(cents) * UNIT
    assert retail.total == retail.subtotal + retail.tax and retail.tax > 0
    ties_out(retail)
    assert len(retail.lines.all()) == 4  # one per model at one price version
    line = retail.lines.get(model="gpt-4o")
    assert line.requests == records.filter(model="gpt-4o").count()
    assert line.input_tokens == sum(r.input_tokens for r in records.filter(model="gpt-4o"))
    # gpt-4o input $2.50/M, the reseller's 30% markup: $3.25/M.
    assert line.input_price_atto * 10**6 == 3_250_000_000_000_000_000
    reseller_book = world["reseller"]
    assert balance(reseller_book, "unbilled:initech") == 0
    assert balance(reseller_book, "receivable:initech") == retail.total
    assert balance(reseller_book, "tax:payable") == retail.tax
    assert balance(reseller_book, "rounding") == -(retail.subtotal - retail.exact_subtotal)

    wholesale = finalize(draft(world, reseller=True))
    assert wholesale.seller_book == world["distributor"] and wholesale.buyer_key == "reseller:apex"
    every = UsageRecord.objects.filter(seller_book=reseller_book)
    assert wholesale.exact_subtotal == sum(r.wholesale_minor for r in every)
    assert wholesale.tax == 0 and wholesale.tax_kind == "reverse_charge"
    assert "Reverse charge" in wholesale.legal_note
    ties_out(wholesale)
    distributor = world["distributor"]
    assert balance(distributor, "unbilled:reseller:apex") == 0
    assert balance(distributor, "receivable:reseller:apex") == wholesale.total
    assert all(row.difference == 0 for row in trial_balance_list())
    report = verify_ledger()
    assert report.ok, report.problems


def test_a_direct_credit_customer_is_invoiced_with_an_exempt_note(world):
    book_usage("globex")
    invoice = finalize(draft(world, customer=world["globex"]))
    assert invoice.number_text == "TD-000001" and invoice.tax == 0
    assert invoice.legal_note == "Exempt from tax."
    assert invoice.due_at == AFTER_JUNE + timedelta(days=30)
    ties_out(invoice)
    states = list(InvoiceStateChange.objects.filter(invoice=invoice).values_list("to_state"))
    assert states == [("draft",), ("finalized",)]
    assert verify_ledger().ok


def test_late_usage_lands_on_the_next_invoice_exactly_once(world):
    book_usage("globex")
    june = draft(world, customer=world["globex"])
    # Usage of June that arrives after the draft was made: not on this draft...
    late_sequence = late_usage("globex", "2026-06-30T23:00:00+00:00")
    june = finalize(june)
    assert june.usage_watermark < late_sequence
    late = UsageRecord.objects.get(ledger_event_id=late_sequence)
    # ...a July usage too, and the next invoice takes both, and nothing of June twice.
    book_usage("globex", days=range(1, 4), month=7)
    july = finalize(
        draft(world, customer=world["globex"], period=JULY, now=AFTER_JULY), now=AFTER_JULY
    )
    every = UsageRecord.objects.filter(customer="globex")
    assert june.exact_subtotal + july.exact_subtotal == sum(r.price_minor for r in every)
    july_records = every.filter(occurred_at__gte=JULY[0])
    assert july.exact_subtotal == late.price_minor + sum(r.price_minor for r in july_records)
    assert balance(world["distributor"], "unbilled:globex") == 0
    ties_out(july)
    assert verify_ledger().ok


def test_a_draft_is_regenerated_and_a_stale_one_is_refreshed_at_finalization(world):
    book_usage("globex", days=range(1, 10))
    first = draft(world, customer=world["globex"])
    book_usage("globex", days=range(10, 20))
    again = draft(world, customer=world["globex"])
    assert again.pk == first.pk and again.exact_subtotal > first.exact_subtotal
    assert Invoice.objects.count() == 1
    # Another draft of the same buyer (a different period) finalized first: the June
    # draft is regenerated when finalized, so nothing is invoiced twice.
    early = services.invoice_draft(
        seller_book=world["distributor"],
        customer=world["globex"],
        period_start=JUNE[0],
        period_end=JUNE[0] + timedelta(days=15),
        actor="test",
        now=AFTER_JUNE,
    )
    early = finalize(early)
    june = finalize(Invoice.objects.get(pk=first.pk))
    every = UsageRecord.objects.filter(customer="globex")
    assert early.exact_subtotal + june.exact_subtotal == sum(r.price_minor for r in every)
    assert june.after_invoice_id == early.pk
    assert verify_ledger().ok


def test_the_document_names_the_seller_and_buyer_with_decimal_amounts(world):
    book_usage("initech", days=range(1, 5))
    invoice = finalize(draft(world, customer=world["initech"]))
    document = invoice_document_get(invoice)
    assert document.seller.name == "Apex AI GmbH"  # white label
    assert "Distributor" not in str(document) and "TokenDistributor" not in str(document)
    assert document.buyer.name == "Initech GmbH"
    assert document.number == "APX-000001"
    assert sum(line.amount for line in document.lines) == document.subtotal
    assert document.subtotal + document.tax == document.total
    assert document.total.as_tuple().exponent == -2
    assert document.amount_due == document.total and document.tax_rate_bp == 1900
    prices = document.lines[0].unit_prices_per_million
    assert prices and all(price > 0 for price in prices.values())
    assert document.total == Decimal(invoice.total) / 10**9


def test_a_finalized_invoice_and_its_lines_never_change(world):
    book_usage("globex", days=range(1, 3))
    invoice = finalize(draft(world, customer=world["globex"]))
    with pytest.raises(DatabaseError, match="never changes"), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(total=1)
    with pytest.raises(DatabaseError, match="line of a finalized"), transaction.atomic():
        InvoiceLine.objects.filter(invoice=invoice).update(amount=0)
    with pytest.raises(DatabaseError, match="line of a finalized"), transaction.atomic():
        InvoiceLine.objects.filter(invoice=invoice).delete()
    with pytest.raises(DatabaseError, match="cannot be deleted"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM invoicing_invoice WHERE id = %s", [invoice.pk])
    with pytest.raises(DatabaseError, match="cannot go from"), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(state="draft")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        InvoiceStateChange.objects.filter(invoice=invoice).delete()
    invoice.refresh_from_db()
    ties_out(invoice)


def inclusive_at(world) -> None:
    """Initech (Apex's customer) in Austria: 20 %, prices include tax."""
    from tests.invoicing.conftest import PRICES_FROM

    services.tax_rate_add(
        profile=world["profiles"]["apex"],
        region="AT",
        rate_bps=2000,
        inclusive=True,
        effective_from=PRICES_FROM,
        actor="t",
    )
    services.buyer_details_set(
        customer=world["initech"], legal_name="Initech GmbH", region="AT", actor="t"
    )


def test_an_inclusive_tax_is_carved_out_of_the_rounded_subtotal(world):
    inclusive_at(world)
    book_usage("initech")
    revenue_before = balance(world["reseller"], "revenue:usage")
    invoice = finalize(draft(world, customer=world["initech"]))
    assert invoice.tax_inclusive and invoice.total == invoice.subtotal
    net = (Decimal(invoice.subtotal) / Decimal("1.2") / UNIT).quantize(1, ROUND_HALF_EVEN)
    assert invoice.tax == invoice.subtotal - int(net) * UNIT and invoice.tax > 0
    ties_out(invoice)
    reseller = world["reseller"]
    assert balance(reseller, "tax:payable") == invoice.tax
    assert balance(reseller, "revenue:usage") == revenue_before - invoice.tax
    document = invoice_document_get(invoice)
    assert "Prices include tax." in document.notes
    note = services.credit_note_issue(invoice=invoice, reason="other", actor="finance")
    assert (note.total, note.tax) == (invoice.total, invoice.tax)
    assert balance(reseller, "tax:payable") == 0
    assert verify_ledger().ok
