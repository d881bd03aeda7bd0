"""Importing the real LiteLLM catalogue, versioning, and resolving the version in force."""

import random
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection

from pricing import services
from pricing.errors import (
    BackdatedVersion,
    CatalogueConflict,
    CatalogueInvalid,
    PricingError,
    UpstreamPriceNotFound,
)
from pricing.models import CatalogImport, UpstreamPrice
from pricing.rating import TokenCounts, rate
from pricing.selectors import PriceResolver, upstream_price_at
from tests.pricing.factories import T0, UpstreamPriceFactory

pytestmark = pytest.mark.django_db

T1 = T0 + timedelta(days=30)
DEEPSEEK = ("deepseek", "deepseek/deepseek-chat")


def import_real(path, at=T0):
    return services.catalog_import(path=path, effective_from=at, actor="test")


def test_the_real_catalogue_is_imported_with_every_entry_accounted_for(
    real_catalogue_path, real_catalogue, django_assert_max_num_queries
):
    progress = []
    # Bulk inserts in batches: a handful of statements, not one per entry.
    with django_assert_max_num_queries(20):
        result = services.catalog_import(
            path=real_catalogue_path,
            effective_from=T0,
            actor="test",
            progress=lambda done, total: progress.append((done, total)),
        )
    record = result.catalog_import
    assert result.replayed is False
    assert record.entries_total == len(real_catalogue) == 4878
    assert record.imported_count + record.skipped_count == 4878
    assert record.versions_created_count == record.imported_count
    assert UpstreamPrice.objects.count() == record.imported_count
    stored = set(UpstreamPrice.objects.values_list("model", flat=True))
    skipped = {item["key"] for item in record.skipped}
    assert len(skipped) == record.skipped_count
    assert stored | skipped == set(real_catalogue) and not stored & skipped
    assert all(item["reason"] for item in record.skipped)
    assert {item["code"] for item in record.skipped} >= {
        "documentation",
        "missing_provider",
        "not_token_priced",
        "too_precise",
    }
    assert progress[-1] == (record.imported_count, record.imported_count)
    assert len(record.file_sha256) == 64


def test_real_prices_are_exact(real_catalogue_path):
    import_real(real_catalogue_path)
    deepseek = UpstreamPrice.objects.get(provider="deepseek", model="deepseek/deepseek-chat")
    assert deepseek.input_per_token_atto == 280_000_000_000  # 2.8e-07 USD
    assert deepseek.output_per_token_atto == 420_000_000_000
    assert deepseek.cache_read_per_token_atto == 28_000_000_000
    assert deepseek.raw_prices["input_cost_per_token"] == "0.00000028"

    sonnet = UpstreamPrice.objects.get(provider="anthropic", model="claude-sonnet-4-5")
    assert sonnet.cache_read_per_token_atto == 300_000_000_000  # 3e-07 USD
    assert sonnet.cache_write_per_token_atto == 3_750_000_000_000
    assert sonnet.output_per_token_atto == 15_000_000_000_000
    assert sonnet.raw_prices["cache_creation_input_token_cost_above_1hr"] == "0.000006"
    assert "batches" in sonnet.service_tiers

    gemini = UpstreamPrice.objects.get(provider="gemini", model="gemini/gemini-2.5-pro")
    assert gemini.tier_threshold_tokens == 200_000
    assert gemini.input_above_tier_per_token_atto == 2_500_000_000_000  # 2.5e-06 USD
    assert gemini.output_above_tier_per_token_atto == 15_000_000_000_000

    gpt4o = UpstreamPrice.objects.get(provider="openai", model="gpt-4o")
    assert (gpt4o.input_per_token_atto, gpt4o.output_per_token_atto) == (
        2_500_000_000_000,
        10_000_000_000_000,
    )
    assert gpt4o.cache_write_per_token_atto is None  # billed as input
    assert not UpstreamPrice.objects.filter(model="sample_spec").exists()


def test_reimporting_the_same_file_at_the_same_moment_is_idempotent(real_catalogue_path):
    first = import_real(real_catalogue_path)
    count = UpstreamPrice.objects.count()
    again = import_real(real_catalogue_path)
    assert again.replayed is True
    assert again.catalog_import.pk == first.catalog_import.pk
    assert UpstreamPrice.objects.count() == count
    assert CatalogImport.objects.count() == 1


