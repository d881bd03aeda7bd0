"""The dashboard's upstream savings on the real PostgreSQL: usage booked at list through
metering's real pipeline, then drawn by settlement's real draw-down under a 10 % OpenAI
contract with a token pack dearer than list (drawn first) and a money commitment that
runs out (the rest of OpenAI's usage uncovered, at the discount), and a 5 % Gemini
contract without commitments (only the reseller apex sells Gemini). Margin after
savings is revenue - cogs in the ledger to the unit; the savings are the list cost of
the usage records less the ledger's cogs:<provider>."""

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import F, Sum
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from ledger.models import Account
from ledger.selectors import account_balance_get
from metering.pipeline import Pipeline
from portal.finance import selectors
from settlement.commitments.drawdown import commitments_draw_down_all
from settlement.commitments.models import Commitment, DrawdownDiscount, DrawdownLine
from settlement.commitments.selectors import upstream_savings_list
from settlement.commitments.services import commitment_purchase, contract_create
from tests.metering.conftest import raw
from tests.portal.finance.conftest import USD, daily_usage, records, today_utc

pytestmark = pytest.mark.django_db

DAYS = 40
TOKENS = F("input_tokens") + F("output_tokens") + F("cache_read_tokens")


def total(queryset, field) -> int:
    return queryset.aggregate(total=Sum(field))["total"] or 0


def balances(**filters) -> int:
    return sum(
        account_balance_get(account_id=account.id).balance
        for account in Account.objects.filter(**filters)
    )


@pytest.fixture
def drawn(world):
    now = timezone.now()
    today = today_utc(now)
    first_day = today - timedelta(days=DAYS)
    events = daily_usage(first_day, DAYS)
    # Two batches: the draw-down's lines per batch, model and day are summed back.
    half = len(events) // 2
    for chunk in (events[:half], events[half:]):
        assert Pipeline().process([raw(event) for event in chunk]).rejected == 0
    distributor, usd = world["distributor"], world["usd"]
    openai = contract_create(
        book=distributor,
        provider="openai",
        name="10 %",
        currency=usd,
        discount_bps=1000,
        actor="test",
    )
    contract_create(
        book=distributor,
        provider="gemini",
        name="5 %",
        currency=usd,
        discount_bps=500,
        actor="test",
    )
    gpt = records(model="gpt-4o")
    terms = {
        "contract": openai,
        "currency": "USD",
        "starts_at": first_day - timedelta(days=1),
        "expires_at": today + timedelta(days=60),
        "funded_from": Commitment.FundedFrom.CASH,
        "actor": "test",
    }
    # A third of gpt-4o's tokens for 3/8 of its list cost: dearer than list.
    pack = commitment_purchase(
        **terms,
        name="gpt-4o pack",
        amount_minor=total(gpt, "cost_minor") * 3 // 8,
        tokens=total(gpt, TOKENS) // 3,
        covered_models=["gpt-4o"],
        priority=10,
        idempotency_key="savings:pack",
    ).commitment
    # A third of the rest of OpenAI's list cost, at the discount: runs out.
    money = commitment_purchase(
        **terms,
        name="block",
        amount_minor=total(records(provider="openai"), "cost_minor") // 3,
        priority=20,
        idempotency_key="savings:block",
    ).commitment
    commitments_draw_down_all()
    return {"now": now, "pack": pack, "money": money, "first_day": first_day}


def test_the_kinds_of_savings_are_what_the_draw_down_booked(drawn):
    pack, money = drawn["pack"], drawn["money"]
    since, until = drawn["first_day"].date(), drawn["now"].date()
    by_provider = {s.provider: s for s in upstream_savings_list(since=since, until=until)}
    assert set(by_provider) == {"openai", "gemini"}
    openai, gemini = by_provider["openai"], by_provider["gemini"]

    def saved(lines) -> int:
        return total(lines, "list_minor") - total(lines, "amount_minor")

    # Each kind is there: the pack dearer than list, the block and the rest discounted.
    assert openai.token_packs_minor == saved(DrawdownLine.objects.filter(commitment=pack)) < 0
    assert openai.commitments_minor == saved(DrawdownLine.objects.filter(commitment=money)) > 0
    openai_discounts = DrawdownDiscount.objects.filter(contract__provider="openai")
    assert openai.discounts_minor == total(openai_discounts, "amount_minor") > 0
    assert (gemini.token_packs_minor, gemini.commitments_minor) == (0, 0)
    assert gemini.discounts_minor > 0
    # The drawn list cost is every record's of the provider: all of it was drawn.
    assert openai.list_minor == total(records(provider="openai"), "cost_minor")
    assert gemini.list_minor == total(records(provider="gemini"), "cost_minor")
    # And the ledger agrees: cogs:<provider> is below the records' list cost by them.
    for provider, found in by_provider.items():
        list_cost = total(records(provider=provider), "cost_minor")
        ledger_cogs = balances(book__code="distributor", code=f"cogs:{provider}")
        assert found.savings_minor == list_cost - ledger_cogs, provider
    # Per model and day, the same sums split.
    fine = upstream_savings_list(since=since, until=until, by_model=True, by_day=True)
    assert {(s.provider, s.model) for s in fine} == {
        ("openai", "gpt-4o"),
        ("gemini", "gemini-2.5-pro"),
    }
    assert len({s.usage_day for s in fine}) == DAYS
    assert sum(s.savings_minor for s in fine) == openai.savings_minor + gemini.savings_minor
    # A window of days: only the usage of those days.
    last_week = upstream_savings_list(since=until - timedelta(days=7), until=until, by_day=True)
    assert {s.usage_day for s in last_week} == {
        until - timedelta(days=d) for d in range(1, 8)
    }  # today has no usage


