"""Who may use the webhooks API, and on which books.

Finance staff (the "finance" group, granted Django permissions on the webhooks models by
migration 0003, and superusers) act on every book's endpoints, events and deliveries. A
reseller's staff, members of its seller book (wallets.BookMembership, read through
wallets.access.books_visible), act on their own books' rows without any permission:
every operation of the API, scoped to those books. Rows of a book out of reach are
answered exactly like rows that do not exist (404), so ids cannot be probed.
"""

from django.db.models import QuerySet
from rest_framework.permissions import BasePermission

from ledger.models import Book
from wallets.access import books_visible


def _perm_for(request, perm_by_method: dict[str, str]) -> str | None:
    return perm_by_method.get("GET" if request.method == "HEAD" else request.method)


def needs(**perm_by_method: str) -> type[BasePermission]:
    """A DRF permission: the login must hold the permission named for the method (HEAD
    is GET's), or be a member of a seller book (the view then scopes to its books). A
    method not named needs a login only: the view answers 405 for it."""

    class WebhooksPermission(BasePermission):
        def has_permission(self, request, view) -> bool:
            user = request.user
            if not (user and user.is_authenticated):
                return False
            perm = _perm_for(request, perm_by_method)
            if perm is None:
                return True
            self.message = f"This needs the permission {perm} or a seller book membership."
            if user.has_perm(perm):
                return True
            return books_visible(user=user).exists()

    return WebhooksPermission


def books_in_reach(request, perm: str) -> QuerySet[Book] | None:
    """None when the login holds `perm` (every book); else the books it is a member of
    (none for a login that is neither)."""
    if request.user.has_perm(perm):
        return None
    return books_visible(user=request.user)


VIEW_ENDPOINTS = "webhooks.view_webhookendpoint"
ADD_ENDPOINTS = "webhooks.add_webhookendpoint"
CHANGE_ENDPOINTS = "webhooks.change_webhookendpoint"
VIEW_EVENTS = "webhooks.view_webhookevent"
VIEW_DELIVERIES = "webhooks.view_webhookdelivery"
CHANGE_DELIVERIES = "webhooks.change_webhookdelivery"
