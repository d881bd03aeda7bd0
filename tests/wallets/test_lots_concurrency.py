"""The lots allocator under concurrency, each thread on its own connection: metering
batches, grants, paid top-ups, allocator runs and expiry runs race on two wallets. Nothing
deadlocks or fails, nothing is allocated twice, every expired lot's breakage is booked
once, and ledger_verify's replay of the allocation agrees with what was stored."""

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from ledger.integrity import verify_ledger
from ledger.models import Event
from metering.pipeline import Pipeline
from tests.metering.conftest import raw, usage
from tests.threads import in_thread
from tests.wallets.factories import paid_topup, promotion, wallet
from wallets.lots import services as lots
from wallets.models import Lot, LotAllocation, LotCursor

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

USD = 10**9
ROUNDS = 12


def test_allocation_and_expiry_race_with_usage_and_grants(world):
    acme, initech = world["acme"], world["initech"]
    for customer in (acme, initech):
        promotion(customer, USD // 100, priority=0, expires_at=timezone.now() + timedelta(days=1))
        paid_topup(customer, USD // 50)
    # Some lots are already past their expiry: the expiry job races with everything else.
    Lot.objects.filter(kind="promotional").update(expires_at=timezone.now())

    def book(customer: str):
        def work() -> None:
            pipeline = Pipeline()
            for _ in range(ROUNDS):
                pipeline.process([raw(usage(customer, input=20_000)) for _ in range(5)])

        return work

    def grant() -> None:
        for index in range(ROUNDS):
            customer = acme if index % 2 else initech
            if index % 3:
                promotion(customer, USD // 200, expires_at=timezone.now() + timedelta(hours=1))
            else:
                paid_topup(customer, USD // 200, priority=index)

    def allocate() -> None:
        for _ in range(ROUNDS * 2):
            lots.lots_allocate()

    def expire() -> None:
        later = timezone.now() + timedelta(hours=2)
        for index in range(ROUNDS):
            lots.lots_expire(now=later if index == ROUNDS - 1 else None)

    work = [book("acme"), book("initech"), grant, allocate, allocate, expire]
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(len(work))
    threads = [in_thread(w, failures, lock, start) for w in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert not failures, failures

    lots.lots_expire(now=timezone.now() + timedelta(hours=2))
    lots.lots_allocate()
    for customer in (acme, initech):
        cursor = LotCursor.objects.get(customer=customer)
        in_lots = sum(lot.remaining_minor for lot in Lot.objects.filter(customer=customer))
        assert wallet(customer).balance == in_lots - cursor.unfunded_minor
    # Each wallet event is attributed once: per sequence, no kind is repeated for a lot.
    seen = set()
    for row in LotAllocation.objects.values_list("cursor_id", "sequence", "kind", "lot_id"):
        assert row not in seen, row
        seen.add(row)
    expired = Lot.objects.filter(state="expired")
    assert expired.count() == Lot.objects.exclude(expires_at=None).count()
    for lot in expired:
        booked = Event.objects.filter(idempotency_key=f"wallets:lot:{lot.pk}:expired").count()
        assert booked == (1 if lot.breakage_minor else 0)
    report = verify_ledger()
    assert report.ok, report.problems
