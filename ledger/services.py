"""Every write to the ledger. Keyword-only arguments, one transaction each, an actor always.

The ledger's public surface is this module, `ledger.selectors` (reads) and `ledger.locks`
(the lock order); other apps never import `ledger.journal` or write SQL against
`ledger_*` tables (tests/test_boundaries.py). Money moves only by appending events
(`event_record`, `events_record_batch`); the posting rules turn them into entries and
PostgreSQL keeps balances and checks the invariants. Errors the database raises
(overdraft, unbalanced entry, append-only) are mapped here to the ledger's error tree so
callers see a stable code, not a driver exception.
"""

__all__ = [  # what other apps use; NewEvent and AppendedEvent are the append's types
    "AccountRef",
    "AppendedEvent",
    "HoldRequest",
    "HoldVoid",
    "NewEvent",
    "account_create",
    "account_ensure",
    "accounts_ensure",
    "adjustment_post",
    "asset_create",
    "book_create",
    "entry_reverse",
    "event_record",
    "events_record_batch",
    "hold_create",
    "hold_payload",
    "hold_post",
    "hold_void",
    "holds_create",
    "holds_expire",
    "holds_void_pending",
    "ledger_errors",
    "verify_check_register",
]

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.db import DatabaseError, transaction
from django.utils import timezone

from config.fast_insert import bulk_insert
from ledger import errors, integrity
from ledger.accounts import account_cache
from ledger.amounts import amount_text
from ledger.journal import AppendedEvent, NewEvent, append_event, append_events
from ledger.locks import holds_lock
from ledger.models import Account, Asset, Book, Entry, Hold, HoldResolution, Posting
from ledger.posting_rules import (
    CREDIT,
    DEBIT,
    POSTED,
    EntrySpec,
    PostingSpec,
    entry_payload,
)

_FAILING_ROW_VALUES = re.compile(
    r"Failing row contains \((\d+), (-?\d+), (-?\d+), (-?\d+), (-?\d+),"
)


def _sqlstate_and_constraint(exc: DatabaseError) -> tuple[str | None, str | None]:
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    if diag is None:
        return None, None
    return diag.sqlstate, diag.constraint_name


def _insufficient_funds(text: str, constraint: str) -> errors.InsufficientFunds:
    """Name the account by code and the shortfall in its asset's decimal form. The row
    the database refused is the balance after the posting: (account, debits posted,
    credits posted, debits pending, credits pending, ...)."""
    match = _FAILING_ROW_VALUES.search(text)
    if match is None:
        return errors.InsufficientFunds(
            "an account has insufficient funds for this posting", details={"account": None}
        )
    account_id, debits, credits, debits_pending, credits_pending = map(int, match.groups())
    if constraint == "balance_debits_must_not_exceed_credits":
        shortfall = debits + debits_pending - credits
    else:
        shortfall = credits + credits_pending - debits
    details = {"account": account_id, "shortfall_minor": shortfall}
    account = _account_for_message(account_id)
    if account is None:
        return errors.InsufficientFunds(
            f"account {account_id} has insufficient funds for this posting", details=details
        )
    short = amount_text(shortfall, code=account.asset.code, scale=account.asset.scale)
    details |= {"account_code": account.code, "asset": account.asset.code}
    return errors.InsufficientFunds(
        f"{account.code} has insufficient funds: this posting would leave it {short} short",
        details=details,
    )


def _account_for_message(account_id: int) -> Account | None:
    """The account with its asset, or None if the connection cannot run a query now (the
    refused statement may have aborted the transaction): an error message never fails."""
    try:
        with transaction.atomic():
            return Account.objects.select_related("asset").filter(pk=account_id).first()
    except DatabaseError:
        return None


