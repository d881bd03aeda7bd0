"""Invoicing's check in `ledger_verify` (registered in InvoicingConfig.ready)."""

from invoicing import postings
from invoicing.models import Invoice
from ledger import selectors as ledger_selectors
from ledger.services import AccountRef, accounts_ensure


def _account_id(invoice: Invoice, code: tuple[str, str]) -> int:
    ref = AccountRef(invoice.seller_book_id, invoice.currency_id, *code)
    return accounts_ensure(refs=[ref])[ref]


def finalization_moves(invoice: Invoice) -> dict[tuple[str, str], int]:
    """What an invoice's finalization must have moved (credits minus debits) on each
    account its own fields determine: its receivable by its total, revenue:fees by its fee
    lines less their share of an inclusive tax (fees_tax), revenue:usage by the rest of
    that tax. A void moves each back by as much."""
    moves = {postings.receivable(invoice.buyer_key): -invoice.total}
    if invoice.fees:
        moves[postings.FEE_REVENUE] = invoice.fees - invoice.fees_tax
    if invoice.tax_inclusive and invoice.tax:
        moves[postings.REVENUE] = -(invoice.tax - invoice.fees_tax)
    return moves


def invoice_bookings_check(report) -> None:
    """Each issued invoice's finalization moved its receivable and revenues as its fields
    say (finalization_moves), and a void moved each back by the same."""
    issued = Invoice.objects.exclude(state=Invoice.State.DRAFT).order_by("pk")
    for invoice in issued.iterator(chunk_size=1000):
        for code, expected in finalization_moves(invoice).items():
            account_id = _account_id(invoice, code)
            booked = ledger_selectors.account_event_net_get(
                account_id=account_id, sequence=invoice.ledger_event_sequence
            )
            if booked != expected:
                report.problem(
                    f"invoice {invoice.number_text}: its finalization (event "
                    f"#{invoice.ledger_event_sequence}) moved {code[0]} by {booked} "
                    f"(credits less debits), its amounts say {expected}"
                )
            if invoice.state != Invoice.State.VOID:
                continue
            reversed_ = ledger_selectors.account_event_net_get(
                account_id=account_id, sequence=invoice.void_event_sequence or 0
            )
            if reversed_ != -expected:
                report.problem(
                    f"invoice {invoice.number_text}: its void (event "
                    f"#{invoice.void_event_sequence}) moved {code[0]} by {reversed_}, "
                    f"not {-expected}"
                )
