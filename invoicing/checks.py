"""Invoicing's check in `ledger_verify` (registered in InvoicingConfig.ready)."""

from invoicing import postings
from invoicing.models import Invoice
from ledger import selectors as ledger_selectors
from ledger.services import AccountRef, accounts_ensure


def invoice_bookings_check(report) -> None:
    """Each issued invoice's finalization moved its buyer's receivable by its total (and
    revenue:fees by its fee lines), and a void moved it back by the same."""
    issued = Invoice.objects.exclude(state=Invoice.State.DRAFT).order_by("pk")
    for invoice in issued.iterator(chunk_size=1000):
        ref = AccountRef(
            invoice.seller_book_id, invoice.currency_id, *postings.receivable(invoice.buyer_key)
        )
        account_id = accounts_ensure(refs=[ref])[ref]
        booked = -ledger_selectors.account_event_net_get(
            account_id=account_id, sequence=invoice.ledger_event_sequence
        )
        if booked != invoice.total:
            report.problem(
                f"invoice {invoice.number_text}: its finalization (event "
                f"#{invoice.ledger_event_sequence}) debits receivable:{invoice.buyer_key} "
                f"{booked}, its total is {invoice.total}"
            )
        if invoice.fees:
            fee_ref = AccountRef(invoice.seller_book_id, invoice.currency_id, *postings.FEE_REVENUE)
            fee_account = accounts_ensure(refs=[fee_ref])[fee_ref]
            fees_booked = ledger_selectors.account_event_net_get(
                account_id=fee_account, sequence=invoice.ledger_event_sequence
            )
            if fees_booked != invoice.fees:
                report.problem(
                    f"invoice {invoice.number_text}: its finalization credits revenue:fees "
                    f"{fees_booked}, its fee lines are {invoice.fees}"
                )
        if invoice.state == Invoice.State.VOID:
            reversed_ = ledger_selectors.account_event_net_get(
                account_id=account_id, sequence=invoice.void_event_sequence or 0
            )
            if reversed_ != invoice.total:
                report.problem(
                    f"invoice {invoice.number_text}: its void (event "
                    f"#{invoice.void_event_sequence}) credits {reversed_}, not {invoice.total}"
                )
