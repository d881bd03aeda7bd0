"""Book memberships (a reseller's staff) on real PostgreSQL: added in the admin with who
added them, once per user and book, and named by wallets.access for invoicing."""

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.test import Client

from ledger import services as ledger_services
from ledger.models import Book
from wallets import access, services
from wallets.models import BookMembership

pytestmark = pytest.mark.django_db


def test_the_admin_adds_a_book_membership_recording_who_added_it():
    reseller = ledger_services.book_create(code="apex", name="Apex", kind=Book.Kind.RESELLER)
    other = ledger_services.book_create(code="bolt", name="Bolt", kind=Book.Kind.RESELLER)
    staff = User.objects.create_user("apex-staff", password="pw")
    User.objects.create_superuser("admin", password="pw")
    client = Client()
    client.login(username="admin", password="pw")
    assert client.get("/admin/wallets/bookmembership/add/").status_code == 200
    added = client.post(
        "/admin/wallets/bookmembership/add/", {"user": staff.pk, "book": reseller.pk}
    )
    assert added.status_code == 302, added.content
    membership = BookMembership.objects.get()
    assert (membership.user, membership.book) == (staff, reseller)
    assert membership.created_by == "admin:admin"
    listed = client.get("/admin/wallets/bookmembership/")
    assert listed.status_code == 200 and b"apex-staff" in listed.content
    assert list(access.books_visible(user=staff)) == [reseller]
    assert other not in access.books_visible(user=staff)
    # The same pair twice is refused; the service is idempotent instead.
    twice = client.post(
        "/admin/wallets/bookmembership/add/", {"user": staff.pk, "book": reseller.pk}
    )
    assert twice.status_code == 200 and BookMembership.objects.count() == 1
    assert services.book_member_add(book=reseller, user=staff, actor="t") == membership
    with pytest.raises(IntegrityError), transaction.atomic():
        BookMembership.objects.create(user=staff, book=reseller, created_by="t")


def test_nobody_is_a_member_of_any_book_by_default():
    ledger_services.book_create(code="apex", name="Apex", kind=Book.Kind.RESELLER)
    stranger = User.objects.create_user("nobody", password="pw")
    assert not access.books_visible(user=stranger).exists()
