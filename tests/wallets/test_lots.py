"""Credit lots over the real ledger: grants, paid lots for booked top-ups, consumption by
real metering usage batches, unfunded usage, refunds, returned captures, expiry with
breakage, idempotency, and the replay check of ledger_verify."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from ledger import services as ledger_services
from ledger.integrity import verify_ledger
from ledger.models import Account, Event
from ledger.selectors import account_balance_get, trial_balance_list
from metering.models import UsageRecord
from metering.pipeline import Pipeline
from tests.metering.conftest import raw, usage
from tests.wallets.factories import (
    paid_topup,
    promotion,
    refund,
    spend,
    wallet,
    wallet_topup,
)
from tests.wallets.test_capture_by_usage import authorize
from wallets import errors, services
from wallets.lots import services as lots
from wallets.models import Lot, LotAllocation, LotCursor

pytestmark = pytest.mark.django_db

USD = 10**9


def book_usage(customer: str, count: int = 1, **fields) -> int:
    """Book `count` real usage events in one metering batch; returns their total price."""
    before = set(UsageRecord.objects.values_list("pk", flat=True))
    Pipeline().process([raw(usage(customer, **fields)) for _ in range(count)])
    added = UsageRecord.objects.exclude(pk__in=before)
    return sum(added.values_list("price_minor", flat=True))


def fresh(lot: Lot) -> Lot:
    lot.refresh_from_db()
    return lot


def days(n: int):
    return timezone.now() + timedelta(days=n)


def account(customer, code: str):
    found = Account.objects.get(book=customer.book, asset=customer.currency, code=code)
    return account_balance_get(account_id=found.id)


def assert_consistent(customer) -> None:
    """The wallet's balance is its lots' remainders less unfunded consumption, the books
    balance, and ledger_verify (with the lots replay) finds nothing."""
    cursor = LotCursor.objects.get(customer=customer)
    in_lots = sum(lot.remaining_minor for lot in Lot.objects.filter(customer=customer))
    assert wallet(customer).balance == in_lots - cursor.unfunded_minor
    assert all(row.difference == 0 for row in trial_balance_list())
    report = verify_ledger()
    assert report.ok, report.problems


def test_usage_batches_consume_lots_by_priority_then_expiry_then_age(world):
    acme = world["acme"]
    late_promo = promotion(acme, 2 * USD, priority=10, expires_at=days(30))
    paid = paid_topup(acme, 5 * USD, priority=10)  # no expiry: after both promotions
    early_promo = promotion(acme, 1 * USD, priority=10, expires_at=days(5))
    first = paid_topup(acme, USD // 1000, priority=0)  # the lowest priority number goes first
    same_expiry_older = promotion(acme, USD // 1000, priority=10, expires_at=days(5))
    # same priority and expiry as `same_expiry_older`, but opened later
    same_expiry_newer = promotion(acme, USD // 1000, priority=10, expires_at=days(5))
    same_expiry_newer.expires_at = same_expiry_older.expires_at
    Lot.objects.filter(pk=same_expiry_newer.pk).update(expires_at=same_expiry_older.expires_at)

    price = book_usage("acme", count=40, input=200_000, output=50_000)
    assert lots.lots_allocate() >= 1

    order = [first, early_promo, same_expiry_older, same_expiry_newer, late_promo, paid]
    expected, left = [], price
    for lot in order:
        take = min(left, lot.amount_minor)
        expected.append(take)
        left -= take
    assert left == 0, "the test's usage must stay within the lots"
    assert [fresh(lot).consumed_minor for lot in order] == expected
    assert 0 < expected[-1] < paid.amount_minor  # every lot before the last one emptied
    assert (
        sum(LotAllocation.objects.filter(kind="consumption").values_list("amount_minor", flat=True))
        == price
    )
    assert_consistent(acme)


def test_consumption_beyond_all_lots_is_unfunded_until_the_next_lot_covers_it(world):
    acme = world["acme"]
    promo = promotion(acme, 1000)
    spend(acme, 1500)
    lots.lots_allocate()
    cursor = LotCursor.objects.get(customer=acme)
    assert (fresh(promo).remaining_minor, cursor.unfunded_minor) == (0, 500)
    assert wallet(acme).balance == -500

    paid = paid_topup(acme, 800)
    lots.lots_allocate()
    cursor.refresh_from_db()
    assert cursor.unfunded_minor == 0
    assert (fresh(paid).consumed_minor, paid.remaining_minor) == (500, 300)
    assert LotAllocation.objects.filter(lot=paid, kind="cover").get().amount_minor == 500
    assert_consistent(acme)


def test_holds_reserve_but_do_not_consume(world):
    acme = world["acme"]
    promo = promotion(acme, USD)
    found = authorize(acme)
    assert found.decision == "approved"
    lots.lots_allocate()
    assert fresh(promo).consumed_minor == 0
    assert wallet(acme).available == USD - found.amount_minor
    assert_consistent(acme)


def test_a_wallet_balance_from_before_lots_becomes_an_unattributed_lot(world):
    acme = world["acme"]
    wallet_topup(acme, 700)  # booked before lots existed: no lot
    promo = promotion(acme, 300, expires_at=days(3))
    opening = Lot.objects.get(customer=acme, kind="unattributed")
    assert (opening.amount_minor, opening.expires_at) == (700, None)
    assert LotCursor.objects.get(customer=acme).opening_balance_minor == 700

    spend(acme, 400)
    lots.lots_allocate()
    # Same priority: the expiring promotion is consumed before credit that never expires.
    assert (fresh(promo).consumed_minor, fresh(opening).consumed_minor) == (300, 100)
    assert_consistent(acme)


def test_a_negative_wallet_before_lots_starts_unfunded(world):
    acme = world["acme"]
    spend(acme, 250)
    promo = promotion(acme, 1000)
    assert LotCursor.objects.get(customer=acme).unfunded_minor == 250
    lots.lots_allocate()
    assert fresh(promo).consumed_minor == 250
    assert LotCursor.objects.get(customer=acme).unfunded_minor == 0
    assert_consistent(acme)


def test_a_finance_adjustment_credit_opens_an_unattributed_lot_after_unfunded(world):
    acme = world["acme"]
    promotion(acme, 100)
    spend(acme, 160)
    wallet_topup(acme, 1000)  # a credit no lot declares (a goodwill adjustment)
    lots.lots_allocate()
    implicit = Lot.objects.get(customer=acme, kind="unattributed")
    assert (implicit.amount_minor, implicit.consumed_minor) == (1000, 60)
    assert LotCursor.objects.get(customer=acme).unfunded_minor == 0
    assert_consistent(acme)


def test_a_refund_reduces_its_lot_and_the_excess_is_unfunded(world):
    acme = world["acme"]
    paid = paid_topup(acme, 1000)
    promo = promotion(acme, 500, priority=90)  # consumed after the paid lot
    spend(acme, 800)
    refund(paid, 1000)  # a dispute of the whole payment after 800 were spent
    lots.lots_allocate()
    paid.refresh_from_db()
    assert (paid.consumed_minor, paid.reversed_minor, paid.remaining_minor) == (800, 200, 0)
    assert fresh(promo).remaining_minor == 500  # a refund never takes another lot
    assert LotCursor.objects.get(customer=acme).unfunded_minor == 800
    assert wallet(acme).balance == 500 - 800
    assert_consistent(acme)


def test_a_reversal_must_match_a_booked_debit(world):
    acme = world["acme"]
    paid = paid_topup(acme, 1000)
    event = spend(acme, 100)
    with pytest.raises(errors.LotEventNotCredited):
        lots.lot_reduce_for_booked_debit(
            lot=paid, event=event, amount_minor=101, idempotency_key="r", actor="test"
        )
    first = lots.lot_reduce_for_booked_debit(
        lot=paid, event=event, amount_minor=100, idempotency_key="r", actor="test"
    )
    again = lots.lot_reduce_for_booked_debit(
        lot=paid, event=event, amount_minor=100, idempotency_key="r", actor="test"
    )
    assert again.pk == first.pk
    with pytest.raises(errors.IdempotencyConflict):
        lots.lot_reduce_for_booked_debit(
            lot=paid, event=event, amount_minor=99, idempotency_key="r", actor="test"
        )


def test_a_reversed_usage_batch_gives_its_consumption_back(world):
    acme = world["acme"]
    promo = promotion(acme, USD, priority=10, expires_at=days(10))
    paid = paid_topup(acme, USD, priority=50)
    price = book_usage("acme", count=3)
    lots.lots_allocate()
    assert fresh(promo).consumed_minor == price

    entry = UsageRecord.objects.first().ledger_event.entries.get()
    ledger_services.entry_reverse(entry_id=entry.id, idempotency_key="undo-batch", actor="test")
    lots.lots_allocate()
    assert fresh(promo).consumed_minor == 0  # restored to the lot it came from
    assert fresh(paid).consumed_minor == 0
    assert not Lot.objects.filter(customer=acme, kind="unattributed").exists()
    assert_consistent(acme)


def test_an_explicit_capture_returned_for_usage_restores_the_lot(world):
    acme = world["acme"]
    promo = promotion(acme, USD, priority=10, expires_at=days(10))
    paid = paid_topup(acme, USD)
    found = authorize(acme)
    services.authorization_capture(public_id=found.public_id, amount_minor=12345, actor="test")
    lots.lots_allocate()
    assert fresh(promo).consumed_minor == 12345
    # The usage arrives: the capture goes back to the wallet and the usage books the price.
    price = book_usage("acme", authorization_id=str(found.public_id))
    lots.lots_allocate()
    assert fresh(promo).consumed_minor == price  # not 12345 + price
    assert fresh(paid).consumed_minor == 0
    assert_consistent(acme)


def test_expiry_books_each_remainder_as_breakage_exactly_once(world):
    acme = world["acme"]
    paid = paid_topup(acme, 1000, priority=0, expires_at=days(1))
    promo = promotion(acme, 600, priority=1, expires_at=days(2))
    keeper = promotion(acme, 50, priority=2)  # no expiry
    spend(acme, 1300)

    assert lots.lots_expire(now=days(1) + timedelta(seconds=1)) == 1  # the paid lot only
    paid.refresh_from_db()
    assert (paid.state, paid.consumed_minor, paid.breakage_minor) == ("expired", 1000, 0)
    assert not Event.objects.filter(type="wallets.lot.expired").exists()  # nothing left

    later = days(3)
    assert lots.lots_expire(now=later) == 1
    promo.refresh_from_db()
    assert (promo.consumed_minor, promo.expired_minor, promo.breakage_minor) == (300, 300, 300)
    breakage = Event.objects.get(type="wallets.lot.expired")
    assert breakage.idempotency_key == f"wallets:lot:{promo.pk}:expired"
    assert breakage.payload["amount"] == 300
    assert promo.closed_sequence == breakage.sequence
    # A promotion's unused part reverses its expense: 600 granted + 50, 300 expired.
    assert account(acme, "expense:promotions").balance == 650 - 300
    assert wallet(acme).balance == 1000 + 650 - 1300 - 300
    assert fresh(keeper).remaining_minor == 50

    assert lots.lots_expire(now=later) == 0
    assert Event.objects.filter(type="wallets.lot.expired").count() == 1
    assert_consistent(acme)


def test_unused_paid_credit_becomes_breakage_revenue(world):
    acme = world["acme"]
    paid = paid_topup(acme, 900, expires_at=days(1))
    spend(acme, 100)
    assert lots.lots_expire(now=days(2)) == 1
    assert fresh(paid).expired_minor == 800
    assert account(acme, "revenue:breakage").balance == 800
    assert wallet(acme).balance == 0
    assert_consistent(acme)


def test_usage_booked_before_the_breakage_consumes_the_lot_and_after_it_does_not(world):
    """Ledger sequence order decides: usage booked after expires_at but before the expiry
    job ran still consumes the lot; usage booked after its breakage never does."""
    acme = world["acme"]
    promo = promotion(acme, USD, expires_at=days(1))
    Lot.objects.filter(pk=promo.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    late = book_usage("acme", count=2)  # after expires_at, before the job
    assert lots.lots_expire() == 1
    promo.refresh_from_db()
    assert (promo.consumed_minor, promo.expired_minor) == (late, USD - late)

    later = book_usage("acme")
    lots.lots_allocate()
    assert fresh(promo).consumed_minor == late
    assert LotCursor.objects.get(customer=acme).unfunded_minor == later
    assert_consistent(acme)


def test_the_allocator_is_idempotent(world):
    acme = world["acme"]
    promotion(acme, USD)
    paid_topup(acme, USD)
    book_usage("acme", count=5)
    assert lots.lots_allocate() > 0
    snapshot = list(LotAllocation.objects.order_by("pk").values_list())
    lots_before = list(Lot.objects.order_by("pk").values_list())
    assert lots.lots_allocate() == 0
    assert list(LotAllocation.objects.order_by("pk").values_list()) == snapshot
    assert list(Lot.objects.order_by("pk").values_list()) == lots_before


def test_a_backlog_is_allocated_in_bounded_steps(world):
    acme = world["acme"]
    promo = promotion(acme, 10_000)
    for _ in range(5):
        spend(acme, 100)
    # Six movements: the grant and five debits, two per run.
    assert lots.lots_allocate(movements_max=2) == 2
    assert fresh(promo).consumed_minor == 100
    assert lots.lots_allocate(movements_max=2) == 2
    assert fresh(promo).consumed_minor == 300
    assert lots.lots_allocate(movements_max=2) == 2
    assert lots.lots_allocate(movements_max=2) == 0
    assert fresh(promo).consumed_minor == 500
    assert_consistent(acme)


def test_a_grant_is_idempotent_and_a_reused_key_with_other_input_is_refused(world):
    acme = world["acme"]
    kwargs = {"customer": acme, "amount_minor": 500, "idempotency_key": "spring", "actor": "t"}
    first = lots.lot_grant(**kwargs)
    again = lots.lot_grant(**kwargs)
    assert not first.replayed and again.replayed and again.lot.pk == first.lot.pk
    assert Event.objects.filter(type="wallets.lot.granted").count() == 1
    with pytest.raises(errors.IdempotencyConflict):
        lots.lot_grant(**(kwargs | {"amount_minor": 501}))
    assert wallet(acme).balance == 500


@pytest.mark.parametrize(
    "bad",
    [
        {"amount_minor": 0},
        {"amount_minor": -5},
        {"amount_minor": 1.5},
        {"priority": 101},
        {"priority": -1},
        {"expires_at": "tomorrow"},
        {"expires_at": timezone.now() - timedelta(seconds=1)},
        {"expires_at": timezone.now().replace(tzinfo=None) + timedelta(days=1)},
        {"idempotency_key": ""},
        {"idempotency_key": "k" * 101},
        {"source": "s" * 201},
    ],
)
def test_bad_grant_input_is_refused(world, bad):
    kwargs = {"customer": world["acme"], "amount_minor": 5, "idempotency_key": "k", "actor": "t"}
    with pytest.raises(errors.InvalidLotInput):
        lots.lot_grant(**(kwargs | bad))
    assert not Lot.objects.exists()


def test_lots_fund_prepaid_wallets_only(world):
    with pytest.raises(errors.WalletNotPrepaid):
        lots.lot_grant(customer=world["globex"], amount_minor=5, idempotency_key="k", actor="t")


def test_a_paid_lot_needs_the_credit_its_event_booked(world):
    acme = world["acme"]
    event = spend(acme, 10)  # a debit: it credits nothing
    with pytest.raises(errors.LotEventNotCredited):
        lots.lot_open_for_booked_credit(
            customer=acme, event=event, amount_minor=10, idempotency_key="k", actor="t"
        )
    topup = ledger_services.adjustment_post(
        book=acme.book,
        postings=[
            ledger_services.PostingSpec(
                ledger_services.account_create(
                    book=acme.book, asset=acme.currency, code="cash:test", type="asset"
                ).id,
                acme.currency_id,
                "D",
                100,
            ),
            ledger_services.PostingSpec(
                lots.wallet_account(customer=acme).id, acme.currency_id, "C", 100
            ),
        ],
        memo="top-up",
        idempotency_key="topup-1",
        actor="t",
    )
    paid = lots.lot_open_for_booked_credit(
        customer=acme, event=topup, amount_minor=90, idempotency_key="paid", actor="t"
    ).lot
    bonus = lots.lot_open_for_booked_credit(
        customer=acme,
        event=topup,
        amount_minor=10,
        kind="promotional",
        idempotency_key="bonus",
        actor="t",
    ).lot
    assert (paid.kind, bonus.kind) == ("paid", "promotional")
    with pytest.raises(errors.LotEventNotCredited):  # the event credited 100, all in lots
        lots.lot_open_for_booked_credit(
            customer=acme, event=topup, amount_minor=1, idempotency_key="more", actor="t"
        )
    lots.lots_allocate()
    with pytest.raises(errors.LotEventAlreadyAllocated):
        lots.lot_open_for_booked_credit(
            customer=acme, event=event, amount_minor=1, idempotency_key="late", actor="t"
        )
    assert_consistent(acme)


def test_verify_finds_a_tampered_lot(world):
    acme = world["acme"]
    promo = promotion(acme, 1000)
    spend(acme, 300)
    lots.lots_allocate()
    assert verify_ledger().ok
    Lot.objects.filter(pk=promo.pk).update(consumed_minor=299)
    problems = verify_ledger().problems
    assert any(f"lot {promo.pk} stores" in p for p in problems), problems
    assert any("is not the lots' remainders" in p for p in problems), problems


def test_the_tasks_allocate_and_expire_and_beat_runs_them(world, settings):
    from wallets.tasks import allocate_lots, expire_lots

    acme = world["acme"]
    promo = promotion(acme, 100, expires_at=days(1))
    spend(acme, 40)
    assert allocate_lots.apply().get() == 2  # the grant and the debit
    assert fresh(promo).consumed_minor == 40
    Lot.objects.filter(pk=promo.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert expire_lots.apply().get() == 1
    assert fresh(promo).expired_minor == 60
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["wallets-allocate-lots"]["task"] == "wallets.allocate_lots"
    assert schedule["wallets-expire-lots"]["task"] == "wallets.expire_lots"


def test_the_lot_tables_add_nothing_to_the_usage_path(world):
    """Metering books usage without touching lots: the batch's transaction writes no
    wallets_lot* row (allocation happens afterwards, by the allocator)."""
    acme = world["acme"]
    promotion(acme, USD)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM wallets_lotallocation")
        before = cursor.fetchone()[0]
    book_usage("acme", count=3)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM wallets_lotallocation")
        assert cursor.fetchone()[0] == before


def test_a_grace_period_lets_late_usage_consume_an_expired_lot(world, settings):
    settings.WALLETS_LOT_EXPIRY_GRACE_S = 3600
    acme = world["acme"]
    promo = promotion(acme, USD, expires_at=days(1))
    Lot.objects.filter(pk=promo.pk).update(expires_at=timezone.now() - timedelta(minutes=10))
    assert lots.lots_expire() == 0  # within the grace
    late = book_usage("acme")
    assert lots.lots_expire(now=timezone.now() + timedelta(hours=1)) == 1
    promo.refresh_from_db()
    assert (promo.consumed_minor, promo.expired_minor) == (late, USD - late)
    assert_consistent(acme)
