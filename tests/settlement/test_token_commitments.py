"""Commitments bought in tokens, and the contract's discount, on the real PostgreSQL:
usage booked through the real metering pipeline draws them down, the ledger holds
their tokens in the TOKENS asset and their money in the contract's currency, and both
tie out (`ledger_verify`, trial balance per asset)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Sum

from ledger.integrity import verify_ledger
from ledger.models import Account
from ledger.selectors import account_balance_get, head_sequence_get, trial_balance_list
from metering.models import UsageRecord
from metering.pipeline import Pipeline
from settlement.commitments import selectors
from settlement.commitments.drawdown import commitments_draw_down, commitments_expire
from settlement.commitments.models import (
    Breakage,
    Commitment,
    DrawdownBatch,
    DrawdownDiscount,
    DrawdownLine,
)
from settlement.commitments.postings import drawdown
from settlement.commitments.services import commitment_purchase, contract_create
from settlement.errors import InvalidCommitment
from settlement.terms import list_capacity, net_of_discount, token_value
from tests.metering.conftest import raw, usage

pytestmark = pytest.mark.django_db

JUNE = datetime(2026, 6, 1, tzinfo=UTC)
JULY = datetime(2026, 7, 1, tzinfo=UTC)
USD = 10**9
# gpt-4o, 2000 in / 100 out: $0.006 at list (tests/metering/test_pipeline.py).
GPT_4O_TOKENS, GPT_4O_COST = 2_100, 6_000_000


def balance(book, code, asset="USD") -> int:
    account = Account.objects.filter(book=book, code=code, asset__code=asset).first()
    return account_balance_get(account_id=account.id).balance if account else 0


def book_requests(day: datetime, n: int, *, model="gpt-4o", provider="openai") -> int:
    events = [
        usage(
            "acme",
            model,
            provider,
            input=2000,
            output=100,
            occurred_at=(day + timedelta(minutes=i)).isoformat(),
        )
        for i in range(n)
    ]
    return Pipeline().process([raw(event) for event in events]).ledger_sequence


def openai_list() -> int:
    return UsageRecord.objects.filter(provider="openai").aggregate(t=Sum("cost_minor"))["t"] or 0


@pytest.fixture
def contract(world):
    return contract_create(
        book=world["distributor"],
        provider="openai",
        name="2026 tokens",
        currency=world["usd"],
        discount_bps=2000,
        actor="test",
    )


def buy(contract, key, **terms) -> Commitment:
    values = {
        "amount_minor": 1 * USD,
        "currency": "USD",
        "starts_at": JUNE,
        "expires_at": JULY,
        "funded_from": Commitment.FundedFrom.CASH,
    } | terms
    return commitment_purchase(
        contract=contract, idempotency_key=key, actor="test", **values
    ).commitment


def assert_ties_out():
    assert all(row.difference == 0 for row in trial_balance_list())
    report = verify_ledger()
    assert report.ok, report.problems


def test_a_commitment_in_tokens_holds_them_in_the_ledger(world, contract):
    distributor = world["distributor"]
    bought = buy(contract, "tokens", tokens=1_000_000, amount_minor=2 * USD)
    assert bought.token_account.asset.code == "TOKENS" and bought.token_account.asset.scale == 0
    assert balance(distributor, f"prepaid_tokens:openai:{bought.pk}", "TOKENS") == 1_000_000
    assert balance(distributor, "tokens_bought:openai", "TOKENS") == 1_000_000
    assert balance(distributor, f"prepaid_capacity:openai:{bought.pk}") == 2 * USD
    assert balance(distributor, "cash:bank") == -2 * USD
    assert_ties_out()


def test_tokens_draw_their_share_of_the_price_and_break_at_expiry(world, contract):
    """A token is worth price / tokens, whatever its list price: 20 requests of 2,100
    tokens draw 42,000 of 1,000,000 tokens, so 4.2 % of the $1 paid, while their list
    cost was $0.12: the usage cost us less than list, cogs:openai says so."""
    distributor = world["distributor"]
    bought = buy(contract, "tokens", tokens=1_000_000, amount_minor=1 * USD, priority=1)
    book_requests(JUNE, 20)
    run = commitments_draw_down()
    used = 20 * GPT_4O_TOKENS
    value = token_value(1 * USD, 1_000_000, used)
    assert (run.tokens, run.drawn_minor, run.covered_minor) == (used, value, 20 * GPT_4O_COST)
    assert value == 42_000_000
    assert run.discount_minor == 0  # all of it covered: no discount on the rest
    line = DrawdownLine.objects.get(commitment=bought)
    assert (line.tokens, line.amount_minor, line.list_minor) == (used, value, 20 * GPT_4O_COST)
    assert balance(distributor, f"prepaid_tokens:openai:{bought.pk}", "TOKENS") == 1_000_000 - used
    assert balance(distributor, "tokens_used:openai", "TOKENS") == used
    assert balance(distributor, f"prepaid_capacity:openai:{bought.pk}") == 1 * USD - value
    # Metering booked the list cost; what we owe and what it cost are the token price's.
    assert balance(distributor, "payable:openai") == 0
    assert balance(distributor, "cogs:openai") == value
    figures = selectors.commitment_balance_get(commitment=bought)
    assert (figures.tokens, figures.tokens_drawn, figures.tokens_remaining) == (
        1_000_000,
        used,
        1_000_000 - used,
    )
    assert_ties_out()

    # At expiry the money and the tokens left are written off once.
    closed = commitments_expire(now=JULY + timedelta(days=2))
    assert (closed.closed, closed.amount_minor) == (1, 1 * USD - value)
    breakage = Breakage.objects.get(commitment=bought)
    assert breakage.tokens == 1_000_000 - used and breakage.ledger_sequence is not None
    assert balance(distributor, f"prepaid_tokens:openai:{bought.pk}", "TOKENS") == 0
    assert balance(distributor, "tokens_expired:openai", "TOKENS") == 1_000_000 - used
    assert balance(distributor, f"prepaid_capacity:openai:{bought.pk}") == 0
    assert balance(distributor, "expense:breakage") == 1 * USD - value
    head = head_sequence_get()
    assert commitments_expire(now=JULY + timedelta(days=3)).closed == 0
    assert head_sequence_get() == head
    forecast = selectors.commitment_forecast(
        commitment=selectors.commitment_get(commitment_id=bought.pk), now=JULY + timedelta(days=3)
    )
    assert (forecast.status, forecast.tokens_remaining) == ("closed", 0)
    assert_ties_out()


def test_tokens_run_out_mid_batch_then_money_then_payable_at_the_discount(world, contract):
    """Draw order across kinds: 50,000 tokens (priority 1), then $0.05 of money
    (priority 2, paid at the 20 % discount), then payable:openai at the discount."""
    distributor = world["distributor"]
    tokens = buy(contract, "tokens", tokens=50_000, amount_minor=100_000_000, priority=1)
    money = buy(contract, "money", amount_minor=50_000_000, priority=2)
    book_requests(JUNE, 40)  # 84,000 tokens, $0.24 at list
    run = commitments_draw_down()
    total = openai_list()
    assert total == 40 * GPT_4O_COST

    by_tokens = DrawdownLine.objects.get(commitment=tokens)
    # Every token taken, so the whole price; the list cost in proportion (rounded down).
    assert (by_tokens.tokens, by_tokens.amount_minor) == (50_000, 100_000_000)
    assert by_tokens.list_minor == total * 50_000 // 84_000
    by_money = DrawdownLine.objects.get(commitment=money)
    assert by_money.tokens == 0  # a money commitment draws money
    # $0.05 at 20 % off pays for $0.0625 of list, and is drawn to the unit.
    assert by_money.list_minor == list_capacity(50_000_000, 2000) == 62_500_000
    assert by_money.amount_minor == 50_000_000
    uncovered = total - by_tokens.list_minor - by_money.list_minor
    discount = DrawdownDiscount.objects.get()
    assert (discount.contract_id, discount.list_minor) == (contract.pk, uncovered)
    assert discount.amount_minor == uncovered - net_of_discount(uncovered, 2000)
    assert (run.covered_minor, run.discount_minor) == (total - uncovered, discount.amount_minor)

    assert balance(distributor, f"prepaid_tokens:openai:{tokens.pk}", "TOKENS") == 0
    assert balance(distributor, f"prepaid_capacity:openai:{tokens.pk}") == 0
    assert balance(distributor, f"prepaid_capacity:openai:{money.pk}") == 0
    # Owed: the uncovered usage at the discount; cost: what both paid and that.
    owed = net_of_discount(uncovered, 2000)
    assert balance(distributor, "payable:openai") == owed
    assert balance(distributor, "cogs:openai") == 100_000_000 + 50_000_000 + owed
    assert_ties_out()

    # Exhausted: later usage goes to payable at the discount, no more draws.
    book_requests(JUNE + timedelta(days=1), 5)
    later = commitments_draw_down()
    assert (later.drawn_minor, later.tokens) == (0, 0)
    assert later.discount_minor == 5 * GPT_4O_COST - net_of_discount(5 * GPT_4O_COST, 2000)
    assert_ties_out()


def test_a_token_price_above_list_costs_more_than_list(world, contract):
    """Tokens bought dearer than list (a package for a model whose price fell): cogs
    ends at what was paid, above the list cost metering booked (a debit to cogs)."""
    distributor = world["distributor"]
    bought = buy(contract, "dear", tokens=GPT_4O_TOKENS, amount_minor=10_000_000)
    book_requests(JUNE, 1)
    commitments_draw_down()
    line = DrawdownLine.objects.get(commitment=bought)
    assert (line.list_minor, line.amount_minor, line.tokens) == (
        GPT_4O_COST,
        10_000_000,
        GPT_4O_TOKENS,
    )
    assert balance(distributor, "cogs:openai") == 10_000_000
    assert balance(distributor, "payable:openai") == 0
    assert_ties_out()


def test_uncovered_usage_takes_the_latest_contracts_discount_and_none_without(world, contract):
    distributor = world["distributor"]
    book_requests(JUNE, 10)
    commitments_draw_down()
    assert DrawdownDiscount.objects.get().contract_id == contract.pk
    renewal = contract_create(
        book=distributor,
        provider="openai",
        name="2027 renewal",
        currency=world["usd"],
        discount_bps=2500,
        actor="test",
    )
    book_requests(JUNE + timedelta(days=1), 10)
    commitments_draw_down()
    latest = DrawdownDiscount.objects.order_by("-pk").first()
    assert (latest.contract_id, latest.amount_minor) == (renewal.pk, 10 * GPT_4O_COST // 4)
    # No contract with deepseek: its usage stays at list, no discount row, no event.
    book_requests(JUNE, 3, model="deepseek-chat", provider="deepseek")
    run = commitments_draw_down()
    assert (run.batches, run.events, run.discount_minor) == (1, 0, 0)
    assert DrawdownBatch.objects.order_by("-pk").first().ledger_sequence is None
    deepseek = UsageRecord.objects.filter(provider="deepseek").aggregate(t=Sum("cost_minor"))["t"]
    assert balance(distributor, "payable:deepseek") == deepseek
    assert balance(distributor, "payable:openai") == net_of_discount(
        10 * GPT_4O_COST, 2000
    ) + net_of_discount(10 * GPT_4O_COST, 2500)
    assert_ties_out()


def test_verify_reports_rows_that_do_not_tie_to_the_ledger(world, contract):
    bought = buy(contract, "tokens", tokens=1_000_000)
    book_requests(JUNE, 2)
    book_requests(JUNE + timedelta(days=1), 2, model="deepseek-chat", provider="deepseek")
    commitments_draw_down()
    assert verify_ledger().ok
    batch = DrawdownBatch.objects.exclude(ledger_sequence=None).get()
    # A line claiming tokens its batch's event never moved, and a discount nobody booked.
    DrawdownLine.objects.create(
        batch=batch, commitment=bought, model="gpt-4o", usage_day=JUNE, amount_minor=0, tokens=7
    )
    DrawdownDiscount.objects.create(
        batch=batch,
        contract=contract,
        model="gpt-4o",
        usage_day=JUNE,
        list_minor=10,
        amount_minor=2,
    )
    problems = verify_ledger().problems
    assert any("lines do not sum" in p for p in problems), problems
    assert any("discounts do not sum" in p for p in problems), problems
    assert any(f"prepaid_tokens:openai:{bought.pk}" in p for p in problems), problems
    assert any("payable:openai" in p and "cogs:openai" in p for p in problems), problems
    assert any(f"commitment {bought.pk}" in p and "tokens" in p for p in problems), problems


def test_a_draw_down_of_before_discounts_replays_as_it_was_booked():
    """Events booked before discounts existed have draws without "list": the rule books
    them as then (payable Dr, capacity Cr), so a rebuild reproduces their balances."""
    old = {
        "metering_sequence": 7,
        "draws": [
            {
                "book": 1,
                "asset": 2,
                "commitment": 3,
                "payable_account": 10,
                "capacity_account": 11,
                "amount": 500,
            }
        ],
    }
    (entry,) = drawdown(old)
    assert [(p.account_id, p.side, p.amount) for p in entry.postings] == [
        (10, "D", 500),
        (11, "C", 500),
    ]


def test_bad_token_terms_are_refused(world, contract):
    for tokens in (0, -5, 1.5, "100"):
        with pytest.raises(InvalidCommitment):
            buy(contract, f"bad-{tokens}", tokens=tokens)
    assert not Commitment.objects.exists()
