"""Fixtures shared by the ledger's tests."""

import pytest

from tests.ledger.factories import AccountFactory, BookFactory


@pytest.fixture
def book():
    return BookFactory()


@pytest.fixture
def cash(book):
    return AccountFactory(book=book, code="cash:stripe")


@pytest.fixture
def revenue(book):
    return AccountFactory(book=book, code="revenue:usage", type="revenue")
