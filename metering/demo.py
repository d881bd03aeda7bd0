"""Demo data for metering in the embedded run: the real upstream catalogue, a reseller
buying from the distributor, a dozen customers with price lists and top-ups, and a
gateway key for the simulated gateway (`manage.py simulate_gateway`).

Idempotent: a second run changes nothing.
"""

from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from ledger import selectors as ledger_selectors
from ledger import services as ledger_services
from ledger.demo import DEMO_ACTOR, NANOS_PER_USD
from ledger.models import Book
from ledger.posting_rules import PostingSpec
from pricing import services as pricing_services
from pricing.models import CatalogImport, RetailPriceBook
from wallets.gateways.keys import hash_secret
from wallets.models import Customer, GatewayKey

PRICES_FROM = datetime(2025, 1, 1, tzinfo=UTC)
DEMO_GATEWAY_SECRET = "demo-secret"  # noqa: S105 - local demo only (seed_demo needs DEBUG)
DEMO_GATEWAY_KEY = f"gw_demo_{DEMO_GATEWAY_SECRET}"
DEMO_SOURCE = "demo-gateway"
DIRECT = ["acme", "globex", "initech", "umbrella", "hooli", "piedpiper", "stark", "wayne"]
VIA_RESELLER = ["soylent", "tyrell", "cyberdyne", "wonka"]
CREDIT = {"globex", "stark", "tyrell"}


def _price_list(book: Book, name: str, markup_bps: int, customer: str = "") -> None:
    if not RetailPriceBook.objects.filter(book=book, customer=customer).exists():
        pricing_services.retail_price_book_create(
            book=book,
            name=name,
            markup_bps=markup_bps,
            customer=customer,
            effective_from=PRICES_FROM,
            actor=DEMO_ACTOR,
        )


def _top_up(book: Book, customer: str, usd: int) -> None:
    cash = ledger_services.account_create(book=book, asset=_usd(), code="cash:stripe", type="asset")
    wallet = ledger_services.account_create(
        book=book, asset=_usd(), code=f"wallet:{customer}", type="liability"
    )
    ledger_services.adjustment_post(
        book=book,
        postings=[
            PostingSpec(cash.id, cash.asset_id, "D", usd * NANOS_PER_USD),
            PostingSpec(wallet.id, wallet.asset_id, "C", usd * NANOS_PER_USD),
        ],
        memo=f"demo top-up by {customer}",
        idempotency_key=f"demo:metering-topup:{customer}",
        actor=DEMO_ACTOR,
    )


def _usd():
    return ledger_services.asset_create(code="USD", scale=9)


def seed_demo_metering() -> dict[str, int]:
    if not CatalogImport.objects.exists():
        pricing_services.catalog_import(
            path=Path(settings.PRICE_CATALOGUE_PATH), effective_from=PRICES_FROM, actor=DEMO_ACTOR
        )
    distributor = ledger_services.book_create(code="distributor", name="Demo Distributor Ltd")
    reseller = ledger_services.book_create(
        code="reseller-apex", name="Apex AI Reseller", kind=Book.Kind.RESELLER
    )
    if reseller.wholesale_from_id != distributor.id:
        reseller.wholesale_from = distributor
        reseller.save(update_fields=["wholesale_from"])
    _price_list(distributor, "Distributor list price", 2000)
    _price_list(distributor, "Apex wholesale", 550, customer=reseller.code)
    _price_list(reseller, "Apex list price", 3500)
    for external_id in DIRECT + VIA_RESELLER:
        book = reseller if external_id in VIA_RESELLER else distributor
        customer, _ = Customer.objects.get_or_create(
            external_id=external_id,
            defaults={
                "name": external_id.title(),
                "book": book,
                "currency": _usd(),
                "billing": Customer.Billing.CREDIT
                if external_id in CREDIT
                else Customer.Billing.PREPAID,
            },
        )
        if customer.billing == Customer.Billing.PREPAID:
            _top_up(book, external_id, 25)
    GatewayKey.objects.get_or_create(
        prefix="demo",
        defaults={
            "name": "Demo gateway",
            "source": DEMO_SOURCE,
            "secret_hash": hash_secret(DEMO_GATEWAY_SECRET),
        },
    )
    demo_books = (distributor, reseller)
    return {
        "customers": Customer.objects.filter(book__in=demo_books).count(),
        "accounts": ledger_selectors.accounts_count(book_ids=[book.id for book in demo_books]),
    }
