"""Retail price books: resolution order, overrides, markup, versions, and the services."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection

from pricing import services
from pricing.errors import (
    BackdatedVersion,
    CurrencyMismatch,
    PriceBookConflict,
    PricingError,
    RetailPriceBookNotFound,
    UpstreamPriceNotFound,
)
from pricing.models import RetailPriceBook, RetailPriceOverride
from pricing.rating import OverrideTerms, TokenCounts, rate, to_scale
from pricing.selectors import RetailResolver, retail_price_at
from pricing.services import RetailOverrideSpec
from tests.ledger.factories import BookFactory
from tests.pricing.factories import (
    PER_MILLION,
    T0,
    CatalogImportFactory,
    RetailPriceBookFactory,
    UpstreamPriceFactory,
)

pytestmark = pytest.mark.django_db

M = PER_MILLION
T1 = T0 + timedelta(days=30)
LATER = T1 + timedelta(days=1)


@pytest.fixture
def gpt4o():
    """gpt-4o at $2.50/M in, $10/M out, $1.25/M cached; from T1 $2/M in."""
    first = UpstreamPriceFactory(
        catalog_import=CatalogImportFactory(effective_from=T0),
        provider="openai",
        model="gpt-4o",
        input_per_token_atto=25 * M // 10,
        output_per_token_atto=10 * M,
        cache_read_per_token_atto=125 * M // 100,
    )
    second = UpstreamPriceFactory(
        catalog_import=CatalogImportFactory(effective_from=T1),
        provider="openai",
        model="gpt-4o",
        input_per_token_atto=2 * M,
        output_per_token_atto=10 * M,
        cache_read_per_token_atto=M,
    )
    return first, second


@pytest.fixture
def seller():
    return BookFactory(code="reseller-a")


def publish(seller, *, markup_bps, at=T0, **kwargs):
    return services.retail_price_book_create(
        book=seller,
        name=kwargs.pop("name", f"list {markup_bps}"),
        effective_from=at,
        actor="test",
        markup_bps=markup_bps,
        **kwargs,
    )


def quote(seller, at=LATER, **kwargs):
    kwargs = {"provider": "openai", "model": "gpt-4o"} | kwargs
    from_db = retail_price_at(seller_book_id=seller.id, at=at, **kwargs)
    in_memory = RetailResolver.load().quote(seller_book_id=seller.id, at=at, **kwargs)
    assert from_db == in_memory  # the consumer's resolver and the selector agree
    return in_memory


def test_the_default_book_marks_up_the_cost_in_force(seller, gpt4o):
    book = publish(seller, markup_bps=2000)
    result = quote(seller, at=T0 + timedelta(days=1))
    assert result.price.input_per_token_atto == 3 * M  # 2.50 * 1.2
    assert result.price.output_per_token_atto == 12 * M
    assert result.price.cache_read_per_token_atto == 15 * M // 10
    assert result.cost.input_per_token_atto == 25 * M // 10
    assert (result.upstream_price_id, result.retail_price_book_id, result.retail_override_id) == (
        gpt4o[0].id,
        book.id,
        None,
    )
    # After the upstream change the same book marks up the new cost.
    later = quote(seller, at=LATER)
    assert later.price.input_per_token_atto == 24 * M // 10
    assert later.upstream_price_id == gpt4o[1].id
    assert later.price.effective_from == T1


def test_customer_book_then_plan_book_then_the_default(seller, gpt4o):
    default = publish(seller, markup_bps=2000)
    pro = publish(seller, markup_bps=1000, plan="pro")
    acme = publish(seller, markup_bps=500, customer="acme")
    assert quote(seller, plan="pro", customer="acme").retail_price_book_id == acme.id
    assert quote(seller, customer="acme").retail_price_book_id == acme.id
    assert quote(seller, plan="pro", customer="other").retail_price_book_id == pro.id
    assert quote(seller, plan="free", customer="other").retail_price_book_id == default.id
    assert quote(seller).retail_price_book_id == default.id
    assert quote(seller, customer="acme").price.input_per_token_atto == 21 * M // 10
    # Another seller's books never apply.
    with pytest.raises(RetailPriceBookNotFound):
        quote(BookFactory(code="reseller-b"), customer="acme")


def test_a_scope_without_a_version_in_force_yet_falls_through(seller, gpt4o):
    pro = publish(seller, markup_bps=1000, plan="pro")
    acme = publish(seller, markup_bps=500, customer="acme", at=T1)
    assert quote(
        seller, plan="pro", customer="acme", at=T1 - timedelta(seconds=1)
    ).retail_price_book_id == (pro.id)
    assert quote(seller, plan="pro", customer="acme", at=T1).retail_price_book_id == acme.id


def test_explicit_override_prices_win_else_markup(seller, gpt4o):
    UpstreamPriceFactory(
        catalog_import=gpt4o[0].catalog_import,
        provider="azure",
        model="gpt-4o",
        input_per_token_atto=25 * M // 10,
        output_per_token_atto=10 * M,
    )
    book = publish(
        seller,
        markup_bps=2000,
        overrides=[
            RetailOverrideSpec("gpt-4o", OverrideTerms(input_per_token_atto=3 * M)),
            RetailOverrideSpec(
                "gpt-4o", OverrideTerms(input_per_token_atto=4 * M, markup_bps=0), provider="azure"
            ),
        ],
    )
    any_provider, for_azure = (
        RetailPriceOverride.objects.get(price_book=book, provider=""),
        RetailPriceOverride.objects.get(price_book=book, provider="azure"),
    )
    openai = quote(seller)
    assert openai.price.input_per_token_atto == 3 * M  # explicit
    assert openai.price.output_per_token_atto == 12 * M  # the book's 20% over cost
    assert openai.retail_override_id == any_provider.id
    azure = quote(seller, provider="azure")
    assert azure.price.input_per_token_atto == 4 * M
    assert azure.price.output_per_token_atto == 10 * M  # the override's own 0% markup
    assert azure.retail_override_id == for_azure.id


def test_a_quote_rates_to_an_exact_price_cost_and_margin(seller, gpt4o):
    publish(seller, markup_bps=550)
    result = quote(seller, at=T0 + timedelta(hours=1))
    tokens = TokenCounts(input=1234, output=567, cache_read=89)
    price_atto = rate(tokens, result.price).amount_atto
    cost_atto = rate(tokens, result.cost).amount_atto
    price_nanos, price_rest = to_scale(price_atto, 9)
    cost_nanos, cost_rest = to_scale(cost_atto, 9)
    assert cost_atto == 1234 * 25 * M // 10 + 567 * 10 * M + 89 * 125 * M // 100
    assert (
        price_atto == 1234 * 2_637_500_000_000 + 567 * 10_550_000_000_000 + 89 * 1_318_750_000_000
    )
    assert price_nanos * 10**9 + price_rest == price_atto
    assert cost_nanos * 10**9 + cost_rest == cost_atto
    assert price_nanos - cost_nanos > 0


def test_missing_books_prices_and_currencies_are_clear_errors(seller, gpt4o):
    with pytest.raises(RetailPriceBookNotFound):
        quote(seller)
    publish(seller, markup_bps=0)
    with pytest.raises(UpstreamPriceNotFound):
        quote(seller, model="no-such-model")
    with pytest.raises(RetailPriceBookNotFound):
        quote(seller, at=T0 - timedelta(seconds=1))  # before the book's first version
    euro = BookFactory(code="euro-seller")
    publish(euro, markup_bps=0, currency="EUR")
    with pytest.raises(CurrencyMismatch):
        quote(euro)


def test_a_new_version_applies_from_its_moment_and_history_stays(seller, gpt4o):
    first = publish(
        seller,
        markup_bps=2000,
        overrides=[RetailOverrideSpec("gpt-4o", OverrideTerms(output_per_token_atto=11 * M))],
    )
    second = services.retail_price_book_revise(
        price_book=first, effective_from=T1, actor="test", markup_bps=3000
    )
    assert second.id != first.id
    assert list(second.overrides.values_list("model", "output_per_token_atto")) == [
        ("gpt-4o", 11 * M)
    ]
    before = quote(seller, at=T1 - timedelta(microseconds=1))
    after = quote(seller, at=T1)
    assert (before.retail_price_book_id, before.price.input_per_token_atto) == (first.id, 3 * M)
    assert (after.retail_price_book_id, after.price.input_per_token_atto) == (
        second.id,
        26 * M // 10,
    )
    assert after.price.output_per_token_atto == 11 * M

    third = services.retail_price_book_revise(
        price_book=second,
        effective_from=T1 + timedelta(days=1),
        actor="test",
        remove_overrides=[("", "gpt-4o")],
    )
    assert not third.overrides.exists()
    with pytest.raises(PriceBookConflict, match="not the latest"):
        services.retail_price_book_revise(
            price_book=first, effective_from=LATER + timedelta(days=5), actor="test", markup_bps=1
        )


def test_publishing_is_idempotent_and_never_rewrites_history(seller, gpt4o):
    book = publish(seller, markup_bps=2000, name="list")
    assert publish(seller, markup_bps=2000, name="list").id == book.id
    with pytest.raises(PriceBookConflict, match="other terms"):
        publish(seller, markup_bps=2500, name="list")
    publish(seller, markup_bps=2500, name="list", at=T1)
    with pytest.raises(BackdatedVersion, match="rewrite history"):
        publish(seller, markup_bps=2500, name="list", at=T1 - timedelta(days=1))
    # A retried revision finds its own version and replays it.
    latest = RetailPriceBook.objects.get(effective_from=T1)
    revised = services.retail_price_book_revise(
        price_book=latest, effective_from=LATER, actor="test", markup_bps=2600
    )
    again = services.retail_price_book_revise(
        price_book=latest, effective_from=LATER, actor="test", markup_bps=2600
    )
    assert again.id == revised.id


def test_bad_price_book_input_is_refused(seller):
    with pytest.raises(PricingError, match="not both"):
        publish(seller, markup_bps=0, plan="pro", customer="acme")
    with pytest.raises(PricingError, match="markup_bps"):
        publish(seller, markup_bps=-100)
    with pytest.raises(PricingError, match="ISO code"):
        publish(seller, markup_bps=0, currency="usd")
    with pytest.raises(PricingError, match="neither prices nor markup"):
        publish(seller, markup_bps=0, overrides=[RetailOverrideSpec("gpt-4o", OverrideTerms())])
    twice = [RetailOverrideSpec("gpt-4o", OverrideTerms(markup_bps=1))] * 2
    with pytest.raises(PricingError, match="two overrides"):
        publish(seller, markup_bps=0, overrides=twice)


def test_the_retail_resolver_knows_when_a_book_was_published(seller, gpt4o):
    publish(seller, markup_bps=2000)
    resolver = RetailResolver.load()
    assert not resolver.is_stale()
    publish(seller, markup_bps=100, plan="pro")
    assert resolver.is_stale()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE pricing_retailpricebook SET markup_bps = 0",
        "DELETE FROM pricing_retailpricebook",
        "UPDATE pricing_retailpriceoverride SET input_per_token_atto = 0",
        "DELETE FROM pricing_retailpriceoverride",
    ],
)
def test_retail_versions_are_append_only_in_the_database(statement):
    book = RetailPriceBookFactory()
    RetailPriceOverride.objects.create(price_book=book, model="gpt-4o", input_per_token_atto=1)
    with pytest.raises(DatabaseError, match="append-only"), connection.cursor() as cursor:
        cursor.execute(statement)
