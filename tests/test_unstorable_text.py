"""Text PostgreSQL cannot store, in a request's path or query, is a 400 with the error
envelope before any view or query runs (it once reached the database as a filter: 500)."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/api/ledger/accounts/?book=a%00b",
        "/api/ledger/entries/?book=%00",
        "/api/ledger/balances.csv?book=dist&code=x%00",
        "/api/ledger/accounts/%00/",
    ],
)
def test_nul_in_path_or_query_is_invalid_input(finance_client, url):
    answer = finance_client.get(url)
    assert answer.status_code == 400
    assert answer.json() == {
        "error": {
            "code": "invalid_input",
            "message": "The request's path or query holds the NUL character (U+0000).",
        }
    }


def test_the_same_requests_without_it_are_answered(finance_client):
    assert finance_client.get("/api/ledger/accounts/?book=ab").status_code == 200
    export = finance_client.get("/api/ledger/balances.csv?book=dist&code=x")
    assert export.status_code == 200
    assert b"".join(export.streaming_content).startswith(b"book,account,code")
