"""CSV exports for finance: the same exact figures as the JSON views, every row, safe to
open in a spreadsheet; and statements that page without losing a line."""

import csv
import io

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from ledger import selectors, services
from ledger.posting_rules import PostingSpec
from tests.ledger.factories import AccountFactory, BookFactory, WalletAccountFactory
from tests.ledger.helpers import key, transfer

pytestmark = pytest.mark.django_db

USD = 10**9  # the factories' USD has scale 9


@pytest.fixture
def book():
    book = BookFactory(code="dist")
    cash = AccountFactory(book=book, code="cash:stripe")
    wallet = WalletAccountFactory(book=book, code="wallet:acme")
    formula = WalletAccountFactory(book=book, code="=HYPERLINK(evil)")
    transfer(cash, wallet, 15 * USD // 10)  # 1.5
    transfer(wallet, cash, 1)  # a nano-dollar back
    transfer(cash, formula, 2 * USD)
    return {"book": book, "cash": cash, "wallet": wallet, "formula": formula}


def _rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_trial_balance_csv_is_exact_and_zero(finance_client, book):
    rows = _rows(finance_client.get(f"/api/ledger/trial-balance.csv?book={book['book'].id}"))
    assert rows == [
        ["book", "asset", "debits", "credits", "difference", "balanced"],
        ["dist", "USD", "3.500000001", "3.500000001", "0.000000000", "yes"],
    ]


def test_balances_csv_lists_every_account_with_exact_amounts(finance_client, book):
    rows = _rows(finance_client.get("/api/ledger/balances.csv?book=dist"))
    header, *lines = rows
    assert header[:7] == ["book", "account", "code", "type", "asset", "balance", "balance_minor"]
    by_code = {line[2]: line for line in lines}
    # A code a spreadsheet would run as a formula is written as text.
    assert set(by_code) == {"'=HYPERLINK(evil)", "cash:stripe", "wallet:acme"}
    assert by_code["wallet:acme"][5:7] == ["1.499999999", str(15 * USD // 10 - 1)]
    assert by_code["cash:stripe"][5] == "3.499999999"  # an asset: debits - credits
    wallets = _rows(finance_client.get("/api/ledger/balances.csv?book=dist&code=wallet:"))
    assert [line[2] for line in wallets[1:]] == ["wallet:acme"]


def test_balances_are_read_in_chunks_without_skipping(finance_client, book, monkeypatch):
    monkeypatch.setattr(selectors, "BALANCES_CHUNK", 2)
    rows = list(selectors.account_balances_iter(book_code="dist"))
    assert [row.account_code for row in rows] == [
        "=HYPERLINK(evil)",
        "cash:stripe",
        "wallet:acme",
    ]


def test_statement_csv_has_every_line_with_its_running_balance(finance_client, book):
    wallet = book["wallet"]
    rows = _rows(finance_client.get(f"/api/ledger/accounts/{wallet.id}/statement.csv"))
    assert rows[0][:2] == ["sequence", "entry"]
    assert [(line[5], line[6], line[8]) for line in rows[1:]] == [
        ("C", "1.500000000", "1.500000000"),
        ("D", "0.000000001", "1.499999999"),
    ]
    assert rows[1][4] == "test transfer"


def test_statement_pages_keep_an_event_whole(book):
    """One event may post to an account twice: a page never ends inside it."""
    cash, wallet = book["cash"], book["wallet"]
    services.adjustment_post(
        book=book["book"],
        postings=[
            PostingSpec(cash.id, cash.asset_id, "D", 10),
            PostingSpec(wallet.id, wallet.asset_id, "C", 4),
            PostingSpec(wallet.id, wallet.asset_id, "C", 6),
        ],
        memo="split",
        idempotency_key=key(),
        actor="test",
    )
    transfer(cash, wallet, 7)
    everything = selectors.account_statement_list(account_id=wallet.id, limit=100)
    assert len(everything) == 5

    first = selectors.account_statement_list(account_id=wallet.id, limit=3)
    assert [line.memo for line in first] == ["test transfer", "test transfer", "split", "split"]
    rest = selectors.account_statement_list(
        account_id=wallet.id, after_sequence=first[-1].sequence, limit=3
    )
    assert first + rest == everything
    assert list(selectors.account_statement_iter(account_id=wallet.id, page_size=1)) == everything


def test_exports_need_the_finance_role_and_say_why_in_csv(book):
    outsider = APIClient()
    outsider.force_authenticate(User.objects.create_user("nobody"))
    response = outsider.get("/api/ledger/trial-balance.csv")
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(response.content.decode()))) == [
        ["error", "message"],
        ["permission_denied", "Reading the ledger needs the finance role."],
    ]
    as_json = outsider.get("/api/ledger/balances.csv", HTTP_ACCEPT="application/json")
    assert as_json.status_code == 403 and as_json.json()["error"]["code"] == "permission_denied"