def test_another_file_at_an_existing_moment_is_refused(real_catalogue_path, real_catalogue):
    import_real(real_catalogue_path)
    real_catalogue["gpt-4o"]["input_cost_per_token"] = 3e-06
    with pytest.raises(CatalogueConflict, match="later effective_from"):
        services.catalog_import(data=real_catalogue, effective_from=T0, actor="test")


def test_a_backdated_import_is_refused(real_catalogue_path, real_catalogue):
    import_real(real_catalogue_path, at=T1)
    with pytest.raises(BackdatedVersion, match="rewrite history"):
        services.catalog_import(data=real_catalogue, effective_from=T0, actor="test")


def test_a_later_import_versions_changed_prices_and_late_events_keep_old_prices(
    real_catalogue_path, real_catalogue
):
    import_real(real_catalogue_path)
    real_catalogue["deepseek/deepseek-chat"]["input_cost_per_token"] = 3.1e-07
    later = services.catalog_import(data=real_catalogue, effective_from=T1, actor="test")

    # Only the changed entry gets a new version; the rest stay in force unchanged.
    assert later.catalog_import.versions_created_count == 1
    versions = UpstreamPrice.objects.filter(provider="deepseek", model="deepseek/deepseek-chat")
    assert sorted(versions.values_list("effective_from", "input_per_token_atto")) == [
        (T0, 280_000_000_000),
        (T1, 310_000_000_000),
    ]

    before = T1 - timedelta(microseconds=1)
    assert upstream_price_at(
        provider="deepseek", model=DEEPSEEK[1], at=before
    ).input_per_token_atto == (280_000_000_000)
    assert upstream_price_at(
        provider="deepseek", model=DEEPSEEK[1], at=T1
    ).input_per_token_atto == (310_000_000_000)
    assert upstream_price_at(provider="deepseek", model=DEEPSEEK[1], at=T0 - timedelta(1)) is None

    # The consumer loads once after the new import, then rates a late event that occurred
    # before it: the price in force when the event happened applies.
    resolver = PriceResolver.load()
    late_event_at = T1 - timedelta(hours=1)
    tokens = TokenCounts(input=1_000_000)
    late = resolver.resolve(*DEEPSEEK, late_event_at)
    assert rate(tokens, late).amount_atto == 280_000_000_000 * 1_000_000  # $0.28
    assert rate(tokens, resolver.resolve(*DEEPSEEK, T1)).amount_atto == 310 * 10**15
    unchanged = resolver.resolve("openai", "gpt-4o", T1 + timedelta(days=1))
    assert unchanged.effective_from == T0
    with pytest.raises(UpstreamPriceNotFound):
        resolver.resolve(*DEEPSEEK, T0 - timedelta(seconds=1))
    with pytest.raises(UpstreamPriceNotFound):
        resolver.resolve("nobody", "no-such-model", T1)


def test_the_resolver_agrees_with_the_database(real_catalogue_path, real_catalogue):
    import_real(real_catalogue_path)
    for key in random.Random(7).sample(sorted(real_catalogue), 300):
        entry = real_catalogue[key]
        if isinstance(entry, dict) and entry.get("input_cost_per_token") is not None:
            entry["input_cost_per_token"] = entry["input_cost_per_token"] * 2
    services.catalog_import(data=real_catalogue, effective_from=T1, actor="test")
    resolver = PriceResolver.load()
    assert resolver.version_count == UpstreamPrice.objects.count()
    sample = random.Random(11).sample(resolver.models(), 200)
    moments = [T0 - timedelta(1), T0, T1 - timedelta(seconds=1), T1, T1 + timedelta(days=365)]
    for provider, model in sample:
        for at in moments:
            assert resolver.get(provider, model, at) == upstream_price_at(
                provider=provider, model=model, at=at
            )


def test_service_tier_prices_resolve_from_the_raw_catalogue_prices(real_catalogue_path):
    import_real(real_catalogue_path)
    resolver = PriceResolver.load()
    model = ("gemini", "gemini/gemini-2.5-pro")
    priority = resolver.resolve(*model, T1, service_tier="priority")
    assert priority.service_tier == "priority"
    assert priority.input_per_token_atto == 2_250_000_000_000
    assert priority.output_above_tier_per_token_atto == 27_000_000_000_000
    assert priority.id == resolver.resolve(*model, T1).id
    assert upstream_price_at(provider=model[0], model=model[1], at=T1, service_tier="priority") == (
        priority
    )
    # No batch prices for deepseek-chat: LiteLLM's fallback, the standard prices.
    batch = resolver.resolve(*DEEPSEEK, T1, service_tier="batches")
    assert batch.input_per_token_atto == 280_000_000_000
    with pytest.raises(PricingError, match="unknown service tier"):
        resolver.resolve(*model, T1, service_tier="turbo")


