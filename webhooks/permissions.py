"""Who may use the webhooks API: Django permissions on the webhooks models, by method.

Finance staff (the "finance" group, granted these by migration 0003, and superusers) act
on every book's endpoints. There is no per-book membership of logins yet: a reseller's
own staff would need one (as wallets.access has for customers) before they log in here.
"""

from rest_framework.permissions import BasePermission


def needs(**perm_by_method: str) -> type[BasePermission]:
    """A DRF permission: the login must hold the permission named for the method (HEAD
    is GET's). A method not named needs a login only: the view answers 405 for it."""

    class WebhooksPermission(BasePermission):
        def has_permission(self, request, view) -> bool:
            user = request.user
            if not (user and user.is_authenticated):
                return False
            perm = perm_by_method.get("GET" if request.method == "HEAD" else request.method)
            if perm is None:
                return True
            self.message = f"This needs the permission {perm}."
            return bool(user.has_perm(perm))

    return WebhooksPermission


VIEW_ENDPOINTS = "webhooks.view_webhookendpoint"
ADD_ENDPOINTS = "webhooks.add_webhookendpoint"
CHANGE_ENDPOINTS = "webhooks.change_webhookendpoint"
VIEW_EVENTS = "webhooks.view_webhookevent"
VIEW_DELIVERIES = "webhooks.view_webhookdelivery"
CHANGE_DELIVERIES = "webhooks.change_webhookdelivery"
