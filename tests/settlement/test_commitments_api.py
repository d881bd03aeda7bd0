"""The settlement API for finance: contracts, commitments with live balances,
draw-downs, forecast and its CSV; errors with stable codes."""

import csv
import io

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from ledger.selectors import head_sequence_get
from metering.pipeline import Pipeline
from settlement.commitments.drawdown import commitments_draw_down
from settlement.commitments.models import Commitment
from tests.metering.conftest import raw, usage

pytestmark = pytest.mark.django_db

CONTRACT = {"book": "distributor", "provider": "openai", "name": "2026", "currency": "USD"}


def commitment_body(contract_id: int, **terms) -> dict:
    return {
        "contract": contract_id,
        "amount": "2.5",
        "currency": "USD",
        "starts_at": "2026-06-01T00:00:00Z",
        "expires_at": "2026-07-01T00:00:00Z",
        "funded_from": "cash",
        "covered_models": ["gpt-4o"],
        "priority": 5,
        "name": "June block",
    } | terms


def post(client, path, body, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(f"/api/settlement/{path}", body, format="json", **headers)


@pytest.fixture
def contract_id(world, finance_client) -> int:
    response = post(finance_client, "contracts/", CONTRACT | {"tolerance": "0.01"})
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_finance_signs_a_contract_buys_a_commitment_and_reads_its_draw_down(
    world, finance_client, contract_id
):
    contract = finance_client.get(f"/api/settlement/contracts/{contract_id}/").json()
    assert contract["tolerance"] == "0.010000000" and contract["tolerance_minor"] == 10_000_000
    assert finance_client.get("/api/settlement/contracts/").json()["count"] == 1

    response = post(finance_client, "commitments/", commitment_body(contract_id), key="k1")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["amount"], body["remaining"], body["drawn"]) == (
        "2.500000000",
        "2.500000000",
        "0.000000000",
    )
    replay = post(finance_client, "commitments/", commitment_body(contract_id), key="k1")
    assert replay.status_code == 200 and replay.json()["id"] == body["id"]

    events = [
        usage(
            "acme",
            "gpt-4o",
            "openai",
            input=2000,
            output=100,
            occurred_at=f"2026-06-0{d}T10:00:00Z",
        )
        for d in (1, 2)
    ]
    Pipeline().process([raw(event) for event in events])
    commitments_draw_down()
    detail = finance_client.get(f"/api/settlement/commitments/{body['id']}/").json()
    assert (detail["drawn_minor"], detail["covered_minor"]) == (12_000_000, 12_000_000)
    assert detail["remaining_minor"] == 2_500_000_000 - 12_000_000
    assert (detail["tokens"], detail["tokens_remaining"], detail["discount_bps"]) == (None, None, 0)
    lines = finance_client.get(f"/api/settlement/commitments/{body['id']}/drawdowns/").json()
    assert [(line["usage_day"], line["amount"], line["list"]) for line in lines["results"]] == [
        ("2026-06-01", "0.006000000", "0.006000000"),
        ("2026-06-02", "0.006000000", "0.006000000"),
    ]
    listed = finance_client.get("/api/settlement/commitments/?provider=openai").json()
    assert [c["id"] for c in listed["results"]] == [body["id"]]

    forecast = finance_client.get("/api/settlement/forecast/?days=7").json()
    assert [f["commitment"] for f in forecast] == [body["id"]]
    response = finance_client.get("/api/settlement/forecast.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0]["commitment"] == str(body["id"]) and rows[0]["currency"] == "USD"
    assert rows[0]["remaining_minor"] == str(2_500_000_000 - 12_000_000)
    response = finance_client.get("/api/settlement/commitments.csv?provider=openai")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["id"], r["drawn"], r["remaining_minor"], r["closed"]) for r in rows] == [
        (str(body["id"]), "0.012000000", str(2_500_000_000 - 12_000_000), "False")
    ]