@contextlib.contextmanager
def ledger_errors() -> Iterator[None]:
    """Translate the database's refusals into the ledger's errors."""
    try:
        yield
    except DatabaseError as exc:
        sqlstate, constraint = _sqlstate_and_constraint(exc)
        message = str(exc.__cause__ or exc).splitlines()[0]
        if constraint in (
            "balance_debits_must_not_exceed_credits",
            "balance_credits_must_not_exceed_debits",
        ):
            raise _insufficient_funds(str(exc), constraint) from exc
        if constraint == "entry_reversed_once":
            raise errors.AlreadyReversed("this entry has already been reversed") from exc
        if constraint == "ledger_holdresolution_hold_id_key":
            raise errors.HoldAlreadyResolved("this hold has already been resolved") from exc
        if sqlstate == "LD002":
            raise errors.UnbalancedEntry(message) from exc
        if sqlstate == "LD001":
            raise errors.AppendOnlyViolation(message) from exc
        if sqlstate == "LD003":
            raise errors.AccountMismatch(message) from exc
        raise


# --- reference data --------------------------------------------------------------------


def asset_create(*, code: str, scale: int, description: str = "") -> Asset:
    if not 0 <= scale <= 18:
        raise errors.LedgerError(f"asset scale {scale} is outside 0..18")
    asset, created = Asset.objects.get_or_create(
        code=code, defaults={"scale": scale, "description": description}
    )
    if not created and asset.scale != scale:
        raise errors.LedgerError(f"asset {code} exists with scale {asset.scale}, not {scale}")
    return asset


def book_create(*, code: str, name: str, kind: str = Book.Kind.DISTRIBUTOR) -> Book:
    book, _ = Book.objects.get_or_create(code=code, defaults={"name": name, "kind": kind})
    return book


def account_create(
    *,
    book: Book,
    asset: Asset,
    code: str,
    type: str,
    name: str = "",
    debits_must_not_exceed_credits: bool = False,
    credits_must_not_exceed_debits: bool = False,
) -> Account:
    """Get or create an account; its balance row is created by the database."""
    if type not in Account.Type.values:
        raise errors.LedgerError(f"account type {type!r} is not one of {Account.Type.values}")
    account, _ = Account.objects.get_or_create(
        book=book,
        asset=asset,
        code=code,
        defaults={
            "type": type,
            "name": name,
            "debits_must_not_exceed_credits": debits_must_not_exceed_credits,
            "credits_must_not_exceed_debits": credits_must_not_exceed_debits,
        },
    )
    return account


class AccountRef(NamedTuple):
    """An account by what names it in its book: made on first use with `type`. A
    NamedTuple: usage batches hash thousands of them."""

    book_id: int
    asset_id: int
    code: str
    type: str  # Account.Type value


def accounts_ensure(*, refs: Iterable[AccountRef]) -> dict[AccountRef, int]:
    """The ids of these accounts, made where missing (their balance rows are made by the
    database), from the process's one account cache where it has them: at most two
    queries for those it has not, none on the hot path."""
    result: dict[AccountRef, int] = {}
    missing: list[AccountRef] = []
    for ref in set(refs):
        cached = account_cache.id_for(ref.book_id, ref.asset_id, ref.code)
        if cached is None:
            missing.append(ref)
        else:
            result[ref] = cached
    if not missing:
        return result
    for ref in missing:
        if ref.type not in Account.Type.values:
            raise errors.LedgerError(
                f"account type {ref.type!r} is not one of {Account.Type.values}"
            )
    found = _account_ids(missing)
    absent = [ref for ref in missing if ref not in found]
    if absent:
        # ignore_conflicts: a concurrent writer may create the same account meanwhile.
        Account.objects.bulk_create(
            [
                Account(book_id=ref.book_id, asset_id=ref.asset_id, code=ref.code, type=ref.type)
                for ref in absent
            ],
            ignore_conflicts=True,
        )
        found |= _account_ids(absent)
    assert all(ref in found for ref in missing), "accounts missing after create"
    account_cache.remember_ids(
        {(ref.book_id, ref.asset_id, ref.code): found[ref] for ref in missing}
    )
    return result | {ref: found[ref] for ref in missing}


def _account_ids(refs: list[AccountRef]) -> dict[AccountRef, int]:
    wanted = {(ref.book_id, ref.asset_id, ref.code): ref for ref in refs}
    rows = Account.objects.filter(
        book_id__in={ref.book_id for ref in refs},
        asset_id__in={ref.asset_id for ref in refs},
        code__in={ref.code for ref in refs},
    ).values_list("book_id", "asset_id", "code", "id")
    return {
        wanted[(book, asset, code)]: pk
        for book, asset, code, pk in rows
        if (book, asset, code) in wanted
    }


