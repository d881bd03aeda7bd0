"""Example documents: the tests', the benchmark's and a developer's preview (no database).

Prices are real catalogue shapes, sub-cent per million tokens included, and every amount
is computed here once and rounded half-even to the cent, as the invoicing services do.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from .model import Document, DocumentLine, Party

RESELLER = Party(
    name="Northwind AI Reseller GmbH",
    address="Hauptstraße 5\n10115 Berlin\nGermany",
    tax_id="DE123456789",
    region="DE",
)
CHINESE_SELLER = Party(
    name="上海示例科技有限公司",
    address="上海市浦东新区世纪大道100号\n环球金融中心25楼",
    tax_id="91310000MA1K000000",
    region="CN",
)
BUYER = Party(
    name="Acme Robotics Ltd",
    address="1 Market Street\nLondon EC1A 1AA\nUnited Kingdom",
    tax_id="GB987654321",
    region="GB",
)
CHINESE_BUYER = Party(
    name="北京星河智能有限公司",
    address="北京市海淀区中关村大街1号",
    tax_id="91110108MA00000000",
    region="CN",
)

# (model, provider, {kind: price per million tokens in USD})
CATALOGUE = (
    ("gpt-4o", "openai", {"input": "2.50", "output": "10.00", "cache_read": "1.25"}),
    (
        "claude-sonnet-4",
        "anthropic",
        {"input": "3.00", "output": "15.00", "cache_read": "0.30", "cache_write": "3.75"},
    ),
    ("gemini-2.0-flash", "google", {"input": "0.10", "output": "0.40", "cache_read": "0.025"}),
    ("deepseek-r1", "deepseek", {"input": "0.55", "output": "2.19", "reasoning": "2.19"}),
    ("text-embedding-3-small", "openai", {"input": "0.02"}),
    ("llama-3.1-8b", "groq", {"input": "0.05", "output": "0.08"}),
    ("nano-embed", "example", {"input": "0.0000125"}),  # sub-cent: printed in full
)
CENT = Decimal("0.01")


def usage_line(index: int, scale: int = 1) -> DocumentLine:
    model, provider, prices = CATALOGUE[index % len(CATALOGUE)]
    unit_prices = {kind: Decimal(price) for kind, price in prices.items()}
    tokens = {
        kind: (1_234_567 + 98_765 * position) * scale * (index + 1)
        for position, kind in enumerate(unit_prices)
    }
    exact = sum(Decimal(tokens[kind]) * unit_prices[kind] / 1_000_000 for kind in tokens)
    return DocumentLine(
        description=f"{model} usage",
        model=model,
        provider=provider,
        requests=1_000 * (index + 1),
        tokens=tokens,
        unit_prices_per_million=unit_prices,
        amount=exact.quantize(CENT, rounding=ROUND_HALF_EVEN),
    )


def invoice(
    *,
    number: str = "NW-2026-000042",
    language: str = "en",
    seller: Party = RESELLER,
    buyer: Party = BUYER,
    lines: int = 7,
    tax_rate_bp: int | None = 1900,
    tax_label: str = "VAT",
    notes: tuple[str, ...] = (),
) -> Document:
    document_lines = tuple(usage_line(i) for i in range(lines))
    subtotal = sum((line.amount for line in document_lines), Decimal(0))
    rate = Decimal(tax_rate_bp or 0) / 10_000
    tax = (subtotal * rate).quantize(CENT, rounding=ROUND_HALF_EVEN)
    return Document(
        kind="invoice",
        number=number,
        language=language,
        seller=seller,
        buyer=buyer,
        issued_at=date(2026, 12, 1),
        due_at=date(2026, 12, 31),
        period_start=date(2026, 11, 1),
        period_end=date(2026, 11, 30),
        currency="USD",
        lines=document_lines,
        subtotal=subtotal,
        tax_label=tax_label,
        tax_rate_bp=tax_rate_bp,
        tax_inclusive=False,
        tax=tax,
        total=subtotal + tax,
        amount_paid=Decimal("0.00"),
        amount_due=subtotal + tax,
        notes=notes,
        payment_terms_days=30,
    )


def credit_note(*, language: str = "en", seller: Party = RESELLER) -> Document:
    line = DocumentLine(
        description="Refund: duplicate charge for gpt-4o usage", amount=Decimal("120.50")
    )
    return Document(
        kind="credit_note",
        number="NW-CN-2026-000003",
        language=language,
        seller=seller,
        buyer=BUYER,
        issued_at=date(2026, 12, 5),
        currency="USD",
        lines=(line,),
        subtotal=Decimal("120.50"),
        tax_label="VAT",
        tax_rate_bp=1900,
        tax=Decimal("22.90"),
        total=Decimal("143.40"),
        amount_paid=Decimal("0.00"),
        amount_due=Decimal("143.40"),
        notes=("Reason: duplicate",),
        reference_number="NW-2026-000042",
    )


def receipt(*, language: str = "en", seller: Party = RESELLER) -> Document:
    line = DocumentLine(description="Prepaid balance top-up", amount=Decimal("500.00"))
    return Document(
        kind="receipt",
        number="NW-R-2026-000017",
        language=language,
        seller=seller,
        buyer=BUYER,
        issued_at=date(2026, 12, 2),
        currency="USD",
        lines=(line,),
        subtotal=Decimal("500.00"),
        tax_label="VAT",
        tax_rate_bp=None,
        tax=Decimal("0.00"),
        total=Decimal("500.00"),
        amount_paid=Decimal("500.00"),
        amount_due=Decimal("0.00"),
        notes=("Payment method: card (Stripe), payment pi_3Qexample",),
    )
