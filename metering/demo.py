"""Demo data for metering in the embedded run: the real upstream catalogue, a reseller
buying from the distributor, a dozen customers with price lists and funded wallets, a
gateway key for the simulated gateway (`manage.py simulate_gateway`), and what a
newcomer needs to try the gateway flow by hand: a customer API key with a known secret,
a promotional lot and an open authorization. (The paid top-up is payments' demo.)

Idempotent: a second run changes nothing. Registered with config.demo.
"""

from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from config.demo import demo_seeder
from ledger import selectors as ledger_selectors
from ledger import services as ledger_services
from ledger.demo import DEMO_ACTOR, NANOS_PER_USD
from ledger.models import Book
from ledger.posting_rules import PostingSpec
from pricing import services as pricing_services
from pricing.models import CatalogImport, RetailPriceBook
from wallets import selectors as wallets_selectors
from wallets import services as wallets_services
from wallets.gateways.keys import hash_secret
from wallets.lots import services as lots_services
from wallets.models import ApiKey, Authorization, Customer, GatewayKey

PRICES_FROM = datetime(2025, 1, 1, tzinfo=UTC)
DEMO_GATEWAY_SECRET = "demo-secret"  # noqa: S105 - local demo only (seed_demo needs DEBUG)
DEMO_GATEWAY_KEY = f"gw_demo_{DEMO_GATEWAY_SECRET}"
DEMO_SOURCE = "demo-gateway"
# The customer acme's API key, as a gateway's user sends it (printed by seed_demo).
DEMO_API_KEY_PREFIX = "demo"
DEMO_API_KEY_SECRET = "demo-customer-secret"  # noqa: S105 - local demo only
DEMO_API_KEY = f"{wallets_selectors.API_KEY_PREFIX}{DEMO_API_KEY_PREFIX}_{DEMO_API_KEY_SECRET}"
DEMO_CUSTOMER = "acme"
DEMO_PROVIDER, DEMO_MODEL = "openai", "gpt-4o-mini"
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


@demo_seeder(20)
def seed_demo_metering() -> list[str]:
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
    gateway, _ = GatewayKey.objects.get_or_create(
        prefix="demo",
        defaults={
            "name": "Demo gateway",
            "source": DEMO_SOURCE,
            "secret_hash": hash_secret(DEMO_GATEWAY_SECRET),
        },
    )
    acme = Customer.objects.get(external_id=DEMO_CUSTOMER)
    ApiKey.objects.get_or_create(
        prefix=DEMO_API_KEY_PREFIX,
        defaults={
            "customer": acme,
            "name": "Demo key (acme)",
            "secret_hash": wallets_selectors.hash_secret(DEMO_API_KEY_SECRET),
            "created_by": DEMO_ACTOR,
        },
    )
    lots_services.lot_grant(
        customer=acme,
        amount_minor=5 * NANOS_PER_USD,
        idempotency_key="demo:promotion:welcome",
        actor=DEMO_ACTOR,
        source="promotion",
        memo="demo welcome credit",
    )
    authorization = _open_authorization(gateway)
    demo_books = (distributor, reseller)
    customers = Customer.objects.filter(book__in=demo_books).count()
    accounts = ledger_selectors.accounts_count(book_ids=[book.id for book in demo_books])
    return [
        f"metering: {customers} customers, {accounts} accounts in the demo books",
        f"gateway key (Bearer): {DEMO_GATEWAY_KEY}  (source {DEMO_SOURCE!r})",
        f"customer API key of {DEMO_CUSTOMER}: {DEMO_API_KEY}",
        f"open authorization: {authorization.public_id} ({authorization.state}, "
        f"{DEMO_PROVIDER}/{DEMO_MODEL})",
    ]


def _open_authorization(gateway: GatewayKey) -> Authorization:
    """The demo's open hold, as a gateway asks for one (the same Idempotency-Key replays
    the first answer, so a second seed holds nothing more)."""
    return wallets_services.authorization_create(
        secret=DEMO_API_KEY,
        provider=DEMO_PROVIDER,
        model=DEMO_MODEL,
        max_input_tokens=2_000,
        max_output_tokens=1_000,
        gateway_key_id=gateway.id,
        idempotency_key="demo:authorization:acme",
        actor=DEMO_ACTOR,
    ).authorization


def gateway_flow_text(base_url: str) -> str:
    """How to try the gateway flow by hand with curl (printed by seed_demo)."""
    gateway = f"-H 'Authorization: Bearer {DEMO_GATEWAY_KEY}' -H 'Content-Type: application/json'"
    tokens = '{"input": 800, "output": 200, "cache_read": 0, "cache_write": 0, "reasoning": 0}'
    return f"""Try the gateway flow (gateway key {DEMO_GATEWAY_KEY}, {DEMO_CUSTOMER}'s API key
{DEMO_API_KEY}):

  # 1. authorize: hold the request's maximum cost on {DEMO_CUSTOMER}'s wallet
  AUTH=$(curl -s -X POST {base_url}/v1/authorizations {gateway} \\
    -H "Idempotency-Key: try-$(date +%s)" \\
    -d '{{"api_key": "{DEMO_API_KEY}", "provider": "{DEMO_PROVIDER}",
         "model": "{DEMO_MODEL}", "max_input_tokens": 1000, "max_output_tokens": 500}}' \\
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["authorization_id"])')
  # 2. report the usage, naming the authorization: its batch captures the hold at the
  #    metered price (answer per item: accepted / duplicate / refused)
  curl -s -X POST {base_url}/v1/usage {gateway} \\
    -d '{{"event_id": "try-'$AUTH'", "occurred_at": "'$(date -u +%FT%TZ)'",
         "customer": "{DEMO_CUSTOMER}", "provider": "{DEMO_PROVIDER}", "model": "{DEMO_MODEL}",
         "authorization_id": "'$AUTH'", "tokens": {tokens}}}'
  curl -s {base_url}/v1/authorizations/$AUTH {gateway}     # state: captured_by_usage
  # Or capture a fresh authorization by hand (a decimal string, never a JSON number):
  #   curl -s -X POST {base_url}/v1/authorizations/$AUTH/capture {gateway} \\
  #     -d '{{"amount": "0.0001"}}'
  # Margin by model (admin login): {base_url}/v1/usage/summary?group_by=model
"""
