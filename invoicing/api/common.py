"""What the invoicing views share: tenancy, permissions, money in and out, pagination."""

from decimal import Decimal

from django.db.models import QuerySet
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer

from config.pagination import BoundedLimitOffsetPagination
from invoicing.currencies import document_exponent
from ledger.amounts import from_minor_units, to_minor_units
from ledger.errors import UnknownBook
from ledger.models import Asset, Book
from wallets import access

VIEW_PROFILES = "invoicing.view_billingprofile"
CHANGE_PROFILES = "invoicing.change_billingprofile"
VIEW_TAX_RATES = "invoicing.view_taxrate"
ADD_TAX_RATES = "invoicing.add_taxrate"
VIEW_INVOICES = "invoicing.view_invoice"
CHANGE_INVOICES = "invoicing.change_invoice"  # draft, regenerate, finalize, void
ADD_CREDIT_NOTES = "invoicing.add_creditnote"
ADD_PAYMENTS = "invoicing.add_invoicepayment"
VIEW_RECEIPTS = "invoicing.view_receipt"


def needs(**perm_by_method: str) -> type[BasePermission]:
    """Finance only for the methods named: the login must hold the permission named for
    the method (HEAD is GET's), so a tenant gets 403 whatever id it names. A method not
    named needs a login only (the view decides tenancy, or answers 405)."""

    class Needs(BasePermission):
        def has_permission(self, request, view) -> bool:
            user = request.user
            if not (user and user.is_authenticated):
                return False
            perm = perm_by_method.get("GET" if request.method == "HEAD" else request.method)
            if perm is None:
                return True
            self.message = f"This needs the finance role ({perm})."
            return access.is_staff_for(user, perm)

    return Needs


def tenant_customers(request, perm: str) -> QuerySet | None:
    """None for finance (no restriction), else the customers the login is a member of
    (maybe none): every read filters by it, so another tenant's id is a 404."""
    if access.is_staff_for(request.user, perm):
        return None
    return access.customers_visible(user=request.user, perm=perm)


def tenant_books(request, perm: str) -> QuerySet | None:
    """None for finance, else the seller books the login is a member of (a reseller's
    staff; maybe none): their documents are read beside the customers' above."""
    if access.is_staff_for(request.user, perm):
        return None
    return access.books_visible(user=request.user)


def actor(request) -> str:
    return f"user:{request.user.get_username()}"


def book_by_code(code: str) -> Book:
    book = Book.objects.filter(code=code).first()
    if book is None:
        raise UnknownBook(f"book {code!r} does not exist", details={"book": code})
    return book


def money(amount: int | None, currency: Asset) -> str | None:
    """A document amount as a decimal string of the currency's minor unit ("12.34")."""
    if amount is None:
        return None
    exponent = document_exponent(currency.code)
    return format(
        Decimal(from_minor_units(amount, currency.scale)).quantize(Decimal(1).scaleb(-exponent)),
        "f",
    )


def exact(amount: int, currency: Asset) -> str:
    """An unrounded amount, in the ledger asset's full scale."""
    return from_minor_units(amount, currency.scale)


def amount_in(value: str, currency: Asset) -> int:
    """A decimal string in the currency to ledger units, refusing any rounding
    (`invalid_amount`); the service checks it is a whole number of the minor unit."""
    return to_minor_units(value, currency.scale)


def paginated(request, view, queryset, body):
    paginator = BoundedLimitOffsetPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response([body(item) for item in page])


def time(value) -> str | None:
    return value.isoformat() if value else None


class PdfRenderer(BaseRenderer):
    """Lets a client ask for `Accept: application/pdf`. The PDF views answer with the
    bytes themselves; this renders only what DRF renders for them (errors), as JSON."""

    media_type = "application/pdf"
    format = "pdf"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return JSONRenderer().render(data)


PDF_RENDERERS = [JSONRenderer, PdfRenderer]
