"""Credit's posting rules and the entries its services book (pure: no database).

Each action is one ledger event carrying its entry, so its rule is a transfer's parse and
ledger_verify replays it exactly. In the seller's book:

  allowance up (period end):    Dr expense:bad_debt change / Cr allowance:doubtful change
  allowance down (released):    Dr allowance:doubtful / Cr expense:bad_debt
  write-off:                    Dr allowance:doubtful amount / Cr receivable:<buyer> amount
  recovery (booked back):       Dr receivable:<buyer> amount / Cr allowance:doubtful amount

`allowance:doubtful` is a contra asset: its credit balance is the allowance. A write-off
larger than the allowance leaves it debit for the moment; the next period end measures the
allowance again and books the difference through expense:bad_debt, so the expense of a
period is what the allowance moved plus nothing else (IFRS 9 simplified approach).
"""

from ledger.posting_rules import CREDIT, DEBIT, EntrySpec, PostingSpec, posting_rule, transfer

ALLOWANCE_CHANGED_EVENT = "credit.allowance.changed"
WRITE_OFF_EVENT = "credit.receivable.written_off"
RECOVERY_EVENT = "credit.receivable.recovered"
for _event_type in (ALLOWANCE_CHANGED_EVENT, WRITE_OFF_EVENT, RECOVERY_EVENT):
    posting_rule(_event_type)(transfer)

ALLOWANCE = ("allowance:doubtful", "asset")
BAD_DEBT = ("expense:bad_debt", "expense")


def receivable(buyer_key: str) -> tuple[str, str]:
    """The account invoicing's finalization debits (invoicing.postings.receivable)."""
    return (f"receivable:{buyer_key}", "asset")


def _transfer(book_id: int, asset_id: int, debit: int, credit: int, amount: int, memo: str):
    assert amount > 0, amount
    return EntrySpec(
        book_id,
        (
            PostingSpec(debit, asset_id, DEBIT, amount),
            PostingSpec(credit, asset_id, CREDIT, amount),
        ),
        memo,
    )


def allowance_change_entry(
    *, book_id: int, asset_id: int, allowance: int, bad_debt: int, change: int, memo: str
) -> EntrySpec:
    """change > 0: more allowance (an expense); < 0: allowance released."""
    assert change != 0
    if change > 0:
        return _transfer(book_id, asset_id, bad_debt, allowance, change, memo)
    return _transfer(book_id, asset_id, allowance, bad_debt, -change, memo)


def write_off_entry(
    *, book_id: int, asset_id: int, allowance: int, receivable: int, amount: int, memo: str
) -> EntrySpec:
    return _transfer(book_id, asset_id, allowance, receivable, amount, memo)


def recovery_entry(
    *, book_id: int, asset_id: int, allowance: int, receivable: int, amount: int, memo: str
) -> EntrySpec:
    return _transfer(book_id, asset_id, receivable, allowance, amount, memo)
