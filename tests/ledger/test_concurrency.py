"""Concurrent writers against one no-overdraft account: exactly the covered debits win."""

import threading

import pytest
from django.db import connection

from ledger import errors
from ledger.integrity import verify_ledger
from tests.ledger.factories import AccountFactory, BookFactory, WalletAccountFactory
from tests.ledger.helpers import balance, transfer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

THREADS = 32
ATTEMPTS_PER_THREAD = 3
DEBIT_AMOUNT = 7
COVERED_DEBITS = 50  # fewer than THREADS * ATTEMPTS_PER_THREAD, so some must be refused


def test_exactly_the_covered_debits_succeed_under_32_threads():
    book = BookFactory()
    cash = AccountFactory(book=book)
    revenue = AccountFactory(book=book, type="revenue")
    wallet = WalletAccountFactory(book=book)
    transfer(cash, wallet, COVERED_DEBITS * DEBIT_AMOUNT)

    start = threading.Barrier(THREADS)
    outcomes: list[str] = []
    outcomes_lock = threading.Lock()

    def spend():
        try:
            start.wait(timeout=30)
            for _ in range(ATTEMPTS_PER_THREAD):
                try:
                    transfer(wallet, revenue, DEBIT_AMOUNT)
                    result = "ok"
                except errors.InsufficientFunds:
                    result = "refused"
                with outcomes_lock:
                    outcomes.append(result)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=spend) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)

    assert len(outcomes) == THREADS * ATTEMPTS_PER_THREAD
    assert outcomes.count("ok") == COVERED_DEBITS
    assert outcomes.count("refused") == THREADS * ATTEMPTS_PER_THREAD - COVERED_DEBITS
    assert balance(wallet) == 0
    assert balance(revenue) == COVERED_DEBITS * DEBIT_AMOUNT
    assert verify_ledger().ok
