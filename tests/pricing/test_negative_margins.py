"""The negative-margin report: explicit retail prices below the upstream cost in force."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from pricing import services
from pricing.rating import OverrideTerms
from pricing.selectors import negative_margin_report
from pricing.services import RetailOverrideSpec
from tests.ledger.factories import BookFactory
from tests.pricing.factories import PER_MILLION, T0, CatalogImportFactory, UpstreamPriceFactory

pytestmark = pytest.mark.django_db

M = PER_MILLION
T1 = T0 + timedelta(days=30)
AT = T0 + timedelta(days=1)


@pytest.fixture
def upstream():
    catalog = CatalogImportFactory(effective_from=T0)
    gpt4o = UpstreamPriceFactory(
        catalog_import=catalog,
        provider="openai",
        model="gpt-4o",
        input_per_token_atto=25 * M // 10,
        output_per_token_atto=10 * M,
        cache_read_per_token_atto=125 * M // 100,
        raw_prices={
            "input_cost_per_token": "0.0000025",
            "output_cost_per_token": "0.00001",
            "cache_read_input_token_cost": "0.00000125",
            "input_cost_per_token_priority": "0.00000425",
        },
        service_tiers=["priority"],
    )
    gemini = UpstreamPriceFactory(
        catalog_import=catalog,
        provider="gemini",
        model="gemini/gemini-2.5-pro",
        input_per_token_atto=125 * M // 100,
        output_per_token_atto=10 * M,
        cache_read_per_token_atto=M // 8,
        tier_threshold_tokens=200_000,
        input_above_tier_per_token_atto=25 * M // 10,
        output_above_tier_per_token_atto=15 * M,
        cache_read_above_tier_per_token_atto=M // 4,
    )
    return gpt4o, gemini


def publish(overrides, *, markup_bps=2000, at=T0, seller=None, **kwargs):
    return services.retail_price_book_create(
        book=seller or BookFactory(code="reseller-a"),
        name="list",
        effective_from=at,
        actor="test",
        markup_bps=markup_bps,
        overrides=overrides,
        **kwargs,
    )


def found(at=AT) -> set[tuple]:
    return {
        (
            m.model,
            m.service_tier,
            m.above_tier,
            m.token_type,
            m.retail_per_token_atto,
            m.cost_per_token_atto,
        )
        for m in negative_margin_report(at=at)
    }


def test_markups_alone_are_never_below_cost(upstream):
    publish([RetailOverrideSpec("gpt-4o", OverrideTerms(markup_bps=0))], markup_bps=0)
    assert found() == set()


def test_an_explicit_price_below_cost_is_reported_with_what_falls_back_to_it(upstream):
    book = publish([RetailOverrideSpec("gpt-4o", OverrideTerms(input_per_token_atto=2 * M))])
    assert found() == {
        ("gpt-4o", "", False, "input", 2 * M, 25 * M // 10),
        # No cache-write price on either side: billed as input, so below cost too.
        ("gpt-4o", "", False, "cache_write", 2 * M, 25 * M // 10),
        ("gpt-4o", "priority", False, "input", 2 * M, 425 * M // 100),
        ("gpt-4o", "priority", False, "cache_write", 2 * M, 425 * M // 100),
    }
    margin = negative_margin_report(at=AT)[0]
    assert margin.retail_price_book_id == book.id
    assert margin.upstream_price_id == upstream[0].id
    assert margin.retail_override_id == book.overrides.get().id
    assert margin.shortfall_per_token_atto == margin.cost_per_token_atto - 2 * M


def test_a_price_above_the_standard_cost_but_below_priority_is_reported_for_priority(upstream):
    publish([RetailOverrideSpec("gpt-4o", OverrideTerms(input_per_token_atto=3 * M), "openai")])
    assert found() == {
        ("gpt-4o", "priority", False, "input", 3 * M, 425 * M // 100),
        ("gpt-4o", "priority", False, "cache_write", 3 * M, 425 * M // 100),
    }


def test_above_tier_prices_are_checked_separately(upstream):
    terms = OverrideTerms(input_per_token_atto=15 * M // 10, input_above_tier_per_token_atto=2 * M)
    publish([RetailOverrideSpec("gemini/gemini-2.5-pro", terms)])
    assert found() == {
        ("gemini/gemini-2.5-pro", "", True, "input", 2 * M, 25 * M // 10),
        ("gemini/gemini-2.5-pro", "", True, "cache_write", 2 * M, 25 * M // 10),
    }


def test_only_books_and_costs_in_force_count(upstream):
    seller = BookFactory(code="reseller-a")
    below = [RetailOverrideSpec("gpt-4o", OverrideTerms(output_per_token_atto=9 * M))]
    first = publish(below, seller=seller)
    services.retail_price_book_revise(
        price_book=first, effective_from=T1, actor="test", remove_overrides=[("", "gpt-4o")]
    )
    assert {row[3] for row in found(at=AT)} == {"output", "reasoning"}
    assert found(at=T1) == set()  # the later version dropped the override
    assert found(at=T0 - timedelta(seconds=1)) == set()  # nothing in force yet
    # A cheaper upstream price from a later catalogue ends the negative margin.
    UpstreamPriceFactory(
        catalog_import=CatalogImportFactory(effective_from=T0 + timedelta(days=2)),
        provider="openai",
        model="gpt-4o",
        input_per_token_atto=25 * M // 10,
        output_per_token_atto=8 * M,
    )
    assert found(at=T0 + timedelta(days=3)) == set()


def test_the_report_command_prints_a_table_and_exits_zero(upstream):
    out = StringIO()
    call_command("pricing_negative_margins", "--at", AT.isoformat(), stdout=out)
    assert "no negative margins" in out.getvalue()

    publish(
        [RetailOverrideSpec("gpt-4o", OverrideTerms(input_per_token_atto=2 * M))], customer="acme"
    )
    out = StringIO()
    call_command("pricing_negative_margins", "--at", AT.isoformat(), stdout=out)
    text = out.getvalue()
    assert "4 negative margin(s)" in text
    assert "retail $/M" in text and "shortfall $/M" in text
    line = next(row for row in text.splitlines() if "openai/gpt-4o" in row and "standard" in row)
    assert "customer acme" in line
    assert "2" in line.split() and "2.5" in line.split() and "0.5" in line.split()