def account_ensure(*, book_id: int, asset_id: int, code: str, type: str) -> Account:
    """One account by its code, made on first use (see accounts_ensure). The Account
    returned carries its id, book, asset, code and type; nothing else is read."""
    ref = AccountRef(book_id, asset_id, code, type)
    [account_id] = accounts_ensure(refs=[ref]).values()
    return Account(id=account_id, book_id=book_id, asset_id=asset_id, code=code, type=type)


# --- extensions ------------------------------------------------------------------------


def verify_check_register(name: str, check: Callable[[integrity.VerifyReport], None]) -> None:
    """Add an app's consistency check to `ledger_verify` (called at the app's ready): it
    gets the report and calls report.problem(...) for each thing it finds wrong."""
    assert name not in integrity.EXTRA_CHECKS, f"verify check {name} registered twice"
    integrity.EXTRA_CHECKS[name] = check


# --- events ----------------------------------------------------------------------------


def event_record(
    *,
    event_type: str,
    payload: dict,
    idempotency_key: str,
    actor: str,
    occurred_at: datetime | None = None,
) -> AppendedEvent:
    """Append one event and the entries its posting rule makes: in the caller's
    transaction (as a savepoint) if there is one, else in one round trip, commit included."""
    event = NewEvent(event_type, payload, idempotency_key, occurred_at)
    with ledger_errors():
        return append_event(event, actor=actor)


def events_record_batch(*, events: Sequence[NewEvent], actor: str) -> list[AppendedEvent]:
    """Append many events in one transaction (the metering pipeline's path)."""
    with ledger_errors(), transaction.atomic():
        return append_events(events, actor=actor)


def adjustment_post(
    *,
    book: Book,
    postings: Sequence[PostingSpec],
    memo: str,
    idempotency_key: str,
    actor: str,
) -> AppendedEvent:
    """A manual adjustment by finance: one balanced entry, recorded as ledger.transfer."""
    entry = EntrySpec(book.id, tuple(postings), memo)
    return event_record(
        event_type="ledger.transfer",
        payload={"entries": [entry_payload(entry)], "kind": "adjustment"},
        idempotency_key=idempotency_key,
        actor=actor,
    )


def entry_reverse(
    *, entry_id: int, idempotency_key: str, actor: str, memo: str = ""
) -> AppendedEvent:
    """Book the mirror image of a posted entry. Holds are released with void, not this."""
    entry = Entry.objects.filter(pk=entry_id).first()
    if entry is None:
        raise errors.EntryNotFound(f"entry {entry_id} does not exist")
    postings = list(Posting.objects.filter(entry_id=entry_id).order_by("id"))
    if any(p.phase != POSTED for p in postings):
        raise errors.LedgerError(
            f"entry {entry_id} holds pending postings; void or post its hold instead"
        )
    mirrored = tuple(
        PostingSpec(p.account_id, p.asset_id, CREDIT if p.side == DEBIT else DEBIT, p.amount)
        for p in postings
    )
    reversal = EntrySpec(entry.book_id, mirrored, memo or f"reversal of entry {entry_id}")
    return event_record(
        event_type="ledger.reversal",
        payload={"reverses_entry": entry_id, "entries": [entry_payload(reversal)]},
        idempotency_key=idempotency_key,
        actor=actor,
    )


# --- two-phase holds -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HoldRequest:
    debit_account: Account
    credit_account: Account
    amount: int
    idempotency_key: str
    expires_at: datetime | None = None


def _hold_created_event(request: HoldRequest) -> NewEvent:
    debit, credit, amount = request.debit_account, request.credit_account, request.amount
    if type(amount) is not int or amount <= 0:
        raise errors.InvalidEvent(f"hold amount {amount!r} must be a positive integer")
    if (debit.book_id, debit.asset_id) != (credit.book_id, credit.asset_id):
        raise errors.AccountMismatch("a hold's two accounts must share one book and asset")
    payload = {
        "book": debit.book_id,
        "asset": debit.asset_id,
        "debit": debit.id,
        "credit": credit.id,
        "amount": amount,
        "expires_at": request.expires_at.isoformat() if request.expires_at else None,
    }
    return NewEvent("ledger.hold.created", payload, request.idempotency_key)


