"""Credit's reports and finance's writes over HTTP (/api/credit/), JSON and CSV, on
invoicing's real world; the same numbers as the selectors, to the unit."""

import csv
import io
from datetime import date

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from credit.dunning import services as dunning
from credit.losses import selectors as aging
from credit.models import DunningStep
from tests.credit.test_dunning import _noon
from tests.credit.test_losses import RATES, _globex, balance, invoiced
from tests.invoicing.conftest import AFTER_JUNE, JUNE, book_usage, world

__all__ = ["world"]

pytestmark = pytest.mark.django_db


@pytest.fixture
def finance_client(world):
    client = APIClient()
    client.force_authenticate(User.objects.create_superuser("cfo", password="pw"))
    return client


@pytest.fixture
def june(world):
    book_usage("globex", month=6)
    return invoiced(world, world["globex"], JUNE, AFTER_JUNE)


def _csv(response) -> list[dict]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_aging_and_allowance_over_http_match_the_selectors(world, june, finance_client):
    answer = finance_client.get(
        "/api/credit/aging/", {"as_of": "2026-09-15", "book": "distributor"}
    )
    assert answer.status_code == 200, answer.content
    [row] = [r for r in answer.json() if r["buyer"] == "globex"]
    expected = _globex(aging.aging_list(as_of=date(2026, 9, 15)))
    assert row["d31_60_minor"] == expected.buckets["d31_60"] == june.total
    assert row["total_minor"] == june.total
    [line] = [r for r in _csv(finance_client.get("/api/credit/aging.csv", {"as_of": "2026-09-15"}))]
    assert int(line["d31_60_minor"]) == june.total and line["buyer"] == "globex"

    made = finance_client.post(
        "/api/credit/provision-matrices/",
        {"book": "distributor", "effective_from": "2026-01-01"}
        | {f"{bucket}_bps": rate for bucket, rate in RATES.items()},
        format="json",
    )
    assert made.status_code == 201, made.content
    assert made.json()["rates_bps"] == RATES
    rows = finance_client.get("/api/credit/allowance/", {"as_of": "2026-09-15"}).json()
    by_bucket = {r["bucket"]: r for r in rows}
    assert by_bucket["31-60"]["allowance_minor"] == june.total * RATES["d31_60"] // 10000
    assert sum(
        int(r["allowance_minor"])
        for r in _csv(finance_client.get("/api/credit/allowance.csv", {"as_of": "2026-09-15"}))
    ) == sum(r["allowance_minor"] for r in rows)


def test_write_off_and_recovery_over_http(world, june, finance_client):
    answer = finance_client.post(
        "/api/credit/write-offs/",
        {
            "invoice": str(june.public_id),
            "amount_minor": june.total,
            "reason": "insolvent",
            "approved_by": "cfo",
        },
        format="json",
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["amount_minor"], body["approved_by"], body["recovered_minor"]) == (
        june.total,
        "cfo",
        0,
    )
    assert balance(world["distributor"], "receivable:globex") == 0
    again = finance_client.post(
        "/api/credit/write-offs/",
        {"invoice": str(june.public_id), "amount_minor": 1, "reason": "x", "approved_by": "c"},
        format="json",
    )
    assert (again.status_code, again.json()["error"]["code"]) == (409, "write_off_exceeds_open")
    recovered = finance_client.post(
        f"/api/credit/write-offs/{body['id']}/recoveries/",
        {"amount_minor": june.total},
        format="json",
    )
    assert recovered.status_code == 201 and recovered.json()["recovered_minor"] == june.total
    assert balance(world["distributor"], "receivable:globex") == june.total
    missing = finance_client.post(
        "/api/credit/write-offs/999999/recoveries/", {"amount_minor": 1}, format="json"
    )
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "write_off_not_found")


