"""Finance's admin screens for invoicing render, and issued invoices are read-only."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from invoicing import services
from tests.invoicing.conftest import AFTER_JUNE, JUNE, book_usage

pytestmark = pytest.mark.django_db


def test_profiles_and_invoices_render_and_invoices_are_read_only(world):
    book_usage("initech", days=range(1, 3))
    draft = services.invoice_draft(
        seller_book=world["reseller"],
        customer=world["initech"],
        period_start=JUNE[0],
        period_end=JUNE[1],
        actor="t",
        now=AFTER_JUNE,
    )
    invoice = services.invoice_finalize(invoice=draft, actor="t", now=AFTER_JUNE)
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw"))
    profile = world["profiles"]["apex"]
    for url in (
        "/admin/invoicing/invoice/",
        f"/admin/invoicing/invoice/{invoice.pk}/change/",
        "/admin/invoicing/billingprofile/",
        f"/admin/invoicing/billingprofile/{profile.pk}/change/",
        "/admin/invoicing/taxrate/",
        "/admin/invoicing/buyerdetails/",
        "/admin/invoicing/creditnote/",
        "/admin/invoicing/receipt/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get(f"/admin/invoicing/invoice/{invoice.pk}/change/").content.decode()
    assert "APX-000001" in page and 'name="_save"' not in page
    assert client.post(f"/admin/invoicing/invoice/{invoice.pk}/delete/").status_code == 403
