"""validate → dedupe → rate → post, on the real PostgreSQL with real catalogue prices."""

from datetime import UTC, datetime

import pytest

from ledger.integrity import verify_ledger
from ledger.models import Account, Event
from ledger.selectors import account_balance_get, trial_balance_list
from metering.models import ConsumerOffset, DeadLetter, UsageRecord
from metering.pipeline import Pipeline
from pricing import services as pricing_services
from tests.metering.conftest import raw, usage

pytestmark = pytest.mark.django_db


def balance(book, code) -> int:
    account = Account.objects.get(book=book, code=code)
    return account_balance_get(account_id=account.id).balance


def test_a_direct_prepaid_customer_is_rated_exactly_and_booked(world):
    # deepseek-chat: input $0.28/M, output $0.42/M (the real catalogue).
    # Cost = 1000 * 0.00000028 + 500 * 0.00000042 = $0.00049 = 490,000 nano-dollars.
    result = Pipeline().process([raw(usage())])
    assert (result.processed, result.duplicates, result.rejected) == (1, 0, 0)
    record = UsageRecord.objects.get()
    assert record.cost_minor == 490_000
    assert record.price_minor == 588_000  # the distributor's 20% markup
    assert record.margin_minor == 98_000
    assert record.wholesale_minor is None
    assert record.ledger_event_id == result.ledger_sequence
    distributor = world["distributor"]
    assert balance(distributor, "wallet:acme") == -588_000  # prepaid, no top-up: negative
    assert balance(distributor, "revenue:usage") == 588_000
    assert balance(distributor, "cogs:deepseek") == 490_000
    assert balance(distributor, "payable:deepseek") == 490_000
    assert verify_ledger().ok


def test_a_resellers_customer_posts_in_both_books(world):
    Pipeline().process([raw(usage("initech", "gpt-4o", "openai", input=2000, output=100))])
    record = UsageRecord.objects.get()
    # gpt-4o: $2.50/M in, $10/M out: 2000 * 2.5e-6 + 100 * 1e-5 = $0.006.
    assert record.cost_minor == 6_000_000
    assert record.wholesale_minor == 6_330_000  # distributor's 5.5% for the reseller
    assert record.price_minor == 7_800_000  # the reseller's 30% over cost
    reseller, distributor = world["reseller"], world["distributor"]
    assert balance(reseller, "wallet:initech") == -7_800_000
    assert balance(reseller, "revenue:usage") == 7_800_000
    assert balance(reseller, "cogs:distributor") == 6_330_000
    assert balance(reseller, "payable:distributor") == 6_330_000
    assert balance(distributor, "unbilled:reseller:apex") == 6_330_000
    assert balance(distributor, "revenue:usage") == 6_330_000
    assert balance(distributor, "cogs:openai") == 6_000_000
    assert all(row.difference == 0 for row in trial_balance_list())
    assert verify_ledger().ok


def test_a_credit_customer_accrues_unbilled_receivable(world):
    Pipeline().process([raw(usage("globex"))])
    assert balance(world["distributor"], "unbilled:globex") == 588_000


def test_postings_are_aggregated_per_account_in_a_batch(world):
    messages = [raw(usage(input=1000 + i, output=10)) for i in range(50)]
    result = Pipeline().process(messages)
    assert result.processed == 50
    event = Event.objects.get(sequence=result.ledger_sequence)
    postings = event.payload["entries"][0]["postings"]
    assert len(postings) == 4  # wallet, revenue, cogs, payable: one each for 50 records
    assert event.payload["records"] == 50
    assert sum(r.price_minor for r in UsageRecord.objects.all()) == balance(
        world["distributor"], "revenue:usage"
    )


def test_duplicates_are_counted_and_booked_once(world):
    event = usage(event_id="chatcmpl-1")
    pipeline = Pipeline()
    first = pipeline.process([raw(event), raw(event)])
    assert (first.processed, first.duplicates) == (1, 1)
    again = pipeline.process([raw(event)])
    assert (again.processed, again.duplicates, again.ledger_sequence) == (0, 1, None)
    assert UsageRecord.objects.count() == 1
    assert balance(world["distributor"], "revenue:usage") == 588_000


@pytest.mark.parametrize(
    "value, code",
    [
        (b"{not json", "malformed_json"),
        (b'{"event_id": "x"}', "schema_violation"),
    ],
)
def test_malformed_events_are_dead_lettered_with_the_reason(world, value, code):
    result = Pipeline().process([raw(value, offset=7, partition=0), raw(usage())])
    assert (result.processed, result.rejected) == (1, 1)
    letter = DeadLetter.objects.get()
    assert letter.reason_code == code and letter.reason
    assert bytes(letter.value) == value and letter.offset == 7


