"""Demo data of settlement: a contract with OpenAI and two commitments under it (one
expiring in ten days, drawn first; one for the quarter), drawn down by the usage the
demo has booked so far. Idempotent: a second run finds them by their keys."""

from datetime import timedelta

from django.utils import timezone

from config.demo import demo_seeder
from ledger.demo import DEMO_ACTOR, NANOS_PER_USD
from ledger.models import Asset, Book
from settlement.commitments import services
from settlement.commitments.drawdown import commitments_draw_down_all
from settlement.commitments.models import Commitment, Contract

DEMO_PROVIDER = "openai"


@demo_seeder(40)
def seed_demo_settlement() -> list[str]:
    book = Book.objects.get(code="distributor")
    contract = Contract.objects.filter(book=book, provider=DEMO_PROVIDER).first()
    if contract is None:
        contract = services.contract_create(
            book=book,
            provider=DEMO_PROVIDER,
            name="Demo enterprise agreement",
            currency=Asset.objects.get(code="USD"),
            discount_bps=1000,
            tolerance_bps=50,
            tolerance_minor=NANOS_PER_USD // 100,
            actor=DEMO_ACTOR,
        )
    now = timezone.now().replace(microsecond=0)
    terms = [
        ("demo:commitment:sprint", "Sprint block", 50, 10, timedelta(days=10), "cash"),
        ("demo:commitment:quarter", "Quarterly commitment", 200, 20, timedelta(days=80), "payable"),
    ]
    for key, name, usd, priority, lasts, funded_from in terms:
        if Commitment.objects.filter(idempotency_key=key).exists():
            continue  # bought by an earlier run (its dates were relative to that run)
        services.commitment_purchase(
            contract=contract,
            name=name,
            amount_minor=usd * NANOS_PER_USD,
            currency="USD",
            starts_at=now - timedelta(days=20),
            expires_at=now + lasts,
            priority=priority,
            funded_from=funded_from,
            idempotency_key=key,
            actor=DEMO_ACTOR,
        )
    runs = commitments_draw_down_all()
    return [
        f"settlement: contract {contract.pk} with {DEMO_PROVIDER}, "
        f"{contract.commitments.count()} commitments, "
        f"{sum(run.batches for run in runs)} usage batches drawn "
        "(manage.py settlement_drawdown draws what the gateway books since)"
    ]