def test_finance_buys_tokens_and_reads_them_drawn(world, finance_client, contract_id):
    terms = {"tokens": 1_000_000, "amount": "1.00", "name": "gpt-4o pack"}
    response = post(finance_client, "commitments/", commitment_body(contract_id, **terms), key="t")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["tokens"], body["tokens_remaining"], body["amount_minor"]) == (
        1_000_000,
        1_000_000,
        1_000_000_000,
    )
    assert body["token_account"] is not None
    Pipeline().process(
        [
            raw(
                usage(
                    "acme",
                    "gpt-4o",
                    "openai",
                    input=2000,
                    output=100,
                    occurred_at="2026-06-03T10:00:00Z",
                )
            )
        ]
    )
    commitments_draw_down()
    detail = finance_client.get(f"/api/settlement/commitments/{body['id']}/").json()
    # 2,100 tokens of 1,000,000 bought for $1: $0.0021, for $0.006 of list.
    assert (detail["tokens_drawn"], detail["tokens_remaining"]) == (2_100, 997_900)
    assert (detail["drawn"], detail["covered"]) == ("0.002100000", "0.006000000")
    [line] = finance_client.get(f"/api/settlement/commitments/{body['id']}/drawdowns/").json()[
        "results"
    ]
    assert (line["tokens"], line["amount_minor"], line["list_minor"]) == (
        2_100,
        2_100_000,
        6_000_000,
    )
    [forecast] = finance_client.get("/api/settlement/forecast/").json()
    assert forecast["tokens_remaining"] == 997_900
    response = finance_client.get("/api/settlement/commitments.csv")
    [row] = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert (row["tokens"], row["tokens_drawn"], row["tokens_remaining"]) == (
        "1000000",
        "2100",
        "997900",
    )


@pytest.mark.parametrize(
    ("terms", "status", "code"),
    [
        ({"tokens": 0}, 400, "invalid_input"),
        ({"tokens": "many"}, 400, "invalid_input"),
        ({"expires_at": "2026-05-01T00:00:00Z"}, 400, "invalid_commitment"),
        ({"amount": "-1"}, 400, "invalid_amount"),
        ({"amount": "0"}, 400, "invalid_amount"),
        ({"amount": 5}, 400, "invalid_amount"),
        ({"amount": "0.0000000001"}, 400, "invalid_amount"),
        ({"currency": "EUR"}, 400, "currency_mismatch"),
        ({"contract": 999_999}, 400, "unknown_contract"),
        ({"funded_from": "card"}, 400, "invalid_input"),
    ],
)
def test_a_bad_purchase_is_refused_with_its_code_and_books_nothing(
    world, finance_client, contract_id, terms, status, code
):
    head = head_sequence_get()
    response = post(finance_client, "commitments/", commitment_body(contract_id, **terms), key="k")
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert head_sequence_get() == head and not Commitment.objects.exists()


def test_purchase_errors_without_a_key_or_with_a_reused_one(world, finance_client, contract_id):
    response = post(finance_client, "commitments/", commitment_body(contract_id))
    assert response.json()["error"]["code"] == "idempotency_key_required"
    assert (
        post(finance_client, "commitments/", commitment_body(contract_id), key="k").status_code
        == 201
    )
    other = post(finance_client, "commitments/", commitment_body(contract_id, amount="3"), key="k")
    assert (other.status_code, other.json()["error"]["code"]) == (409, "idempotency_conflict")


@pytest.mark.parametrize(
    ("terms", "status", "code"),
    [
        ({"provider": "no-such-provider"}, 400, "unknown_provider"),
        ({"book": "nope"}, 400, "unknown_book"),
        ({"currency": "XXX"}, 400, "unknown_currency"),
        ({"discount_bps": 10_001}, 400, "invalid_input"),
        ({"tolerance": "-1"}, 400, "invalid_amount"),
    ],
)
def test_a_bad_contract_is_refused_with_its_code(world, finance_client, terms, status, code):
    response = post(finance_client, "contracts/", CONTRACT | terms)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code


def test_a_second_contract_of_the_same_name_is_a_conflict(world, finance_client, contract_id):
    response = post(finance_client, "contracts/", CONTRACT)
    assert (response.status_code, response.json()["error"]["code"]) == (409, "contract_conflict")


def test_unknown_ids_are_404s(world, finance_client):
    for path in ("contracts/5/", "commitments/5/", "commitments/5/drawdowns/"):
        response = finance_client.get(f"/api/settlement/{path}")
        assert response.status_code == 404
    assert finance_client.get("/api/settlement/commitments/5/").json()["error"]["code"] == (
        "commitment_not_found"
    )


def test_only_finance_reads_or_buys(world, contract_id):
    client = APIClient()
    assert client.get("/api/settlement/contracts/").status_code == 401
    client.force_authenticate(User.objects.create_user("someone", password="pw"))
    for path in ("contracts/", "commitments/", "commitments.csv", "forecast/", "forecast.csv"):
        assert client.get(f"/api/settlement/{path}").status_code == 403
    response = post(client, "commitments/", commitment_body(contract_id), key="k")
    assert response.status_code == 403 and not Commitment.objects.exists()
