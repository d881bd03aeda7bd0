"""factory-boy factories for price books. Prices here are invented round numbers; tests
of the importer use the real LiteLLM catalogue instead."""

from datetime import UTC, datetime, timedelta

import factory
from django.utils import timezone

from pricing.models import CatalogImport, RetailPriceBook, RetailPriceOverride, UpstreamPrice
from tests.ledger.factories import BookFactory

T0 = datetime(2025, 1, 1, tzinfo=UTC)
PER_MILLION = 10**12  # atto per token for one currency unit per million tokens


class CatalogImportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CatalogImport

    source_name = "test"
    file_sha256 = factory.Sequence(lambda n: f"{n:064x}")
    effective_from = factory.Sequence(lambda n: T0 + timedelta(days=n))
    imported_at = factory.LazyFunction(timezone.now)
    actor = "test"
    entries_total = 0
    imported_count = 0
    skipped_count = 0
    versions_created_count = 0


class UpstreamPriceFactory(factory.django.DjangoModelFactory):
    """$1/M input, $4/M output, $0.10/M cache reads unless told otherwise."""

    class Meta:
        model = UpstreamPrice

    provider = "openai"
    model = factory.Sequence(lambda n: f"model-{n}")
    mode = "chat"
    currency = "USD"
    catalog_import = factory.SubFactory(CatalogImportFactory)
    effective_from = factory.LazyAttribute(lambda o: o.catalog_import.effective_from)
    input_per_token_atto = 1 * PER_MILLION
    output_per_token_atto = 4 * PER_MILLION
    cache_read_per_token_atto = PER_MILLION // 10
    prices_sha256 = factory.Sequence(lambda n: f"{n:064x}")


class RetailPriceBookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RetailPriceBook

    book = factory.SubFactory(BookFactory)
    name = factory.Sequence(lambda n: f"price book {n}")
    plan = ""
    customer = ""
    markup_bps = 2000
    currency = "USD"
    effective_from = T0
    created_at = factory.LazyFunction(timezone.now)
    actor = "test"
    terms_sha256 = factory.Sequence(lambda n: f"{n:064x}")


class RetailPriceOverrideFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RetailPriceOverride

    price_book = factory.SubFactory(RetailPriceBookFactory)
    provider = ""
    model = "gpt-4o"
    markup_bps = 0
