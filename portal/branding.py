"""Whose name and logo a customer's pages carry: its seller's, from the seller's billing
profile (invoicing.BillingProfile). A reseller's customers see the reseller only, never
the distributor it buys from; a seller without a profile shows its book's name.

The logo is served by the portal itself (views.pages.logo), after the tenancy check, so
the uploaded file needs no public media URL.
"""

from dataclasses import dataclass

from django.urls import reverse

from invoicing.models import BillingProfile
from wallets.models import Customer


@dataclass(frozen=True)
class Brand:
    name: str
    logo_url: str | None


def seller_profile(customer: Customer) -> BillingProfile | None:
    return BillingProfile.objects.filter(book_id=customer.book_id).first()


def brand_for(customer: Customer) -> Brand:
    profile = seller_profile(customer)
    if profile is None:
        return Brand(name=customer.book.name, logo_url=None)
    logo_url = reverse("portal:logo", args=[customer.external_id]) if profile.logo.name else None
    return Brand(name=profile.legal_name, logo_url=logo_url)
