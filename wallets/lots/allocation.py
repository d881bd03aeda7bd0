"""Which credit lot paid for what: pure, deterministic rules over a wallet's movements.

The wallet's balance is one ledger account (`wallet:<customer>`); lots are a sub-ledger
that attributes the account's movements to the credits that funded them. This module
holds the rules and nothing else (no database), so the live allocator
(wallets.lots.lots_allocate), the replay check of `ledger_verify` and the property
tests all run the same code.

A *movement* is one ledger event's net effect on the wallet (posted credits minus
posted debits; holds reserve but do not consume). Movements are applied in ledger
sequence order, the one order that is the same on every replay:

1. lots the event funds open (a top-up's paid lot, a promotional grant) and first
   cover consumption no lot paid for ("unfunded": the wallet went negative);
2. debits aimed at one lot are booked against it: its breakage at expiry (exactly
   its remainder), a refund or dispute of the payment that funded it (at most its
   remainder; a refund beyond it leaves the wallet unfunded by the excess);
3. the rest of the movement is general:
   - a debit (usage, a capture) consumes open lots in CONSUMPTION ORDER: priority
     (lower first), then earliest expiry (no expiry last), then oldest; what no lot
     covers is unfunded;
   - a credit that returns consumption (a reversed usage batch, a capture given back)
     first reduces unfunded, then restores consumed lots, last in consumption order
     first; the rest, and any other credit (a finance adjustment), opens an implicit
     lot of kind `unattributed` (default priority, no expiry).

A lot is usable until its breakage is booked (in sequence order): consumption booked
before the breakage event consumes it, even if the usage happened after `expires_at`
and the expiry job had not yet run (it runs every minute); usage booked after it never
does, whenever it happened. That is the rule a replay can reproduce.

Lots are duck-typed: wallets.models.Lot rows in production, `LotState` in tests and
replays; both carry the same field names.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

PRIORITY_MIN, PRIORITY_MAX, PRIORITY_DEFAULT = 0, 100, 50

CONSUMPTION = "consumption"  # a general debit, paid by a lot (or unfunded)
COVER = "cover"  # a newly opened lot pays for earlier unfunded consumption
RESTORATION = "restoration"  # a returned consumption goes back (to unfunded, then lots)
BREAKAGE = "breakage"  # the remainder of an expired lot
REVERSAL = "reversal"  # a refund or dispute of the payment that funded the lot
KINDS = (CONSUMPTION, COVER, RESTORATION, BREAKAGE, REVERSAL)

_NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass(eq=False, slots=True)
class LotState:
    """A lot as the rules see it (the same fields as wallets.models.Lot)."""

    amount_minor: int
    priority: int
    expires_at: datetime | None
    opened_sequence: int
    id: int | None = None
    consumed_minor: int = 0
    reversed_minor: int = 0
    expired_minor: int = 0
    closed_sequence: int | None = None  # the lot is closed for movements after this
    breakage_minor: int | None = None  # the remainder its expiry booked


def remaining_minor(lot) -> int:
    return lot.amount_minor - lot.consumed_minor - lot.reversed_minor - lot.expired_minor


def consumption_order(lot) -> tuple:
    """Priority (lower first), earliest expiry (none last), oldest, then creation."""
    return (
        lot.priority,
        lot.expires_at is None,
        lot.expires_at or _NEVER,
        lot.opened_sequence,
        lot.id is None,  # a lot not stored yet comes after every stored one
        lot.id or 0,
    )


def usable_at(lot, sequence: int) -> bool:
    return lot.closed_sequence is None or sequence <= lot.closed_sequence


@dataclass(frozen=True, slots=True)
class Movement:
    sequence: int
    net_minor: int  # posted credits minus posted debits on the wallet in this event
    opens: tuple = ()  # lots this event funds
    breakage: tuple = ()  # lots whose remainder this event books as breakage
    reversals: tuple[tuple[object, int], ...] = ()  # (lot, amount) refunded or disputed
    returns_consumption: bool = False

    @property
    def general_minor(self) -> int:
        """What is left once lot openings and aimed debits are taken out: < 0 consumes,
        > 0 is a credit that funds no declared lot."""
        aimed = sum(lot.breakage_minor for lot in self.breakage)
        aimed += sum(amount for _lot, amount in self.reversals)
        return self.net_minor - sum(lot.amount_minor for lot in self.opens) + aimed


@dataclass(frozen=True, slots=True)
class Allocation:
    sequence: int
    lot: object | None  # None: unfunded
    kind: str
    amount_minor: int


@dataclass(slots=True)
class Allocator:
    """One wallet's allocation state: its open lots and its unfunded consumption.

    `new_lot(sequence, amount_minor)` makes the implicit lot of an unattributed credit
    (a Lot row not yet saved, or a LotState); `opened` lists those it made.
    """

    lots: list
    unfunded_minor: int
    new_lot: Callable[[int, int], object]
    opened: list = field(default_factory=list)

    @classmethod
    def start(
        cls, *, lots: Iterable, unfunded_minor: int, after_sequence: int, new_lot
    ) -> "Allocator":
        """Lots opened at or before `after_sequence` are live; later ones open when their
        movement comes."""
        assert unfunded_minor >= 0, "unfunded consumption is never negative"
        live = sorted(
            (lot for lot in lots if lot.opened_sequence <= after_sequence), key=consumption_order
        )
        return cls(lots=live, unfunded_minor=unfunded_minor, new_lot=new_lot)

    def apply(self, movement: Movement) -> list[Allocation]:
        out: list[Allocation] = []
        sequence = movement.sequence
        self.lots = [lot for lot in self.lots if usable_at(lot, sequence)]  # drop closed lots
        for lot in sorted(movement.opens, key=consumption_order):
            assert lot.opened_sequence == sequence, "a lot opens at its own event"
            self._open(lot, sequence, out)
        for lot in movement.breakage:
            # The expiry job computed the remainder under the chain lock after allocating
            # everything before it: anything else is a bug, and must stop the allocator.
            assert remaining_minor(lot) == lot.breakage_minor, (
                f"lot {lot.id}: breakage {lot.breakage_minor} is not its remainder "
                f"{remaining_minor(lot)}"
            )
            if lot.breakage_minor:
                lot.expired_minor += lot.breakage_minor
                out.append(Allocation(sequence, lot, BREAKAGE, lot.breakage_minor))
        for lot, amount in movement.reversals:
            taken = min(amount, remaining_minor(lot))
            if taken:
                lot.reversed_minor += taken
                out.append(Allocation(sequence, lot, REVERSAL, taken))
            if amount > taken:
                self.unfunded_minor += amount - taken
                out.append(Allocation(sequence, None, REVERSAL, amount - taken))
        general = movement.general_minor
        if general < 0:
            self._consume(sequence, -general, out)
        elif general > 0:
            if movement.returns_consumption:
                general = self._restore(sequence, general, out)
            if general > 0:
                lot = self.new_lot(sequence, general)
                self.opened.append(lot)
                self._open(lot, sequence, out)
        assert self.unfunded_minor >= 0
        return out

    def _open(self, lot, sequence: int, out: list[Allocation]) -> None:
        self.lots.append(lot)
        self.lots.sort(key=consumption_order)
        covered = min(self.unfunded_minor, remaining_minor(lot))
        if covered:
            lot.consumed_minor += covered
            self.unfunded_minor -= covered
            out.append(Allocation(sequence, lot, COVER, covered))

    def _consume(self, sequence: int, amount: int, out: list[Allocation]) -> None:
        for lot in self.lots:
            if amount == 0:
                return
            taken = min(amount, remaining_minor(lot))
            if taken:
                lot.consumed_minor += taken
                amount -= taken
                out.append(Allocation(sequence, lot, CONSUMPTION, taken))
        if amount:
            self.unfunded_minor += amount
            out.append(Allocation(sequence, None, CONSUMPTION, amount))

    def _restore(self, sequence: int, amount: int, out: list[Allocation]) -> int:
        """Give returned consumption back; returns what nothing could take back."""
        repaid = min(amount, self.unfunded_minor)
        if repaid:
            self.unfunded_minor -= repaid
            amount -= repaid
            out.append(Allocation(sequence, None, RESTORATION, repaid))
        for lot in reversed(self.lots):
            if amount == 0:
                break
            given = min(amount, lot.consumed_minor)
            if given:
                lot.consumed_minor -= given
                amount -= given
                out.append(Allocation(sequence, lot, RESTORATION, given))
        return amount
