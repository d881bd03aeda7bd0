"""The usage page: charts, the filtered table and the CSV, from usage booked by metering."""

import csv
import io
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from metering.models import UsageRecord
from tests.metering.conftest import usage

from .conftest import book_usage

pytestmark = pytest.mark.django_db


def _at(days_ago: int) -> str:
    return (timezone.now() - timedelta(days=days_ago)).replace(microsecond=0).isoformat()


@pytest.fixture
def booked(world):
    book_usage(
        usage(
            "acme",
            "gpt-4o",
            "openai",
            input=12_000,
            output=800,
            cache_read=4_000,
            occurred_at=_at(1),
            api_key="key_prod",
        ),
        usage(
            "acme",
            "claude-sonnet-4-5",
            "anthropic",
            input=300,
            output=2_000,
            cache_read=8_000,
            cache_write=1_500,
            occurred_at=_at(2),
            api_key="key_prod",
        ),
        usage(
            "acme",
            "deepseek-chat",
            "deepseek",
            input=5_000,
            output=900,
            reasoning=700,
            occurred_at=_at(2),
            api_key="key_dev",
        ),
        usage(
            "acme",
            "deepseek-chat",
            "deepseek",
            input=1,
            output=1,
            occurred_at=_at(45),
            api_key="key_dev",
        ),  # before the default 30 days
        usage("globex", "gpt-4o", "openai", input=999_999, output=1, occurred_at=_at(1)),
    )


def test_the_page_shows_the_periods_spend_and_each_kind_of_tokens_apart(acme_client, booked):
    page = acme_client.get(reverse("portal:usage", args=["acme"]))
    assert page.status_code == 200
    ctx = page.context
    recent = UsageRecord.objects.filter(
        customer="acme", occurred_at__gte=timezone.now() - timedelta(days=29)
    )
    assert ctx["figures"].total.price_minor == recent.aggregate(p=Sum("price_minor"))["p"]
    assert ctx["figures"].total.requests == 3
    total = ctx["figures"].total
    assert (
        total.input_tokens,
        total.output_tokens,
        total.cache_read_tokens,
        total.cache_write_tokens,
        total.reasoning_tokens,
    ) == (17_300, 3_700, 12_000, 1_500, 700)
    models = [name for name, _totals in ctx["figures"].models]
    assert set(models) == {"openai/gpt-4o", "anthropic/claude-sonnet-4-5", "deepseek/deepseek-chat"}
    html = page.content.decode()
    # Four SVG charts, drawn on the server, each bar titled with its exact figure.
    assert html.count("<svg") == 4
    assert "<title>" in html and "<script" not in html.split("<main>")[1].split("</main>")[0]
    assert "999,999" not in html  # globex's usage is not acme's


def test_the_filters_narrow_charts_table_and_csv_alike(acme_client, booked):
    url = reverse("portal:usage", args=["acme"])
    page = acme_client.get(url, {"model": "deepseek-chat"})
    assert [name for name, _t in page.context["figures"].models] == ["deepseek/deepseek-chat"]
    assert [r["model"] for r in page.context["records"]] == ["deepseek-chat"]
    by_key = acme_client.get(url, {"api_key": "key_prod"})
    assert {r["api_key"] for r in by_key.context["records"]} == {"key_prod"}
    assert by_key.context["figures"].total.requests == 2
    # A longer period reaches the old record.
    since = (timezone.now() - timedelta(days=60)).date().isoformat()
    longer = acme_client.get(url, {"since": since})
    assert longer.context["figures"].total.requests == 4
    assert len(longer.context["figures"].days) == 61

    answer = acme_client.get(
        reverse("portal:usage_csv", args=["acme"]), {"since": since, "model": "deepseek-chat"}
    )
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(answer.streaming_content).decode())))
    assert len(rows) == 2 and {row["model"] for row in rows} == {"deepseek-chat"}
    record = (
        UsageRecord.objects.filter(customer="acme", model="deepseek-chat")
        .order_by("occurred_at")
        .first()
    )
    assert rows[0]["price_minor"] == str(record.price_minor)
    assert "cost_minor" not in rows[0] and "margin" not in rows[0]  # a member sees its price only


def test_a_bad_period_is_refused_on_the_page_and_the_default_shown(acme_client, booked):
    url = reverse("portal:usage", args=["acme"])
    page = acme_client.get(url, {"since": "2026-05-02", "until": "2026-05-01"})
    assert page.status_code == 200
    assert "errorlist" in page.content.decode()
    assert len(page.context["figures"].days) == 30
    too_long = acme_client.get(url, {"since": "2020-01-01", "until": "2026-01-01"})
    assert "errorlist" in too_long.content.decode()
    assert acme_client.get(url, {"since": "not a date"}).status_code == 200


def test_another_customers_usage_and_csv_are_404(acme_client, booked):
    for name in ("portal:usage", "portal:usage_csv"):
        assert acme_client.get(reverse(name, args=["globex"])).status_code == 404
        assert acme_client.get(reverse(name, args=["no-such-customer"])).status_code == 404
