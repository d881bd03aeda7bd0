"""`ledger_verify` finds rows changed behind the triggers' back and names them;
`ledger_rebuild` replays the log into projections equal to the live ones."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from ledger import services
from ledger.models import Posting
from ledger.selectors import account_balance_get
from tests.ledger.factories import AccountFactory, BookFactory, WalletAccountFactory
from tests.ledger.helpers import balance, key, transfer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ledger_with_history():
    book = BookFactory()
    cash = AccountFactory(book=book)
    revenue = AccountFactory(book=book, type="revenue")
    wallet = WalletAccountFactory(book=book)
    transfer(cash, wallet, 1_000)
    transfer(wallet, revenue, 300)
    hold = services.hold_create(
        debit_account=wallet,
        credit_account=revenue,
        amount=200,
        idempotency_key=key(),
        actor="test",
    )
    services.hold_post(hold_id=hold.id, amount=150, idempotency_key=key(), actor="test")
    return {"cash": cash, "revenue": revenue, "wallet": wallet}


def _behind_the_triggers(sql: str, params=None):
    """What an attacker with superuser rights could do: bypass every trigger."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("SET session_replication_role = origin")


def _verify() -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("ledger_verify", "--no-progress", stdout=out, stderr=err)
    return out.getvalue()


def test_verify_passes_on_a_sound_ledger(ledger_with_history):
    assert "ledger OK" in _verify()


def test_verify_names_a_tampered_posting(ledger_with_history):
    posting = Posting.objects.filter(account=ledger_with_history["revenue"]).order_by("id").first()
    _behind_the_triggers(
        "UPDATE ledger_posting SET amount = amount + 1 WHERE id = %s", [posting.id]
    )
    with pytest.raises(CommandError, match=f"posting {posting.id} ") as failed:
        _verify()
    assert "FAILED" in str(failed.value)


def test_verify_names_a_tampered_event(ledger_with_history):
    _behind_the_triggers(
        "UPDATE ledger_event SET payload = jsonb_set(payload, '{kind}', '\"forged\"')"
        " WHERE sequence = 2"
    )
    with pytest.raises(CommandError, match="event #2: input_hash does not match"):
        _verify()


def test_verify_names_a_broken_chain_link(ledger_with_history):
    _behind_the_triggers("UPDATE ledger_event SET prev_hash = repeat('f', 64) WHERE sequence = 3")
    with pytest.raises(CommandError, match="event #3: prev_hash"):
        _verify()


def test_rebuild_repairs_a_tampered_projection(ledger_with_history):
    wallet = ledger_with_history["wallet"]
    live = balance(wallet)
    _behind_the_triggers(
        "UPDATE ledger_balance SET credits_posted = credits_posted + 5 WHERE account_id = %s",
        [wallet.id],
    )
    with pytest.raises(CommandError, match=f"account {wallet.id}: balance projection"):
        _verify()
    out = io.StringIO()
    call_command("ledger_rebuild", "--no-progress", stdout=out)
    assert "1 differed" in out.getvalue()
    assert balance(wallet) == live == 550
    assert "ledger OK" in _verify()


def test_rebuild_of_a_sound_ledger_changes_nothing(ledger_with_history):
    before = {name: account_balance_get(account_id=a.id) for name, a in ledger_with_history.items()}
    out = io.StringIO()
    call_command("ledger_rebuild", "--no-progress", stdout=out)
    assert "0 differed" in out.getvalue()
    assert before == {
        name: account_balance_get(account_id=a.id) for name, a in ledger_with_history.items()
    }