def test_margin_after_savings_is_revenue_less_ledger_cogs_to_the_unit(drawn):
    margins = selectors.finance_dashboard_get(now=drawn["now"], period_days=365).margins
    (usd,) = margins.total
    revenue = balances(code="revenue:usage")
    cogs = balances(code__startswith="cogs:")
    list_cost = total(records(), "cost_minor")
    upstream_cogs = balances(book__code="distributor", code__startswith="cogs:")
    # At list, the margin is the records'; after savings, the ledger's.
    assert usd.sums.margin_minor == total(records(), "margin_minor")
    assert usd.sums.savings_minor == list_cost - upstream_cogs != 0
    assert usd.sums.margin_after_savings_minor == revenue - cogs
    assert usd.sums.margin_after_savings_minor != usd.sums.margin_minor
    # Per provider, linked to its cogs statement; the kinds add up.
    openai = next(s for s in margins.savings if s.provider == "openai")
    account = Account.objects.get(book__code="distributor", code="cogs:openai")
    assert openai.url == reverse("ledger-account-statement-csv", args=[account.id])
    assert openai.savings_minor == (
        openai.discounts_minor + openai.commitments_minor + openai.token_packs_minor
    )
    assert openai.book == "distributor" and openai.code == "USD"
    assert sum(s.savings_minor for s in margins.savings) == usd.sums.savings_minor
    # Per model and per day, the savings add up to the total.
    assert sum(row.sums.savings_minor for row in margins.per_model) == usd.sums.savings_minor
    assert sum(row.sums.savings_minor for row in margins.per_day) == usd.sums.savings_minor
    gpt = next(row for row in margins.per_model if row.key == ("openai", "gpt-4o"))
    gpt_lines = DrawdownLine.objects.filter(model="gpt-4o")
    gpt_discounts = DrawdownDiscount.objects.filter(model="gpt-4o")
    assert gpt.sums.savings_minor == (
        total(gpt_lines, "list_minor")
        - total(gpt_lines, "amount_minor")
        + total(gpt_discounts, "amount_minor")
    )
    claude = next(row for row in margins.per_model if row.key[1] == "claude-sonnet-4-5")
    assert claude.sums.savings_minor == 0  # no contract: at list in the ledger too
    assert claude.sums.margin_after_savings_minor == claude.sums.margin_minor


def test_a_period_counts_the_savings_of_its_usage_days(drawn):
    margins = selectors.finance_dashboard_get(now=drawn["now"], period_days=30).margins
    (usd,) = margins.total
    since = margins.since.date()
    lines = DrawdownLine.objects.filter(usage_day__gte=since)
    discounts = DrawdownDiscount.objects.filter(usage_day__gte=since)
    in_period = (
        total(lines, "list_minor") - total(lines, "amount_minor") + total(discounts, "amount_minor")
    )
    assert usd.sums.savings_minor == in_period
    year = selectors.finance_dashboard_get(now=drawn["now"], period_days=365).margins
    assert 0 != in_period != year.total[0].sums.savings_minor
    first = margins.per_day[0]
    assert first.key == (since,)
    day_lines = DrawdownLine.objects.filter(usage_day=since)
    assert first.sums.savings_minor == (
        total(day_lines, "list_minor")
        - total(day_lines, "amount_minor")
        + total(DrawdownDiscount.objects.filter(usage_day=since), "amount_minor")
    )


def _csv_rows(client, url) -> list[dict]:
    answer = client.get(url)
    assert answer.status_code == 200
    return list(csv.DictReader(io.StringIO(b"".join(answer.streaming_content).decode())))


@pytest.fixture
def finance_client(finance_user):
    client = Client()
    client.force_login(finance_user)
    return client


