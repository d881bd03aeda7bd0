"""Wallets' posting rules: pure functions from an event's payload to entries, and the
events wallets builds for the ledger. Imported by WalletsConfig.ready, so the ledger
knows wallets' event types before anything appends or replays. (Top-up events are
payments': payments.postings.)
"""

import uuid

from ledger.errors import InvalidEvent
from ledger.models import Hold
from ledger.posting_rules import (
    CREDIT,
    DEBIT,
    EntrySpec,
    PostingSpec,
    entry_payload,
    posting_rule,
)
from ledger.services import NewEvent

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


# An explicit capture given back to the customer account when its usage was booked
# (wallets.services.authorizations_settle_by_usage): a ledger.transfer whose kind tells
# the lots allocator that this credit gives consumption back.
CAPTURE_RETURNED_KIND = "capture_returned"


def capture_returned_event(*, hold: Hold, public_id: uuid.UUID, amount_minor: int) -> NewEvent:
    """Clearing account Dr / customer account Cr the captured amount: the usage batch
    books the rated price instead."""
    asset = hold.debit_account.asset_id
    entry = EntrySpec(
        hold.entry.book_id,
        (
            PostingSpec(hold.credit_account_id, asset, DEBIT, amount_minor),
            PostingSpec(hold.debit_account_id, asset, CREDIT, amount_minor),
        ),
        f"authorization {public_id}: capture returned, usage booked instead",
    )
    payload = {"entries": [entry_payload(entry)], "kind": CAPTURE_RETURNED_KIND}
    return NewEvent(
        "ledger.transfer", payload, f"wallets:authorization:{public_id}:capture-returned"
    )
