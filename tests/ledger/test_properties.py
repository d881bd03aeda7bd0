"""Property-based: random sequences of transfers, holds, captures, voids, expiries and
reversals keep every book balanced, flagged accounts non-negative, balances equal to a
simple model, and `rebuild` reproducing the live projections exactly."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import errors, services
from ledger.integrity import rebuild_balances, verify_ledger
from ledger.selectors import account_balance_get, trial_balance_list
from tests.ledger.factories import AccountFactory, BookFactory, WalletAccountFactory
from tests.ledger.helpers import key, transfer

pytestmark = pytest.mark.django_db

ACCOUNTS = 6  # cash, revenue, expense, three wallets (no overdraft)
EXPECTED_REFUSALS = (
    errors.InsufficientFunds,
    errors.HoldAlreadyResolved,
    errors.AlreadyReversed,
    errors.HoldExpired,
    errors.InvalidEvent,
)

amounts = st.integers(min_value=1, max_value=10**12)
operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("transfer"), st.integers(0, ACCOUNTS - 1), st.integers(0, ACCOUNTS - 1), amounts
        ),
        st.tuples(st.just("hold"), st.integers(3, 5), amounts, st.booleans()),
        st.tuples(st.just("capture"), st.integers(0, 20), st.integers(0, 100)),
        st.tuples(st.just("void"), st.integers(0, 20)),
        st.tuples(
            st.just("expire"),
        ),
        st.tuples(st.just("reverse"), st.integers(0, 20)),
    ),
    max_size=25,
)


class _Rollback(Exception):
    pass


def _run(ops):
    book = BookFactory()
    other_book = BookFactory()
    accounts = [
        AccountFactory(book=book, code="cash"),
        AccountFactory(book=book, code="revenue", type="revenue"),
        AccountFactory(book=book, code="expense", type="expense"),
        *[WalletAccountFactory(book=book) for _ in range(3)],
    ]
    # A second book moving in parallel must balance on its own.
    transfer(AccountFactory(book=other_book), AccountFactory(book=other_book), 5)
    holds, entries = [], []
    now = timezone.now()
    for op in ops:
        try:
            if op[0] == "transfer":
                _, i, j, amount = op
                if i != j:
                    entries.append(transfer(accounts[i], accounts[j], amount).entry_ids[0])
            elif op[0] == "hold":
                _, w, amount, expired = op
                expires_at = now - timedelta(seconds=1) if expired else now + timedelta(hours=1)
                holds.append(
                    services.hold_create(
                        debit_account=accounts[w],
                        credit_account=accounts[1],
                        amount=amount,
                        idempotency_key=key(),
                        actor="prop",
                        expires_at=expires_at,
                    )
                )
            elif op[0] == "capture" and holds:
                hold = holds[op[1] % len(holds)]
                services.hold_post(
                    hold_id=hold.id,
                    amount=hold.amount * op[2] // 100,
                    idempotency_key=key(),
                    actor="prop",
                )
            elif op[0] == "void" and holds:
                services.hold_void(
                    hold_id=holds[op[1] % len(holds)].id, idempotency_key=key(), actor="prop"
                )
            elif op[0] == "expire":
                services.holds_expire(now=now)
            elif op[0] == "reverse" and entries:
                services.entry_reverse(
                    entry_id=entries[op[1] % len(entries)], idempotency_key=key(), actor="prop"
                )
        except EXPECTED_REFUSALS:
            pass  # refused operations must leave no trace; the checks below prove it

    for row in trial_balance_list():
        assert row.difference == 0, row
    for wallet in accounts[3:]:
        live = account_balance_get(account_id=wallet.id)
        assert live.balance >= 0 and live.available >= 0
    report = verify_ledger()
    assert report.ok, report.problems
    before = {a.id: account_balance_get(account_id=a.id) for a in accounts}
    assert rebuild_balances().accounts_changed == 0
    assert before == {a.id: account_balance_get(account_id=a.id) for a in accounts}


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
def test_random_operations_keep_the_ledger_sound(ops):
    # Each example runs in its own savepoint and is rolled back, so examples are
    # independent while sharing the test's database.
    with pytest.raises(_Rollback):
        with transaction.atomic():
            _run(ops)
            raise _Rollback
