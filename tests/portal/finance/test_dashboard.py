"""The finance dashboard on the real PostgreSQL: every figure ties out to the ledger to
the unit (and to what was booked: the top-up, the usage records, the commitment, the
invoice), links to the ledger statement behind it, and only finance sees it."""

import csv
import io
import re
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from django.db.models import Sum
from django.test import Client
from django.urls import reverse

from credit.losses.selectors import bucket_of
from credit.models import BUCKETS
from ledger.models import Account, Book
from ledger.selectors import account_balance_get
from portal.finance import selectors
from tests.portal.finance.conftest import (
    DAILY,
    DAYS_BACK,
    LOSS_RATES_BPS,
    USD,
    records,
    today_utc,
)

pytestmark = pytest.mark.django_db

DASHBOARD = "/portal/finance/"
# The tiles that link to the period's margin CSV, and the column they are the sum of.
CSV_COLUMN_OF_TILE = {
    "savings": "upstream_savings_minor",
    "margin_after_savings": "margin_after_savings_minor",
}
MARGIN_CSV = "/portal/finance/margin.csv"


def ledger_balance(book_code: str, code: str) -> int:
    account = Account.objects.filter(book__code=book_code, code=code).first()
    assert account is not None, f"{book_code}:{code} was never booked"
    return account_balance_get(account_id=account.id).balance


def total(queryset, field: str) -> int:
    return queryset.aggregate(total=Sum(field))["total"] or 0


def one(items, **match):
    found = [item for item in items if all(getattr(item, k) == v for k, v in match.items())]
    assert len(found) == 1, (match, items)
    return found[0]


# --- the figures --------------------------------------------------------------------------


def test_balance_tiles_tie_out_to_the_ledger_and_to_what_was_booked(seeded):
    dashboard = selectors.finance_dashboard_get(now=seeded.now, period_days=365)
    topup, (older, newer) = seeded.topup, seeded.invoices

    # Customer wallets (liabilities): acme's top-up less its usage; umbrella (apex's,
    # never topped up) below zero by its usage.
    wallets = one(dashboard.wallet_liabilities, book="distributor")
    acme_usage = total(records(customer="acme"), "price_minor")
    assert wallets.money.amount_minor == topup.amount_minor - acme_usage
    assert wallets.money.amount_minor == ledger_balance("distributor", "wallet:acme")
    assert (wallets.accounts, wallets.money.code, wallets.money.scale) == (1, "USD", 9)
    apex_wallets = one(dashboard.wallet_liabilities, book="apex")
    assert apex_wallets.money.amount_minor == -total(records(customer="umbrella"), "price_minor")

    # Cash at Stripe: what the customer paid, amount and platform fee.
    stripe = one(dashboard.stripe_cash, book="distributor")
    assert stripe.money.amount_minor == topup.amount_minor + topup.fee_minor
    assert stripe.money.amount_minor == ledger_balance("distributor", "cash:stripe")

    # Receivables: globex's two finalized invoices, to the unit.
    receivable = one(dashboard.receivables, book="distributor")
    assert receivable.money.amount_minor == older.total + newer.total
    assert older.total > 0 and newer.total > 0
    assert receivable.money.amount_minor == ledger_balance("distributor", "receivable:globex")

    # Unbilled usage: globex's usage since the invoiced period, and apex's wholesale
    # (the distributor's book); initech's usage in apex's book.
    unbilled = one(dashboard.unbilled_usage, book="distributor")
    globex_after = records(customer="globex", occurred_at__gte=newer.period_end)
    apex_wholesale = total(records(seller_book__code="apex"), "wholesale_minor")
    assert unbilled.money.amount_minor == total(globex_after, "price_minor") + apex_wholesale
    assert unbilled.accounts == 2
    assert unbilled.money.amount_minor == ledger_balance(
        "distributor", "unbilled:globex"
    ) + ledger_balance("distributor", "unbilled:reseller:apex")
    apex_unbilled = one(dashboard.unbilled_usage, book="apex")
    assert apex_unbilled.money.amount_minor == total(records(customer="initech"), "price_minor")


