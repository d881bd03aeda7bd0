"""Credit lots: every write (grant, open for a booked credit, reverse, allocate, expire)
and the replay check. The rules themselves are pure, in wallets.lots.allocation.

Money stays in ONE ledger account per wallet, `wallet:<customer>` (liability, seller's
book), which the metering batch debits as fast as ever; lots attribute its movements
afterwards. Accounts, in the customer's book and currency:
- a promotional grant:      expense:promotions Dr / wallet:<c> Cr   (wallets.lot.granted)
- a paid lot:               booked by the top-up (cash and fees), recorded here with
                            `lot_open_for_booked_credit` in the top-up's transaction
- breakage of a paid lot:   wallet:<c> Dr / revenue:breakage Cr     (wallets.lot.expired)
  of a promotional lot:     wallet:<c> Dr / expense:promotions Cr   (the grant's expense
                            is reversed: credit never used cost nothing)

Locks (their order is ledger.locks'; wallets.locks takes the cursors): Lot rows are
written only under their cursor's lock. The allocator takes no chain lock (it reads the
committed prefix of the log: sequences commit in order), so it never waits for ledger
writers, and the metering batch never
waits for it. A service that opens a lot or a reversal takes the chain lock and then the
cursor, so the allocator cannot be half-way through the same event meanwhile; it may
wait for the wallet's allocation transaction, which is why those are kept short.
"""

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from config.fast_insert import insert_rows
from ledger import selectors as ledger_selectors
from ledger.locks import chain_lock
from ledger.models import Account
from ledger.posting_rules import AMOUNT_MAX
from ledger.selectors import account_balance_as_of
from ledger.services import AppendedEvent, NewEvent, events_record_batch, ledger_errors
from wallets import selectors
from wallets.errors import (
    IdempotencyConflict,
    InvalidLotInput,
    LotEventAlreadyAllocated,
    LotEventNotCredited,
    WalletNotPrepaid,
)
from wallets.locks import lot_cursor_lock, lot_cursors_lock
from wallets.lots import allocation
from wallets.lots.allocation import (
    PRIORITY_DEFAULT,
    PRIORITY_MAX,
    PRIORITY_MIN,
    Allocator,
    Movement,
)
from wallets.models import Customer, Lot, LotCursor, LotReversal
from wallets.postings import CAPTURE_RETURNED_KIND, LOT_EXPIRED_EVENT, LOT_GRANTED_EVENT
from wallets.services import customer_book_account

PROMOTIONS_ACCOUNT_CODE = "expense:promotions"
BREAKAGE_ACCOUNT_CODE = "revenue:breakage"
ALLOCATOR_ACTOR = "system:lot-allocator"
EXPIRY_ACTOR = "system:lot-expiry"
IDEMPOTENCY_KEY_LENGTH_MAX = 100
SOURCE_LENGTH_MAX, MEMO_LENGTH_MAX = 200, 500
# An allocation transaction holds its wallets' cursor locks, which a grant or top-up
# waits for while it holds the ledger's chain lock: keep those transactions short.
CURSORS_PER_TRANSACTION = 50
CURSORS_PER_RUN_MAX = 10_000
MOVEMENTS_PER_WALLET_MAX = 1_000  # per wallet and transaction: a backlog goes in steps
LOTS_EXPIRED_PER_RUN_MAX = 10_000
# Lots close this long after expires_at (setting WALLETS_LOT_EXPIRY_GRACE_S): usage booked
# meanwhile still consumes them, for metering that lags behind the gateways.
LOT_EXPIRY_GRACE_S_DEFAULT = 0


@dataclass(frozen=True, slots=True)
class LotResult:
    lot: Lot
    replayed: bool  # an earlier call with the same idempotency key made it


# --- input and lookups -----------------------------------------------------------------


