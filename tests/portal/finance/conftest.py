"""A finance world booked through the apps' own services: invoicing's world (real
catalogue prices, the distributor and the reseller apex, customers prepaid and on
credit), a paid Stripe top-up, ten weeks of usage through metering's real pipeline, an
OpenAI commitment drawn down by it, two finalized invoices with credit's provision
matrix and allowance, and a customer price below cost. Dates are relative to today, as
the dashboard's are."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone

from credit.losses import services as loss_services
from invoicing import services as invoicing_services
from metering.models import UsageRecord
from metering.pipeline import Pipeline
from payments.models import TopUp
from payments.topups import services as topups
from pricing import services as pricing_services
from pricing.rating import OverrideTerms
from pricing.services import RetailOverrideSpec
from settlement.commitments.drawdown import commitments_draw_down_all
from settlement.commitments.models import Commitment
from settlement.commitments.services import commitment_purchase, contract_create
from tests.invoicing.conftest import world  # noqa: F401  (fixture)
from tests.metering.conftest import PRICES_FROM, catalogue_subset, raw, usage  # noqa: F401
from wallets.models import CustomerMembership

USD = 10**9  # nano-dollars per dollar
# Usage from ten weeks ago to yesterday: the 30-day period cuts it, and the month before
# last has usage whatever today's date (its invoice is due by about now).
DAYS_BACK = 70
# The distributor's loss rates per aging bucket (credit's provision matrix), in bps.
LOSS_RATES_BPS = {"current": 100, "d1_30": 500, "d31_60": 2000, "d61_90": 5000, "over_90": 10000}
# (customer, model, provider) booked every day: the distributor's customers acme
# (prepaid) and globex (credit), the reseller apex's umbrella (prepaid) and initech
# (credit). Only acme uses deepseek-chat, at its own price below cost.
DAILY = [
    ("acme", "gpt-4o", "openai"),
    ("acme", "deepseek-chat", "deepseek"),
    ("globex", "claude-sonnet-4-5", "anthropic"),
    ("globex", "gpt-4o", "openai"),
    ("umbrella", "gpt-4o", "openai"),
    ("initech", "gemini-2.5-pro", "gemini"),
]


def today_utc(now: datetime) -> datetime:
    return datetime.combine(now.astimezone(UTC).date(), datetime.min.time(), tzinfo=UTC)


def daily_usage(first_day: datetime, days: int) -> list[dict]:
    """The DAILY requests of each day from `first_day`, at 9:00 UTC, a minute apart."""
    return [
        usage(
            customer,
            model,
            provider,
            input=1500 + 31 * day + n,
            output=300 + 7 * day,
            cache_read=(day * 17) % 400,
            occurred_at=(first_day + timedelta(days=day, hours=9, minutes=n)).isoformat(),
        )
        for day in range(days)
        for n, (customer, model, provider) in enumerate(DAILY)
    ]


@dataclass
class Seeded:
    now: datetime
    topup: TopUp
    commitment: Commitment
    invoices: list  # globex's: the month before last (issued then), and last month
    first_day: datetime
    allowance_period_end: object  # the day the allowance was booked as of


def seed(world, now: datetime | None = None) -> Seeded:  # noqa: F811
    now = now or timezone.now()
    today = today_utc(now)
    distributor = world["distributor"]
    # acme's own price list: deepseek-chat sold at a tenth of the markup-free cost.
    pricing_services.retail_price_book_create(
        book=distributor,
        name="acme special",
        customer="acme",
        markup_bps=2000,
        effective_from=PRICES_FROM,
        actor="test",
        overrides=[
            RetailOverrideSpec(
                "deepseek/deepseek-chat",  # overrides name models as the catalogue does
                OverrideTerms(
                    input_per_token_atto=28_000_000_000, output_per_token_atto=42_000_000_000
                ),
                provider="deepseek",
            )
        ],
    )
    with transaction.atomic():
        topup = topups.topup_new(
            customer=world["acme"], amount_stripe=5000, source=TopUp.Source.CHECKOUT, actor="test"
        )
        topup.stripe_checkout_session_id = "cs_test_finance_dashboard"
        topup.state = TopUp.State.OPEN
        topup.save(update_fields=["stripe_checkout_session_id", "state"])
    topup = topups.topup_book(topup_id=topup.pk, actor="test").topup
    contract = contract_create(
        book=distributor, provider="openai", name="dash", currency=world["usd"], actor="test"
    )
    commitment = commitment_purchase(
        contract=contract,
        name="Quarter block",
        amount_minor=8 * USD,
        currency="USD",
        starts_at=today - timedelta(days=DAYS_BACK + 5),
        expires_at=today + timedelta(days=60),
        funded_from=Commitment.FundedFrom.CASH,
        idempotency_key="dash:quarter",
        actor="test",
    ).commitment
    first_day = today - timedelta(days=DAYS_BACK)
    result = Pipeline().process([raw(event) for event in daily_usage(first_day, DAYS_BACK)])
    assert result.rejected == 0, result
    commitments_draw_down_all()
    # globex's last two whole months, each invoiced and finalized the day after it ended:
    # receivables, the older one past due by now.
    month_start = today.replace(day=1)
    last_month = (month_start - timedelta(days=1)).replace(day=1)
    before_last = (last_month - timedelta(days=1)).replace(day=1)
    invoices = []
    for start, end, at in (
        (before_last, last_month, last_month + timedelta(hours=1)),
        (last_month, month_start, now),
    ):
        draft = invoicing_services.invoice_draft(
            seller_book=distributor,
            customer=world["globex"],
            period_start=start,
            period_end=end,
            actor="test",
            now=at,
        )
        invoices.append(invoicing_services.invoice_finalize(invoice=draft, actor="test", now=at))
    # Credit's provision matrix, and the allowance booked at last month's end (the older
    # invoice only: the newer one was issued since).
    loss_services.provision_matrix_set(
        book=distributor, effective_from=before_last.date(), rates_bps=LOSS_RATES_BPS, actor="t"
    )
    period_end = (month_start - timedelta(days=1)).date()
    loss_services.allowances_book_period_end(period_end=period_end, actor="test")
    return Seeded(now, topup, commitment, invoices, first_day, period_end)


@pytest.fixture
def seeded(world):  # noqa: F811
    return seed(world)


def records(**filters):
    return UsageRecord.objects.filter(**filters)


@pytest.fixture
def finance_user(db):
    user = User.objects.create_user("fin", password="pw")
    user.groups.add(Group.objects.get(name="finance"))
    return user


@pytest.fixture
def customer_user(world):  # noqa: F811
    """acme's own login: a customer member, no finance role."""
    user = User.objects.create_user("acme-owner", password="pw")
    CustomerMembership.objects.create(user=user, customer=world["acme"])
    return user
