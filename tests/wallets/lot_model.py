"""An independent, deliberately naive model of a wallet with credit lots, written from
the rules in wallets/README.md (not from wallets.lots.allocation): the tests compare the
real allocator, and the real services over the real ledger, with it.

Time is whole days; every operation is one ledger event, in order."""

from dataclasses import dataclass, field

from hypothesis import strategies as st


def grant_operations(amounts, *, priorities_few: int, expiry_days_max: int):
    """("grant", kind, amount, priority, expires in days or None): few priorities are
    drawn often, so that ties (then expiry, then age) decide the order."""
    return st.tuples(
        st.just("grant"),
        st.sampled_from(["paid", "promotional"]),
        amounts,
        st.integers(0, priorities_few) | st.integers(0, 100),
        st.none() | st.integers(1, expiry_days_max),
    )


@dataclass
class ModelLot:
    key: int
    kind: str
    amount: int
    priority: int
    expires_day: int | None
    order: int  # position in the event log: "oldest" means smallest
    consumed: int = 0
    reversed: int = 0
    expired: int = 0
    closed: bool = False
    breakage_booked: int | None = None

    @property
    def left(self) -> int:
        return self.amount - self.consumed - self.reversed - self.expired


@dataclass
class WalletModel:
    lots: list[ModelLot] = field(default_factory=list)
    unfunded: int = 0
    balance: int = 0
    events: int = 0
    # (event number, lot key or None, amount) of every consumption, for order checks
    consumptions: list[tuple[int, int | None, int]] = field(default_factory=list)

    def _rank(self, lot: ModelLot) -> tuple:
        never = 10**9  # later than any day the tests use
        return (
            lot.priority,
            0 if lot.expires_day is not None else 1,
            lot.expires_day if lot.expires_day is not None else never,
            lot.order,
            lot.key,
        )

    def _open_lots_in_order(self) -> list[ModelLot]:
        return sorted((lot for lot in self.lots if not lot.closed), key=self._rank)

    def _event(self) -> int:
        self.events += 1
        return self.events

    def _add_lot(self, key, kind, amount, priority, expires_day) -> ModelLot:
        lot = ModelLot(key, kind, amount, priority, expires_day, self.events)
        self.lots.append(lot)
        paid_back = min(self.unfunded, amount)
        lot.consumed += paid_back
        self.unfunded -= paid_back
        return lot

    def start_lots(self, key) -> ModelLot | None:
        """The wallet's first lot is coming: its history so far becomes an opening balance,
        one unattributed lot of what is left (unfunded consumption stays unfunded)."""
        left = sum(lot.left for lot in self.lots if not lot.closed)
        self.lots = []
        if left <= 0:
            return None
        lot = ModelLot(key, "unattributed", left, 50, None, self.events)
        self.lots.append(lot)
        return lot

    def grant(self, key, kind, amount, priority, expires_day) -> ModelLot:
        self._event()
        self.balance += amount
        return self._add_lot(key, kind, amount, priority, expires_day)

    def credit(self, key, amount) -> ModelLot:
        """A credit that is no lot of its own: an unattributed lot (priority 50)."""
        self._event()
        self.balance += amount
        return self._add_lot(key, "unattributed", amount, 50, None)

    def spend(self, amount: int) -> None:
        number = self._event()
        self.balance -= amount
        for lot in self._open_lots_in_order():
            take = min(lot.left, amount)
            if take > 0:
                lot.consumed += take
                amount -= take
                self.consumptions.append((number, lot.key, take))
        if amount > 0:
            self.unfunded += amount
            self.consumptions.append((number, None, amount))

    def give_back(self, key, amount: int) -> ModelLot | None:
        """Returned consumption: unfunded first, then consumed lots, last in order first;
        the rest is an unattributed lot."""
        self._event()
        self.balance += amount
        repaid = min(self.unfunded, amount)
        self.unfunded -= repaid
        amount -= repaid
        for lot in reversed(self._open_lots_in_order()):
            back = min(lot.consumed, amount)
            lot.consumed -= back
            amount -= back
        if amount > 0:
            return self._add_lot(key, "unattributed", amount, 50, None)
        return None

    def refund(self, lot: ModelLot, amount: int) -> None:
        self._event()
        self.balance -= amount
        take = min(amount, lot.left)
        lot.reversed += take
        self.unfunded += amount - take

    def expire(self, day: int) -> list[ModelLot]:
        """Lots whose expiry day has come: their remainder is breakage, once."""
        closing = sorted(
            (lot for lot in self.lots if not lot.closed and lot.expires_day is not None),
            key=lambda lot: lot.key,
        )
        done = []
        for lot in closing:
            if lot.expires_day <= day:
                if lot.left > 0:
                    self._event()
                    self.balance -= lot.left
                lot.breakage_booked = lot.left
                lot.expired += lot.left
                lot.closed = True
                done.append(lot)
        return done
