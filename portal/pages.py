"""What every customer page shares: the customer, its seller's brand, the navigation."""

from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from portal.access import portal_customers
from portal.branding import brand_for

# (page, url name, label): the navigation, in order, after the dashboard.
NAV = (
    ("usage", "portal:usage", _("Usage")),
    ("topup", "portal:topup", _("Top up")),
    ("keys", "portal:keys", _("API keys")),
    ("documents", "portal:documents", _("Invoices and receipts")),
)


def nav_pages(customer) -> list[dict]:
    return [
        {"page": page, "url": reverse(name, args=[customer.external_id]), "label": label}
        for page, name, label in NAV
    ]


def render_page(request, template: str, *, customer, page: str, context=None, status=200):
    return render(
        request,
        template,
        {
            "customer": customer,
            "currency": customer.currency,
            "brand": brand_for(customer),
            "page": page,
            "nav_pages": nav_pages(customer),
        }
        | (context or {}),
        status=status,
    )


def render_login_page(request, template: str, *, page: str, context=None):
    """A page that names no customer in its URL (Stripe's return pages): it carries the
    login's customer when it has exactly one, else no customer at all."""
    customers = list(portal_customers(request)[:2])
    if len(customers) == 1:
        return render_page(request, template, customer=customers[0], page=page, context=context)
    return render(request, template, context or {})
