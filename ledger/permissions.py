from rest_framework.permissions import BasePermission


class CanReadLedger(BasePermission):
    """Finance (and admins) read the books; the "finance" group carries these perms."""

    message = "Reading the ledger needs the finance role."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.has_perm("ledger.view_entry"))


class CanPostAdjustment(BasePermission):
    message = "Manual adjustments need the finance role (ledger.post_adjustment)."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.has_perm("ledger.post_adjustment"))
