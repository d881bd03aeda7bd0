"""A small real world for metering tests: real catalogue prices, a distributor, a
reseller, and customers of both."""

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ledger import services as ledger_services
from ledger.models import Book
from pricing import services as pricing_services
from wallets.models import Customer

REPO_ROOT = Path(__file__).resolve().parents[2]
CATALOGUE_PATH = (REPO_ROOT / "../shared/data/model_prices_litellm.json").resolve()
# Real models from the real catalogue, cheap and dear side by side.
MODELS = ["gpt-4o", "claude-sonnet-4-5", "deepseek/deepseek-chat", "gemini/gemini-2.5-pro"]
PRICES_FROM = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def catalogue_subset() -> dict:
    catalogue = json.loads(CATALOGUE_PATH.read_text())
    return {key: catalogue[key] for key in MODELS}


@pytest.fixture
def world(db, catalogue_subset):
    return world_create(catalogue_subset)


def world_create(catalogue_subset: dict) -> dict:
    """The books, price books and customers of `world` (invoicing's tests build on it)."""
    pricing_services.catalog_import(data=catalogue_subset, effective_from=PRICES_FROM, actor="test")
    usd = ledger_services.asset_create(code="USD", scale=9)
    distributor = ledger_services.book_create(code="distributor", name="Distributor")
    reseller = ledger_services.book_create(code="apex", name="Apex", kind=Book.Kind.RESELLER)
    reseller.wholesale_from = distributor
    reseller.save(update_fields=["wholesale_from"])
    book_kwargs = {"effective_from": PRICES_FROM, "actor": "test"}
    pricing_services.retail_price_book_create(
        book=distributor, name="list", markup_bps=2000, **book_kwargs
    )
    pricing_services.retail_price_book_create(
        book=distributor, name="apex wholesale", customer="apex", markup_bps=550, **book_kwargs
    )
    pricing_services.retail_price_book_create(
        book=reseller, name="apex list", markup_bps=3000, **book_kwargs
    )
    customers = {
        "acme": Customer.objects.create(external_id="acme", book=distributor, currency=usd),
        "globex": Customer.objects.create(
            external_id="globex", book=distributor, currency=usd, billing=Customer.Billing.CREDIT
        ),
        "initech": Customer.objects.create(external_id="initech", book=reseller, currency=usd),
    }
    return {"usd": usd, "distributor": distributor, "reseller": reseller, **customers}


def usage(
    customer="acme",
    model="deepseek-chat",
    provider="deepseek",
    *,
    event_id=None,
    input=1000,
    output=500,
    cache_read=0,
    cache_write=0,
    reasoning=0,
    occurred_at="2026-06-01T12:00:00+00:00",
    source="test-gw",
    **extra,
) -> dict:
    return {
        "event_id": event_id or uuid.uuid4().hex,
        "source": source,
        "occurred_at": occurred_at,
        "customer": customer,
        "model": model,
        "provider": provider,
        "tokens": {
            "input": input,
            "output": output,
            "cache_read": cache_read,
            "cache_write": cache_write,
            "reasoning": reasoning,
        },
        **extra,
    }


def raw(event: dict | str | bytes, offset: int | None = None, partition: int | None = None):
    from metering.pipeline import RawMessage

    value = (
        event
        if isinstance(event, bytes)
        else (event.encode() if isinstance(event, str) else json.dumps(event).encode())
    )
    return RawMessage("usage.events", partition, offset, b"k", value)
