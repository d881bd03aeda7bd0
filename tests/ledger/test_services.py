"""The ledger's services: idempotency, holds, reversals and clear errors for bad input."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ledger import errors, services
from ledger.journal import NewEvent
from ledger.models import Event, HoldResolution
from ledger.posting_rules import EntrySpec, PostingSpec, entry_payload
from ledger.selectors import account_balance_as_of, account_statement_list, trial_balance_list
from tests.ledger.factories import AccountFactory, BookFactory, WalletAccountFactory
from tests.ledger.helpers import available, balance, key, transfer

pytestmark = pytest.mark.django_db


@pytest.fixture
def wallet(book, cash):
    wallet = WalletAccountFactory(book=book)
    transfer(cash, wallet, 1_000)  # a top-up of 1,000 units
    return wallet


def test_same_key_same_input_returns_the_original_result(cash, revenue):
    first = transfer(cash, revenue, 10, idempotency_key="k-1")
    again = transfer(cash, revenue, 10, idempotency_key="k-1")
    assert again.replayed and not first.replayed
    assert (again.sequence, again.entry_ids) == (first.sequence, first.entry_ids)
    assert balance(cash) == 10
    assert Event.objects.filter(idempotency_key="k-1").count() == 1


def test_same_key_other_input_is_refused(cash, revenue):
    transfer(cash, revenue, 10, idempotency_key="k-2")
    with pytest.raises(errors.IdempotencyConflict, match="already used for different input"):
        transfer(cash, revenue, 11, idempotency_key="k-2")
    assert balance(cash) == 10


def test_batch_records_many_events_and_dedupes_repeats(book, cash, revenue):
    def event(amount, idempotency_key):
        entry = EntrySpec(
            book.id,
            (
                PostingSpec(cash.id, cash.asset_id, "D", amount),
                PostingSpec(revenue.id, revenue.asset_id, "C", amount),
            ),
        )
        return NewEvent("ledger.transfer", {"entries": [entry_payload(entry)]}, idempotency_key)

    events = [event(i + 1, f"batch-{i}") for i in range(200)] + [event(1, "batch-0")]
    results = services.events_record_batch(events=events, actor="test")
    assert len(results) == 201
    assert results[-1].sequence == results[0].sequence
    assert [r.sequence for r in results[:200]] == list(
        range(results[0].sequence, results[0].sequence + 200)
    )
    assert balance(cash) == sum(range(1, 201))
    # The whole batch again: every event is recognised, nothing moves twice.
    replay = services.events_record_batch(events=events, actor="test")
    assert all(r.replayed for r in replay)
    assert balance(cash) == sum(range(1, 201))


def test_batch_refuses_one_key_with_two_inputs(book, cash, revenue):
    entry = entry_payload(
        EntrySpec(
            book.id,
            (
                PostingSpec(cash.id, cash.asset_id, "D", 5),
                PostingSpec(revenue.id, revenue.asset_id, "C", 5),
            ),
        )
    )
    other = dict(entry, memo="other")
    with pytest.raises(errors.IdempotencyConflict, match="twice in the batch"):
        services.events_record_batch(
            events=[
                NewEvent("ledger.transfer", {"entries": [entry]}, "dup"),
                NewEvent("ledger.transfer", {"entries": [other]}, "dup"),
            ],
            actor="test",
        )


@pytest.mark.parametrize(
    "postings, error, message",
    [
        ([("cash", "D", 10), ("revenue", "C", 9)], errors.UnbalancedEntry, "does not balance"),
        ([("cash", "D", 10)], errors.UnbalancedEntry, "at least two postings"),
        ([("cash", "D", 0), ("revenue", "C", 0)], errors.InvalidEvent, "positive"),
        ([("cash", "D", 2**63), ("revenue", "C", 2**63)], errors.InvalidEvent, "64-bit"),
        ([("cash", "X", 1), ("revenue", "C", 1)], errors.InvalidEvent, "side"),
    ],
)
def test_bad_entries_get_clear_errors(book, cash, revenue, postings, error, message):
    accounts = {"cash": cash, "revenue": revenue}
    specs = [
        PostingSpec(accounts[name].id, accounts[name].asset_id, side, amount)
        for name, side, amount in postings
    ]
    with pytest.raises(error, match=message):
        services.adjustment_post(
            book=book, postings=specs, memo="bad", idempotency_key=key(), actor="test"
        )
    assert Event.objects.count() == 0


def test_unknown_account_and_foreign_book_are_refused(book, cash):
    other_book_account = AccountFactory(book=BookFactory())
    with pytest.raises(errors.UnknownAccount):
        services.adjustment_post(
            book=book,
            memo="x",
            idempotency_key=key(),
            actor="test",
            postings=[
                PostingSpec(cash.id, cash.asset_id, "D", 1),
                PostingSpec(999_999, cash.asset_id, "C", 1),
            ],
        )
    with pytest.raises(errors.AccountMismatch, match="is in book"):
        services.adjustment_post(
            book=book,
            memo="x",
            idempotency_key=key(),
            actor="test",
            postings=[
                PostingSpec(cash.id, cash.asset_id, "D", 1),
                PostingSpec(other_book_account.id, cash.asset_id, "C", 1),
            ],
        )


def test_text_postgresql_cannot_store_is_refused_before_the_database(book, cash, revenue):
    with pytest.raises(errors.InvalidEvent, match="without NUL"):
        transfer(cash, revenue, 1, idempotency_key="k\x00")
    with pytest.raises(errors.InvalidEvent, match=r"\$\.entries\[0\]\.memo contains the NUL"):
        services.adjustment_post(
            book=book,
            postings=[
                PostingSpec(cash.id, cash.asset_id, "D", 1),
                PostingSpec(revenue.id, revenue.asset_id, "C", 1),
            ],
            memo="a\x00b",
            idempotency_key=key(),
            actor="test",
        )
    assert Event.objects.count() == 0


def test_floats_never_enter_a_payload(book):
    with pytest.raises(errors.InvalidEvent, match="float"):
        services.event_record(
            event_type="ledger.transfer",
            payload={"entries": [], "x": 0.1},
            idempotency_key=key(),
            actor="test",
        )


def test_unknown_event_type_is_refused():
    with pytest.raises(errors.UnknownEventType):
        services.event_record(event_type="nope", payload={}, idempotency_key=key(), actor="t")


def test_overdraft_through_the_service_is_insufficient_funds(wallet, revenue):
    with pytest.raises(errors.InsufficientFunds) as refused:
        transfer(wallet, revenue, 1_001)
    assert refused.value.details["account"] == wallet.id


def test_hold_reserves_then_partial_capture_releases_the_rest(wallet, revenue):
    hold = services.hold_create(
        debit_account=wallet,
        credit_account=revenue,
        amount=600,
        idempotency_key=key(),
        actor="gateway",
    )
    assert balance(wallet) == 1_000 and available(wallet) == 400
    with pytest.raises(errors.InsufficientFunds):
        services.hold_create(
            debit_account=wallet,
            credit_account=revenue,
            amount=401,
            idempotency_key=key(),
            actor="gateway",
        )
    capture_key = key()
    resolution = services.hold_post(
        hold_id=hold.id, amount=250, idempotency_key=capture_key, actor="gateway"
    )
    assert resolution.kind == HoldResolution.Kind.POSTED
    assert balance(wallet) == 750 and available(wallet) == 750
    assert balance(revenue) == 250
    # A retried capture returns the same resolution; a second capture or void is refused.
    again = services.hold_post(
        hold_id=hold.id, amount=250, idempotency_key=capture_key, actor="gateway"
    )
    assert again.pk == resolution.pk
    with pytest.raises(errors.HoldAlreadyResolved):
        services.hold_void(hold_id=hold.id, idempotency_key=key(), actor="gateway")
    with pytest.raises(errors.IdempotencyConflict):
        services.hold_post(
            hold_id=hold.id, amount=249, idempotency_key=capture_key, actor="gateway"
        )
    assert balance(revenue) == 250


def test_capture_more_than_held_is_refused(wallet, revenue):
    hold = services.hold_create(
        debit_account=wallet,
        credit_account=revenue,
        amount=100,
        idempotency_key=key(),
        actor="gateway",
    )
    with pytest.raises(errors.InvalidEvent, match="reserves only 100"):
        services.hold_post(hold_id=hold.id, amount=101, idempotency_key=key(), actor="gateway")


def test_void_releases_everything(wallet, revenue):
    hold = services.hold_create(
        debit_account=wallet,
        credit_account=revenue,
        amount=900,
        idempotency_key=key(),
        actor="gateway",
    )
    services.hold_void(hold_id=hold.id, idempotency_key=key(), actor="gateway")
    assert available(wallet) == 1_000 and balance(revenue) == 0


def test_expiry_job_releases_only_expired_holds(wallet, revenue):
    now = timezone.now()
    expired = services.hold_create(
        debit_account=wallet,
        credit_account=revenue,
        amount=100,
        idempotency_key=key(),
        actor="gateway",
        expires_at=now - timedelta(seconds=1),
    )
    live = services.hold_create(
        debit_account=wallet,
        credit_account=revenue,
        amount=200,
        idempotency_key=key(),
        actor="gateway",
        expires_at=now + timedelta(hours=1),
    )
    assert services.holds_expire(now=now) == 1
    assert services.holds_expire(now=now) == 0
    assert HoldResolution.objects.get(hold=expired).kind == HoldResolution.Kind.EXPIRED
    assert available(wallet) == 800
    with pytest.raises(errors.HoldAlreadyResolved):
        services.hold_post(hold_id=expired.id, idempotency_key=key(), actor="gateway")
    services.hold_post(hold_id=live.id, idempotency_key=key(), actor="gateway")
    assert balance(revenue) == 200


def test_capture_after_expiry_time_is_refused(wallet, revenue):
    hold = services.hold_create(
        debit_account=wallet,
        credit_account=revenue,
        amount=100,
        idempotency_key=key(),
        actor="gateway",
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    with pytest.raises(errors.HoldExpired):
        services.hold_post(hold_id=hold.id, idempotency_key=key(), actor="gateway")


def test_unknown_hold_is_not_found():
    with pytest.raises(errors.HoldNotFound):
        services.hold_void(hold_id=123456, idempotency_key=key(), actor="gateway")


def test_reversal_mirrors_an_entry_once(cash, revenue):
    original = transfer(cash, revenue, 75)
    reversal = services.entry_reverse(
        entry_id=original.entry_ids[0], idempotency_key=key(), actor="finance"
    )
    assert balance(cash) == 0 and balance(revenue) == 0
    assert reversal.sequence == original.sequence + 1
    with pytest.raises(errors.AlreadyReversed):
        services.entry_reverse(
            entry_id=original.entry_ids[0], idempotency_key=key(), actor="finance"
        )
    with pytest.raises(errors.EntryNotFound):
        services.entry_reverse(entry_id=10**9, idempotency_key=key(), actor="finance")


def test_hold_entries_cannot_be_reversed(wallet, revenue):
    hold = services.hold_create(
        debit_account=wallet,
        credit_account=revenue,
        amount=1,
        idempotency_key=key(),
        actor="gateway",
    )
    with pytest.raises(errors.LedgerError, match="void or post its hold"):
        services.entry_reverse(entry_id=hold.entry_id, idempotency_key=key(), actor="finance")


def test_balance_as_of_and_statement_with_running_balance(cash, revenue):
    results = [transfer(cash, revenue, amount) for amount in (10, 20, 30, 40)]
    assert account_balance_as_of(account_id=cash.id, sequence=results[1].sequence) == 30
    assert account_balance_as_of(account_id=cash.id, at=timezone.now()) == 100
    page_one = account_statement_list(account_id=cash.id, limit=2)
    page_two = account_statement_list(
        account_id=cash.id, after_sequence=page_one[-1].sequence, limit=2
    )
    assert [line.running_balance for line in page_one + page_two] == [10, 30, 60, 100]


def test_trial_balance_is_zero_per_book_and_asset(book, cash, revenue, wallet):
    transfer(cash, revenue, 123)
    rows = trial_balance_list(book_id=book.id)
    assert rows and all(row.difference == 0 for row in rows)
    assert rows[0].debits == 1_123


def test_the_expiry_task_runs_the_service(wallet, revenue):
    from ledger.tasks import expire_holds

    services.hold_create(
        debit_account=wallet,
        credit_account=revenue,
        amount=10,
        idempotency_key=key(),
        actor="gateway",
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    assert expire_holds.apply().get() == 1
    assert available(wallet) == 1_000
