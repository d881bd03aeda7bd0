"""Who may see which customer (tenancy), in one place for every wallets view.

Finance staff hold Django permissions on the wallets models and see every customer. Any
other login sees only the customers it is a member of (CustomerMembership). A customer
or key the login may not see is answered exactly like one that does not exist (404), so
tenants cannot probe each other's ids.
"""

from django.db.models import QuerySet
from rest_framework.permissions import BasePermission

from ledger.models import Book
from wallets.errors import ApiKeyNotFound, CustomerNotFound
from wallets.models import ApiKey, Customer


def is_staff_for(user, perm: str) -> bool:
    return bool(user and user.is_authenticated and user.has_perm(perm))


def staff_only_for(method: str, perm: str) -> type[BasePermission]:
    """A DRF permission: only staff holding `perm` may use `method`; other methods need
    a login only (tenancy is then decided per customer, below)."""

    class StaffOnlyFor(BasePermission):
        message = f"This needs the permission {perm}."

        def has_permission(self, request, view) -> bool:
            if request.method != method:
                return True
            return is_staff_for(request.user, perm)

    StaffOnlyFor.__name__ = f"StaffOnlyFor_{method}_{perm.replace('.', '_')}"
    return StaffOnlyFor


def customers_visible(*, user, perm: str) -> QuerySet[Customer]:
    """The customers `user` may act on: all with `perm`, else its memberships."""
    customers = Customer.objects.select_related("currency", "book")
    if is_staff_for(user, perm):
        return customers
    if not (user and user.is_authenticated):
        return customers.none()
    return customers.filter(memberships__user=user)


def books_visible(*, user) -> QuerySet[Book]:
    """The seller books `user` is a member of (none for an anonymous login). Finance's
    reach is by permission, decided by the caller, not here."""
    if not (user and user.is_authenticated):
        return Book.objects.none()
    return Book.objects.filter(memberships__user=user)


def customer_for_user(*, user, external_id: str, perm: str) -> Customer:
    customer = customers_visible(user=user, perm=perm).filter(external_id=external_id).first()
    if customer is None:
        raise CustomerNotFound(f"customer {external_id!r} does not exist")
    return customer


def api_key_for_user(*, user, pk: int, perm: str) -> ApiKey:
    key = (
        ApiKey.objects.select_related("customer")
        .filter(pk=pk, customer__in=customers_visible(user=user, perm=perm))
        .first()
    )
    if key is None:
        raise ApiKeyNotFound(f"API key {pk} does not exist")
    return key
