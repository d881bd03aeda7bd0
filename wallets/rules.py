"""Wallets' contributions to the ledger, loaded in WalletsConfig.ready so the ledger knows
wallets' event types before anything appends or replays: the posting rules of lot
events, and the check `ledger_verify` runs on the lots sub-ledger. (Top-up events are
payments': payments.postings.)"""

from ledger import integrity
from ledger.errors import InvalidEvent
from ledger.posting_rules import CREDIT, DEBIT, EntrySpec, PostingSpec, posting_rule

LOT_GRANTED_EVENT = "wallets.lot.granted"  # expense:promotions Dr / wallet Cr
LOT_EXPIRED_EVENT = "wallets.lot.expired"  # wallet Dr / revenue:breakage or expense:promotions Cr
_MEMOS = {
    LOT_GRANTED_EVENT: "promotional credit granted",
    LOT_EXPIRED_EVENT: "credit lot expired: breakage",
}


def _integer(payload: dict, name: str) -> int:
    value = payload.get(name)
    if type(value) is not int:
        raise InvalidEvent(f"field {name!r} must be an integer, got {value!r}")
    return value


def _lot_transfer(event_type: str):
    """One entry, one debit and one credit of `amount` (pure: reads only the payload)."""

    def rule(payload: dict) -> list[EntrySpec]:
        book, asset, debit, credit, amount = (
            _integer(payload, name) for name in ("book", "asset", "debit", "credit", "amount")
        )
        postings = (
            PostingSpec(debit, asset, DEBIT, amount),
            PostingSpec(credit, asset, CREDIT, amount),
        )
        return [EntrySpec(book, postings, _MEMOS[event_type])]

    return rule


for _event_type in _MEMOS:
    posting_rule(_event_type)(_lot_transfer(_event_type))


def _check_lots(report: integrity.VerifyReport) -> None:
    from wallets.lots import lot_allocations_verify

    for problem in lot_allocations_verify():
        report.problem(problem)


integrity.EXTRA_CHECKS.append(_check_lots)
