"""Reconciliation's posting rule: a true-up of an accepted difference, pure.

In the contract's book and currency, `amount` signed (theirs less ours):
  > 0  the provider bills more than we metered:  Dr expense:upstream_true_up / Cr payable:<p>
  < 0  it bills less:                            Dr payable:<p> / Cr expense:upstream_true_up
"""

from ledger.errors import InvalidEvent
from ledger.posting_rules import CREDIT, DEBIT, EntrySpec, PostingSpec, posting_rule

TRUE_UP_EVENT = "settlement.true_up"


def _id(payload: dict, name: str) -> int:
    value = payload.get(name)
    if type(value) is not int or value <= 0:
        raise InvalidEvent(f"{name} must be a positive integer, not {value!r}")
    return value


@posting_rule(TRUE_UP_EVENT)
def true_up(payload: dict) -> list[EntrySpec]:
    """{"book", "asset", "difference", "payable_account", "true_up_account", "amount"}"""
    amount = payload.get("amount")
    if type(amount) is not int or amount == 0:
        raise InvalidEvent(f"amount must be a non-zero integer, not {amount!r}")
    asset = _id(payload, "asset")
    payable, expense = _id(payload, "payable_account"), _id(payload, "true_up_account")
    debit, credit = (expense, payable) if amount > 0 else (payable, expense)
    return [
        EntrySpec(
            _id(payload, "book"),
            (
                PostingSpec(debit, asset, DEBIT, abs(amount)),
                PostingSpec(credit, asset, CREDIT, abs(amount)),
            ),
            "upstream true-up",
        )
    ]
