"""The catalogue parser (pure): every entry parsed or skipped with a reason, exact prices."""

import math

import pytest

from pricing.catalogue import (
    ParsedEntry,
    Skip,
    SkippedEntry,
    parse_catalogue,
    parse_entry,
    price_slots,
)

CHAT = {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 2.5e-06}


def skip_code(key, entry) -> str:
    result = parse_entry(key, entry)
    assert isinstance(result, SkippedEntry), result
    return result.code


def test_every_real_entry_is_parsed_or_skipped_with_a_reason(real_catalogue):
    parsed, skipped = parse_catalogue(real_catalogue)
    assert len(real_catalogue) == 4878
    assert len(parsed) + len(skipped) == len(real_catalogue)
    keys = [entry.model for entry in parsed] + [entry.key for entry in skipped]
    assert sorted(keys) == sorted(real_catalogue)
    assert all(entry.reason for entry in skipped)
    codes = {entry.key: entry.code for entry in skipped}
    assert codes["sample_spec"] == Skip.DOCUMENTATION
    assert codes["claude-opus-latest"] == Skip.MISSING_PROVIDER
    assert codes["azure/gpt-realtime-whisper"] == Skip.NOT_TOKEN_PRICED  # per second
    assert codes["1024-x-1024/50-steps/bedrock/amazon.nova-canvas-v1:0"] == Skip.NOT_TOKEN_PRICED
    # 2.9999900000000002e-06 is a float artefact with 22 decimal places.
    assert codes["databricks/databricks-claude-sonnet-4-1"] == Skip.TOO_PRECISE
    # Only priority prices, no standard ones.
    assert codes["fireworks_ai/accounts/fireworks/models/minimax-m2p7"] == Skip.NOT_TOKEN_PRICED


def test_documentation_and_malformed_entries_are_skipped():
    assert skip_code("sample_spec", {"litellm_provider": "x", "input_cost_per_token": 0.0}) == (
        Skip.DOCUMENTATION
    )
    assert skip_code("m", ["not", "an", "object"]) == Skip.NOT_AN_OBJECT
    assert skip_code("m", {"input_cost_per_token": 1e-6}) == Skip.MISSING_PROVIDER
    assert skip_code("m", {"litellm_provider": "  ", "input_cost_per_token": 1e-6}) == (
        Skip.MISSING_PROVIDER
    )


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1e-6, "1e-6", True, None])
def test_a_price_that_is_not_a_finite_non_negative_number_skips_the_entry(bad):
    assert skip_code("m", CHAT | {"output_cost_per_token": bad}) == Skip.INVALID_PRICE
    nested = CHAT | {"search_context_cost_per_query": {"search_context_size_low": bad}}
    assert skip_code("m", nested) == Skip.INVALID_PRICE


def test_prices_convert_exactly_or_the_entry_is_skipped():
    parsed = parse_entry("m", CHAT | {"output_cost_per_token": 1e-18})
    assert isinstance(parsed, ParsedEntry)
    assert parsed.slots["input_per_token_atto"] == 2_500_000_000_000
    assert parsed.slots["output_per_token_atto"] == 1
    assert skip_code("m", CHAT | {"output_cost_per_token": 1e-19}) == Skip.TOO_PRECISE
    assert skip_code("m", CHAT | {"output_cost_per_token": 10.0}) == Skip.PRICE_TOO_LARGE
    # A per-second price is not rated: kept exactly as text, whatever its precision.
    per_second = parse_entry("m", CHAT | {"input_cost_per_second": 0.0005666666666666667})
    assert per_second.raw_prices["input_cost_per_second"] == "0.0005666666666666667"


def test_entries_without_per_token_prices_are_skipped_with_what_they_are_priced_by():
    image = {
        "litellm_provider": "openai",
        "mode": "image_generation",
        "output_cost_per_image": 0.04,
    }
    result = parse_entry("dall-e", image)
    assert result.code == Skip.NOT_TOKEN_PRICED
    assert "image_generation" in result.reason and "output_cost_per_image" in result.reason


def test_provider_is_lower_cased_and_the_model_is_the_catalogue_key():
    parsed = parse_entry("Org/Model-X", CHAT | {"litellm_provider": "OpenAI "})
    assert (parsed.provider, parsed.model) == ("openai", "Org/Model-X")


def test_lowest_threshold_is_the_tier_and_all_thresholds_stay_raw():
    entry = CHAT | {
        "output_cost_per_token": 1e-05,
        "input_cost_per_token_above_128k_tokens": 5e-06,
        "input_cost_per_token_above_256k_tokens": 1e-05,
        "output_cost_per_token_above_128k_tokens": 2e-05,
    }
    parsed = parse_entry("m", entry)
    assert parsed.slots["tier_threshold_tokens"] == 128_000
    assert parsed.slots["input_above_tier_per_token_atto"] == 5_000_000_000_000
    assert parsed.slots["output_above_tier_per_token_atto"] == 20_000_000_000_000
    assert parsed.raw_prices["input_cost_per_token_above_256k_tokens"] == "0.00001"


def test_service_tiers_overlay_standard_prices_field_by_field(real_catalogue):
    parsed = parse_entry("gemini/gemini-2.5-pro", real_catalogue["gemini/gemini-2.5-pro"])
    assert parsed.service_tiers == ["batches", "flex", "priority"]
    priority = price_slots(parsed.raw_prices, "priority")
    assert priority["input_per_token_atto"] == 2_250_000_000_000
    assert priority["input_above_tier_per_token_atto"] == 4_500_000_000_000
    batches = price_slots(parsed.raw_prices, "batches")
    assert batches["input_per_token_atto"] == 625_000_000_000
    # gemini-2.5-pro has no batch cache-read price below the tier: the standard one applies.
    assert batches["cache_read_per_token_atto"] == parsed.slots["cache_read_per_token_atto"]


def test_the_same_prices_have_the_same_fingerprint_and_other_prices_another():
    a = parse_entry("m", CHAT)
    b = parse_entry("m", dict(reversed(list(CHAT.items()))) | {"max_tokens": 10})
    c = parse_entry("m", CHAT | {"input_cost_per_token": 2.6e-06})
    assert a.prices_sha256 == b.prices_sha256 != c.prices_sha256
