"""After finalization: void, credit notes (partial, full, over), payments (partial,
full, over: wallet credit), and receipts of paid top-ups. Each books one event, ties out
and leaves the trial balance at zero."""

from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from invoicing import services
from invoicing.errors import (
    CreditNoteExceedsInvoice,
    InvalidInvoicingInput,
    InvoiceNotPayable,
    InvoiceNotVoidable,
    PaymentDuplicate,
    PaymentExceedsWallet,
    TopUpNotPaid,
)
from invoicing.models import CreditNote, Invoice, InvoicePayment, Receipt
from invoicing.selectors import invoice_amounts_get
from ledger.integrity import verify_ledger
from ledger.models import Event
from ledger.selectors import trial_balance_list
from metering.models import UsageRecord
from payments.topups.services import topup_book, topup_new
from tests.invoicing.conftest import AFTER_JULY, AFTER_JUNE, JULY, JUNE, book_usage
from tests.invoicing.test_invoices import UNIT, balance

pytestmark = pytest.mark.django_db


def _invoice(world, customer="initech", period=JUNE, now=AFTER_JUNE) -> Invoice:
    buyer = world[customer]
    invoice = services.invoice_draft(
        seller_book=buyer.book,
        customer=buyer,
        period_start=period[0],
        period_end=period[1],
        actor="test",
        now=now,
    )
    return services.invoice_finalize(invoice=invoice, actor="test", now=now)


@pytest.fixture
def invoice(world) -> Invoice:
    book_usage("initech", days=range(1, 11))
    return _invoice(world)


def balanced() -> None:
    assert all(row.difference == 0 for row in trial_balance_list())
    report = verify_ledger()
    assert report.ok, report.problems


def test_void_reverses_exactly_keeps_the_number_and_frees_the_usage(world, invoice):
    reseller = world["reseller"]
    before = Event.objects.count()
    voided = services.invoice_void(invoice=invoice, actor="test", note="wrong period")
    assert Event.objects.count() == before + 1
    assert voided.state == "void" and voided.number_text == "APX-000001"
    assert balance(reseller, "receivable:initech") == 0
    assert balance(reseller, "tax:payable") == 0 and balance(reseller, "rounding") == 0
    unbilled = sum(r.price_minor for r in UsageRecord.objects.filter(customer="initech"))
    assert balance(reseller, "unbilled:initech") == unbilled
    again = _invoice(world)  # the usage is invoiceable again, under the next number
    assert again.number_text == "APX-000002" and again.exact_subtotal == unbilled
    with pytest.raises(InvoiceNotVoidable):
        services.invoice_void(invoice=voided, actor="test")
    balanced()


def test_only_the_latest_unpaid_invoice_can_be_voided(world, invoice):
    book_usage("initech", days=range(1, 3), month=7)
    july = _invoice(world, period=JULY, now=AFTER_JULY)
    with pytest.raises(InvoiceNotVoidable):
        services.invoice_void(invoice=invoice, actor="test")
    services.invoice_payment_record(invoice=july, method="bank_transfer", amount=UNIT, actor="t")
    with pytest.raises(InvoiceNotVoidable):
        services.invoice_void(invoice=july, actor="test")


def test_credit_notes_partial_then_full_then_over(world, invoice):
    reseller = world["reseller"]
    part = services.credit_note_issue(
        invoice=invoice, reason="product_unsatisfactory", amount=6 * UNIT, actor="finance"
    )
    assert invoice.total > 6 * UNIT
    assert part.number_text == "APX-CN-000001" and part.total == 6 * UNIT
    # The tax goes back in the invoice's proportion, rounded half-even to the cent.
    share = (Decimal(6 * invoice.tax) / invoice.total).quantize(1, ROUND_HALF_EVEN)
    assert part.tax == int(share) * UNIT
    assert part.net + part.tax == part.total and 0 < part.tax < part.total
    assert (part.to_receivable, part.to_wallet) == (6 * UNIT, 0)
    line = invoice.lines.order_by("position").first()
    by_line = services.credit_note_issue(
        invoice=invoice, reason="order_change", lines=[(line, UNIT)], actor="finance"
    )
    assert by_line.net == UNIT and by_line.tax == 0  # 19% of a cent rounds to 0 cents
    rest = services.credit_note_issue(invoice=invoice, reason="duplicate", actor="finance")
    assert part.total + by_line.total + rest.total == invoice.total
    assert part.tax + by_line.tax + rest.tax == invoice.tax
    assert [n.number for n in CreditNote.objects.order_by("number")] == [1, 2, 3]
    assert balance(reseller, "receivable:initech") == 0
    assert balance(reseller, "tax:payable") == 0
    invoice.refresh_from_db()
    assert invoice.state == "paid"  # nothing due any more
    with pytest.raises(CreditNoteExceedsInvoice):
        services.credit_note_issue(invoice=invoice, reason="other", amount=UNIT, actor="finance")
    balanced()