def holds_create(*, requests: Sequence[HoldRequest], actor: str) -> list[Hold]:
    """Reserve funds for many holds in one transaction and one append; returns the holds
    in request order (a replayed key returns the hold it created before)."""
    events = [_hold_created_event(request) for request in requests]
    with ledger_errors(), transaction.atomic():
        results = append_events(events, actor=actor)
        holds = {
            hold.event_id: hold
            for hold in Hold.objects.filter(
                event_id__in=[result.sequence for result in results if result.replayed]
            )
        }
        now = timezone.now()
        fresh = {}
        for request, result in zip(requests, results, strict=True):
            if result.sequence not in holds and result.sequence not in fresh:
                fresh[result.sequence] = Hold(
                    event_id=result.sequence,
                    entry_id=result.entry_ids[0],
                    debit_account=request.debit_account,
                    credit_account=request.credit_account,
                    amount=request.amount,
                    expires_at=request.expires_at,
                    created_at=now,
                )
        bulk_insert(list(fresh.values()))
        holds.update(fresh)
        return [holds[result.sequence] for result in results]


def hold_create(
    *,
    debit_account: Account,
    credit_account: Account,
    amount: int,
    idempotency_key: str,
    actor: str,
    expires_at: datetime | None = None,
) -> Hold:
    """Reserve `amount` on the debit account (pending) until posted, voided or expired."""
    request = HoldRequest(debit_account, credit_account, amount, idempotency_key, expires_at)
    return holds_create(requests=[request], actor=actor)[0]


def hold_payload(hold: Hold) -> dict:
    """What every resolution event of a hold carries (posted, voided, expired)."""
    return {
        "hold": hold.id,
        "book": hold.entry.book_id,
        "asset": hold.debit_account.asset_id,
        "debit": hold.debit_account_id,
        "credit": hold.credit_account_id,
        "amount": hold.amount,
    }


def _resolutions(hold_ids: Sequence[int]) -> dict[int, HoldResolution]:
    """Read after locking, in a statement of its own, so a resolution committed while we
    waited for the lock is seen."""
    found = HoldResolution.objects.select_related("event").filter(hold_id__in=hold_ids)
    return {resolution.hold_id: resolution for resolution in found}


def _resolution_event(hold: Hold, kind: str, posted_amount: int, idempotency_key: str) -> NewEvent:
    payload = hold_payload(hold) | {"posted_amount": posted_amount}
    return NewEvent(f"ledger.hold.{kind}", payload, idempotency_key)


def _record_resolutions(
    resolved: Sequence[tuple[Hold, str, int]],
    results: Sequence[AppendedEvent],
    now: datetime,
) -> list[HoldResolution]:
    """The HoldResolution rows of holds whose (kind, posted amount) events were just
    appended: the unique hold key makes a second resolution of a hold fail loudly."""
    rows = [
        HoldResolution(
            hold=hold, event_id=result.sequence, kind=kind, posted_amount=posted, resolved_at=now
        )
        for (hold, kind, posted), result in zip(resolved, results, strict=True)
    ]
    return HoldResolution.objects.bulk_create(rows)


