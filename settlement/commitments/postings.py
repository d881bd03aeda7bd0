"""Settlement's posting rules for commitments: pure functions of the event's payload.

In the distributor's book, in the contract's currency:

  purchase     settlement.commitment.purchased   Dr prepaid_capacity:<p>:<id>
                                                 Cr cash:bank | payable:<p>
  draw-down    settlement.drawdown               Dr payable:<p> / Cr prepaid_capacity:<p>:<id>
               (one event per metering batch, one entry per book and currency, postings
               summed per account)
  breakage     settlement.commitment.expired     Dr expense:breakage / Cr prepaid_capacity:…

Metering books usage as Dr cogs:<p> / Cr payable:<p>; the draw-down moves the part a
commitment covers off payable:<p>, so what is left there is what we owe the provider.
"""

from collections import defaultdict

from ledger.errors import InvalidEvent
from ledger.posting_rules import CREDIT, DEBIT, EntrySpec, PostingSpec, posting_rule

PURCHASE_EVENT = "settlement.commitment.purchased"
DRAWDOWN_EVENT = "settlement.drawdown"
BREAKAGE_EVENT = "settlement.commitment.expired"


def _positive_int(data: dict, name: str) -> int:
    value = data.get(name)
    if type(value) is not int or value <= 0:
        raise InvalidEvent(f"{name} must be a positive integer, not {value!r}")
    return value


def _transfer(payload: dict, debit: str, credit: str, memo: str) -> list[EntrySpec]:
    asset, amount = _positive_int(payload, "asset"), _positive_int(payload, "amount")
    return [
        EntrySpec(
            _positive_int(payload, "book"),
            (
                PostingSpec(_positive_int(payload, debit), asset, DEBIT, amount),
                PostingSpec(_positive_int(payload, credit), asset, CREDIT, amount),
            ),
            memo,
        )
    ]


@posting_rule(PURCHASE_EVENT)
def commitment_purchased(payload: dict) -> list[EntrySpec]:
    """{"book", "asset", "commitment", "capacity_account", "funding_account", "amount"}"""
    return _transfer(payload, "capacity_account", "funding_account", "commitment purchased")


@posting_rule(BREAKAGE_EVENT)
def commitment_expired(payload: dict) -> list[EntrySpec]:
    """{"book", "asset", "commitment", "breakage_account", "capacity_account", "amount"}"""
    return _transfer(payload, "breakage_account", "capacity_account", "commitment breakage")


@posting_rule(DRAWDOWN_EVENT)
def drawdown(payload: dict) -> list[EntrySpec]:
    """{"metering_sequence", "draws": [{"book", "asset", "commitment", "payable_account",
    "capacity_account", "amount"}, ...]}: one entry per (book, asset), each account once
    per side."""
    draws = payload.get("draws")
    if not isinstance(draws, list) or not draws:
        raise InvalidEvent("a draw-down needs a non-empty list of draws")
    sums: dict[tuple[int, int], dict[tuple[int, str], int]] = defaultdict(lambda: defaultdict(int))
    for draw in draws:
        if not isinstance(draw, dict):
            raise InvalidEvent("each draw is an object")
        key = (_positive_int(draw, "book"), _positive_int(draw, "asset"))
        amount = _positive_int(draw, "amount")
        sums[key][(_positive_int(draw, "payable_account"), DEBIT)] += amount
        sums[key][(_positive_int(draw, "capacity_account"), CREDIT)] += amount
    return [
        EntrySpec(
            book,
            tuple(
                PostingSpec(account, asset, side, amount)
                for (account, side), amount in sorted(sums[(book, asset)].items())
            ),
            "commitment draw-down",
        )
        for book, asset in sorted(sums)
    ]


def drawdown_payload(*, metering_sequence: int, draws: list[dict]) -> dict:
    """The draw-down event of one metering batch; draws in a stable order."""
    ordered = sorted(draws, key=lambda d: (d["book"], d["asset"], d["commitment"], d["amount"]))
    return {"metering_sequence": metering_sequence, "draws": ordered}
