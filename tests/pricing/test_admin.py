"""Finance's screens: upstream prices read-only; a retail version added through the service."""

import pytest

from pricing.models import RetailPriceBook
from tests.ledger.factories import BookFactory
from tests.pricing.factories import RetailPriceOverrideFactory, UpstreamPriceFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.pricing.urls")]


def test_every_pricing_screen_renders(admin_client):
    upstream = UpstreamPriceFactory()
    override = RetailPriceOverrideFactory(input_per_token_atto=10**12)
    for url in (
        "/admin/pricing/catalogimport/",
        f"/admin/pricing/catalogimport/{upstream.catalog_import_id}/change/",
        "/admin/pricing/upstreamprice/",
        f"/admin/pricing/upstreamprice/{upstream.id}/change/",
        "/admin/pricing/retailpricebook/",
        f"/admin/pricing/retailpricebook/{override.price_book_id}/change/",
        "/admin/pricing/retailpricebook/add/",
    ):
        assert admin_client.get(url).status_code == 200, url


def test_upstream_prices_cannot_be_added_or_changed(admin_client):
    upstream = UpstreamPriceFactory()
    assert admin_client.get("/admin/pricing/upstreamprice/add/").status_code == 403
    response = admin_client.post(
        f"/admin/pricing/upstreamprice/{upstream.id}/change/", {"input_per_token_atto": 0}
    )
    assert response.status_code == 403
    upstream.refresh_from_db()
    assert upstream.input_per_token_atto == 10**12


def test_a_retail_version_is_added_through_the_service(admin_client):
    seller = BookFactory(code="reseller-a")
    data = {
        "book": seller.id,
        "name": "Standard",
        "plan": "",
        "customer": "",
        "markup_bps": 550,
        "currency": "USD",
        "effective_from_0": "2025-03-01",
        "effective_from_1": "00:00:00",
        "overrides-TOTAL_FORMS": 1,
        "overrides-INITIAL_FORMS": 0,
        "overrides-MIN_NUM_FORMS": 0,
        "overrides-MAX_NUM_FORMS": 1000,
        "overrides-0-provider": "",
        "overrides-0-model": "gpt-4o",
        "overrides-0-input_per_token_atto": 3 * 10**12,
    }
    response = admin_client.post("/admin/pricing/retailpricebook/add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    book = RetailPriceBook.objects.get()
    assert (book.markup_bps, book.actor) == (550, "admin:admin")
    assert list(book.overrides.values_list("model", "input_per_token_atto")) == [
        ("gpt-4o", 3 * 10**12)
    ]
    # A version dated before the latest is refused by the form, not a server error.
    data["effective_from_0"] = "2025-02-01"
    response = admin_client.post("/admin/pricing/retailpricebook/add/", data)
    assert response.status_code == 200
    assert "must not be dated before it" in response.content.decode()
    assert RetailPriceBook.objects.count() == 1
