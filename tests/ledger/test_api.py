"""The ledger's HTTP API: reads for finance, adjustments with an idempotency key."""

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from ledger.models import Event
from tests.ledger.factories import AccountFactory, BookFactory, WalletAccountFactory
from tests.ledger.helpers import balance, transfer

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts():
    book = BookFactory(code="dist")
    return {
        "book": book,
        "cash": AccountFactory(book=book, code="cash:stripe"),
        "wallet": WalletAccountFactory(book=book, code="wallet:acme"),
    }


def _post_adjustment(client, key: str, *postings: tuple, memo: str = "opening balance"):
    """Post (account, side, amount) lines to book dist with this Idempotency-Key."""
    return client.post(
        "/api/ledger/adjustments/",
        {
            "book": "dist",
            "memo": memo,
            "postings": [
                {"account": account.id, "side": side, "amount": amount}
                for account, side, amount in postings
            ],
        },
        format="json",
        headers={"Idempotency-Key": key},
    )


def _adjust(client, accounts, amount="1.5", key="adj-1"):
    return _post_adjustment(
        client, key, (accounts["cash"], "D", amount), (accounts["wallet"], "C", amount)
    )


def test_reads_need_the_finance_role(accounts):
    anonymous = APIClient().get("/api/ledger/books/")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    outsider = APIClient()
    outsider.force_authenticate(User.objects.create_user("nobody"))
    response = outsider.get("/api/ledger/trial-balance/")
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Reading the ledger needs the finance role."


def test_adjustment_books_exact_decimal_amounts_once(finance_client, accounts):
    created = _adjust(finance_client, accounts)
    assert created.status_code == 201, created.json()
    assert balance(accounts["wallet"]) == 1_500_000_000  # 1.5 USD in nano-dollars
    replay = _adjust(finance_client, accounts)
    assert replay.status_code == 200 and replay.json()["replayed"] is True
    conflict = _adjust(finance_client, accounts, amount="2")
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_conflict"
    assert Event.objects.get().actor.startswith("user:")


