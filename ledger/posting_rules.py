"""Posting rules: pure functions from an event's payload to journal entries.

The same rule runs when an event is first recorded and when `ledger_rebuild` or
`ledger_verify` replays the log, so a rule must be deterministic and must read nothing
but its payload. Other apps register their own event types with @posting_rule.

Payload shape shared by the ledger's own rules: a posting is
{"account": id, "asset": id, "side": "D"|"C", "amount": int, "phase": "P"|"H"|"R"}
(phase optional, default posted) and an entry is {"book": id, "memo": str,
"postings": [...]}.
"""

from collections.abc import Callable
from dataclasses import dataclass

from ledger.errors import InvalidEvent, UnbalancedEntry, UnknownEventType

DEBIT, CREDIT = "D", "C"
POSTED, PENDING, RELEASED = "P", "H", "R"
_SIDES = (DEBIT, CREDIT)
_PHASES = (POSTED, PENDING, RELEASED)
# Amounts are BIGINT in PostgreSQL.
AMOUNT_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class PostingSpec:
    account_id: int
    asset_id: int
    side: str
    amount: int
    phase: str = POSTED


@dataclass(frozen=True, slots=True)
class EntrySpec:
    book_id: int
    postings: tuple[PostingSpec, ...]
    memo: str = ""
    reverses_entry_id: int | None = None


Rule = Callable[[dict], list[EntrySpec]]
_RULES: dict[str, Rule] = {}


def posting_rule(event_type: str) -> Callable[[Rule], Rule]:
    def register(rule: Rule) -> Rule:
        assert event_type not in _RULES, f"posting rule {event_type} registered twice"
        _RULES[event_type] = rule
        return rule

    return register


def is_known_event_type(event_type: str) -> bool:
    return event_type in _RULES


def entries_for(event_type: str, payload: dict) -> list[EntrySpec]:
    rule = _RULES.get(event_type)
    if rule is None:
        raise UnknownEventType(f"no posting rule for event type {event_type!r}")
    entries = rule(payload)
    for entry in entries:
        check_entry(entry)
    return entries


def check_entry(entry: EntrySpec) -> None:
    """Two or more postings, positive integer amounts, debits = credits per asset and phase."""
    if len(entry.postings) < 2:
        raise UnbalancedEntry("an entry needs at least two postings")
    sums: dict[tuple[int, str], int] = {}
    for posting in entry.postings:
        amount = posting.amount
        if type(amount) is not int or not 0 < amount <= AMOUNT_MAX:
            raise InvalidEvent(f"posting amount {amount!r} is not a positive 64-bit integer")
        if posting.side not in _SIDES:
            raise InvalidEvent(f"posting side {posting.side!r} is not D or C")
        if posting.phase not in _PHASES:
            raise InvalidEvent(f"posting phase {posting.phase!r} is not P, H or R")
        key = (posting.asset_id, posting.phase)
        sums[key] = sums.get(key, 0) + (amount if posting.side == DEBIT else -amount)
    unbalanced = {key: total for key, total in sums.items() if total != 0}
    if unbalanced:
        (asset_id, phase), total = next(iter(unbalanced.items()))
        raise UnbalancedEntry(
            f"entry does not balance in asset {asset_id} (phase {phase}): "
            f"debits exceed credits by {total}",
            details={"asset": asset_id, "phase": phase, "difference": total},
        )


# --- parsing helpers shared by rules -------------------------------------------------


def _int_field(data: dict, name: str) -> int:
    value = data.get(name)
    if type(value) is not int:
        raise InvalidEvent(f"field {name!r} must be an integer, got {value!r}")
    return value


def parse_posting(data: dict) -> PostingSpec:
    if not isinstance(data, dict):
        raise InvalidEvent(f"a posting must be an object, got {data!r}")
    return PostingSpec(
        account_id=_int_field(data, "account"),
        asset_id=_int_field(data, "asset"),
        side=data.get("side"),
        amount=_int_field(data, "amount"),
        phase=data.get("phase", POSTED),
    )


def parse_entry(data: dict, *, reverses_entry_id: int | None = None) -> EntrySpec:
    if not isinstance(data, dict) or not isinstance(data.get("postings"), list):
        raise InvalidEvent("an entry must be an object with a list of postings")
    memo = data.get("memo", "")
    if not isinstance(memo, str) or len(memo) > 500:
        raise InvalidEvent("an entry's memo must be a string of at most 500 characters")
    return EntrySpec(
        book_id=_int_field(data, "book"),
        postings=tuple(parse_posting(p) for p in data["postings"]),
        memo=memo,
        reverses_entry_id=reverses_entry_id,
    )


def posting_payload(posting: PostingSpec) -> dict:
    data = {
        "account": posting.account_id,
        "asset": posting.asset_id,
        "side": posting.side,
        "amount": posting.amount,
    }
    if posting.phase != POSTED:
        data["phase"] = posting.phase
    return data


def entry_payload(entry: EntrySpec) -> dict:
    return {
        "book": entry.book_id,
        "memo": entry.memo,
        "postings": [posting_payload(p) for p in entry.postings],
    }


def _entries_list(payload: dict) -> list:
    entries = payload.get("entries")
    if not isinstance(entries, list) or not entries:
        raise InvalidEvent("payload needs a non-empty list 'entries'")
    return entries


# --- the ledger's own event types ----------------------------------------------------


@posting_rule("ledger.transfer")
def transfer(payload: dict) -> list[EntrySpec]:
    """Explicit entries: manual adjustments, opening balances, generic transfers."""
    return [parse_entry(entry) for entry in _entries_list(payload)]


@posting_rule("ledger.reversal")
def reversal(payload: dict) -> list[EntrySpec]:
    """The mirrored postings of an earlier entry; the payload carries them explicitly so
    that the rule stays a pure function of the payload."""
    reverses = _int_field(payload, "reverses_entry")
    return [parse_entry(entry, reverses_entry_id=reverses) for entry in _entries_list(payload)]


def _hold_legs(payload: dict, amount_field: str, phase: str) -> list[PostingSpec]:
    amount = _int_field(payload, amount_field)
    debit, credit, asset = (_int_field(payload, name) for name in ("debit", "credit", "asset"))
    return [
        PostingSpec(debit, asset, DEBIT, amount, phase),
        PostingSpec(credit, asset, CREDIT, amount, phase),
    ]


@posting_rule("ledger.hold.created")
def hold_created(payload: dict) -> list[EntrySpec]:
    book = _int_field(payload, "book")
    return [EntrySpec(book, tuple(_hold_legs(payload, "amount", PENDING)), "hold")]


@posting_rule("ledger.hold.posted")
def hold_posted(payload: dict) -> list[EntrySpec]:
    """Release the whole pending amount and post what was captured (maybe less)."""
    book = _int_field(payload, "book")
    postings = _hold_legs(payload, "amount", RELEASED)
    if _int_field(payload, "posted_amount") > 0:
        postings += _hold_legs(payload, "posted_amount", POSTED)
    return [EntrySpec(book, tuple(postings), "hold captured")]


def _hold_released(payload: dict) -> list[EntrySpec]:
    book = _int_field(payload, "book")
    return [EntrySpec(book, tuple(_hold_legs(payload, "amount", RELEASED)), "hold released")]


posting_rule("ledger.hold.voided")(_hold_released)
posting_rule("ledger.hold.expired")(_hold_released)
