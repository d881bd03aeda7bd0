"""Fee lines (basis points of the usage and a fixed amount, from the billing profile):
rounded and taxed like the usage, booked to revenue:fees, tied out and voided exactly,
on the one-by-one and the batch paths. invoice.finalized and invoice.overdue reach the
seller's endpoints through webhooks, in the transaction of the change, once each."""

from copy import copy
from datetime import timedelta

import pytest
from django.db import DatabaseError, transaction

from invoicing import checks, services, tasks
from invoicing.currencies import divide_half_even, shares_in_proportion
from invoicing.errors import InvalidInvoicingInput, TaxRegionUnknown
from invoicing.models import Invoice, InvoiceLine
from ledger.integrity import verify_ledger
from ledger.models import Account
from ledger.selectors import account_event_net_get, trial_balance_list
from tests.invoicing.conftest import AFTER_JUNE, JUNE, book_usage
from tests.invoicing.test_invoices import UNIT, balance, inclusive_at
from webhooks.models import WebhookDelivery, WebhookEvent
from webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db


def _with_fee(world, name: str, *, bps: int, fixed: int):
    profile = world["profiles"][name]
    return services.billing_profile_set(
        book=profile.book,
        legal_name=profile.legal_name,
        currency=profile.currency,
        invoice_prefix=profile.invoice_prefix,
        credit_note_prefix=profile.credit_note_prefix,
        payment_terms_days=profile.payment_terms_days,
        fee_bps=bps,
        fee_fixed_minor=fixed,
        fee_description="Platform fee",
        actor="test",
    )


def _draft(world, customer: str):
    buyer = world[customer]
    return services.invoice_draft(
        seller_book=buyer.book,
        customer=buyer,
        period_start=JUNE[0],
        period_end=JUNE[1],
        actor="test",
        now=AFTER_JUNE,
    )


def _balanced():
    assert all(row.difference == 0 for row in trial_balance_list())
    report = verify_ledger()
    assert report.ok, report.problems


def test_fee_lines_are_rounded_taxed_and_booked_to_fee_revenue(world):
    _with_fee(world, "apex", bps=250, fixed=5 * 10**9)
    book_usage("initech")
    draft = _draft(world, "initech")
    lines = list(draft.lines.order_by("position"))
    usage = [line for line in lines if line.kind == InvoiceLine.Kind.USAGE]
    fees = [line for line in lines if line.kind == InvoiceLine.Kind.FEE]
    usage_exact = sum(line.exact_amount for line in usage)
    assert [line.description for line in fees] == ["Platform fee (2.5%)", "Platform fee"]
    assert fees[0].amount == divide_half_even(usage_exact * 250, 10_000, UNIT)
    assert fees[0].amount % UNIT == 0 and fees[1].amount == 5 * 10**9
    assert [line.position for line in fees] == [len(usage) + 1, len(usage) + 2]
    assert draft.fees == fees[0].amount + fees[1].amount
    # Taxed like the usage: 19% of the whole rounded subtotal, fees included.
    assert draft.subtotal == sum(line.amount for line in lines)
    assert draft.tax == divide_half_even(draft.subtotal * 1900, 10_000, UNIT)

    fee_revenue_before = balance(world["reseller"], "revenue:fees")
    invoice = services.invoice_finalize(invoice=draft, actor="test", now=AFTER_JUNE)
    assert balance(world["reseller"], "revenue:fees") - fee_revenue_before == invoice.fees
    book, key, seq = world["reseller"], invoice.buyer_key, invoice.ledger_event_sequence
    receivable = Account.objects.get(book=book, code=f"receivable:{key}")
    unbilled = Account.objects.get(book=book, code=f"unbilled:{key}")
    assert -account_event_net_get(account_id=receivable.id, sequence=seq) == invoice.total
    assert account_event_net_get(account_id=unbilled.id, sequence=seq) == usage_exact
    _balanced()

    services.invoice_void(invoice=invoice, actor="test")
    assert balance(world["reseller"], "revenue:fees") == fee_revenue_before
    _balanced()


def test_the_period_close_adds_the_same_fee_lines_in_batches(world):
    _with_fee(world, "distributor", bps=100, fixed=0)
    book_usage("globex")
    report = services.invoices_draft_period(
        seller_book=world["distributor"],
        period_start=JUNE[0],
        period_end=JUNE[1],
        actor="test",
        now=AFTER_JUNE,
    )
    globex = next(i for i in report.invoices if i.buyer_key == "globex")
    one_by_one = _draft(world, "globex")  # regenerated through the single path: same fee
    assert one_by_one.pk == globex.pk
    fee = one_by_one.lines.get(kind=InvoiceLine.Kind.FEE)
    assert fee.description == "Platform fee (1%)" and fee.amount == one_by_one.fees > 0
    finalized = services.invoices_finalize(
        invoices=list(Invoice.objects.filter(state="draft")), actor="test", now=AFTER_JUNE
    )
    assert finalized.failed == {} and finalized.done == len(report.invoices)
    globex = Invoice.objects.get(pk=globex.pk)
    assert globex.state == "finalized" and globex.fees == fee.amount
    assert balance(world["distributor"], "revenue:fees") >= globex.fees
    _balanced()


