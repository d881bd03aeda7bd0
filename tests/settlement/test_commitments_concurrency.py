"""The draw-down and breakage jobs racing with metering, each thread on its own
connection: nothing deadlocks or fails, every batch is drawn once, breakage is booked
once, and the ledger ties out."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Sum

from ledger.integrity import verify_ledger
from ledger.selectors import trial_balance_list
from metering.models import UsageRecord
from metering.pipeline import Pipeline
from settlement.commitments.drawdown import (
    commitments_draw_down,
    commitments_draw_down_all,
    commitments_expire,
)
from settlement.commitments.models import Breakage, Commitment, DrawdownBatch, DrawdownLine
from settlement.commitments.services import commitment_purchase, contract_create
from tests.metering.conftest import raw, usage
from tests.threads import in_thread

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

JUNE = datetime(2026, 6, 1, tzinfo=UTC)
ROUNDS = 10


def test_draw_down_and_breakage_race_with_metering(world):
    contract = contract_create(
        book=world["distributor"],
        provider="openai",
        name="race",
        currency=world["usd"],
        actor="test",
    )
    for key, expires, priority in (("short", JUNE + timedelta(days=2), 1), ("long", None, 2)):
        commitment_purchase(
            contract=contract,
            amount_minor=10**9,
            currency="USD",
            starts_at=JUNE,
            expires_at=expires or JUNE + timedelta(days=60),
            funded_from="payable",
            priority=priority,
            idempotency_key=key,
            actor="test",
        )

    def book() -> None:
        pipeline = Pipeline()
        for index in range(ROUNDS):
            at = (JUNE + timedelta(hours=index * 7)).isoformat()
            events = [
                usage("acme", "gpt-4o", "openai", input=2000, output=100, occurred_at=at)
                for _ in range(5)
            ]
            pipeline.process([raw(event) for event in events])

    def draw() -> None:
        for _ in range(ROUNDS):
            commitments_draw_down(batches_max=2)

    def expire() -> None:
        for _ in range(ROUNDS):
            commitments_expire(now=JUNE + timedelta(days=10))

    failures: list = []
    lock = threading.Lock()
    start = threading.Barrier(5)
    threads = [in_thread(work, failures, lock, start) for work in (book, book, draw, draw, expire)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []

    commitments_draw_down_all()
    batches = UsageRecord.objects.values("ledger_event").distinct().count()
    assert DrawdownBatch.objects.count() == batches == 2 * ROUNDS
    short = Commitment.objects.get(idempotency_key="short")
    assert Breakage.objects.filter(commitment=short).count() == 1
    total = UsageRecord.objects.aggregate(t=Sum("cost_minor"))["t"]
    drawn = DrawdownLine.objects.aggregate(t=Sum("amount_minor"))["t"]
    # The long commitment ($1) is active all along and larger than all usage ($0.60):
    # whatever the short one did not cover (before its breakage), it did, exactly once.
    assert drawn == total == 2 * ROUNDS * 5 * 6_000_000
    assert all(row.difference == 0 for row in trial_balance_list())
    report = verify_ledger()
    assert report.ok, report.problems
