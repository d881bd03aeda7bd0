"""A customer's usage as CSV: members see their own records with the price they pay;
finance sees any customer's with wholesale, cost and margin; nobody sees another's."""

import csv
import io

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from ledger.amounts import from_minor_units
from metering import selectors
from metering.models import UsageRecord
from metering.pipeline import Pipeline
from tests.metering.conftest import raw, usage
from tests.wallets.factories import member_client

URL = "/api/metering/customers/{}/usage.csv"


def _csv(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def booked(world):
    Pipeline().process(
        [
            raw(usage("initech", "gpt-4o", "openai", event_id="e1", input=2000, output=100)),
            raw(
                usage(
                    "initech",
                    "gpt-4o",
                    "openai",
                    event_id="e2",
                    occurred_at="2026-06-02T12:00:00+00:00",
                )
            ),
            raw(usage("acme", event_id="e3")),
        ]
    )
    return world


def test_a_member_exports_its_own_usage_with_prices_only(booked):
    member = member_client(booked["initech"], "ini")
    rows = _csv(member.get(URL.format("initech")))

    records = UsageRecord.objects.filter(customer="initech").order_by("occurred_at")
    assert [row["event_id"] for row in rows] == ["e1", "e2"]
    assert rows[0]["input_tokens"] == "2000" and rows[0]["model"] == "gpt-4o"
    assert rows[0]["price_minor"] == str(records[0].price_minor)
    assert rows[0]["price"] == from_minor_units(records[0].price_minor, 9)
    assert "cost" not in rows[0] and "margin" not in rows[0] and "wholesale" not in rows[0]
    # Another customer's usage answers like a customer that does not exist.
    assert member.get(URL.format("acme")).status_code == 404
    assert APIClient().get(URL.format("initech")).status_code == 401


def test_finance_exports_any_customer_with_cost_and_margin_in_a_period(booked):
    user = User.objects.create_user("fin", password="pw")
    user.groups.add(Group.objects.get(name="finance"))
    finance = APIClient()
    finance.force_authenticate(user)

    rows = _csv(finance.get(URL.format("initech"), {"since": "2026-06-02T00:00:00Z"}))

    [record] = UsageRecord.objects.filter(customer="initech", event_id="e2")
    assert [row["event_id"] for row in rows] == ["e2"]
    assert rows[0]["margin_minor"] == str(record.margin_minor)
    assert rows[0]["cost"] == from_minor_units(record.cost_minor, 9)
    assert rows[0]["wholesale"] == from_minor_units(record.wholesale_minor, 9)  # a reseller's
    bad = finance.get(URL.format("initech"), {"since": "yesterday"}, HTTP_ACCEPT="application/json")
    assert bad.status_code == 400


def test_records_are_read_in_chunks_without_skipping(booked, monkeypatch):
    monkeypatch.setattr(selectors, "USAGE_EXPORT_CHUNK", 1)
    assert [r.event_id for r in selectors.usage_records_iter(customer="initech")] == ["e1", "e2"]