def test_a_fee_must_be_whole_minor_units(world):
    with pytest.raises(InvalidInvoicingInput) as error:
        _with_fee(world, "apex", bps=250, fixed=5 * 10**9 + 1)
    assert "fee_fixed_minor" in error.value.details
    with pytest.raises(InvalidInvoicingInput):
        _with_fee(world, "apex", bps=10_001, fixed=0)


def _endpoint(book, types=()):
    return webhook_endpoint_create(
        book=book, url="http://127.0.0.1:9/hook", event_types=list(types), actor="test"
    )


def test_finalizing_tells_the_sellers_endpoints_in_the_same_transaction(world):
    apex_hook = _endpoint(world["reseller"], ["invoice.finalized"])
    _endpoint(world["reseller"], ["customer.reminder"])  # not subscribed
    distributor_hook = _endpoint(world["distributor"])
    book_usage("initech", days=range(1, 5))
    invoice = services.invoice_finalize(
        invoice=_draft(world, "initech"), actor="test", now=AFTER_JUNE
    )
    (event,) = WebhookEvent.objects.filter(type="invoice.finalized")
    assert event.book_id == world["reseller"].pk  # the seller's own book, white label
    assert event.payload["number"] == "APX-000001" and event.payload["buyer"] == "initech"
    assert event.payload["total"] == {
        "amount": f"{invoice.total // 10**9}.{invoice.total % 10**9:09d}",
        "minor": invoice.total,
    }
    assert [d.endpoint_id for d in WebhookDelivery.objects.filter(event=event)] == [apex_hook.pk]
    assert not WebhookDelivery.objects.filter(endpoint=distributor_hook).exists()

    # A finalization that fails leaves no event (and no number, no booking).
    book_usage("globex", days=range(1, 3))
    draft = _draft(world, "globex")
    services.buyer_details_set(customer=world["globex"], legal_name="G", region="JP", actor="t")
    with pytest.raises(TaxRegionUnknown):
        services.invoice_finalize(invoice=draft, actor="test", now=AFTER_JUNE)
    assert WebhookEvent.objects.count() == 1


def test_the_batch_finalization_emits_one_event_per_invoice(world):
    _endpoint(world["distributor"])
    book_usage("globex", days=range(1, 5))
    book_usage("initech", days=range(1, 5))  # the reseller's wholesale bill
    services.invoices_draft_period(
        seller_book=world["distributor"],
        period_start=JUNE[0],
        period_end=JUNE[1],
        actor="test",
        now=AFTER_JUNE,
    )
    drafts = list(Invoice.objects.filter(state="draft", seller_book=world["distributor"]))
    report = services.invoices_finalize(invoices=drafts, actor="test", now=AFTER_JUNE)
    assert report.done == len(drafts) >= 2  # globex and the reseller apex
    events = WebhookEvent.objects.filter(type="invoice.finalized", book=world["distributor"])
    assert sorted(e.payload["number"] for e in events) == sorted(
        i.number_text for i in Invoice.objects.filter(pk__in=[d.pk for d in drafts])
    )
    assert WebhookDelivery.objects.filter(event__in=events).count() == len(drafts)


def test_an_invoice_past_due_is_marked_overdue_once_and_the_seller_told(world):
    _endpoint(world["reseller"])
    book_usage("initech", days=range(1, 5))
    book_usage("globex", days=range(1, 5))
    late = services.invoice_finalize(invoice=_draft(world, "initech"), actor="t", now=AFTER_JUNE)
    paid = services.invoice_finalize(invoice=_draft(world, "globex"), actor="t", now=AFTER_JUNE)
    services.invoice_payment_record(
        invoice=paid, method="bank_transfer", amount=paid.total, reference="B1", actor="t"
    )
    assert services.invoices_overdue_mark(actor="t", now=late.due_at).done == 0  # not yet
    after_due = late.due_at + timedelta(seconds=1)
    report = services.invoices_overdue_mark(actor="t", now=after_due)
    assert [i.pk for i in report.invoices] == [late.pk]  # paid: never overdue
    late.refresh_from_db()
    assert late.overdue_at == after_due and late.state == "finalized"
    assert late.state_changes.filter(note="overdue").count() == 1
    (event,) = WebhookEvent.objects.filter(type="invoice.overdue")
    assert event.payload["invoice"] == str(late.public_id) and event.book_id == late.seller_book_id
    assert WebhookDelivery.objects.filter(event=event).count() == 1
    assert services.invoices_overdue_mark(actor="t", now=after_due + timedelta(days=9)).done == 0
    assert tasks.mark_overdue() == {"marked": 0}
    assert WebhookEvent.objects.filter(type="invoice.overdue").count() == 1
    with pytest.raises(DatabaseError, match="overdue once"), transaction.atomic():
        Invoice.objects.filter(pk=late.pk).update(overdue_at=None)
    with pytest.raises(DatabaseError, match="never changes"), transaction.atomic():
        Invoice.objects.filter(pk=late.pk).update(fees=1)
    _balanced()


