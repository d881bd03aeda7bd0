"""Settlement's posting rules for commitments: pure functions of the event's payload.

In the distributor's book, in the contract's currency (and, for a commitment bought in
tokens, in the TOKENS asset too):

  purchase     settlement.commitment.purchased   Dr prepaid_capacity:<p>:<id>
                                                 Cr cash:bank | payable:<p>
                 in tokens, also                 Dr prepaid_tokens:<p>:<id>
                                                 Cr tokens_bought:<p>
  draw-down    settlement.drawdown               Dr payable:<p>  the list cost covered
                                                                 + the discount on the rest
                                                 Cr prepaid_capacity:<p>:<id>  money drawn
                                                 Cr cogs:<p>  the difference (Dr when a
                                                              token price exceeds list)
                 in tokens, also                 Dr tokens_used:<p> / Cr prepaid_tokens:…
               (one event per metering batch, one entry per book and asset, postings
               summed per account)
  breakage     settlement.commitment.expired     Dr expense:breakage / Cr prepaid_capacity:…
                 in tokens, also                 Dr tokens_expired:<p> / Cr prepaid_tokens:…

Metering books usage at list price as Dr cogs:<p> / Cr payable:<p>. The draw-down
takes off payable:<p> what the provider will not bill: the list cost a commitment
covered and the contract's discount on the rest, so what is left there is what we owe
the provider; cogs:<p> ends at what the usage really cost us. A draw-down event of
before discounts were booked (draws without "list") replays as it was booked.
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


def _non_negative_int(data: dict, name: str, default: int | None = None) -> int:
    value = data.get(name, default)
    if type(value) is not int or value < 0:
        raise InvalidEvent(f"{name} must be a non-negative integer, not {value!r}")
    return value


def _tokens_entry(payload: dict, debit: str, credit: str, memo: str) -> list[EntrySpec]:
    """The TOKENS side of a commitment bought in tokens (none for one in money)."""
    if payload.get("tokens") is None:
        return []
    payload = {**payload, "asset": payload.get("token_asset"), "amount": payload["tokens"]}
    return _transfer(payload, debit, credit, memo)


@posting_rule(PURCHASE_EVENT)
def commitment_purchased(payload: dict) -> list[EntrySpec]:
    """{"book", "asset", "commitment", "capacity_account", "funding_account", "amount"},
    in tokens also {"tokens", "token_asset", "token_account", "token_source_account"}"""
    return _transfer(
        payload, "capacity_account", "funding_account", "commitment purchased"
    ) + _tokens_entry(payload, "token_account", "token_source_account", "tokens bought")


@posting_rule(BREAKAGE_EVENT)
def commitment_expired(payload: dict) -> list[EntrySpec]:
    """{"book", "asset", "commitment", "breakage_account", "capacity_account", "amount"},
    in tokens also {"tokens", "token_asset", "token_account", "tokens_expired_account"};
    `amount` may be 0 when only tokens are left."""
    entries = []
    if _non_negative_int(payload, "amount"):
        entries += _transfer(payload, "breakage_account", "capacity_account", "commitment breakage")
    if payload.get("tokens") is not None and _non_negative_int(payload, "tokens"):
        entries += _tokens_entry(
            payload, "tokens_expired_account", "token_account", "tokens expired"
        )
    if not entries:
        raise InvalidEvent("a breakage writes off a positive amount or tokens")
    return entries


def _signed_postings(sums: dict[int, int], asset: int) -> tuple[PostingSpec, ...]:
    """Net amount per account (positive: debit) -> postings, zero nets left out."""
    return tuple(
        PostingSpec(account, asset, DEBIT if net > 0 else CREDIT, abs(net))
        for account, net in sorted(sums.items())
        if net
    )


@posting_rule(DRAWDOWN_EVENT)
def drawdown(payload: dict) -> list[EntrySpec]:
    """{"metering_sequence",
        "draws": [{"book", "asset", "commitment", "payable_account", "capacity_account",
                   "cogs_account", "list", "amount",
                   in tokens also "tokens", "token_asset", "token_account",
                   "tokens_used_account"}, ...],
        "discounts": [{"book", "asset", "contract", "payable_account", "cogs_account",
                       "amount"}, ...]}
    One entry per (book, asset), each account once (its net)."""
    draws, discounts = payload.get("draws", []), payload.get("discounts", [])
    if not isinstance(draws, list) or not isinstance(discounts, list) or not draws + discounts:
        raise InvalidEvent("a draw-down needs a non-empty list of draws or discounts")
    nets: dict[tuple[int, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for draw in draws:
        if not isinstance(draw, dict):
            raise InvalidEvent("each draw is an object")
        key = (_positive_int(draw, "book"), _positive_int(draw, "asset"))
        amount = _non_negative_int(draw, "amount")
        covered = _non_negative_int(draw, "list", default=amount)
        nets[key][_positive_int(draw, "payable_account")] += covered
        nets[key][_positive_int(draw, "capacity_account")] -= amount
        if covered != amount:
            nets[key][_positive_int(draw, "cogs_account")] -= covered - amount
        if draw.get("tokens") is not None:
            tokens = _non_negative_int(draw, "tokens")
            token_key = (key[0], _positive_int(draw, "token_asset"))
            nets[token_key][_positive_int(draw, "tokens_used_account")] += tokens
            nets[token_key][_positive_int(draw, "token_account")] -= tokens
    for discount in discounts:
        if not isinstance(discount, dict):
            raise InvalidEvent("each discount is an object")
        key = (_positive_int(discount, "book"), _positive_int(discount, "asset"))
        amount = _positive_int(discount, "amount")
        nets[key][_positive_int(discount, "payable_account")] += amount
        nets[key][_positive_int(discount, "cogs_account")] -= amount
    entries = [
        EntrySpec(book, _signed_postings(nets[(book, asset)], asset), "commitment draw-down")
        for book, asset in sorted(nets)
    ]
    entries = [entry for entry in entries if entry.postings]
    if not entries:
        raise InvalidEvent("a draw-down moves nothing")
    return entries


def drawdown_payload(*, metering_sequence: int, draws: list[dict], discounts: list[dict]) -> dict:
    """The draw-down event of one metering batch; draws and discounts in a stable order."""
    ordered = sorted(draws, key=lambda d: (d["book"], d["asset"], d["commitment"], d["amount"]))
    payload = {"metering_sequence": metering_sequence, "draws": ordered}
    if discounts:
        payload["discounts"] = sorted(
            discounts, key=lambda d: (d["book"], d["asset"], d["contract"], d["amount"])
        )
    return payload