def test_a_credit_note_larger_than_the_invoice_books_nothing(world, invoice):
    before = Event.objects.count()
    with pytest.raises(CreditNoteExceedsInvoice) as caught:
        services.credit_note_issue(
            invoice=invoice, reason="other", amount=invoice.total + UNIT, actor="finance"
        )
    assert caught.value.code == "credit_note_exceeds_invoice"
    line = invoice.lines.first()
    with pytest.raises(CreditNoteExceedsInvoice):
        services.credit_note_issue(
            invoice=invoice, reason="other", lines=[(line, line.amount + UNIT)], actor="f"
        )
    with pytest.raises(InvalidInvoicingInput):
        services.credit_note_issue(invoice=invoice, reason="other", amount=UNIT + 1, actor="f")
    with pytest.raises(InvalidInvoicingInput):
        services.credit_note_issue(invoice=invoice, reason="changed_mind", actor="f")
    assert Event.objects.count() == before and not CreditNote.objects.exists()


def test_a_credit_note_after_payment_becomes_wallet_credit(world, invoice):
    services.invoice_payment_record(
        invoice=invoice, method="stripe", amount=invoice.total, reference="pi_1", actor="t"
    )
    note = services.credit_note_issue(invoice=invoice, reason="fraudulent", actor="finance")
    assert (note.to_receivable, note.to_wallet) == (0, invoice.total)
    assert balance(world["reseller"], "wallet:initech") == invoice.total
    balanced()


def test_payments_partial_full_and_over(world, invoice):
    reseller = world["reseller"]
    assert invoice.total > 5 * UNIT
    first = services.invoice_payment_record(
        invoice=invoice, method="bank_transfer", amount=5 * UNIT, reference="wire-1", actor="f"
    )
    assert (first.applied, first.to_wallet) == (5 * UNIT, 0)
    invoice.refresh_from_db()
    assert invoice.state == "finalized"
    assert invoice_amounts_get(invoice).due(invoice) == invoice.total - 5 * UNIT
    with pytest.raises(PaymentDuplicate):
        services.invoice_payment_record(
            invoice=invoice, method="bank_transfer", amount=UNIT, reference="wire-1", actor="f"
        )
    rest = invoice.total - 5 * UNIT
    over = services.invoice_payment_record(
        invoice=invoice, method="stripe", amount=rest + 7 * UNIT, reference="pi_2", actor="f"
    )
    assert (over.applied, over.to_wallet) == (rest, 7 * UNIT)
    invoice.refresh_from_db()
    assert invoice.state == "paid"
    assert balance(reseller, "receivable:initech") == 0
    assert balance(reseller, "wallet:initech") == 7 * UNIT
    assert balance(reseller, "cash:bank") == 5 * UNIT
    assert balance(reseller, "cash:stripe") == rest + 7 * UNIT
    with pytest.raises(InvoiceNotPayable):
        services.invoice_payment_record(invoice=invoice, method="stripe", amount=UNIT, actor="f")
    balanced()


def test_a_wallet_pays_what_it_holds_and_no_more(world, invoice):
    # Wallet credit from an overpayment of an earlier invoice pays the next one.
    book_usage("initech", days=range(1, 3), month=7)
    july = _invoice(world, period=JULY, now=AFTER_JULY)
    services.invoice_payment_record(
        invoice=invoice, method="bank_transfer", amount=invoice.total + 3 * UNIT, actor="f"
    )
    before = Event.objects.count()
    with pytest.raises(PaymentExceedsWallet):
        services.invoice_payment_record(invoice=july, method="wallet", amount=4 * UNIT, actor="f")
    with pytest.raises(InvalidInvoicingInput):
        services.invoice_payment_record(
            invoice=july, method="wallet", amount=july.total + UNIT, actor="f"
        )
    assert Event.objects.count() == before
    paid = services.invoice_payment_record(
        invoice=july, method="wallet", amount=3 * UNIT, actor="f"
    )
    assert paid.applied == 3 * UNIT
    assert balance(world["reseller"], "wallet:initech") == 0
    assert InvoicePayment.objects.count() == 2
    balanced()


def test_a_paid_topup_gets_one_receipt_in_its_own_series(world):
    acme = world["acme"]
    topup = topup_new(customer=acme, amount_stripe=2000, source="checkout", actor="test")
    with pytest.raises(TopUpNotPaid):
        services.receipt_issue(topup=topup, actor="test")
    topup_book(topup_id=topup.pk, actor="test", stripe_payment_intent_id="pi_receipt")
    # Issued in the booking's transaction (payments.topups.paid_hooks); asking again
    # returns the same receipt.
    receipt = Receipt.objects.get(topup=topup)
    assert receipt.number_text == "RC-000001" and receipt.seller_book == world["distributor"]
    assert receipt.amount == 20 * 10**9 and receipt.total == receipt.amount + receipt.fee
    assert services.receipt_issue(topup=topup, actor="test") == receipt
    second = topup_new(customer=acme, amount_stripe=1000, source="checkout", actor="test")
    topup_book(topup_id=second.pk, actor="test", stripe_payment_intent_id="pi_receipt_2")
    report = services.receipts_issue_pending(actor="test")
    assert (report.done, report.failed) == (0, {})  # nothing left for the scheduled run
    assert list(Receipt.objects.order_by("number").values_list("number", flat=True)) == [1, 2]
