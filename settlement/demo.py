"""Demo data of settlement: a contract with OpenAI (10 % off list) and three commitments
under it (a token pack for o4-mini, drawn first; money expiring in ten days; money for
the quarter), drawn down by the usage the demo has booked so far; then OpenAI's costs
page for that usage (the contract's discount off, one day x model billed 25% dearer)
imported and reconciled, so finance sees a price difference to accept. Idempotent: a
second run finds them by their keys (the statement by its content; no second run of the
reconciliation)."""

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from config.demo import demo_seeder
from ledger.demo import DEMO_ACTOR, NANOS_PER_USD
from ledger.models import Asset, Book
from settlement.commitments import services
from settlement.commitments.drawdown import commitments_draw_down_all
from settlement.commitments.models import Commitment, Contract
from settlement.reconciliation.matching import expected_cost
from settlement.reconciliation.models import DailyUsageRollup, ReconciliationRun
from settlement.reconciliation.services import reconciliation_run
from settlement.statements.services import statement_import

DEMO_PROVIDER = "openai"


@demo_seeder(70)  # after the portal's year of usage (60), so one run draws it all
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
    no_tokens, all_models = None, []
    terms = [
        # 20 million o4-mini tokens for $20: $1 a million, whatever their list price.
        ("demo:commitment:tokens", "o4-mini token pack", 20, 20_000_000, ["o4-mini"], 5,
         timedelta(days=30), "cash"),
        ("demo:commitment:sprint", "Sprint block", 50, no_tokens, all_models, 10,
         timedelta(days=10), "cash"),
        ("demo:commitment:quarter", "Quarterly commitment", 200, no_tokens, all_models, 20,
         timedelta(days=80), "payable"),
    ]  # fmt: skip
    for key, name, usd, tokens, models, priority, lasts, funded_from in terms:
        if Commitment.objects.filter(idempotency_key=key).exists():
            continue  # bought by an earlier run (its dates were relative to that run)
        services.commitment_purchase(
            contract=contract,
            name=name,
            amount_minor=usd * NANOS_PER_USD,
            tokens=tokens,
            covered_models=models,
            currency="USD",
            starts_at=now - timedelta(days=20),
            expires_at=now + lasts,
            priority=priority,
            funded_from=funded_from,
            idempotency_key=key,
            actor=DEMO_ACTOR,
        )
    runs = commitments_draw_down_all()
    lines = [
        f"settlement: contract {contract.pk} with {DEMO_PROVIDER}, "
        f"{contract.commitments.count()} commitments, "
        f"{sum(run.batches for run in runs)} usage batches drawn "
        "(manage.py settlement_drawdown draws what the gateway books since)"
    ]
    return lines + _reconcile(contract)


DEMO_STATEMENT_DAYS = 30


def _costs_page(contract: Contract) -> tuple[bytes, datetime, datetime] | None:
    """OpenAI's /v1/organization/costs page (group_by=line_item) of the demo's usage:
    what OpenAI bills, the dearest day x model 25% dearer. None without usage."""
    drawn = DailyUsageRollup.objects.filter(
        book=contract.book, provider=contract.provider, currency=contract.currency.code
    )
    latest = drawn.order_by("-usage_day").values_list("usage_day", flat=True).first()
    if latest is None:
        return None
    # The last 30 days drawn: the portal's demo books a year of usage, and one
    # reconciliation covers at most PERIOD_DAYS_MAX days (a statement is a month).
    since = latest - timedelta(days=DEMO_STATEMENT_DAYS - 1)
    rows = list(drawn.filter(usage_day__gte=since).order_by("usage_day", "model"))
    dearest = max(rows, key=lambda r: (r.cost_minor, r.usage_day, r.model))
    scale = Decimal(10) ** contract.currency.scale
    by_day = defaultdict(list)
    for row in rows:
        usd = Decimal(expected_cost(row.cost_minor, contract.discount_bps)) / scale
        if row is dearest:
            usd = usd * Decimal("1.25")
        by_day[row.usage_day].append(
            {
                "object": "organization.costs.result",
                "amount": {"value": f"@{usd}@", "currency": "usd"},
                "line_item": f"{row.model}, input",
                "project_id": None,
            }
        )
    first, last = rows[0].usage_day, rows[-1].usage_day + timedelta(days=1)
    buckets = []
    day = first
    while day < last:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        buckets.append(
            {
                "object": "bucket",
                "start_time": int(start.timestamp()),
                "end_time": int((start + timedelta(days=1)).timestamp()),
                "results": by_day.get(day, []),
            }
        )
        day += timedelta(days=1)
    page = {"object": "page", "data": buckets, "has_more": False, "next_page": None}
    # Amounts as JSON numbers, digit for digit (as OpenAI writes them), never a float.
    text = json.dumps(page, indent=1).replace('"@', "").replace('@"', "")
    return text.encode(), first, last


def _reconcile(contract: Contract) -> list[str]:
    page = _costs_page(contract)
    if page is None:
        return [
            "settlement: no usage drawn yet to reconcile (seed_demo again once the gateway "
            "has booked some: OpenAI's costs page of it is imported and reconciled)"
        ]
    content, since, until = page
    imported = statement_import(
        contract=contract, content=content, filename="openai-costs-demo.json", actor=DEMO_ACTOR
    )
    if imported.replayed or ReconciliationRun.objects.filter(contract=contract).exists():
        return [f"settlement: statement {imported.statement.pk} imported before"]
    run = reconciliation_run(contract=contract, since=since, until=until, actor=DEMO_ACTOR)
    return [
        f"settlement: OpenAI costs statement {imported.statement.pk} "
        f"({imported.statement.rows_imported} rows) reconciled: run {run.run.pk}, "
        f"{run.differences} difference(s) at /api/settlement/reconciliations/{run.run.pk}/"
        "differences/"
    ]
