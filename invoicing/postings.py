"""Invoicing's posting rules and the entries its services book (pure: no database).

Each action is one ledger event whose entry is carried explicitly in the payload (built
here from the document's own amounts and account ids), so its registered rule is a
transfer's pure parse and ledger_verify replays it exactly. In the seller's book:

  finalize (tax exclusive):  Dr receivable:<buyer> total / Cr unbilled:<buyer> exact usage
                             / Cr revenue:fees fees (the invoice's fee lines)
                             / Cr tax:payable tax / rounding: Cr (rounded up) or Dr (down)
  finalize (tax inclusive):  the same, the tax carved out of each revenue in proportion
                             (the invoice's fees_tax out of revenue:fees, netted with its
                             Cr: Cr revenue:fees fees - fees_tax / Dr revenue:usage
                             tax - fees_tax / Cr tax:payable tax)
  void:                      the mirror image of the finalization
  credit note:               Dr revenue:usage net - fees / Dr revenue:fees fees (the
                             fee revenue's share of net, after the carve-out)
                             / Dr tax:payable tax
                             / Cr receivable:<buyer> (what is open) / Cr wallet:<buyer> (rest)
  payment:                   Dr cash:stripe | cash:bank | wallet:<buyer> amount
                             / Cr receivable:<buyer> applied / Cr wallet:<buyer> overpaid

<buyer> is a customer's external id, or `reseller:<book code>` for a reseller buying
from the distributor (metering books its wholesale usage to unbilled:reseller:<R>).
"""

from dataclasses import dataclass

from ledger.posting_rules import CREDIT, DEBIT, EntrySpec, PostingSpec, posting_rule, transfer

INVOICE_FINALIZED_EVENT = "invoicing.invoice.finalized"
INVOICE_VOIDED_EVENT = "invoicing.invoice.voided"
CREDIT_NOTE_ISSUED_EVENT = "invoicing.credit_note.issued"
PAYMENT_RECORDED_EVENT = "invoicing.payment.recorded"
for _event_type in (
    INVOICE_FINALIZED_EVENT,
    INVOICE_VOIDED_EVENT,
    CREDIT_NOTE_ISSUED_EVENT,
    PAYMENT_RECORDED_EVENT,
):
    posting_rule(_event_type)(transfer)

# Account codes in the seller's book (see DESIGN.md's chart of accounts).
TAX_PAYABLE = ("tax:payable", "liability")
ROUNDING = ("rounding", "expense")
REVENUE = ("revenue:usage", "revenue")
FEE_REVENUE = ("revenue:fees", "revenue")  # payments' platform fee books there too
CASH = {"stripe": ("cash:stripe", "asset"), "bank_transfer": ("cash:bank", "asset")}


def receivable(buyer_key: str) -> tuple[str, str]:
    return (f"receivable:{buyer_key}", "asset")


def unbilled(buyer_key: str) -> tuple[str, str]:
    """The same code as wallets.accounts.customer_account (credit) and metering's
    unbilled:reseller:<R>."""
    return (f"unbilled:{buyer_key}", "asset")


def wallet(buyer_key: str) -> tuple[str, str]:
    return (f"wallet:{buyer_key}", "liability")


@dataclass(frozen=True, slots=True)
class InvoiceAccounts:
    book_id: int
    asset_id: int
    receivable: int
    unbilled: int
    tax_payable: int
    rounding: int
    revenue: int
    fee_revenue: int


def _entry(book_id: int, asset_id: int, legs, memo: str) -> EntrySpec:
    """Legs (account, side, amount) with zero amounts left out."""
    postings = tuple(
        PostingSpec(account, asset_id, side, amount) for account, side, amount in legs if amount
    )
    return EntrySpec(book_id, postings, memo)


def finalize_entry(
    accounts: InvoiceAccounts,
    *,
    exact: int,
    subtotal: int,
    tax: int,
    total: int,
    inclusive: bool,
    memo: str,
    fees: int = 0,
    fees_tax: int = 0,
) -> EntrySpec:
    """`exact` is the lines' exact sum, fee lines included (a fee line's exact amount is
    its amount: it is rounded when it is computed), so the usage leaves unbilled at
    exact - fees and the rounding is the usage lines' alone. An inclusive tax comes out
    of revenue:fees by `fees_tax` and out of revenue:usage by the rest."""
    rounding = subtotal - exact  # > 0: the lines were rounded up, a gain
    assert total == (subtotal if inclusive else subtotal + tax)
    assert 0 <= fees <= exact
    assert 0 <= fees_tax <= min(fees, tax) and (inclusive or not fees_tax)
    legs = [
        (accounts.receivable, DEBIT, total),
        (accounts.unbilled, CREDIT, exact - fees),
        (accounts.fee_revenue, CREDIT, fees - fees_tax),
        (accounts.rounding, CREDIT if rounding > 0 else DEBIT, abs(rounding)),
        (accounts.tax_payable, CREDIT, tax),
    ]
    if inclusive:
        legs.append((accounts.revenue, DEBIT, tax - fees_tax))
    return _entry(accounts.book_id, accounts.asset_id, legs, memo)


def mirror_entry(entry: EntrySpec, memo: str) -> EntrySpec:
    """The exact reversal of an entry (a void)."""
    postings = tuple(
        PostingSpec(p.account_id, p.asset_id, CREDIT if p.side == DEBIT else DEBIT, p.amount)
        for p in entry.postings
    )
    return EntrySpec(entry.book_id, postings, memo)


def credit_note_entry(
    accounts: InvoiceAccounts,
    *,
    wallet_account: int,
    net: int,
    tax: int,
    to_receivable: int,
    to_wallet: int,
    memo: str,
    fees: int = 0,
) -> EntrySpec:
    assert net + tax == to_receivable + to_wallet
    assert 0 <= fees <= net
    legs = [
        (accounts.revenue, DEBIT, net - fees),
        (accounts.fee_revenue, DEBIT, fees),
        (accounts.tax_payable, DEBIT, tax),
        (accounts.receivable, CREDIT, to_receivable),
        (wallet_account, CREDIT, to_wallet),
    ]
    return _entry(accounts.book_id, accounts.asset_id, legs, memo)


def payment_entry(
    *,
    book_id: int,
    asset_id: int,
    paid_from: int,
    receivable_account: int,
    wallet_account: int,
    applied: int,
    to_wallet: int,
    memo: str,
) -> EntrySpec:
    legs = [
        (paid_from, DEBIT, applied + to_wallet),
        (receivable_account, CREDIT, applied),
        (wallet_account, CREDIT, to_wallet),
    ]
    return _entry(book_id, asset_id, legs, memo)
