"""Fixtures shared by the ledger's tests."""

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from tests.ledger.factories import AccountFactory, BookFactory


@pytest.fixture
def finance_client():
    """An API client logged in as a member of the "finance" group."""
    user = User.objects.create_user("fin", password="pw")
    user.groups.add(Group.objects.get(name="finance"))
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def book():
    return BookFactory()


@pytest.fixture
def cash(book):
    return AccountFactory(book=book, code="cash:stripe")


@pytest.fixture
def revenue(book):
    return AccountFactory(book=book, code="revenue:usage", type="revenue")
