"""Property test of credit lots through the real services and the real ledger: random
paid and promotional lots with priorities and expiries, random consumption (ledger
debits and real metering usage batches), returned consumption (ledger reversals),
credits, refunds, allocator runs at random moments, and time steps that run the expiry.

Compared with the naive model (lot_model.py): every lot's consumed / reversed / expired
amounts, unfunded consumption and the wallet's balance. Also: consumption allocated
equals the wallet's debits; breakage is booked once per lot with its remainder at
expiry (and a second expiry run books nothing); a second allocator run changes nothing;
ledger_verify (which replays the allocation from the log) finds no problem."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import services as ledger_services
from ledger.integrity import verify_ledger
from ledger.models import Event
from metering.models import UsageRecord
from metering.pipeline import Pipeline
from tests.metering.conftest import raw, usage
from tests.wallets.factories import paid_topup, promotion, refund, spend, wallet, wallet_topup
from tests.wallets.lot_model import WalletModel, grant_operations
from wallets.lots import services as lots
from wallets.models import Lot, LotAllocation, LotCursor

pytestmark = pytest.mark.django_db

amounts = st.integers(min_value=1, max_value=3_000_000)
operations = st.lists(
    st.one_of(
        grant_operations(amounts, priorities_few=2, expiry_days_max=4),
        st.tuples(st.just("spend"), st.integers(1, 5_000_000)),
        st.tuples(st.just("usage"), st.integers(1, 3)),
        st.tuples(st.just("give_back"), st.integers(0, 30)),
        st.tuples(st.just("credit"), amounts),
        st.tuples(st.just("refund"), st.integers(0, 30), st.integers(1, 3_000_000)),
        st.tuples(st.just("allocate")),
        st.tuples(st.just("day"), st.integers(1, 2)),
    ),
    min_size=1,
    max_size=18,
)


class _Rollback(Exception):
    pass


class Scenario:
    def __init__(self, customer):
        self.customer = customer
        self.model = WalletModel()
        self.lots: dict[int, Lot] = {}  # model key -> Lot
        self.returnable: list[tuple[int, int]] = []  # (entry id, amount) not yet reversed
        self.start = timezone.now()
        self.day = 0
        self.keys = iter(range(1, 10_000))
        self.opening = None  # the model's opening lot once lots started (False: none)

    def at(self, day: int):
        return self.start + timedelta(days=day)

    def run(self, op: tuple) -> None:
        kind = op[0]
        if kind == "grant":
            _, lot_kind, amount, priority, expires_in = op
            expires_day = None if expires_in is None else self.day + expires_in
            fields = {
                "priority": priority,
                "expires_at": self.at(expires_day) if expires_day else None,
            }
            make = paid_topup if lot_kind == "paid" else promotion
            if self.opening is None:  # the wallet's first lot: as LotCursor does
                self.opening = self.model.start_lots(next(self.keys)) or False
            key = next(self.keys)
            self.lots[key] = make(self.customer, amount, **fields)
            self.model.grant(key, lot_kind, amount, priority, expires_day)
        elif kind == "spend":
            event = spend(self.customer, op[1])
            self.returnable.append((event.entry_ids[0], op[1]))
            self.model.spend(op[1])
        elif kind == "usage":
            before = set(UsageRecord.objects.values_list("pk", flat=True))
            Pipeline().process([raw(usage(self.customer.external_id)) for _ in range(op[1])])
            added = list(UsageRecord.objects.exclude(pk__in=before))
            price = sum(record.price_minor for record in added)
            entry = added[0].ledger_event.entries.get()
            self.returnable.append((entry.id, price))
            self.model.spend(price)
        elif kind == "give_back" and self.returnable:
            entry_id, amount = self.returnable.pop(op[1] % len(self.returnable))
            ledger_services.entry_reverse(
                entry_id=entry_id, idempotency_key=f"undo:{entry_id}", actor="prop"
            )
            self.model.give_back(next(self.keys), amount)
        elif kind == "credit":
            wallet_topup(self.customer, op[1])
            self.model.credit(next(self.keys), op[1])
        elif kind == "refund":
            declared = [key for key, lot in self.lots.items() if lot.kind == "paid"]
            if declared:
                key = declared[op[1] % len(declared)]
                refund(self.lots[key], op[2])
                model_lot = next(lot for lot in self.model.lots if lot.key == key)
                self.model.refund(model_lot, op[2])
        elif kind == "allocate":
            lots.lots_allocate()
        elif kind == "day":
            self.day += op[1]
            lots.lots_expire(now=self.at(self.day) + timedelta(hours=1))
            self.model.expire(self.day)

    def check(self) -> None:
        lots.lots_allocate()
        model = self.model
        for key, lot in self.lots.items():
            lot.refresh_from_db()
            model_lot = next(m for m in model.lots if m.key == key)
            assert (lot.consumed_minor, lot.reversed_minor, lot.expired_minor) == (
                model_lot.consumed,
                model_lot.reversed,
                model_lot.expired,
            ), (key, lot.kind)
            if model_lot.closed:
                assert (lot.state, lot.breakage_minor) == ("expired", model_lot.breakage_booked)
        cursor = LotCursor.objects.filter(customer=self.customer).first()
        assert wallet(self.customer).balance == model.balance
        if cursor is None:  # no lot was ever opened: nothing to attribute
            assert not self.lots
            return
        # History before the first lot is the cursor's opening balance (one lot, or none).
        opening = Lot.objects.filter(
            customer=self.customer, opened_sequence=cursor.start_sequence
        ).first()
        expected_opening = (self.opening.amount, self.opening.left) if self.opening else None
        assert (
            (opening.amount_minor, opening.remaining_minor) if opening else None
        ) == expected_opening
        after = [m for m in model.lots if m.kind == "unattributed" and m is not self.opening]
        declared = {lot.pk for lot in self.lots.values()}
        implicit = sorted(
            (lot.amount_minor, lot.consumed_minor)
            for lot in Lot.objects.filter(customer=self.customer, kind="unattributed")
            .exclude(pk__in=declared)
            .exclude(opened_sequence=cursor.start_sequence)
        )
        assert implicit == sorted((m.amount, m.consumed) for m in after)
        assert cursor.unfunded_minor == model.unfunded
        stored = Lot.objects.filter(customer=self.customer)
        assert model.balance == sum(lot.remaining_minor for lot in stored) - cursor.unfunded_minor

        # Breakage: one event per lot, its remainder; a second expiry run books nothing.
        for lot in stored.filter(state="expired"):
            events = Event.objects.filter(idempotency_key=f"wallets:lot:{lot.pk}:expired")
            assert events.count() == (1 if lot.breakage_minor else 0)
            if lot.breakage_minor:
                assert events.get().payload["amount"] == lot.breakage_minor == lot.expired_minor
        breakages = Event.objects.filter(type="wallets.lot.expired").count()
        assert lots.lots_expire(now=self.at(self.day) + timedelta(hours=1)) == 0
        assert Event.objects.filter(type="wallets.lot.expired").count() == breakages

        allocations = list(LotAllocation.objects.order_by("pk").values_list())
        assert lots.lots_allocate() == 0
        assert list(LotAllocation.objects.order_by("pk").values_list()) == allocations
        report = verify_ledger()
        assert report.ok, report.problems


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
def test_lots_over_the_real_ledger_agree_with_the_model(world, ops):
    try:
        with transaction.atomic():
            scenario = Scenario(world["acme"])
            for op in ops:
                scenario.run(op)
            scenario.check()
            raise _Rollback
    except _Rollback:
        pass
