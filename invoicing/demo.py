"""Demo data for invoicing: billing profiles of the demo's distributor and its reseller
(white label, under the reseller's own name), their tax rates, how documents name the
customers billed on credit and the reseller, and the receipt of the demo's paid top-up.

Idempotent (profiles and buyer details are set again to the same, rates added once, a
top-up has one receipt). Registered with config.demo; runs after metering's demo (the
books, the customers) and payments' (the top-up).
"""

from datetime import UTC, datetime

from config.demo import demo_seeder
from invoicing import services
from invoicing.models import TaxRate
from ledger.models import Asset, Book
from payments.models import TopUp
from wallets.models import Customer

DEMO_ACTOR = "system:demo"
RATES_FROM = datetime(2026, 1, 1, tzinfo=UTC)
PROFILES = {
    # book code: (legal name, address, invoice prefix, language, tax rates by region)
    "distributor": (
        "Demo Distributor Ltd",
        "1 Demo Way\nLondon EC1A 1AA\nUnited Kingdom",
        "TD-",
        "en",
        {"US": (0, "exempt"), "DE": (0, "reverse_charge"), "GB": (2000, "standard")},
    ),
    "reseller-apex": (
        "Apex AI Reseller GmbH",
        "Hauptstraße 5\n10115 Berlin\nGermany",
        "APX-",
        "en",
        {"DE": (1900, "standard"), "US": (0, "exempt")},
    ),
}


@demo_seeder(40)
def seed_demo_invoicing() -> list[str]:
    usd = Asset.objects.filter(code="USD").first()
    books = {book.code: book for book in Book.objects.filter(code__in=PROFILES)}
    if usd is None or len(books) != len(PROFILES):
        return []
    for code, (name, address, prefix, language, rates) in PROFILES.items():
        profile = services.billing_profile_set(
            book=books[code],
            legal_name=name,
            address=address,
            currency=usd,
            invoice_prefix=prefix,
            credit_note_prefix=f"{prefix}CN-",
            receipt_prefix=f"{prefix}RC-",
            language=language,
            actor=DEMO_ACTOR,
        )
        for region, (rate_bps, kind) in rates.items():
            if not TaxRate.objects.filter(profile=profile, region=region).exists():
                services.tax_rate_add(
                    profile=profile,
                    region=region,
                    rate_bps=rate_bps,
                    kind=kind,
                    effective_from=RATES_FROM,
                    actor=DEMO_ACTOR,
                )
    on_credit = Customer.objects.filter(book__in=books.values(), billing=Customer.Billing.CREDIT)
    for customer in on_credit.order_by("pk"):
        services.buyer_details_set(
            customer=customer,
            legal_name=customer.name or customer.external_id,
            region="US",
            actor=DEMO_ACTOR,
        )
    services.buyer_details_set(
        book=books["reseller-apex"],
        legal_name="Apex AI Reseller GmbH",
        region="DE",
        actor=DEMO_ACTOR,
    )
    receipts = [
        services.receipt_issue(topup=topup, actor=DEMO_ACTOR)
        for topup in TopUp.objects.filter(state=TopUp.State.PAID).order_by("pk")
    ]
    lines = [
        f"invoicing: billing profiles of {', '.join(PROFILES)}; "
        f"{on_credit.count()} customers on credit to invoice monthly"
    ]
    if receipts:
        lines.append(
            f"invoicing: receipt {receipts[0].number_text}: "
            f"/api/invoicing/receipts/{receipts[0].public_id}/pdf/"
        )
    return lines
