"""Capture by usage: a usage event carrying `authorization_id`, booked by
metering.pipeline.Pipeline, resolves the hold in the same transaction, and the price is
debited from the wallet exactly once."""

import pytest

from ledger.integrity import verify_ledger
from ledger.models import HoldResolution
from ledger.selectors import trial_balance_list
from metering.models import UsageRecord
from metering.pipeline import Pipeline
from tests.metering.conftest import raw, usage
from tests.wallets.factories import ApiKeyFactory, clearing, wallet, wallet_topup
from wallets import services

pytestmark = pytest.mark.django_db

USD = 10**9


def authorize(customer, max_in=10_000, max_out=2_000):
    key = ApiKeyFactory(customer=customer)
    return services.authorization_create(
        secret=key.raw,
        provider="deepseek",
        model="deepseek-chat",
        max_input_tokens=max_in,
        max_output_tokens=max_out,
        actor="test",
    ).authorization


def book(*events):
    return Pipeline().process([raw(event) for event in events])


def balanced():
    return all(row.difference == 0 for row in trial_balance_list())


def test_usage_with_an_authorization_id_voids_the_hold_and_books_the_price_once(world):
    acme = world["acme"]
    wallet_topup(acme, USD)
    found = authorize(acme)

    result = book(usage("acme", authorization_id=str(found.public_id), input=900, output=300))

    assert result.processed == 1
    record = UsageRecord.objects.get()
    assert record.authorization_id == str(found.public_id)
    found.refresh_from_db()
    assert (found.state, found.captured_minor) == ("captured_by_usage", record.price_minor)
    assert found.hold.resolution.kind == HoldResolution.Kind.VOIDED
    balance = wallet(acme)
    assert balance.balance == USD - record.price_minor  # debited once, by the batch
    assert balance.available == balance.balance  # nothing reserved any more
    assert clearing(acme).balance == 0
    assert balanced()
    assert verify_ledger().ok


def test_an_explicit_capture_is_returned_when_the_usage_arrives(world):
    acme = world["acme"]
    wallet_topup(acme, USD)
    found = authorize(acme)
    services.authorization_capture(public_id=found.public_id, amount_minor=12345, actor="test")
    assert clearing(acme).balance == 12345

    book(usage("acme", authorization_id=str(found.public_id)))

    record = UsageRecord.objects.get()
    found.refresh_from_db()
    assert (found.state, found.captured_minor) == ("captured_by_usage", record.price_minor)
    assert wallet(acme).balance == USD - record.price_minor
    assert clearing(acme).balance == 0
    assert verify_ledger().ok


def test_several_events_of_one_authorization_add_up(world):
    acme = world["acme"]
    wallet_topup(acme, USD)
    found = authorize(acme)
    book(usage("acme", authorization_id=str(found.public_id)))
    book(
        usage("acme", authorization_id=str(found.public_id)),
        usage("acme", authorization_id=str(found.public_id)),
    )
    total = sum(UsageRecord.objects.values_list("price_minor", flat=True))
    found.refresh_from_db()
    assert found.captured_minor == total
    assert wallet(acme).balance == USD - total
    assert verify_ledger().ok


def test_a_duplicate_event_settles_nothing_twice(world):
    acme = world["acme"]
    wallet_topup(acme, USD)
    found = authorize(acme)
    event = usage("acme", authorization_id=str(found.public_id))
    book(event)
    assert book(event).duplicates == 1
    found.refresh_from_db()
    assert found.captured_minor == UsageRecord.objects.get().price_minor


def test_another_customers_or_unknown_authorization_id_is_ignored(world):
    acme = world["acme"]
    wallet_topup(acme, USD)
    wallet_topup(world["initech"], USD)
    found = authorize(acme)

    result = book(
        usage("initech", authorization_id=str(found.public_id)),
        usage("acme", authorization_id="not-a-uuid"),
    )

    assert result.processed == 2  # the usage still books: the gateway served it
    found.refresh_from_db()
    assert found.state == "open"
    assert wallet(acme).available == wallet(acme).balance - found.amount_minor
    assert verify_ledger().ok


def test_usage_after_a_void_books_on_its_own(world):
    acme = world["acme"]
    wallet_topup(acme, USD)
    found = authorize(acme)
    services.authorization_void(public_id=found.public_id, actor="test")
    book(usage("acme", authorization_id=str(found.public_id)))
    found.refresh_from_db()
    assert found.state == "voided"
    assert wallet(acme).balance == USD - UsageRecord.objects.get().price_minor
    assert verify_ledger().ok


def test_a_credit_customers_hold_is_settled_too(world):
    globex = world["globex"]
    found = authorize(globex)
    book(usage("globex", authorization_id=str(found.public_id)))
    found.refresh_from_db()
    assert found.state == "captured_by_usage"
    unbilled = wallet(globex)  # unbilled:globex, an asset
    assert unbilled.balance == UsageRecord.objects.get().price_minor
    assert unbilled.debits_pending == 0
    assert verify_ledger().ok