def test_exposure_dunning_and_their_csv(world, june, finance_client):
    DunningStep.objects.create(
        book=world["distributor"], position=1, days_past_due=1, action="suspend"
    )
    dunning.dunning_evaluate(customer=world["globex"], now=_noon(date(2026, 8, 3)))

    rows = finance_client.get("/api/credit/exposure/", {"book": "distributor"}).json()["results"]
    [globex] = [r for r in rows if r["customer"] == "globex"]
    assert globex["receivable_minor"] == june.total
    assert globex["standing"] == "suspended"
    [line] = [
        r for r in _csv(finance_client.get("/api/credit/exposure.csv")) if r["customer"] == "globex"
    ]
    assert int(line["exposure_minor"]) == globex["exposure_minor"]

    shown = finance_client.get("/api/credit/customers/globex/dunning/").json()
    assert (shown["standing"], shown["episode"]) == ("suspended", 1)
    assert [h["action"] for h in shown["history"]] == ["suspend"]
    [action] = _csv(finance_client.get("/api/credit/dunning.csv", {"customer": "globex"}))
    assert (action["action"], action["reason"]) == ("suspend", shown["history"][0]["reason"])
    resellers = finance_client.get("/api/credit/resellers/").json()
    assert sum(r["exposure_minor"] for r in resellers if r["book"] == "distributor") >= june.total


def test_bad_input_and_who_may_read(world, finance_client):
    bad = finance_client.get("/api/credit/aging/", {"as_of": "yesterday"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_credit_input")
    unknown = finance_client.get("/api/credit/aging/", {"book": "nope"})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, "unknown_book")
    stranger = APIClient()
    stranger.force_authenticate(User.objects.create_user("eve", password="pw"))
    assert stranger.get("/api/credit/aging/").status_code == 403
    assert stranger.get("/api/credit/exposure.csv").status_code == 403
    refused = finance_client.post(
        "/api/credit/provision-matrices/",
        {"book": "distributor", "effective_from": "2026-01-01", "current_bps": 10001},
        format="json",
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid_input")


def test_admin_screens_render_read_only(world, june):
    from django.test import Client

    from credit.losses.services import provision_matrix_set, write_off_create

    DunningStep.objects.create(
        book=world["distributor"], position=1, days_past_due=1, action="reminder"
    )
    dunning.dunning_evaluate(customer=world["globex"], now=_noon(date(2026, 8, 3)))
    provision_matrix_set(
        book=world["distributor"], effective_from=date(2026, 1, 1), rates_bps=RATES, actor="f"
    )
    write_off = write_off_create(
        invoice=june, amount_minor=june.total, reason="gone", approved_by="cfo", actor="f"
    )
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw"))
    for name in (
        "provisionmatrix",
        "allowancebooking",
        "writeoff",
        "recovery",
        "dunningstep",
        "dunningstanding",
        "dunningaction",
        "dunningcard",
    ):
        assert client.get(f"/admin/credit/{name}/").status_code == 200, name
    page = client.get(f"/admin/credit/writeoff/{write_off.pk}/change/").content.decode()
    assert "gone" in page and 'name="_save"' not in page


def test_finance_sets_the_ladder_and_the_card_over_http(world, finance_client):
    made = finance_client.post(
        "/api/credit/dunning-steps/",
        {
            "book": "distributor",
            "position": 1,
            "days_past_due": 10,
            "action": "restrict",
            "restrict_request_max_minor": 5000,
        },
        format="json",
    )
    assert made.status_code == 201, made.content
    replaced = finance_client.post(
        "/api/credit/dunning-steps/",
        {"book": "distributor", "position": 1, "days_past_due": 12, "action": "suspend"},
        format="json",
    )
    assert replaced.status_code == 201
    steps = finance_client.get("/api/credit/dunning-steps/", {"book": "distributor"}).json()
    assert [(s["position"], s["days_past_due"], s["action"]) for s in steps] == [(1, 12, "suspend")]
    no_cap = finance_client.post(
        "/api/credit/dunning-steps/",
        {"book": "distributor", "position": 2, "days_past_due": 5, "action": "restrict"},
        format="json",
    )
    assert (no_cap.status_code, no_cap.json()["error"]["code"]) == (400, "invalid_credit_input")
    card = finance_client.put(
        "/api/credit/customers/globex/dunning-card/",
        {"stripe_customer_id": "cus_1", "stripe_payment_method_id": "pm_card_visa"},
        format="json",
    )
    assert card.status_code == 200 and card.json()["stripe_customer_id"] == "cus_1"
    bad = finance_client.put(
        "/api/credit/customers/globex/dunning-card/",
        {"stripe_customer_id": "x", "stripe_payment_method_id": "pm_1"},
        format="json",
    )
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_credit_input")