@pytest.mark.parametrize(
    "amount, code",
    [
        ("0.0000000001", "invalid_amount"),  # finer than the asset's scale of 9
        ("abc", "invalid_amount"),
        ("-1", "invalid_event"),
    ],
)
def test_adjustment_bad_amounts_get_stable_codes(finance_client, accounts, amount, code):
    response = _adjust(finance_client, accounts, amount=amount, key=f"bad-{amount}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize("amount", [1.5, 2, True, {"value": "1"}])
def test_adjustment_amounts_are_decimal_strings_never_json_numbers(
    finance_client, accounts, amount
):
    response = _adjust(finance_client, accounts, amount=amount, key=f"number-{amount!r}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_amount"
    assert "exact decimal strings" in error["message"]
    assert error["details"] == {"field": "amount"}
    assert not Event.objects.exists()


def test_the_schema_documents_money_as_strings(finance_client):
    schema = APIClient().get("/api/schema/?format=json").json()
    posting = schema["components"]["schemas"]["AdjustmentPostingInput"]["properties"]
    assert posting["amount"]["type"] == "string"


def test_an_overdraft_is_said_in_the_assets_decimal_form(finance_client, accounts):
    # Debit the wallet (it may never go below zero) and credit cash: 1.5 USD short.
    response = _post_adjustment(
        finance_client, "overdraw", (accounts["wallet"], "D", "1.5"), (accounts["cash"], "C", "1.5")
    )
    assert response.status_code == 409, response.json()
    error = response.json()["error"]
    assert error["code"] == "insufficient_funds"
    assert error["message"] == (
        "wallet:acme has insufficient funds: this posting would leave it 1.500000000 USD short"
    )
    assert error["details"] == {
        "account": accounts["wallet"].id,
        "account_code": "wallet:acme",
        "asset": "USD",
        "shortfall_minor": 1_500_000_000,
    }


def test_adjustment_needs_key_and_role(finance_client, accounts):
    response = finance_client.post("/api/ledger/adjustments/", {}, format="json")
    assert response.json()["error"]["code"] == "idempotency_key_required"
    reader = APIClient()
    user = User.objects.create_user("reader")
    user.user_permissions.add(
        *Group.objects.get(name="finance").permissions.exclude(codename="post_adjustment")
    )
    reader.force_authenticate(user)
    assert _adjust(reader, accounts).status_code == 403


def test_unknown_books_and_accounts_have_stable_codes(finance_client, accounts):
    def adjust(book: str, account: int):
        postings = [
            {"account": accounts["cash"].id, "side": "D", "amount": "1"},
            {"account": account, "side": "C", "amount": "1"},
        ]
        body = {"book": book, "memo": "x", "postings": postings}
        headers = {"Idempotency-Key": f"{book}-{account}"}
        return finance_client.post("/api/ledger/adjustments/", body, format="json", headers=headers)

    # Named in the body: bad input (400). Addressed by the URL: not found (404).
    unknown_book = adjust("nowhere", accounts["wallet"].id)
    assert unknown_book.status_code == 400
    assert unknown_book.json()["error"] == {
        "code": "unknown_book",
        "message": "book 'nowhere' does not exist",
    }
    unknown_account = adjust("dist", 987654)
    assert unknown_account.status_code == 400
    assert unknown_account.json()["error"]["code"] == "unknown_account"
    for path in ("balance/", "statement/", "statement.csv"):
        missing = finance_client.get(
            f"/api/ledger/accounts/987654/{path}", HTTP_ACCEPT="application/json"
        )
        assert missing.status_code == 404, path
        assert missing.json()["error"]["code"] == "account_not_found", path
    not_an_id = finance_client.get("/api/ledger/trial-balance/?book=x")
    assert not_an_id.status_code == 400
    assert not_an_id.json()["error"]["code"] == "invalid_input"
    assert Event.objects.count() == 0


def test_adjustment_unbalanced_is_refused(finance_client, accounts):
    response = _post_adjustment(
        finance_client, "unbalanced", (accounts["cash"], "D", "1"), (accounts["wallet"], "C", "0.5")
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unbalanced_entry"
    assert error["message"] == (
        "the postings do not balance in USD: debits exceed credits by 0.500000000 USD"
    )
    assert error["details"] == {"asset": "USD", "phase": "P", "difference_minor": 500_000_000}


def test_adjustment_messages_name_fields_and_codes_not_minor_units(finance_client, accounts):
    negative = _adjust(finance_client, accounts, amount="-1", key="negative").json()["error"]
    assert negative["message"] == (
        "postings[0].amount: -1 USD is not positive; the side (D or C) says the direction"
    )
    assert "1000000000" not in negative["message"]
    assert negative["details"] == {"field": "postings[0].amount"}
    elsewhere = AccountFactory(book=BookFactory(code="other"), code="cash:other")
    response = _post_adjustment(
        finance_client, "elsewhere", (accounts["cash"], "D", "1"), (elsewhere, "C", "1")
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "account_mismatch"
    assert error["message"] == "postings[1].account: cash:other is not an account of book dist"


def test_balance_statement_entries_and_trial_balance(finance_client, accounts):
    transfer(accounts["cash"], accounts["wallet"], 2_000_000_000)
    transfer(accounts["wallet"], accounts["cash"], 500_000_000)
    wallet_id = accounts["wallet"].id

    live = finance_client.get(f"/api/ledger/accounts/{wallet_id}/balance/").json()
    assert live["balance"] == {"amount": "1.500000000", "amount_minor": 1_500_000_000}
    assert live["available"]["amount_minor"] == 1_500_000_000

    statement = finance_client.get(f"/api/ledger/accounts/{wallet_id}/statement/?limit=1").json()
    assert statement["lines"][0]["running_balance"] == "2.000000000"
    after = statement["next_after_sequence"]
    rest = finance_client.get(
        f"/api/ledger/accounts/{wallet_id}/statement/?after_sequence={after}"
    ).json()
    assert rest["lines"][0]["running_balance_minor"] == 1_500_000_000
    assert rest["next_after_sequence"] is None

    as_of = finance_client.get(
        f"/api/ledger/accounts/{wallet_id}/balance/?as_of_sequence={after}"
    ).json()
    assert as_of["balance"]["amount_minor"] == 2_000_000_000

    entries = finance_client.get("/api/ledger/entries/?book=dist").json()
    assert entries["count"] == 2
    assert {p["side"] for p in entries["results"][0]["postings"]} == {"D", "C"}

    trial = finance_client.get("/api/ledger/trial-balance/").json()
    assert trial == [
        {
            "book": "dist",
            "asset": "USD",
            "debits": "2.500000000",
            "credits": "2.500000000",
            "difference": "0.000000000",
            "balanced": True,
        }
    ]

    missing = finance_client.get("/api/ledger/accounts/999999/balance/")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "account_not_found"


def test_openapi_schema_lists_the_ledger(finance_client):
    response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/ledger/adjustments/" in response.content