def test_the_margin_csv_gains_the_savings_and_keeps_its_columns(drawn, finance_client):
    rows = _csv_rows(finance_client, "/portal/finance/margin.csv?days=365")
    old = [
        "day",
        "book",
        "provider",
        "model",
        "currency",
        "requests",
        "tokens",
        "price",
        "price_minor",
        "wholesale",
        "wholesale_minor",
        "cost",
        "cost_minor",
        "margin",
        "margin_minor",
    ]
    assert list(rows[0]) == [
        *old,
        "upstream_savings",
        "upstream_savings_minor",
        "margin_after_savings",
        "margin_after_savings_minor",
    ]
    assert sum(int(r["margin_minor"]) for r in rows) == total(records(), "margin_minor")
    list_cost = total(records(), "cost_minor")
    upstream_cogs = balances(book__code="distributor", code__startswith="cogs:")
    assert sum(int(r["upstream_savings_minor"]) for r in rows) == list_cost - upstream_cogs
    assert sum(int(r["margin_after_savings_minor"]) for r in rows) == balances(
        code="revenue:usage"
    ) - balances(code__startswith="cogs:")
    for r in rows:
        assert int(r["price_minor"]) - int(r["cost_minor"]) == int(r["margin_minor"])
        assert int(r["margin_minor"]) + int(r["upstream_savings_minor"]) == int(
            r["margin_after_savings_minor"]
        )
        assert Decimal(r["upstream_savings"]) * USD == int(r["upstream_savings_minor"])
        assert Decimal(r["margin_after_savings"]) * USD == int(r["margin_after_savings_minor"])
    # Gemini is only the reseller's (initech's, apex's book), but its discount lowered the
    # distributor's cogs:gemini: a row of the distributor's own, without usage, each day.
    gemini = [r for r in rows if r["model"] == "gemini-2.5-pro"]
    assert {r["book"] for r in gemini} == {"apex", "distributor"}
    own = [r for r in gemini if r["book"] == "distributor"]
    assert len(own) == DAYS
    assert all(r["requests"] == "0" and int(r["upstream_savings_minor"]) > 0 for r in own)
    assert all(r["upstream_savings_minor"] == "0" for r in gemini if r["book"] == "apex")
    assert len(rows) == DAYS * 5 + DAYS


def test_the_page_shows_the_savings_and_links_them(drawn, finance_client):
    page = finance_client.get("/portal/finance/?days=90").content.decode()
    margins = selectors.finance_dashboard_get(now=drawn["now"], period_days=90).margins
    (usd,) = margins.total
    tiles = dict(
        re.findall(r'data-figure="(savings|margin_after_savings)"[^>]*data-minor="(-?\d+)"', page)
    )
    assert tiles == {
        "savings": str(usd.sums.savings_minor),
        "margin_after_savings": str(usd.sums.margin_after_savings_minor),
    }
    table = re.search(r'<table id="upstream-savings">.*?</table>', page, re.S).group(0)
    for found in margins.savings:
        assert f'data-provider="{found.provider}"' in table
        assert f'data-kind="token_packs" data-minor="{found.token_packs_minor}"' in table
        assert f'href="{found.url}"' in table
    per_model = re.search(r'<table id="margin-per-model">.*?</table>', page, re.S).group(0)
    assert sum(int(v) for v in re.findall(r'data-savings-minor="(-?\d+)"', per_model)) == (
        usd.sums.savings_minor
    )
    # In Chinese, the new headings are translated.
    finance_client.cookies["django_language"] = "zh-hans"
    chinese = finance_client.get("/portal/finance/?days=90").content.decode()
    assert "Upstream savings" not in chinese and "Margin after savings" not in chinese


def test_the_chart_draws_each_days_margin_after_savings(drawn, finance_client):
    """The per-day bars are what each day really earned (revenue less the ledger's cogs),
    not the margin at list: a bar's tooltip is its day's exact margin after savings."""
    page = finance_client.get("/portal/finance/?days=90").content.decode()
    margins = selectors.finance_dashboard_get(now=drawn["now"], period_days=90).margins
    tooltips = re.findall(r"<rect [^>]*><title>([^<]+)</title></rect>", page)
    days = [row for row in margins.per_day if row.code == "USD"]
    assert len(tooltips) == len(days) > 0
    saved = [row for row in days if row.sums.savings_minor]
    assert saved, "the draw-down saved on some day"
    for tooltip, row in zip(tooltips, days, strict=True):
        day, amount = tooltip.split(": ")
        assert day == row.key[0].isoformat()
        assert (
            Decimal(amount.removesuffix(" USD"))
            == Decimal(row.sums.margin_after_savings_minor) / USD
        )
