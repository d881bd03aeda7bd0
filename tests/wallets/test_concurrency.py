"""64 concurrent authorizations, each on its own connection, against a wallet that covers
exactly N of them: exactly N are approved, the wallet is never overdrawn, and after the
captures and voids its balance is the top-up less what was captured."""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from ledger.integrity import verify_ledger
from tests.wallets.factories import ApiKeyFactory, wallet, wallet_topup
from wallets import selectors, services
from wallets.batching import batcher
from wallets.models import Authorization

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

THREADS = 64
COVERED = 23  # fewer than THREADS, so some must be declined


def _estimate(customer) -> int:
    return selectors.authorization_estimate_minor(
        customer=customer,
        provider="deepseek",
        model="deepseek-chat",
        max_input_tokens=8_000,
        max_output_tokens=1_000,
        at=timezone.now(),
    )


@pytest.mark.parametrize("batched", [False, True], ids=["one-per-transaction", "batched"])
def test_exactly_the_covered_authorizations_are_approved_under_64_threads(world, batched):
    acme = world["acme"]
    key = ApiKeyFactory(customer=acme)
    estimate = _estimate(acme)
    wallet_topup(acme, COVERED * estimate)
    assert wallet(acme).available == COVERED * estimate
    start_balance = wallet(acme).balance

    start = threading.Barrier(THREADS)
    outcomes: list[Authorization] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def authorize(index: int) -> None:
        try:
            start.wait(timeout=30)
            found = services.authorization_create(
                secret=key.raw,
                provider="deepseek",
                model="deepseek-chat",
                max_input_tokens=8_000,
                max_output_tokens=1_000,
                actor="test",
                idempotency_key=f"concurrent-{index}",
                decide=batcher.decide if batched else None,
            ).authorization
            with lock:
                outcomes.append(found)
        except BaseException as exc:  # noqa: BLE001  (reported below)
            with lock:
                failures.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=authorize, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    batcher.stop()  # its connection must not outlive the test database
    assert not any(thread.is_alive() for thread in threads)
    assert not failures, failures

    approved = [a for a in outcomes if a.decision == "approved"]
    declined = [a for a in outcomes if a.decision == "declined"]
    assert len(approved) == COVERED
    assert {a.reason for a in declined} == {"insufficient_funds"}
    assert len(declined) == THREADS - COVERED
    after = wallet(acme)
    assert after.available == 0  # never below zero: no overdraft
    assert after.balance == start_balance

    captured_total = 0
    for index, authorization in enumerate(approved):
        if index % 3 == 0:
            services.authorization_void(public_id=authorization.public_id, actor="test")
        else:
            amount = authorization.amount_minor // (index + 1)
            services.authorization_capture(
                public_id=authorization.public_id, amount_minor=amount, actor="test"
            )
            captured_total += amount

    final = wallet(acme)
    assert final.balance == start_balance - captured_total
    assert final.available == final.balance
    assert verify_ledger().ok


def test_usage_capture_explicit_resolution_and_new_holds_race_without_deadlock(world):
    """Usage batches settling holds, gateways capturing and voiding the same holds, and
    new authorizations, all at once: no deadlock, each hold resolved once, the price of
    each usage debited once, and the clearing account holds exactly the explicit captures
    that no usage replaced."""
    from metering.models import UsageRecord
    from metering.pipeline import Pipeline
    from tests.metering.conftest import raw, usage
    from tests.wallets.factories import clearing
    from wallets import errors

    acme = world["acme"]
    key = ApiKeyFactory(customer=acme)
    topup = 10**9
    wallet_topup(acme, topup)

    def authorize():
        return services.authorization_create(
            secret=key.raw,
            provider="deepseek",
            model="deepseek-chat",
            max_input_tokens=8_000,
            max_output_tokens=1_000,
            actor="test",
        ).authorization

    existing = [authorize() for _ in range(40)]
    failures: list[BaseException] = []
    start = threading.Barrier(6)

    def guarded(work):
        def run():
            try:
                start.wait(timeout=30)
                work()
            except BaseException as exc:  # noqa: BLE001  (reported below)
                failures.append(exc)
            finally:
                connection.close()

        return run

    def book_usage():
        pipeline = Pipeline()
        for offset in range(0, 40, 5):
            pipeline.process(
                [
                    raw(usage("acme", authorization_id=str(a.public_id)))
                    for a in existing[offset : offset + 5]
                ]
            )

    def resolve(indexes):
        def work():
            for index in indexes:
                public_id = existing[index].public_id
                try:
                    if index % 2:
                        services.authorization_void(public_id=public_id, actor="test")
                    else:
                        services.authorization_capture(
                            public_id=public_id, amount_minor=1000 + index, actor="test"
                        )
                except errors.AuthorizationNotOpen:
                    pass  # the usage got there first

        return work

    def authorize_more():
        for _ in range(10):
            authorize()

    workers = [
        guarded(book_usage),
        guarded(resolve(range(39, -1, -1))),
        guarded(resolve(range(0, 40, 3))),
        guarded(authorize_more),
        guarded(authorize_more),
        guarded(authorize_more),
    ]
    threads = [threading.Thread(target=work) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads)
    assert not failures, failures

    usage_total = sum(UsageRecord.objects.values_list("price_minor", flat=True))
    assert UsageRecord.objects.count() == 40
    states = dict(
        Authorization.objects.filter(pk__in=[a.pk for a in existing]).values_list("pk", "state")
    )
    assert set(states.values()) <= {"captured_by_usage", "voided"}
    assert "captured_by_usage" in states.values()
    captured_kept = 0  # explicit captures are always replaced: usage came for every hold
    open_holds = sum(
        Authorization.objects.filter(state="open").values_list("amount_minor", flat=True)
    )
    final = wallet(acme)
    assert final.balance == topup - usage_total - captured_kept
    assert final.available == final.balance - open_holds
    assert clearing(acme).balance == captured_kept
    assert verify_ledger().ok