def _half_even(numerator: int, denominator: int) -> int:
    quotient = Decimal(numerator) / Decimal(denominator)
    return int(quotient.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def test_receivables_by_age_and_expected_loss_from_credit_tie_out(seeded):
    dashboard = selectors.finance_dashboard_get(now=seeded.now)
    (aging,) = dashboard.receivables_aging
    older, newer = seeded.invoices
    assert (aging.book, aging.code, aging.buyers) == ("distributor", "USD", 1)
    # Each invoice in the bucket of its days past due today; the buckets add up to the
    # ledger's receivable:globex.
    today = seeded.now.date()
    expected = dict.fromkeys(BUCKETS, 0)
    for invoice in (older, newer):
        expected[bucket_of((today - invoice.due_at.date()).days)] += invoice.total
    assert dict(aging.buckets) == expected
    assert aging.total_minor == ledger_balance("distributor", "receivable:globex")
    assert aging.overdue_minor == aging.total_minor - expected["current"]
    # The expected loss: the matrix's rate of each bucket, rounded half-even per bucket.
    assert aging.expected_loss_minor == sum(
        _half_even(amount * LOSS_RATES_BPS[bucket], 10_000) for bucket, amount in expected.items()
    )
    # Booked at last month's end, when only the older invoice was issued (and current).
    assert aging.allowance_booked_minor == _half_even(
        older.total * LOSS_RATES_BPS["current"], 10_000
    )
    assert aging.allowance_booked_minor == -ledger_balance("distributor", "allowance:doubtful")
    allowance = Account.objects.get(book__code="distributor", code="allowance:doubtful")
    assert aging.allowance_url == reverse("ledger-account-statement-csv", args=[allowance.id])
    assert aging.url == f"/api/credit/aging.csv?book=distributor&as_of={today.isoformat()}"


def test_prepaid_capacity_is_the_commitment_less_the_openai_usage_it_covered(seeded):
    dashboard = selectors.finance_dashboard_get(now=seeded.now)
    openai = one(dashboard.capacity, provider="openai")
    covered = total(records(provider="openai"), "cost_minor")
    assert openai.remaining.amount_minor == 8 * USD - covered > 0
    commitment = one(openai.commitments, commitment_id=seeded.commitment.pk)
    assert (
        commitment.remaining.amount_minor
        == account_balance_get(account_id=seeded.commitment.account_id).balance
    )
    assert commitment.status == "active"
    # The last seven whole days' draw-down per day (settlement's forecast), and the run-out
    # it implies at that rate: integer arithmetic, rounded up to the second.
    today = today_utc(seeded.now)
    week = records(provider="openai", occurred_at__gte=today - timedelta(days=7))
    burn = total(week.filter(occurred_at__lt=today), "cost_minor") // 7
    assert openai.burn_per_day.amount_minor == burn > 0
    seconds = -(-openai.remaining.amount_minor * 86_400 // burn)
    assert openai.run_out_at == seeded.now + timedelta(seconds=seconds)
    # At that rate $8 lasts past the expiry: the rest is expected breakage, no shortfall.
    assert openai.first_shortfall_at is None
    assert 0 < openai.expected_breakage.amount_minor < openai.remaining.amount_minor
    # Only commitments bought: no capacity tile for the other providers.
    assert [p.provider for p in dashboard.capacity] == ["openai"]


def test_margins_tie_out_to_revenue_less_cost_in_every_book(seeded):
    margins = selectors.finance_dashboard_get(now=seeded.now, period_days=365).margins
    (usd,) = margins.total
    books = Book.objects.values_list("code", flat=True)
    revenue = sum(ledger_balance(book, "revenue:usage") for book in books)
    cogs = sum(
        account_balance_get(account_id=account.id).balance
        for account in Account.objects.filter(code__startswith="cogs:")
    )
    assert usd.sums.margin_minor == revenue - cogs == total(records(), "margin_minor")
    # The seeded contract has no discount and its commitment pays list: no savings.
    assert usd.sums.savings_minor == 0
    assert usd.sums.margin_after_savings_minor == revenue - cogs
    assert usd.sums.price_minor == total(records(), "price_minor")
    assert usd.sums.requests == records().count() == len(DAILY) * DAYS_BACK
    # Per day: each day's records, and the days add up to the total.
    assert len(margins.per_day) == DAYS_BACK
    assert sum(row.sums.margin_minor for row in margins.per_day) == usd.sums.margin_minor
    first = margins.per_day[0]
    assert first.key == (seeded.first_day.date(),)
    day_records = records(
        occurred_at__gte=seeded.first_day, occurred_at__lt=seeded.first_day + timedelta(days=1)
    )
    assert first.sums.margin_minor == total(day_records, "margin_minor")
    # Per model: the cost is the upstream cost of its records, linked to cogs:<provider>.
    gpt = one(margins.per_model, key=("openai", "gpt-4o"))
    assert gpt.sums.cost_minor == total(records(model="gpt-4o"), "cost_minor")
    cogs_openai = Account.objects.get(book__code="distributor", code="cogs:openai")
    assert gpt.url == reverse("ledger-account-statement-csv", args=[cogs_openai.id])
    assert sum(row.sums.margin_minor for row in margins.per_model) == usd.sums.margin_minor


def test_margin_per_reseller_splits_the_resellers_margin_from_ours(seeded):
    margins = selectors.finance_dashboard_get(now=seeded.now, period_days=365).margins
    (apex,) = margins.per_reseller
    assert apex.key == ("apex",)
    # The reseller's revenue, its cost (our wholesale revenue) and ours, in the ledger.
    assert apex.sums.price_minor == ledger_balance("apex", "revenue:usage")
    assert apex.sums.wholesale_minor == ledger_balance("apex", "cogs:distributor")
    assert apex.sums.wholesale_minor == ledger_balance("distributor", "unbilled:reseller:apex")
    apex_records = records(seller_book__code="apex")
    assert apex.sums.cost_minor == total(apex_records, "cost_minor")
    assert apex.sums.seller_margin_minor == apex.sums.price_minor - apex.sums.wholesale_minor > 0
    assert apex.sums.distributor_margin_minor == apex.sums.wholesale_minor - apex.sums.cost_minor
    assert apex.sums.margin_minor == total(apex_records, "margin_minor")
    revenue_apex = Account.objects.get(book__code="apex", code="revenue:usage")
    assert apex.url == reverse("ledger-account-statement-csv", args=[revenue_apex.id])


def test_negative_margin_models_and_prices_below_cost(seeded):
    dashboard = selectors.finance_dashboard_get(now=seeded.now, period_days=365)
    (negative,) = dashboard.margins.negative_models
    assert negative.key == ("deepseek", "deepseek-chat")
    assert negative.sums.margin_minor == total(records(model="deepseek-chat"), "margin_minor") < 0
    below = {(m.model, m.customer, m.token_type) for m in dashboard.prices_below_cost}
    assert ("deepseek/deepseek-chat", "acme", "input") in below
    assert ("deepseek/deepseek-chat", "acme", "output") in below
    assert {m.model for m in dashboard.prices_below_cost} == {"deepseek/deepseek-chat"}


def test_the_period_counts_the_usage_that_occurred_in_it(seeded):
    margins = selectors.finance_dashboard_get(now=seeded.now, period_days=30).margins
    since = today_utc(seeded.now) - timedelta(days=29)
    assert margins.since == since
    (usd,) = margins.total
    in_period = records(occurred_at__gte=since)
    assert usd.sums.margin_minor == total(in_period, "margin_minor")
    assert usd.sums.requests == in_period.count() < records().count()
    assert margins.per_day[0].key == (since.date(),)
    week = selectors.finance_dashboard_get(now=seeded.now, period_days=7).margins
    assert len(week.per_day) == 6  # today has no usage yet


# --- the page -------------------------------------------------------------------------------


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_visitor_is_sent_to_sign_in_and_a_customer_login_is_refused(
    seeded, customer_user, finance_user
):
    for url in (DASHBOARD, MARGIN_CSV):
        anonymous = Client().get(url)
        assert anonymous.status_code == 302
        assert anonymous["Location"].startswith(reverse("portal:login"))
        # acme's own login is a tenant, not finance: no figure of anyone's.
        refused = _client(customer_user).get(url)
        assert refused.status_code == 403
        assert b"data-minor" not in refused.content
        assert _client(finance_user).get(url).status_code == 200


def test_every_tile_links_to_the_ledger_export_it_is_the_sum_of(
    seeded, finance_user, customer_user
):
    client = _client(finance_user)
    page = client.get(DASHBOARD + "?days=90").content.decode()
    tiles = re.findall(
        r'<div class="card" data-figure="(\w+)"[^>]*data-minor="(-?\d+)">.*?'
        r'<a class="figure[^"]*" href="([^"]+)">',
        page,
        re.S,
    )
    assert {figure for figure, _, _ in tiles} == {
        "capacity",
        "wallets",
        "receivables",
        "overdue",
        "expected_loss",
        "unbilled",
        "stripe",
        "margin",
        "savings",
        "margin_after_savings",
    }
    for figure, minor, url in tiles:
        answer = client.get(url.replace("&amp;", "&"))
        assert answer.status_code == 200, url
        rows = list(csv.DictReader(io.StringIO(b"".join(answer.streaming_content).decode())))
        if figure == "overdue":  # credit's aging: every buyer's buckets past due
            past_due = [f"{bucket}_minor" for bucket in BUCKETS if bucket != "current"]
            linked = sum(int(row[column]) for row in rows for column in past_due)
        elif figure == "expected_loss":  # credit's allowance: matrix x aging per bucket
            linked = sum(int(row["allowance_minor"]) for row in rows)
        elif figure in CSV_COLUMN_OF_TILE:  # the period's margin CSV: its column summed
            linked = sum(int(row[CSV_COLUMN_OF_TILE[figure]]) for row in rows)
        elif "balance_minor" in rows[0]:  # the balances list behind a sum
            linked = sum(int(row["balance_minor"]) for row in rows)
        else:  # one account's statement: its last running balance
            linked = int(rows[-1]["running_balance_minor"])
        if figure == "margin":
            # The margin links to the distributor's revenue:usage: its revenue side.
            margins = selectors.margins_get(
                since=selectors.period_bounds(now=seeded.now, days=90)[0], until=seeded.now
            )
            distributor = records(seller_book__code="distributor")
            assert (
                linked
                == total(distributor, "price_minor") + margins.per_reseller[0].sums.wholesale_minor
            )
            assert int(minor) == margins.total[0].sums.margin_minor
        else:
            assert int(minor) == linked, (figure, url)
        # Finance's exports only: a customer's login reads none of them.
        refused = _client(customer_user).get(url.replace("&amp;", "&"))
        assert refused.status_code == 403, url


def test_the_page_shows_amounts_per_locale_and_in_chinese(seeded, finance_user):
    client = _client(finance_user)
    english = client.get(DASHBOARD).content.decode()
    assert "Finance dashboard" in english
    stripe = seeded.topup.amount_minor + seeded.topup.fee_minor
    # Two decimals in the page, grouped; the exact amount in the title.
    assert '<span class="money" title="52.750000000 USD">52.75 USD</span>' in english
    assert stripe == 52_750_000_000
    client.cookies["django_language"] = "zh-hans"
    chinese = client.get(DASHBOARD).content.decode()
    assert "财务看板" in chinese and "Finance dashboard" not in chinese
    assert "USD 52.75" in chinese


def test_the_dashboard_takes_no_post_and_its_forms_carry_csrf_tokens(seeded, finance_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(finance_user)
    page = client.get(DASHBOARD).content.decode()
    token = client.cookies["csrftoken"].value
    # A read only: even a post that passes the CSRF check is refused.
    assert client.post(DASHBOARD, {"csrfmiddlewaretoken": token}).status_code == 405
    assert client.post(MARGIN_CSV, {"csrfmiddlewaretoken": token}).status_code == 405
    forms = re.findall(r"<form[^>]*>.*?</form>", page, re.S)
    assert forms
    for form in forms:
        if 'method="post"' in form:
            assert 'name="csrfmiddlewaretoken"' in form, form
        else:
            assert 'method="get"' in form  # the period: a read, nothing to forge
    # The language switcher refuses a post without the token.
    assert client.post(reverse("portal:set_language"), {"language": "zh-hans"}).status_code == 403


def test_an_unknown_period_shows_the_default_one(seeded, finance_user):
    client = _client(finance_user)
    for days in ("12345", "abc", "365"):  # a year is the CSV's only
        page = client.get(DASHBOARD + "?days=" + days).content.decode()
        assert '<option value="30" selected>' in page, days
        assert 'value="365"' not in page
    assert '<option value="90" selected>' in client.get(DASHBOARD + "?days=90").content.decode()


# --- the margin export ------------------------------------------------------------------------


def test_the_margin_csv_has_every_day_book_and_model_with_exact_amounts(seeded, finance_user):
    answer = _client(finance_user).get(MARGIN_CSV + "?days=365")
    assert answer["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in answer["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(answer.streaming_content).decode())))
    # A row per day, seller book and model: acme's and globex's gpt-4o are one row a day.
    seller = {"acme": "distributor", "globex": "distributor", "umbrella": "apex", "initech": "apex"}
    per_day = len({(seller[customer], model) for customer, model, _ in DAILY})
    assert per_day == 5
    assert len(rows) == DAYS_BACK * per_day
    assert sum(int(row["margin_minor"]) for row in rows) == total(records(), "margin_minor")
    assert sum(int(row["requests"]) for row in rows) == records().count()
    for row in rows:
        assert Decimal(row["margin"]) * USD == int(row["margin_minor"])
        assert int(row["price_minor"]) - int(row["cost_minor"]) == int(row["margin_minor"])
    apex = [row for row in rows if row["book"] == "apex"]
    assert apex and all(row["wholesale"] for row in apex)
    assert not any(row["wholesale"] for row in rows if row["book"] == "distributor")
    week = _client(finance_user).get(MARGIN_CSV + "?days=7")
    assert len(list(csv.DictReader(io.StringIO(b"".join(week.streaming_content).decode())))) == (
        6 * per_day
    )