def test_the_finalized_event_reaches_a_real_receiver_signed_and_is_retried(world, settings):
    from tests.webhooks.conftest import Receiver, endpoint_for
    from webhooks.services import deliveries_send

    settings.WEBHOOK_MAX_ATTEMPTS = 3
    book_usage("initech", days=range(1, 4))
    with Receiver(500, 200) as receiver:  # the first attempt fails, the retry is delivered
        endpoint_for(world["reseller"], receiver, ["invoice.finalized"])
        invoice = services.invoice_finalize(
            invoice=_draft(world, "initech"), actor="test", now=AFTER_JUNE
        )
        (event,) = WebhookEvent.objects.filter(type="invoice.finalized")
        deliveries_send(now=event.created_at)
        deliveries_send(now=event.created_at + timedelta(minutes=2))
    assert [request["signature_valid"] for request in receiver.received] == [True, True]
    body = receiver.received[-1]["json"]
    assert body["type"] == "invoice.finalized" and body["id"] == f"evt_{event.public_id.hex}"
    assert body["data"]["number"] == invoice.number_text == "APX-000001"
    assert body["data"]["total"]["minor"] == invoice.total
    assert receiver.received[0]["body"] == receiver.received[1]["body"]  # the same bytes
    assert WebhookDelivery.objects.get(event=event).state == "delivered"


def test_credit_notes_give_the_fees_back_from_fee_revenue_in_proportion(world):
    _with_fee(world, "apex", bps=1000, fixed=2 * 10**9)
    book_usage("initech")
    invoice = services.invoice_finalize(
        invoice=_draft(world, "initech"), actor="test", now=AFTER_JUNE
    )
    reseller = world["reseller"]
    fees_booked = balance(reseller, "revenue:fees")
    usage_booked = balance(reseller, "revenue:usage")
    part = services.credit_note_issue(invoice=invoice, reason="other", amount=UNIT * 50, actor="t")
    revenue = invoice.subtotal  # tax exclusive here
    expected = divide_half_even(part.net * invoice.fees, revenue, UNIT)
    assert part.fees == expected > 0 and part.fees < part.net
    assert balance(reseller, "revenue:fees") == fees_booked - part.fees
    assert balance(reseller, "revenue:usage") == usage_booked - (part.net - part.fees)
    rest = services.credit_note_issue(invoice=invoice, reason="duplicate", actor="t")
    assert part.fees + rest.fees == invoice.fees  # the rest gives back what is left
    assert part.tax + rest.tax == invoice.tax
    assert balance(reseller, "revenue:fees") == fees_booked - invoice.fees
    _balanced()


def _inclusive_invoice(world, *, bps: int, fixed: int) -> tuple[Invoice, dict[str, int]]:
    """Apex's fee lines, initech's June under Austria's inclusive 20 %, finalized; and
    Apex's revenue and tax balances before it."""
    _with_fee(world, "apex", bps=bps, fixed=fixed)
    inclusive_at(world)
    book_usage("initech")
    before = {code: balance(world["reseller"], code) for code in CODES}
    invoice = services.invoice_finalize(
        invoice=_draft(world, "initech"), actor="test", now=AFTER_JUNE
    )
    return invoice, before


def replace_fields(invoice: Invoice, **fields) -> Invoice:
    """A copy of the row in memory with other field values (never saved)."""
    other = copy(invoice)
    for name, value in fields.items():
        setattr(other, name, value)
    return other


def _moved(book, code: str, sequence: int) -> int:
    account = Account.objects.get(book=book, code=code)
    return account_event_net_get(account_id=account.id, sequence=sequence)


CODES = ("revenue:usage", "revenue:fees", "tax:payable")