def _request_hash(*parts) -> str:
    text = json.dumps(parts, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _check_amount(amount_minor) -> None:
    if type(amount_minor) is not int or not 0 < amount_minor <= AMOUNT_MAX:
        raise InvalidLotInput("amount_minor must be a positive integer (minor units)")


@dataclass(frozen=True, slots=True)
class LotTerms:
    """What a lot is: its kind, size, priority (lower first) and optional expiry."""

    kind: str
    amount_minor: int
    priority: int = PRIORITY_DEFAULT
    expires_at: datetime | None = None
    source: str = ""
    memo: str = ""

    def check(self, now: datetime) -> None:
        _check_amount(self.amount_minor)
        priority = self.priority
        if type(priority) is not int or not PRIORITY_MIN <= priority <= PRIORITY_MAX:
            raise InvalidLotInput(
                f"priority must be an integer in {PRIORITY_MIN}..{PRIORITY_MAX} "
                "(lower is used first)"
            )
        expires_at = self.expires_at
        if expires_at is not None:
            if not isinstance(expires_at, datetime) or timezone.is_naive(expires_at):
                raise InvalidLotInput("expires_at must be a timezone-aware date and time, or null")
            if expires_at <= now:
                raise InvalidLotInput("expires_at must be in the future")
        for name, value, length_max in (
            ("source", self.source, SOURCE_LENGTH_MAX),
            ("memo", self.memo, MEMO_LENGTH_MAX),
        ):
            if not isinstance(value, str) or len(value) > length_max:
                raise InvalidLotInput(f"{name} must be a string of at most {length_max} characters")

    def request_hash(self, customer: Customer, *more) -> str:
        expiry = self.expires_at.isoformat() if self.expires_at else None
        return _request_hash(
            customer.pk,
            self.kind,
            self.amount_minor,
            self.priority,
            expiry,
            self.source,
            self.memo,
            *more,
        )


def _check_idempotency_key(idempotency_key) -> None:
    if not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= (
        IDEMPOTENCY_KEY_LENGTH_MAX
    ):
        raise InvalidLotInput(
            f"an idempotency key of 1..{IDEMPOTENCY_KEY_LENGTH_MAX} characters is required"
        )


def _earlier(model, key: str, request_hash: str):
    """The row an earlier call made under `key`; the same key with other input is refused."""
    found = model.objects.filter(idempotency_key=key).first()
    if found is not None and found.request_hash != request_hash:
        raise IdempotencyConflict(
            "this idempotency key was used for a different request", details={"id": found.pk}
        )
    return found


def wallet_account(*, customer: Customer) -> Account:
    """The prepaid wallet's ledger account (lots fund nothing else)."""
    if customer.billing != Customer.Billing.PREPAID:
        raise WalletNotPrepaid(
            f"customer {customer.external_id} is billed on credit: lots fund prepaid wallets"
        )
    code, account_type = selectors.customer_account_code(customer)
    return customer_book_account(customer=customer, code=code, type=account_type)


def _cursor_for_event(
    *, customer: Customer, account: Account, sequence: int, actor: str, now: datetime
) -> LotCursor:
    """The wallet's cursor, locked; made with the wallet's first lot (under the chain
    lock, so no other event lands between the opening balance and `sequence`)."""
    cursor = lot_cursor_lock(account.id)
    if cursor is not None:
        if sequence <= cursor.allocated_through_sequence:
            raise LotEventAlreadyAllocated(
                f"event #{sequence} is already allocated (through "
                f"#{cursor.allocated_through_sequence}): open the lot in the transaction "
                "that books its event",
                details={"allocated_through_sequence": cursor.allocated_through_sequence},
            )
        return cursor
    start = sequence - 1
    opening = account_balance_as_of(account_id=account.id, sequence=start)
    cursor = LotCursor.objects.create(
        customer=customer,
        account=account,
        start_sequence=start,
        opening_balance_minor=opening,
        allocated_through_sequence=start,
        unfunded_minor=max(0, -opening),
        created_at=now,
        updated_at=now,
    )
    if opening > 0:
        # The balance from before lots existed: one lot that never expires.
        _unattributed_lot(cursor, start, opening, "opening", actor, now).save()
    return cursor


# --- opening lots ----------------------------------------------------------------------


def lot_grant(
    *,
    customer: Customer,
    amount_minor: int,
    idempotency_key: str,
    actor: str,
    priority: int = PRIORITY_DEFAULT,
    expires_at: datetime | None = None,
    source: str = "promotion",
    memo: str = "",
) -> LotResult:
    """Grant promotional credit: book expense:promotions Dr / wallet:<c> Cr and open its
    lot, in one transaction. The same key with the same input returns the first lot.

    Paid credit is booked by its payment (a top-up); its lot is opened with
    `lot_open_for_booked_credit` in that payment's transaction.
    """
    now = timezone.now()
    terms = LotTerms(Lot.Kind.PROMOTIONAL, amount_minor, priority, expires_at, source, memo)
    terms.check(now)
    _check_idempotency_key(idempotency_key)
    key = f"grant:{customer.pk}:{idempotency_key}"
    request_hash = terms.request_hash(customer)
    earlier = _earlier(Lot, key, request_hash)
    if earlier is not None:
        return LotResult(earlier, replayed=True)
    wallet = wallet_account(customer=customer)
    promotions = customer_book_account(
        customer=customer, code=PROMOTIONS_ACCOUNT_CODE, type=Account.Type.EXPENSE
    )
    payload = {
        "book": customer.book_id,
        "asset": customer.currency_id,
        "debit": promotions.id,
        "credit": wallet.id,
        "amount": amount_minor,
        "customer": customer.external_id,
        "priority": priority,
        "expires_at": expires_at.isoformat() if expires_at else None,
        "source": source,
    }
    with ledger_errors(), transaction.atomic():
        [event] = events_record_batch(
            events=[NewEvent(LOT_GRANTED_EVENT, payload, f"wallets:lot:{key}")], actor=actor
        )
        if event.replayed:  # a concurrent grant with this key committed first
            earlier = _earlier(Lot, key, request_hash)
            assert earlier is not None, "a grant's event without its lot"
            return LotResult(earlier, replayed=True)
        lot = _open_lot(customer, wallet, terms, event.sequence, key, request_hash, actor, now)
    return LotResult(lot, replayed=False)


def _open_lot(
    customer: Customer,
    wallet: Account,
    terms: LotTerms,
    sequence: int,
    key: str,
    request_hash: str,
    actor: str,
    now: datetime,
) -> Lot:
    """The lot row for credit booked at `sequence` (the chain lock is held)."""
    cursor = _cursor_for_event(
        customer=customer, account=wallet, sequence=sequence, actor=actor, now=now
    )
    return Lot.objects.create(
        cursor=cursor,
        customer=customer,
        kind=terms.kind,
        amount_minor=terms.amount_minor,
        priority=terms.priority,
        expires_at=terms.expires_at,
        opened_sequence=sequence,
        source=terms.source,
        memo=terms.memo,
        idempotency_key=key,
        request_hash=request_hash,
        created_at=now,
        created_by=actor,
    )


def _check_claims(*, moved_minor: int, claimed_minor: int, sequence: int, what: str) -> None:
    """Lots (or reversals) recorded on one event may not claim more than it moved."""
    if claimed_minor > moved_minor:
        raise LotEventNotCredited(
            f"event #{sequence} moved the wallet by {max(moved_minor, 0)}; its {what} would "
            f"claim {claimed_minor}",
            details={"booked_minor": max(moved_minor, 0), "claimed_minor": claimed_minor},
        )


def _sum_amounts(rows) -> int:
    return sum(rows.values_list("amount_minor", flat=True))


def _booked_key(customer: Customer, idempotency_key: str) -> str:
    return f"booked:{customer.pk}:{idempotency_key}"


def booked_lot_get(*, customer: Customer, idempotency_key: str) -> Lot:
    """The lot lot_open_for_booked_credit opened under this key (e.g. a top-up's)."""
    return Lot.objects.get(idempotency_key=_booked_key(customer, idempotency_key))


def lot_open_for_booked_credit(
    *,
    customer: Customer,
    event: AppendedEvent,
    amount_minor: int,
    idempotency_key: str,
    actor: str,
    kind: str = Lot.Kind.PAID,
    priority: int = PRIORITY_DEFAULT,
    expires_at: datetime | None = None,
    source: str = "",
    memo: str = "",
) -> LotResult:
    """Record a lot for credit that `event` already booked on the wallet (a top-up's
    Dr cash / Cr wallet). Call it inside the transaction that appended the event.

    The event must credit the wallet by at least the lots opened on it; the allocator
    must not have passed it yet. A promotional lot opened here must have been booked
    against expense:promotions (its breakage reverses that account).
    """
    now = timezone.now()
    if kind not in (Lot.Kind.PAID, Lot.Kind.PROMOTIONAL):
        raise InvalidLotInput("kind must be paid or promotional")
    terms = LotTerms(kind, amount_minor, priority, expires_at, source, memo)
    terms.check(now)
    _check_idempotency_key(idempotency_key)
    key = _booked_key(customer, idempotency_key)
    request_hash = terms.request_hash(customer, event.sequence)
    wallet = wallet_account(customer=customer)
    with transaction.atomic():
        chain_lock()  # before the idempotency check: a concurrent twin waits here
        earlier = _earlier(Lot, key, request_hash)
        if earlier is not None:
            return LotResult(earlier, replayed=True)
        lot = _open_lot(customer, wallet, terms, event.sequence, key, request_hash, actor, now)
        _check_claims(
            moved_minor=ledger_selectors.account_event_net_get(
                account_id=wallet.id, sequence=event.sequence
            ),
            claimed_minor=_sum_amounts(
                Lot.objects.filter(cursor=lot.cursor, opened_sequence=event.sequence)
            ),
            sequence=event.sequence,
            what="lots",
        )
    return LotResult(lot, replayed=False)


def lot_reduce_for_booked_debit(
    *, lot: Lot, event: AppendedEvent, amount_minor: int, idempotency_key: str, actor: str
) -> LotReversal:
    """Record that `event` debited the wallet to refund (or lose a dispute over) the
    payment that funded `lot`. Call it inside the transaction that appended the event.

    The lot is reduced by at most what remains of it when the allocator reaches the
    event; a debit beyond that leaves the wallet unfunded by the excess (the customer
    spent credit that was then taken back).
    """
    _check_amount(amount_minor)
    _check_idempotency_key(idempotency_key)
    key = f"reversal:{lot.pk}:{idempotency_key}"
    request_hash = _request_hash(lot.pk, event.sequence, amount_minor)
    if lot.kind == Lot.Kind.UNATTRIBUTED:
        raise InvalidLotInput("only a paid or promotional lot is reduced by its refund")
    if event.sequence <= lot.opened_sequence:
        raise InvalidLotInput(f"event #{event.sequence} is not after the lot's event")
    customer = lot.customer
    wallet = wallet_account(customer=customer)
    with transaction.atomic():
        chain_lock()  # before the idempotency check: a concurrent twin waits here
        earlier = _earlier(LotReversal, key, request_hash)
        if earlier is not None:
            return earlier
        cursor = _cursor_for_event(
            customer=customer,
            account=wallet,
            sequence=event.sequence,
            actor=actor,
            now=timezone.now(),
        )
        reversal = LotReversal.objects.create(
            lot=lot,
            sequence=event.sequence,
            amount_minor=amount_minor,
            idempotency_key=key,
            request_hash=request_hash,
            created_at=timezone.now(),
            created_by=actor,
        )
        _check_claims(
            moved_minor=-ledger_selectors.account_event_net_get(
                account_id=wallet.id, sequence=event.sequence
            ),
            claimed_minor=_sum_amounts(
                LotReversal.objects.filter(lot__cursor=cursor, sequence=event.sequence)
            ),
            sequence=event.sequence,
            what="reversals",
        )
    return reversal


# --- allocation ------------------------------------------------------------------------


def _returning_sequences(sequences: Sequence[int]) -> set[int]:
    """Events whose credit to a wallet gives consumption back: a ledger reversal (of a
    usage batch, say) or an explicit capture returned when its usage arrived."""
    kinds = ledger_selectors.event_kinds_get(sequences=sequences)
    return {
        sequence
        for sequence, (event_type, payload_kind) in kinds.items()
        if event_type == "ledger.reversal"
        or (event_type == "ledger.transfer" and payload_kind == CAPTURE_RETURNED_KIND)
    }


def build_movements(
    nets: list[tuple[int, int]], lots: Iterable, reversals: Iterable[tuple[object, int, int]]
) -> list[Movement]:
    """Movements for one wallet from its per-event nets, its lots (by opening and closing
    sequence) and its reversals ((lot, sequence, amount)); flags returned consumption."""
    opens, breakage = defaultdict(list), defaultdict(list)
    for lot in lots:
        opens[lot.opened_sequence].append(lot)
        if lot.breakage_minor:
            breakage[lot.closed_sequence].append(lot)
    aimed = defaultdict(list)
    for lot, sequence, amount in reversals:
        aimed[sequence].append((lot, amount))
    movements = [
        Movement(
            sequence=sequence,
            net_minor=net,
            opens=tuple(opens.get(sequence, ())),
            breakage=tuple(breakage.get(sequence, ())),
            reversals=tuple(aimed.get(sequence, ())),
        )
        for sequence, net in nets
    ]
    returning = _returning_sequences([m.sequence for m in movements if m.general_minor > 0])
    return [
        replace(m, returns_consumption=True) if m.sequence in returning else m for m in movements
    ]


def _unattributed_lot(
    cursor: LotCursor, sequence: int, amount_minor: int, origin: str, actor: str, now: datetime
) -> Lot:
    """A lot for credit no grant or payment declared: the opening balance of the wallet's
    cursor, or a credit the allocator met (an adjustment, consumption given back)."""
    return Lot(
        cursor=cursor,
        customer_id=cursor.customer_id,
        kind=Lot.Kind.UNATTRIBUTED,
        amount_minor=amount_minor,
        priority=PRIORITY_DEFAULT,
        opened_sequence=sequence,
        source="balance before lots" if origin == "opening" else "unattributed credit",
        idempotency_key=f"wallets:lot:{origin}:{cursor.pk}:{sequence}",
        request_hash=_request_hash(origin, cursor.pk, sequence, amount_minor),
        created_at=now,
        created_by=actor,
    )


def _implicit_lot_maker(cursor: LotCursor, actor: str, now: datetime):
    def make(sequence: int, amount_minor: int) -> Lot:
        return _unattributed_lot(cursor, sequence, amount_minor, "implicit", actor, now)

    return make


def _allocate_locked(
    cursors: list[LotCursor], *, through: int, movements_max: int, actor: str
) -> int:
    """Attribute each locked wallet's movements after its cursor up to `through`; the
    cursors (updated in place) and lots are saved. Returns how many movements."""
    if not cursors:
        return 0
    now = timezone.now()
    nets = ledger_selectors.account_movements_list(
        after={c.account_id: c.allocated_through_sequence for c in cursors},
        through=through,
        per_account_max=movements_max,
    )
    ids = [c.pk for c in cursors]
    lots = {
        lot.pk: lot
        for lot in Lot.objects.filter(cursor_id__in=ids).filter(
            Q(closed_sequence__isnull=True)
            | Q(closed_sequence__gt=F("cursor__allocated_through_sequence"))
        )
    }
    reversal_rows = list(
        LotReversal.objects.filter(
            lot__cursor_id__in=ids,
            sequence__gt=F("lot__cursor__allocated_through_sequence"),
            sequence__lte=through,
        ).order_by("pk")
    )
    missing = {r.lot_id for r in reversal_rows} - lots.keys()
    lots |= {lot.pk: lot for lot in Lot.objects.filter(pk__in=missing)}  # closed lots
    new_lots, allocations, moved = [], [], 0
    for cursor in cursors:
        wallet_nets = nets.get(cursor.account_id, [])
        own = [lot for lot in lots.values() if lot.cursor_id == cursor.pk]
        allocator = Allocator.start(
            lots=own,
            unfunded_minor=cursor.unfunded_minor,
            after_sequence=cursor.allocated_through_sequence,
            new_lot=_implicit_lot_maker(cursor, actor, now),
        )
        reversals = [
            (lots[r.lot_id], r.sequence, r.amount_minor)
            for r in reversal_rows
            if lots[r.lot_id].cursor_id == cursor.pk
        ]
        for movement in build_movements(wallet_nets, own, reversals):
            allocations += [(cursor, a) for a in allocator.apply(movement)]
        new_lots += allocator.opened
        moved += len(wallet_nets)
        full = len(wallet_nets) >= movements_max
        cursor.allocated_through_sequence = wallet_nets[-1][0] if full else through
        cursor.unfunded_minor = allocator.unfunded_minor
        cursor.updated_at = now
    Lot.objects.bulk_create(new_lots)  # rare: credits no lot declared
    fresh = {lot.pk for lot in new_lots}
    touched = {a.lot.pk: a.lot for _c, a in allocations if a.lot is not None}
    _save_allocation(
        allocations, [lot for pk, lot in touched.items() if pk not in fresh], cursors, now
    )
    return moved


ALLOCATION_COLUMNS = ("cursor_id", "lot_id", "sequence", "kind", "amount_minor")


def _save_allocation(
    allocations: list, lots: list[Lot], cursors: list[LotCursor], now: datetime
) -> None:
    """Write a run's results with a few statements, whatever its size (the ORM's
    bulk_update would build a CASE per row): COPY the allocations, then one UPDATE from
    arrays each for the lots' counters and the cursors."""
    insert_rows(
        "wallets_lotallocation",
        ALLOCATION_COLUMNS,
        [
            (c.pk, a.lot.pk if a.lot is not None else None, a.sequence, a.kind, a.amount_minor)
            for c, a in allocations
        ],
    )
    with connection.cursor() as cursor:
        if lots:
            cursor.execute(
                "UPDATE wallets_lot l SET consumed_minor = v.consumed,"
                "       reversed_minor = v.reversed, expired_minor = v.expired"
                "  FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])"
                "       AS v(id, consumed, reversed, expired)"
                " WHERE l.id = v.id",
                [
                    [lot.pk for lot in lots],
                    [lot.consumed_minor for lot in lots],
                    [lot.reversed_minor for lot in lots],
                    [lot.expired_minor for lot in lots],
                ],
            )
        cursor.execute(
            "UPDATE wallets_lotcursor c SET allocated_through_sequence = v.through,"
            "       unfunded_minor = v.unfunded, updated_at = %s"
            "  FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS v(id, through, unfunded)"
            " WHERE c.id = v.id",
            [
                now,
                [c.pk for c in cursors],
                [c.allocated_through_sequence for c in cursors],
                [c.unfunded_minor for c in cursors],
            ],
        )


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def lots_allocate(
    *,
    cursor_ids: Sequence[int] | None = None,
    limit: int = CURSORS_PER_RUN_MAX,
    movements_max: int = MOVEMENTS_PER_WALLET_MAX,
    actor: str = ALLOCATOR_ACTOR,
) -> int:
    """Allocate every wallet with postings past its cursor (or the given ones); returns
    how many movements. Idempotent: a second run finds nothing new. Wallets another run
    is allocating are skipped (SKIP LOCKED), never waited for."""
    moved_since = LotCursor.objects.alias(
        ledger_last=ledger_selectors.account_last_sequence("account_id")
    ).filter(ledger_last__gt=F("allocated_through_sequence"))
    if cursor_ids is not None:
        moved_since = moved_since.filter(pk__in=list(cursor_ids))
    due = list(moved_since.order_by("pk").values_list("pk", flat=True)[:limit])
    moved = 0
    for chunk in _chunks(due, CURSORS_PER_TRANSACTION):
        with transaction.atomic():
            locked = lot_cursors_lock(chunk, skip_locked=True)
            moved += _allocate_locked(
                locked,
                through=ledger_selectors.head_sequence_get(),
                movements_max=movements_max,
                actor=actor,
            )
    return moved


# --- expiry ----------------------------------------------------------------------------


def _breakage_event(lot: Lot, wallet: Account, counter: Account) -> NewEvent:
    payload = {
        "book": wallet.book_id,
        "asset": wallet.asset_id,
        "debit": wallet.id,
        "credit": counter.id,
        "amount": lot.remaining_minor,
        "lot": lot.pk,
        "kind": lot.kind,
        "customer": lot.customer.external_id,
    }
    return NewEvent(
        LOT_EXPIRED_EVENT, payload, f"wallets:lot:{lot.pk}:expired", occurred_at=lot.expires_at
    )


def _breakage_account(lot: Lot) -> Account:
    """Unused paid credit is the distributor's revenue; unused promotional credit was
    never a cost, so its expense is reversed."""
    if lot.kind == Lot.Kind.PAID:
        code, account_type = BREAKAGE_ACCOUNT_CODE, Account.Type.REVENUE
    else:
        code, account_type = PROMOTIONS_ACCOUNT_CODE, Account.Type.EXPENSE
    return customer_book_account(customer=lot.customer, code=code, type=account_type)


def _close_lots(lots: list[Lot], closed_sequences: dict[int, int], now: datetime) -> None:
    """Mark lots expired with their breakage (their remainder now) in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE wallets_lot l SET state = %s, breakage_minor = v.breakage,"
            "       closed_sequence = v.closed, closed_at = %s"
            "  FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS v(id, breakage, closed)"
            " WHERE l.id = v.id AND l.state = %s",
            [
                Lot.State.EXPIRED,
                now,
                [lot.pk for lot in lots],
                [lot.remaining_minor for lot in lots],
                [closed_sequences[lot.pk] for lot in lots],
                Lot.State.OPEN,
            ],
        )
        assert cursor.rowcount == len(lots), "a lot closed twice"


def _expire_cursors(cursor_ids: list[int], closing_at: datetime, now: datetime, actor: str) -> int:
    # Catch up without the chain lock first, so that little is left to do under it.
    lots_allocate(cursor_ids=cursor_ids, limit=len(cursor_ids))
    with ledger_errors(), transaction.atomic():
        chain_lock()  # first: nothing may be appended between the allocation and breakage
        cursors = lot_cursors_lock(cursor_ids)
        head = ledger_selectors.head_sequence_get()
        _allocate_locked(cursors, through=head, movements_max=AMOUNT_MAX, actor=ALLOCATOR_ACTOR)
        due = list(
            Lot.objects.select_related("customer", "cursor__account")
            .filter(cursor__in=cursors, state=Lot.State.OPEN, expires_at__lte=closing_at)
            .order_by("pk")
        )
        booked = [lot for lot in due if lot.remaining_minor > 0]
        counters: dict[tuple[int, str], Account] = {}
        for lot in booked:
            if (lot.customer_id, lot.kind) not in counters:
                counters[lot.customer_id, lot.kind] = _breakage_account(lot)
        results = events_record_batch(
            events=[
                _breakage_event(lot, lot.cursor.account, counters[lot.customer_id, lot.kind])
                for lot in booked
            ],
            actor=actor,
        )
        sequences = {lot.pk: result.sequence for lot, result in zip(booked, results, strict=True)}
        assert not any(result.replayed for result in results), "a lot's breakage booked twice"
        # No event for an empty lot: it closes at the head, where allocation stands.
        _close_lots(due, {lot.pk: sequences.get(lot.pk, head) for lot in due}, now)
        _allocate_locked(
            cursors,
            through=ledger_selectors.head_sequence_get(),
            movements_max=AMOUNT_MAX,
            actor=ALLOCATOR_ACTOR,
        )
    return len(due)


def lots_expire(
    *, now: datetime | None = None, actor: str = EXPIRY_ACTOR, limit: int = LOTS_EXPIRED_PER_RUN_MAX
) -> int:
    """Close the lots past their expiry (and the grace): first allocate their wallets up
    to the ledger's head, then book each remainder as breakage, exactly once per lot (its
    key is `wallets:lot:<id>:expired`). Returns how many lots closed."""
    now = now or timezone.now()
    grace_s = getattr(settings, "WALLETS_LOT_EXPIRY_GRACE_S", LOT_EXPIRY_GRACE_S_DEFAULT)
    closing_at = now - timedelta(seconds=grace_s)
    cursor_ids = sorted(
        set(
            Lot.objects.filter(state=Lot.State.OPEN, expires_at__lte=closing_at)
            .order_by("expires_at")
            .values_list("cursor_id", flat=True)[:limit]
        )
    )
    return sum(
        _expire_cursors(chunk, closing_at, now, actor)
        for chunk in _chunks(cursor_ids, CURSORS_PER_TRANSACTION)
    )


# --- replay check ----------------------------------------------------------------------


def _replayed_state(cursor: LotCursor, stored: list[Lot], reversal_rows) -> tuple[Allocator, dict]:
    """Allocate the wallet again from its start, from the log and the declared lots
    (not the allocator's implicit ones), into fresh LotState copies."""
    declared = {
        lot.pk: allocation.LotState(
            amount_minor=lot.amount_minor,
            priority=lot.priority,
            expires_at=lot.expires_at,
            opened_sequence=lot.opened_sequence,
            id=lot.pk,
            closed_sequence=lot.closed_sequence,
            breakage_minor=lot.breakage_minor,
        )
        for lot in stored
        if not _is_implicit(lot, cursor)
    }
    allocator = Allocator.start(
        lots=declared.values(),
        unfunded_minor=max(0, -cursor.opening_balance_minor),
        after_sequence=cursor.start_sequence,
        new_lot=lambda sequence, amount: allocation.LotState(
            amount_minor=amount,
            priority=PRIORITY_DEFAULT,
            expires_at=None,
            opened_sequence=sequence,
        ),
    )
    nets = ledger_selectors.account_movements_list(
        after={cursor.account_id: cursor.start_sequence},
        through=cursor.allocated_through_sequence,
        per_account_max=AMOUNT_MAX,
    ).get(cursor.account_id, [])
    reversals = [(declared[r.lot_id], r.sequence, r.amount_minor) for r in reversal_rows]
    for movement in build_movements(nets, declared.values(), reversals):
        allocator.apply(movement)
    return allocator, declared


def _is_implicit(lot: Lot, cursor: LotCursor) -> bool:
    return lot.kind == Lot.Kind.UNATTRIBUTED and lot.opened_sequence != cursor.start_sequence


def _counters(lot) -> tuple[int, int, int, int]:
    return (lot.amount_minor, lot.consumed_minor, lot.reversed_minor, lot.expired_minor)


def lot_allocations_verify(*, limit_problems: int = 50) -> list[str]:
    """Replay every wallet's allocation and compare it with what is stored; check that the
    wallet's balance at the cursor is its lots' remainders less unfunded consumption."""
    problems: list[str] = []
    lots_by_cursor: dict[int, list[Lot]] = defaultdict(list)
    for lot in Lot.objects.order_by("pk"):
        lots_by_cursor[lot.cursor_id].append(lot)
    reversals_by_cursor = defaultdict(list)
    for row in LotReversal.objects.select_related("lot").order_by("pk"):
        reversals_by_cursor[row.lot.cursor_id].append(row)
    for cursor in LotCursor.objects.order_by("pk"):
        if len(problems) >= limit_problems:
            break
        stored = lots_by_cursor[cursor.pk]
        where = f"lots of customer {cursor.customer_id} (cursor {cursor.pk})"
        opening = account_balance_as_of(
            account_id=cursor.account_id, sequence=cursor.start_sequence
        )
        if opening != cursor.opening_balance_minor:
            problems.append(
                f"{where}: opening balance {cursor.opening_balance_minor}, ledger {opening}"
            )
        allocator, declared = _replayed_state(cursor, stored, reversals_by_cursor[cursor.pk])
        for lot in stored:
            if lot.pk in declared and _counters(lot) != _counters(declared[lot.pk]):
                problems.append(
                    f"{where}: lot {lot.pk} stores (amount, consumed, reversed, expired) "
                    f"{_counters(lot)}, the replay makes {_counters(declared[lot.pk])}"
                )
        implicit = sorted(
            (lot.opened_sequence, *_counters(lot)) for lot in stored if _is_implicit(lot, cursor)
        )
        replayed = sorted((lot.opened_sequence, *_counters(lot)) for lot in allocator.opened)
        if implicit != replayed:
            problems.append(f"{where}: unattributed lots {implicit}, the replay makes {replayed}")
        if allocator.unfunded_minor != cursor.unfunded_minor:
            problems.append(
                f"{where}: unfunded {cursor.unfunded_minor}, the replay makes "
                f"{allocator.unfunded_minor}"
            )
        balance = account_balance_as_of(
            account_id=cursor.account_id, sequence=cursor.allocated_through_sequence
        )
        in_lots = sum(
            lot.remaining_minor
            for lot in stored
            if lot.opened_sequence <= cursor.allocated_through_sequence
        )
        if balance != in_lots - cursor.unfunded_minor:
            problems.append(
                f"{where}: balance {balance} at #{cursor.allocated_through_sequence} is not the "
                f"lots' remainders {in_lots} less unfunded {cursor.unfunded_minor}"
            )
    return problems