def test_a_nul_character_is_dead_lettered_and_the_rest_of_the_batch_booked(world):
    """PostgreSQL text cannot hold U+0000; such an event once failed its whole batch."""
    poisoned = usage(event_id="chatcmpl-\x00")
    result = Pipeline().process([raw(poisoned, offset=3, partition=0), raw(usage())])
    assert (result.processed, result.rejected) == (1, 1)
    letter = DeadLetter.objects.get()
    assert letter.reason_code == "schema_violation" and "NUL" in letter.reason
    assert UsageRecord.objects.count() == 1


@pytest.mark.parametrize(
    "event, code",
    [
        (usage(customer="nobody"), "unknown_customer"),
        (usage(model="no-such-model"), "upstream_price_not_found"),
    ],
)
def test_unrateable_events_are_dead_lettered(world, event, code):
    result = Pipeline().process([raw(event)])
    assert result.rejected == 1 and result.processed == 0
    assert DeadLetter.objects.get().reason_code == code
    assert UsageRecord.objects.count() == 0


def test_a_late_event_is_priced_at_the_prices_in_force_when_it_occurred(world, catalogue_subset):
    changed = {key: dict(entry) for key, entry in catalogue_subset.items()}
    changed["deepseek/deepseek-chat"]["input_cost_per_token"] = 5.6e-07  # doubled
    pricing_services.catalog_import(
        data=changed, actor="test", effective_from=datetime(2026, 7, 1, tzinfo=UTC)
    )
    pipeline = Pipeline()
    pipeline.process(
        [
            raw(usage(event_id="late", occurred_at="2026-06-30T23:59:59+00:00")),
            raw(usage(event_id="new", occurred_at="2026-07-01T00:00:00+00:00")),
        ]
    )
    late, new = (UsageRecord.objects.get(event_id=e) for e in ("late", "new"))
    assert late.cost_minor == 490_000
    assert new.cost_minor == 770_000  # 1000 * 5.6e-7 + 500 * 4.2e-7
    assert late.upstream_price_id != new.upstream_price_id


def test_offsets_are_stored_with_the_batch(world):
    Pipeline().process(
        [raw(usage(), offset=41, partition=2), raw(b"bad", offset=42, partition=2)], group="g"
    )
    assert ConsumerOffset.objects.get(group="g", partition=2).next_offset == 43


def test_verify_notices_a_usage_record_that_disagrees_with_its_postings(world):
    from django.db import connection

    Pipeline().process([raw(usage())])
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("UPDATE metering_usagerecord SET price_minor = price_minor + 1")
        cursor.execute("SET session_replication_role = origin")
    report = verify_ledger()
    assert not report.ok
    assert "usage batch" in report.problems[0]


def test_an_all_zero_event_is_a_not_billable_dead_letter_alone_or_in_a_batch(world):
    zero = usage(input=0, output=0)
    alone = Pipeline().process([raw(zero, offset=0)])
    assert (alone.processed, alone.rejected, alone.ledger_sequence) == (0, 1, None)
    [row] = alone.dead_letters
    assert row.reason_code == "not_billable" and "zero" in row.reason

    batch = Pipeline().process([raw(usage()), raw(usage(input=0, output=0)), raw(usage())])
    assert (batch.processed, batch.rejected) == (2, 1)
    assert batch.dead_letters[0].reason_code == "not_billable"
    assert UsageRecord.objects.count() == 2
    assert DeadLetter.objects.filter(reason_code="not_billable").count() == 2
    assert Event.objects.filter(type="metering.usage_batch").count() == 1
    assert verify_ledger().ok


def test_a_booked_event_resent_with_zero_tokens_is_a_duplicate(world):
    event = usage()
    Pipeline().process([raw(event)])
    again = Pipeline().process([raw({**event, "tokens": usage(input=0, output=0)["tokens"]})])
    assert (again.duplicates, again.rejected) == (1, 0)


def test_an_event_rated_to_zero_is_not_billable(world, catalogue_subset):
    # A free model: tokens were served, but there is no price, wholesale or cost to book.
    free = {"litellm_provider": "openrouter", "mode": "chat"}
    free |= {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0}
    pricing_services.catalog_import(
        data={**catalogue_subset, "openrouter/free-model": free},
        effective_from=datetime(2026, 3, 1, tzinfo=UTC),
        actor="test",
    )
    event = usage(model="openrouter/free-model", provider="openrouter")
    result = Pipeline().process([raw(event), raw(usage())])
    assert (result.processed, result.rejected) == (1, 1)
    [row] = result.dead_letters
    assert row.reason_code == "not_billable" and "rated to zero" in row.reason
    assert not UsageRecord.objects.filter(model="openrouter/free-model").exists()
    assert verify_ledger().ok