def test_an_inclusive_tax_comes_out_of_usage_and_fee_revenue_in_proportion(world):
    invoice, before = _inclusive_invoice(world, bps=2000, fixed=10**8)
    apex = world["reseller"]
    usage = invoice.subtotal - invoice.fees
    assert invoice.tax_inclusive and invoice.tax > 0 and 0 < invoice.fees < usage
    # The fee lines' share, rounded once to the cent; the usage lines (the larger) the rest.
    assert invoice.fees_tax == divide_half_even(invoice.tax * invoice.fees, invoice.subtotal, UNIT)
    assert invoice.fees_tax % UNIT == 0 and 0 < invoice.fees_tax < invoice.tax - invoice.fees_tax
    usage_tax = invoice.tax - invoice.fees_tax
    seq = invoice.ledger_event_sequence
    assert _moved(apex, "revenue:fees", seq) == invoice.fees - invoice.fees_tax
    assert _moved(apex, "revenue:usage", seq) == -usage_tax
    assert _moved(apex, "tax:payable", seq) == invoice.tax
    # The same rate on each revenue, to the rounding of one cent.
    assert abs(invoice.fees_tax * usage - usage_tax * invoice.fees) <= UNIT * invoice.subtotal
    # What ledger_verify holds the booking to, from the invoice's own fields; the old rule
    # (all the tax out of revenue:usage) would not pass it.
    booked = {code: _moved(apex, code[0], seq) for code in checks.finalization_moves(invoice)}
    assert booked == checks.finalization_moves(invoice)
    assert booked != checks.finalization_moves(replace_fields(invoice, fees_tax=0))
    _balanced()
    # Finalized, the split never changes (the invoice guard of migration 0007).
    with pytest.raises(DatabaseError, match="never changes"), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(fees_tax=0)

    # Credit notes give each revenue back its share net of its carve-out: part, then the
    # rest; after both, each revenue and the tax are exactly where they were before the
    # usage was invoiced, less the usage lines (which metering had credited).
    part = services.credit_note_issue(
        invoice=invoice, reason="other", actor="finance", amount=invoice.total // 3 // UNIT * UNIT
    )
    fee_revenue = invoice.fees - invoice.fees_tax
    assert part.fees == divide_half_even(
        part.net * fee_revenue, invoice.subtotal - invoice.tax, UNIT
    )
    rest = services.credit_note_issue(invoice=invoice, reason="other", actor="finance")
    assert part.fees + rest.fees == fee_revenue and part.tax + rest.tax == invoice.tax
    assert balance(apex, "revenue:fees") == before["revenue:fees"]
    assert balance(apex, "tax:payable") == before["tax:payable"]
    assert balance(apex, "revenue:usage") == before["revenue:usage"] - usage
    _balanced()


def test_a_void_reverses_the_inclusive_split_exactly(world):
    invoice, before = _inclusive_invoice(world, bps=250, fixed=5 * 10**9)
    apex = world["reseller"]
    # Here the fee lines are the larger: the usage lines' share is the one rounded.
    usage = invoice.subtotal - invoice.fees
    assert invoice.fees > usage > 0
    usage_tax = divide_half_even(invoice.tax * usage, invoice.subtotal, UNIT)
    assert invoice.fees_tax == invoice.tax - usage_tax > 0
    voided = services.invoice_void(invoice=invoice, actor="test")
    for code in CODES:
        assert _moved(apex, code, voided.void_event_sequence) == -_moved(
            apex, code, invoice.ledger_event_sequence
        )
    assert {code: balance(apex, code) for code in CODES} == before
    _balanced()


def test_the_batch_finalization_splits_an_inclusive_tax_the_same_way(world):
    one, _before = _inclusive_invoice(world, bps=250, fixed=5 * 10**9)
    fees_tax = one.fees_tax
    services.invoice_void(invoice=one, actor="t")
    report = services.invoices_draft_period(
        seller_book=world["reseller"],
        period_start=JUNE[0],
        period_end=JUNE[1],
        actor="t",
        now=AFTER_JUNE,
    )
    finalized = services.invoices_finalize(invoices=report.invoices, actor="t", now=AFTER_JUNE)
    assert finalized.failed == {}
    batch = Invoice.objects.get(buyer_key="initech", state="finalized")
    assert (batch.fees, batch.tax, batch.fees_tax) == (one.fees, one.tax, fees_tax)
    _balanced()


def test_shares_in_proportion_sum_to_the_amount_and_round_once():
    assert shares_in_proportion(100 * UNIT, [3, 1], UNIT) == [75 * UNIT, 25 * UNIT]
    # 1/3 of 1.00 rounds to 0.33; the larger weight takes the rest, 0.67.
    assert shares_in_proportion(100 * UNIT, [2, 1], UNIT) == [67 * UNIT, 33 * UNIT]
    # Equal weights: the first is the largest; half a cent rounds half-even (to 0.02).
    assert shares_in_proportion(5 * UNIT, [1, 1], UNIT) == [3 * UNIT, 2 * UNIT]
    assert shares_in_proportion(0, [5, 1], UNIT) == [0, 0]
