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


class FinanceMay(BasePermission):
    """Reads need the finance role (CanReadLedger); a write also needs `write_perm`: the
    one shape of the finance apps' permissions (credit, settlement), each with its own
    message and one subclass per write."""

    write_perm = ""
    message = "This needs the finance role."

    def has_permission(self, request, view) -> bool:
        if not CanReadLedger().has_permission(request, view):
            return False
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return bool(request.user.has_perm(self.write_perm))