def test_a_resolver_knows_when_a_newer_catalogue_exists(real_catalogue_path, real_catalogue):
    import_real(real_catalogue_path)
    resolver = PriceResolver.load()
    assert not resolver.is_stale()
    real_catalogue["gpt-4o"]["input_cost_per_token"] = 2e-06
    services.catalog_import(data=real_catalogue, effective_from=T1, actor="test")
    assert resolver.is_stale()
    assert not PriceResolver.load().is_stale()


def test_the_resolver_spells_a_model_as_the_catalogue_does(real_catalogue_path):
    import_real(real_catalogue_path)
    resolver = PriceResolver.load()
    # The catalogue names gemini-2.5-pro with its provider and gpt-4o without (its
    # "gemini-2.5-pro" is Vertex AI's); gateways report either spelling.
    assert resolver.catalogue_model("gemini", "gemini-2.5-pro") == "gemini/gemini-2.5-pro"
    assert resolver.catalogue_model("gemini", "gemini/gemini-2.5-pro") == "gemini/gemini-2.5-pro"
    assert resolver.catalogue_model("openai", "gpt-4o") == "gpt-4o"
    # Where it has both spellings, the one reported is kept.
    assert resolver.catalogue_model("deepseek", "deepseek-chat") == "deepseek-chat"
    assert resolver.catalogue_model("deepseek", "deepseek/deepseek-chat") == (
        "deepseek/deepseek-chat"
    )
    # Unknown models (and providers) stay as they came: resolving them then fails.
    assert resolver.catalogue_model("openai", "no-such-model") == "no-such-model"
    assert resolver.catalogue_model("nobody", "gemini-2.5-pro") == "gemini-2.5-pro"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE pricing_upstreamprice SET input_per_token_atto = 0 WHERE model = 'gpt-4o'",
        "DELETE FROM pricing_upstreamprice WHERE model = 'gpt-4o'",
        "UPDATE pricing_catalogimport SET actor = 'someone else'",
        "DELETE FROM pricing_catalogimport",
    ],
)
def test_price_versions_are_append_only_in_the_database(statement):
    UpstreamPriceFactory(model="gpt-4o")
    with pytest.raises(DatabaseError, match="append-only"), connection.cursor() as cursor:
        cursor.execute(statement)


def test_bad_catalogues_are_refused_with_a_clear_error(tmp_path):
    not_json = tmp_path / "broken.json"
    not_json.write_text("{")
    with pytest.raises(CatalogueInvalid, match="not JSON"):
        services.catalog_import(path=not_json, effective_from=T0, actor="test")
    with pytest.raises(CatalogueInvalid, match="JSON object"):
        services.catalog_import(data=[1, 2], effective_from=T0, actor="test")
    with pytest.raises(PricingError, match="exactly one"):
        services.catalog_import(effective_from=T0, actor="test")
    with pytest.raises(PricingError, match="timezone-aware"):
        services.catalog_import(data={}, effective_from=T0.replace(tzinfo=None), actor="test")


def test_the_import_command_reports_counts_and_is_rerunnable(real_catalogue_path):
    out = StringIO()
    args = [str(real_catalogue_path), "--effective-from", "2025-01-01T00:00:00Z", "--no-progress"]
    call_command("pricing_import_catalog", *args, stdout=out)
    record = CatalogImport.objects.get()
    text = out.getvalue()
    assert f"{record.entries_total} entries, {record.imported_count} imported" in text
    assert f"{record.skipped_count} skipped" in text
    assert "skipped not_token_priced:" in text and "skipped documentation: 1" in text

    again = StringIO()
    call_command("pricing_import_catalog", *args, "--show-skipped", stdout=again)
    assert "already imported" in again.getvalue()
    assert "sample_spec: documentation entry, not a model" in again.getvalue()
    assert CatalogImport.objects.count() == 1

    with pytest.raises(CommandError, match="no UTC offset"):
        call_command(
            "pricing_import_catalog", str(real_catalogue_path), "--effective-from", "2025-02-01"
        )
    with pytest.raises(CommandError, match="price_version_backdated"):
        call_command(
            "pricing_import_catalog",
            str(real_catalogue_path),
            "--effective-from",
            "2024-06-01T00:00:00+00:00",
            "--no-progress",
        )