def _hold_resolve(
    *, hold_id: int, kind: str, posted_amount: int, idempotency_key: str, actor: str
) -> HoldResolution:
    with ledger_errors(), transaction.atomic():
        holds = holds_lock([hold_id])
        if not holds:
            raise errors.HoldNotFound(f"hold {hold_id} does not exist")
        hold = holds[0]
        event = _resolution_event(hold, kind, posted_amount, idempotency_key)
        resolution = _resolutions([hold_id]).get(hold_id)
        if resolution is not None:
            if resolution.event.idempotency_key != idempotency_key:
                raise errors.HoldAlreadyResolved(
                    f"hold {hold_id} was already {resolution.kind}",
                    details={"resolution": resolution.kind},
                )
            # A retry: append_events refuses it if the input differs, else replays.
            append_events([event], actor=actor)
            return resolution
        if posted_amount > hold.amount:
            raise errors.InvalidEvent(
                f"cannot capture {posted_amount}: hold {hold_id} reserves only {hold.amount}"
            )
        now = timezone.now()
        if kind == HoldResolution.Kind.POSTED and hold.expires_at and hold.expires_at <= now:
            raise errors.HoldExpired(f"hold {hold_id} expired at {hold.expires_at.isoformat()}")
        results = append_events([event], actor=actor)
        [row] = _record_resolutions([(hold, kind, posted_amount)], results, now)
        return row


def hold_post(
    *, hold_id: int, idempotency_key: str, actor: str, amount: int | None = None
) -> HoldResolution:
    """Capture `amount` (default: all of it); the rest of the reservation is released."""
    if amount is None:
        hold = Hold.objects.filter(pk=hold_id).only("amount").first()
        if hold is None:
            raise errors.HoldNotFound(f"hold {hold_id} does not exist")
        amount = hold.amount
    if type(amount) is not int or amount < 0:
        raise errors.InvalidEvent(f"capture amount {amount!r} must be a non-negative integer")
    return _hold_resolve(
        hold_id=hold_id,
        kind=HoldResolution.Kind.POSTED,
        posted_amount=amount,
        idempotency_key=idempotency_key,
        actor=actor,
    )


def hold_void(*, hold_id: int, idempotency_key: str, actor: str) -> HoldResolution:
    return _hold_resolve(
        hold_id=hold_id,
        kind=HoldResolution.Kind.VOIDED,
        posted_amount=0,
        idempotency_key=idempotency_key,
        actor=actor,
    )


@dataclass(frozen=True, slots=True)
class HoldVoid:
    hold_id: int
    idempotency_key: str


def holds_void_pending(
    *, voids: Sequence[HoldVoid], actor: str, with_events: Sequence[NewEvent] = ()
) -> set[int]:
    """Void those of these holds still pending, and append `with_events` in the same
    append (a caller's own entries that belong with the voids); returns the ids of the
    holds voided now. A hold already resolved (expired, captured, voided) is left as it
    is. Runs in the caller's transaction: the holds are locked (level 2 of ledger.locks)
    after the caller's own rows and before the chain."""
    assert transaction.get_connection().in_atomic_block, "void inside the caller's transaction"
    if not voids and not with_events:
        return set()
    with ledger_errors():
        locked = holds_lock([void.hold_id for void in voids])
        resolved = _resolutions([hold.id for hold in locked])
        keys = {void.hold_id: void.idempotency_key for void in voids}
        pending = [hold for hold in locked if hold.id not in resolved]
        events = [
            _resolution_event(hold, HoldResolution.Kind.VOIDED, 0, keys[hold.id])
            for hold in pending
        ]
        results = append_events([*events, *with_events], actor=actor)
        _record_resolutions(
            [(hold, HoldResolution.Kind.VOIDED, 0) for hold in pending],
            results[: len(events)],
            timezone.now(),
        )
    return {hold.id for hold in pending}


def holds_expire(
    *, actor: str = "system:hold-expiry", now: datetime | None = None, limit: int = 1000
) -> int:
    """Release up to `limit` holds past their expiry, in one transaction; returns how many.

    Holds another transaction is resolving right now are skipped, not waited for.
    """
    now = now or timezone.now()
    with ledger_errors(), transaction.atomic():
        due_ids = list(
            Hold.objects.filter(expires_at__lte=now, resolution__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        locked = holds_lock(due_ids, skip_locked=True)
        resolved = _resolutions([hold.id for hold in locked])
        holds = [hold for hold in locked if hold.id not in resolved]
        kind = HoldResolution.Kind.EXPIRED
        events = [
            _resolution_event(hold, kind, 0, f"ledger:hold:{hold.id}:expired") for hold in holds
        ]
        results = append_events(events, actor=actor)
        _record_resolutions([(hold, kind, 0) for hold in holds], results, now)
    return len(holds)
