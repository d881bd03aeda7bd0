"""Property tests of the pure allocation rules (wallets.lots.allocation), against the naive
model in lot_model.py: random grants with priorities and expiries, random consumption,
returns, credits, refunds and time steps.

Checked: every lot's consumed / reversed / expired amounts and the unfunded amount equal
the model's; each consumption took lots in consumption order; consumption allocated
equals the wallet's debits; breakage equals each lot's remainder at expiry, once; the
wallet balance equals the lots' remainders less unfunded; and allocating the same log
again from scratch, in any number of steps, gives the same allocations."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.wallets.lot_model import WalletModel, grant_operations
from wallets.lots.allocation import (
    BREAKAGE,
    CONSUMPTION,
    COVER,
    Allocator,
    LotState,
    Movement,
    remaining_minor,
)

DAY0 = datetime(2026, 1, 1, tzinfo=UTC)

amounts = st.integers(min_value=1, max_value=1_000)
operations = st.lists(
    st.one_of(
        grant_operations(amounts, priorities_few=3, expiry_days_max=6),
        st.tuples(st.just("spend"), st.integers(1, 2_500)),
        st.tuples(st.just("give_back"), amounts),
        st.tuples(st.just("credit"), amounts),
        st.tuples(st.just("refund"), st.integers(0, 50), st.integers(1, 1_500)),
        st.tuples(st.just("day"), st.integers(1, 3)),
    ),
    max_size=40,
)


def _day(day: int | None) -> datetime | None:
    return None if day is None else DAY0 + timedelta(days=day)


class Driver:
    """Feeds one operation at a time to the real Allocator and to the model, as the
    services would: a movement per ledger event, breakage computed after allocating."""

    def __init__(self) -> None:
        self.model = WalletModel()
        self.states: dict[int, LotState] = {}  # model key -> the allocator's lot
        self.movements: list[Movement] = []
        self.allocations = []
        self.sequence = 0
        self.day = 0
        self.allocator = Allocator.start(
            lots=[], unfunded_minor=0, after_sequence=0, new_lot=self._new_lot
        )
        self.keys = iter(range(1, 10_000))

    @staticmethod
    def _new_lot(sequence: int, amount: int) -> LotState:
        return LotState(amount, 50, None, sequence)

    def _apply(self, movement: Movement, implicit_key: int | None = None) -> None:
        self.movements.append(movement)
        before = len(self.allocator.opened)
        self.allocations += self.allocator.apply(movement)
        for lot in self.allocator.opened[before:]:
            self.states[implicit_key] = lot
        assert self.sequence == self.model.events, "one ledger event per model event"

    def run(self, op: tuple) -> None:
        kind = op[0]
        if kind == "grant":
            _, lot_kind, amount, priority, expires_in = op
            expires_day = None if expires_in is None else self.day + expires_in
            key = next(self.keys)
            self.sequence += 1
            state = LotState(amount, priority, _day(expires_day), self.sequence, id=key)
            self.states[key] = state
            self.model.grant(key, lot_kind, amount, priority, expires_day)
            self._apply(Movement(self.sequence, amount, opens=(state,)))
        elif kind == "spend":
            self.sequence += 1
            self.model.spend(op[1])
            self._apply(Movement(self.sequence, -op[1]))
        elif kind in ("give_back", "credit"):
            key = next(self.keys)
            self.sequence += 1
            if kind == "give_back":
                self.model.give_back(key, op[1])
            else:
                self.model.credit(key, op[1])
            returning = kind == "give_back"
            self._apply(Movement(self.sequence, op[1], returns_consumption=returning), key)
        elif kind == "refund":
            granted = [k for k, s in self.states.items() if s.id is not None]
            if not granted:
                return
            key = granted[op[1] % len(granted)]
            model_lot = next(lot for lot in self.model.lots if lot.key == key)
            self.sequence += 1
            self.model.refund(model_lot, op[2])
            self._apply(Movement(self.sequence, -op[2], reversals=((self.states[key], op[2]),)))
        elif kind == "day":
            self.day += op[1]
            self._expire()

    def _expire(self) -> None:
        """As wallets.lots.services.lots_expire: allocation is current, so book each remainder."""
        self.model.expire(self.day)
        due = sorted(
            (
                s
                for s in self.states.values()
                if s.expires_at is not None
                and s.expires_at <= _day(self.day)
                and s.closed_sequence is None
            ),
            key=lambda s: s.id,
        )
        for state in due:
            state.breakage_minor = remaining_minor(state)
            if state.breakage_minor:
                self.sequence += 1
                state.closed_sequence = self.sequence
                self.movements.append(
                    Movement(self.sequence, -state.breakage_minor, breakage=(state,))
                )
                self.allocations += self.allocator.apply(self.movements[-1])
            else:
                state.closed_sequence = self.sequence  # closes where allocation stands
        assert self.sequence == self.model.events


@settings(max_examples=400, deadline=None)
@given(operations)
def test_the_allocator_agrees_with_the_naive_model(ops):
    driver = Driver()
    for op in ops:
        driver.run(op)
    model = driver.model
    model_lots = {lot.key: lot for lot in model.lots}
    assert set(driver.states) == set(model_lots)
    for key, state in driver.states.items():
        lot = model_lots[key]
        assert (state.amount_minor, state.opened_sequence) == (lot.amount, lot.order), key
        assert (state.consumed_minor, state.reversed_minor, state.expired_minor) == (
            lot.consumed,
            lot.reversed,
            lot.expired,
        ), key
    assert driver.allocator.unfunded_minor == model.unfunded
    balance = sum(m.net_minor for m in driver.movements)
    assert balance == model.balance
    assert balance == sum(remaining_minor(s) for s in driver.states.values()) - model.unfunded


@settings(max_examples=300, deadline=None)
@given(operations)
def test_consumption_follows_priority_then_expiry_then_age(ops):
    """Each debit is taken from the lots the model picks, in the model's order (priority,
    earliest expiry with none last, oldest), and what it takes adds up to the debit."""
    driver = Driver()
    for op in ops:
        driver.run(op)
    keys = {id(state): key for key, state in driver.states.items()}
    taken = [
        (a.sequence, None if a.lot is None else keys[id(a.lot)], a.amount_minor)
        for a in driver.allocations
        if a.kind == CONSUMPTION
    ]
    assert taken == driver.model.consumptions
    debits = -sum(m.general_minor for m in driver.movements if m.general_minor < 0)
    assert sum(amount for _s, _k, amount in taken) == debits


@settings(max_examples=300, deadline=None)
@given(operations)
def test_breakage_is_the_remainder_at_expiry_exactly_once(ops):
    driver = Driver()
    for op in ops:
        driver.run(op)
    breakage = [a for a in driver.allocations if a.kind == BREAKAGE]
    lots_with_breakage = [a.lot for a in breakage]
    assert len(lots_with_breakage) == len(set(map(id, lots_with_breakage)))  # once per lot
    model_lots = {lot.key: lot for lot in driver.model.lots}
    keys = {id(state): key for key, state in driver.states.items()}
    for allocation in breakage:
        key = keys[id(allocation.lot)]
        assert allocation.amount_minor == model_lots[key].breakage_booked
        assert allocation.amount_minor == allocation.lot.breakage_minor
        assert remaining_minor(allocation.lot) == 0
    for state in driver.states.values():
        if state.closed_sequence is not None:
            assert state.expired_minor == state.breakage_minor


@settings(max_examples=300, deadline=None)
@given(operations, st.lists(st.integers(0, 60), max_size=5))
def test_allocating_again_in_any_steps_changes_nothing(ops, cuts):
    driver = Driver()
    for op in ops:
        driver.run(op)
    # A fresh allocation of the same log and declared lots (what a replay sees), done
    # in several runs that each resume from the last one's state (the cursor).
    declared = {
        key: LotState(
            s.amount_minor,
            s.priority,
            s.expires_at,
            s.opened_sequence,
            id=s.id,
            closed_sequence=s.closed_sequence,
            breakage_minor=s.breakage_minor,
        )
        for key, s in driver.states.items()
        if s.id is not None
    }
    twin = {id(driver.states[key]): lot for key, lot in declared.items()}

    def translate(movement: Movement) -> Movement:
        return Movement(
            movement.sequence,
            movement.net_minor,
            opens=tuple(twin[id(lot)] for lot in movement.opens),
            breakage=tuple(twin[id(lot)] for lot in movement.breakage),
            reversals=tuple((twin[id(lot)], amount) for lot, amount in movement.reversals),
            returns_consumption=movement.returns_consumption,
        )

    movements = [translate(m) for m in driver.movements]
    bounds = sorted({min(cut, len(movements)) for cut in cuts} | {len(movements)})
    lots, unfunded, after, start, again = list(declared.values()), 0, 0, 0, []
    for bound in bounds:
        allocator = Allocator.start(
            lots=lots, unfunded_minor=unfunded, after_sequence=after, new_lot=driver._new_lot
        )
        for movement in movements[start:bound]:
            again += allocator.apply(movement)
        lots += allocator.opened
        unfunded = allocator.unfunded_minor
        after = movements[bound - 1].sequence if bound else 0
        start = bound

    def shape(allocations):
        return [
            (a.sequence, a.kind, a.amount_minor, None if a.lot is None else a.lot.opened_sequence)
            for a in allocations
        ]

    assert shape(again) == shape(driver.allocations)
    assert unfunded == driver.allocator.unfunded_minor
    for key, lot in declared.items():
        original = driver.states[key]
        assert (lot.consumed_minor, lot.reversed_minor, lot.expired_minor) == (
            original.consumed_minor,
            original.reversed_minor,
            original.expired_minor,
        )


def test_a_new_lot_covers_unfunded_consumption_first():
    allocator = Allocator.start(
        lots=[], unfunded_minor=0, after_sequence=0, new_lot=lambda s, a: LotState(a, 50, None, s)
    )
    allocator.apply(Movement(1, -70))
    lot = LotState(100, 0, None, 2, id=1)
    allocations = allocator.apply(Movement(2, 100, opens=(lot,)))
    assert [(a.kind, a.amount_minor) for a in allocations] == [(COVER, 70)]
    assert (allocator.unfunded_minor, remaining_minor(lot)) == (0, 30)
