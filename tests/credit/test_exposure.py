"""Exposure, live from the ledger: open receivables + unbilled usage + in-flight holds + a
negative prepaid balance, against the limit; the same selector answers reports and the
authorization path. 64 concurrent authorizations against a limit covering exactly N."""

import threading

import pytest

from credit import selectors
from credit.services import credit_limit_set
from ledger.models import Account
from ledger.posting_rules import CREDIT, DEBIT, PostingSpec
from ledger.selectors import account_balance_get
from ledger.services import account_ensure, adjustment_post
from tests.threads import in_thread
from tests.wallets.factories import ApiKeyFactory
from tests.wallets.test_authorizations import authorize, expected_estimate
from tests.wallets.test_decline_reasons import assert_declined_then_approved
from wallets.models import Authorization, Customer

USD = 10**9
THREADS = 64
COVERED = 23  # the limit covers exactly this many of the 64 requests


def _book(customer, debit_code, debit_type, credit_code, credit_type, amount, key):
    debit = account_ensure(
        book_id=customer.book_id, asset_id=customer.currency_id, code=debit_code, type=debit_type
    )
    credit = account_ensure(
        book_id=customer.book_id, asset_id=customer.currency_id, code=credit_code, type=credit_type
    )
    adjustment_post(
        book=customer.book,
        postings=[
            PostingSpec(debit.id, customer.currency_id, DEBIT, amount),
            PostingSpec(credit.id, customer.currency_id, CREDIT, amount),
        ],
        memo="test",
        idempotency_key=key,
        actor="test",
    )


@pytest.mark.django_db
def test_exposure_adds_receivable_unbilled_holds_and_a_negative_prepaid_balance(world):
    globex = world["globex"]
    key = ApiKeyFactory(customer=globex)
    held = authorize(key.raw)
    assert held.decision == "approved"
    # What invoicing and metering book, booked here by hand with known amounts.
    _book(globex, "receivable:globex", "asset", "revenue:usage", "revenue", 700, "t-r")
    _book(globex, "unbilled:globex", "asset", "revenue:usage", "revenue", 50, "t-u")
    _book(globex, "wallet:globex", "liability", "revenue:usage", "revenue", 9, "t-w")

    exposure = selectors.exposures_get(customers=[globex])[globex.id]

    assert exposure.receivable_minor == 700
    assert exposure.unbilled_minor == 50
    assert exposure.holds_minor == held.amount_minor
    assert exposure.negative_prepaid_minor == 9
    assert exposure.total_minor == 759 + held.amount_minor
    position = selectors.credit_position_get(customer=globex)
    assert position.exposure_minor == exposure.total_minor
    assert position.available_minor == position.credit_limit_minor - exposure.total_minor
    # A positive prepaid balance (an overpayment) is no exposure, and does not offset it.
    _book(globex, "cash:bank", "asset", "wallet:globex", "liability", 1000, "t-w2")
    assert selectors.exposures_get(customers=[globex])[globex.id].negative_prepaid_minor == 0


@pytest.mark.django_db
def test_a_receivable_counts_against_the_limit_at_authorization(world):
    """Over HTTP: the open receivable uses the limit up (declined credit_limit_exceeded);
    a payment frees it again."""
    globex = world["globex"]
    estimate = expected_estimate(globex)
    credit_limit_set(customer=globex, credit_limit_minor=estimate + 100, actor="t")
    _book(globex, "receivable:globex", "asset", "revenue:usage", "revenue", 101, "t-r")
    key = ApiKeyFactory(customer=globex)

    def paid():
        _book(globex, "cash:bank", "asset", "receivable:globex", "asset", 1, "t-paid")

    assert_declined_then_approved("credit_limit_exceeded", key.raw, key.raw, paid)


@pytest.mark.django_db
def test_per_reseller_exposure_is_the_sum_of_its_customers(world):
    globex = world["globex"]
    hooli = Customer.objects.create(
        external_id="hooli", book=globex.book, currency=globex.currency, billing="credit"
    )
    _book(globex, "receivable:globex", "asset", "revenue:usage", "revenue", 300, "t-1")
    _book(hooli, "unbilled:hooli", "asset", "revenue:usage", "revenue", 45, "t-2")
    [row] = [
        r
        for r in selectors.reseller_exposures_list(book_ids=[globex.book_id])
        if r.currency_id == globex.currency_id
    ]
    customers = list(Customer.objects.filter(book=globex.book, currency=globex.currency))
    assert row.customers == len(customers)
    assert row.exposure_minor == sum(
        p.exposure_minor for p in selectors.credit_positions_list(customers=customers)
    )
    assert row.exposure_minor >= 345


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_64_concurrent_authorizations_approve_exactly_what_the_limit_covers(world):
    globex = world["globex"]
    estimate = expected_estimate(globex)
    # Part of the limit is already used by an open receivable: it must count too.
    _book(globex, "receivable:globex", "asset", "revenue:usage", "revenue", 3 * estimate, "t-r")
    credit_limit_set(customer=globex, credit_limit_minor=(COVERED + 3) * estimate, actor="t")
    keys = [ApiKeyFactory(customer=globex) for _ in range(4)]
    answers: list[Authorization] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def one(index: int):
        def work() -> None:
            found = authorize(keys[index % len(keys)].raw)
            with lock:
                answers.append(found)

        return work

    threads = [in_thread(one(i), failures, lock, start) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert not failures, failures

    decisions = [(a.decision, a.reason) for a in answers]
    assert decisions.count(("approved", "")) == COVERED
    assert decisions.count(("declined", "credit_limit_exceeded")) == THREADS - COVERED
    exposure = selectors.exposures_get(customers=[globex])[globex.id]
    assert exposure.holds_minor == COVERED * estimate
    assert exposure.total_minor == (COVERED + 3) * estimate  # exactly the limit, not above
    unbilled = Account.objects.get(book=globex.book, code="unbilled:globex")
    assert account_balance_get(account_id=unbilled.id).debits_pending == COVERED * estimate
