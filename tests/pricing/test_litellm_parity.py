"""Our rating agrees with LiteLLM's own cost calculator, entry by entry, over the whole
catalogue we import.

For every chat model that `pricing_import_catalog` imports from
../shared/data/model_prices_litellm.json, the same token counts (input, output, cache
read, cache write and reasoning, all at once) are priced twice: by the real LiteLLM
(`litellm.cost_per_token`, loaded with the same file) and by us (`pricing.rating.rate`
on the imported version, and metering's cached fast path, which must give the same
atto). Each model is priced below its context tier, just above it and far above every
tier, so tier prices and their fallbacks are compared too.

LiteLLM's answer is a float of US dollars; ours is an exact integer of atto-dollars. A
float sum of several products cannot carry every digit of the exact amount, so the two
agree when they are within 1e-9 of each other relatively (both zero counts as agreeing);
a refusal (PriceMissing) agrees with nothing but a refusal.

Where the two still differ on purpose, the model is listed in EXPECTED_DIFFERENCES with
its reason, and the test asserts that the models that differ are exactly those: a new
difference, or one that went away, fails.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection, transaction

from metering.rating import Rater
from pricing import services as pricing_services
from pricing.catalogue import CURRENCY, parse_entry, prices_sha256
from pricing.errors import PriceMissing
from pricing.models import UpstreamPrice
from pricing.rating import ATTO_PER_UNIT, PRICE_FIELDS, PriceVersion, TokenCounts, rate
from pricing.selectors import PriceResolver
from tests.litellm_support import load_catalogue, our_catalogue_in_litellm

from litellm._internal_context import pinned_billing_time  # isort: skip (after the env)
from litellm.types.utils import (  # isort: skip
    CompletionTokensDetailsWrapper,
    PromptTokensDetailsWrapper,
    Usage,
)

# LiteLLM's pydantic models warn about their own ReadOnly TypedDicts as they are built.
# django_db also makes pytest-django set the test database up for this module's tests
# (it creates only the databases marked tests use), which the module fixture imports into.
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.timeout(300),
    pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning"),
]

IMPORTED_FROM = datetime(2026, 1, 1, tzinfo=UTC)
# LiteLLM prices DeepSeek's off-peak hours at their own rates (`off_peak_pricing`) and
# reads the clock to know whether they apply; the comparison pins one moment, a
# Wednesday at noon UTC, inside those windows, so its outcome does not depend on the hour.
PRICED_AT = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)
RELATIVE_TOLERANCE = Decimal("1e-9")
FAR_ABOVE_EVERY_TIER = 2_000_000  # prompt tokens; the catalogue's highest tier is 512k

_PEGASUS = (
    "priced per second of video and has no input_cost_per_token: LiteLLM bills its "
    "text input tokens at 0, we refuse to bill a token as free (PriceMissing)"
)
_SHADOWED = (
    "LiteLLM looks `<provider>/<model>` up before `<model>`, so a request for this "
    "entry is priced with the prefixed entry's prices ({prefixed}); our "
    "PriceResolver.catalogue_model prefers the exact key"
)
_OFF_PEAK = (
    "off_peak_pricing: LiteLLM bills the off-peak rates inside the entry's windows "
    "(PRICED_AT is one); we import and rate the standard rates only, at every hour"
)
_TWO_THRESHOLDS = (
    "two context thresholds (32k and 256k): LiteLLM bills a prompt above 256k at the "
    "256k prices; a version keeps one tier, the lowest (32k), the other stays in "
    "raw_prices unrated"
)
EXPECTED_DIFFERENCES = {
    **dict.fromkeys(
        [
            "twelvelabs.pegasus-1-2-v1:0",
            "us.twelvelabs.pegasus-1-2-v1:0",
            "eu.twelvelabs.pegasus-1-2-v1:0",
            "global.twelvelabs.pegasus-1-2-v1:0",
            "twelvelabs.pegasus-1-5-v1:0",
            "us.twelvelabs.pegasus-1-5-v1:0",
            "global.twelvelabs.pegasus-1-5-v1:0",
        ],
        _PEGASUS,
    ),
    "deepseek-chat": _SHADOWED.format(prefixed="deepseek/deepseek-chat, cache writes at 0"),
    "gemini-exp-1206": _SHADOWED.format(prefixed="gemini/gemini-exp-1206, all prices 0"),
    **dict.fromkeys(
        [
            "deepseek-flash",
            "deepseek-v4-flash",
            "deepseek-v4-flash-vision-exp",
            "deepseek-v4-pro",
            "deepseek/deepseek-flash",
            "deepseek/deepseek-v4-flash",
            "deepseek/deepseek-v4-flash-vision-exp",
            "deepseek/deepseek-v4-pro",
            "tencent/deepseek-v4-pro-0813",
            "tencent/deepseek-v4.1-flash",
        ],
        _OFF_PEAK,
    ),
    **dict.fromkeys(
        [
            "kyma/qwen3.7-flash",
            "empiriolabs/qwen3-5-flash:variant1",
            "empiriolabs/qwen3-5-plus:variant1",
            "empiriolabs/qwen3-7-flash",
            "empiriolabs/qwen3-7-flash:variant1",
        ],
        _TWO_THRESHOLDS,
    ),
}


def mixes(version: PriceVersion, tiered_table: bool) -> Iterator[TokenCounts]:
    """Every kind of token at once: below the tier, just above it, far above all."""
    kinds = {"output": 400, "cache_read": 300, "cache_write": 200, "reasoning": 100}
    cached = kinds["cache_read"] + kinds["cache_write"]
    yield TokenCounts(input=1000, **kinds)
    threshold = version.tier_threshold_tokens
    if threshold is not None:
        yield TokenCounts(input=threshold + 1000 - cached, **kinds)
    if threshold is not None or tiered_table:
        yield TokenCounts(input=FAR_ABOVE_EVERY_TIER, **kinds)


def litellm_usage(tokens: TokenCounts) -> Usage:
    """The counts as LiteLLM's Usage spells them (OpenAI's inclusive convention)."""
    prompt = tokens.input + tokens.cache_read + tokens.cache_write
    completion = tokens.output + tokens.reasoning
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        prompt_tokens_details=PromptTokensDetailsWrapper(
            cached_tokens=tokens.cache_read, cache_creation_tokens=tokens.cache_write
        ),
        completion_tokens_details=CompletionTokensDetailsWrapper(reasoning_tokens=tokens.reasoning),
    )


def ours(tokens: TokenCounts, version: PriceVersion, fast: Rater) -> int | str:
    try:
        exact = rate(tokens, version).amount_atto
    except PriceMissing:
        exact = None
    try:
        counts = (tokens.input, tokens.output, tokens.cache_read, tokens.cache_write)
        cached = fast._amount_atto((*counts, tokens.reasoning), tokens.prompt_tokens, version)
    except PriceMissing:
        cached = None
    assert cached == exact, (version.model, tokens)  # the fast path is the same rating
    return "PriceMissing" if exact is None else exact


def theirs(litellm, tokens: TokenCounts, version: PriceVersion) -> Decimal | str:
    try:
        with pinned_billing_time(PRICED_AT):
            prompt, completion = litellm.cost_per_token(
                model=version.model,
                custom_llm_provider=version.provider,
                usage_object=litellm_usage(tokens),
                service_tier=version.service_tier or None,
            )
    except Exception as exc:  # noqa: BLE001 (LiteLLM raises bare Exceptions)
        return f"{type(exc).__name__}: {exc}"[:200]
    return Decimal(str(prompt + completion))


def agree(our_amount: int | str, their_amount: Decimal | str) -> bool:
    if isinstance(our_amount, str) or isinstance(their_amount, str):
        return False  # a refusal agrees with nothing (LiteLLM bills what it cannot price at 0)
    exact = Decimal(our_amount) / ATTO_PER_UNIT
    if exact == 0:
        return their_amount == 0
    return abs(their_amount - exact) <= RELATIVE_TOLERANCE * exact


@pytest.fixture(scope="module")
def catalogue() -> dict:
    return load_catalogue()


@pytest.fixture(scope="module")
def imported(django_db_setup, django_db_blocker, catalogue) -> tuple[PriceResolver, list]:
    """The whole catalogue through pricing_import_catalog's service, once per module:
    the versions it stored, loaded in memory as the consumer loads them, and the
    (provider, model, service tiers) of its chat entries. The import is rolled back
    once read, so nothing outlives this module."""
    with django_db_blocker.unblock(), transaction.atomic():
        assert connection.settings_dict["NAME"].startswith("test_")  # never the dev database
        result = pricing_services.catalog_import(
            data=catalogue, effective_from=IMPORTED_FROM, actor="test"
        )
        chat = list(
            UpstreamPrice.objects.filter(catalog_import=result.catalog_import, mode="chat")
            .order_by("provider", "model")
            .values_list("provider", "model", "service_tiers")
        )
        prices = PriceResolver.load()
        transaction.set_rollback(True)
    return prices, chat


def test_rating_agrees_with_litellm_on_every_imported_chat_model(catalogue, imported):
    prices, chat = imported
    fast = Rater()
    differing: dict[str, list] = {}
    compared = 0
    with our_catalogue_in_litellm(catalogue) as litellm:
        for provider, model, _ in chat:
            version = prices.resolve(provider, model, PRICED_AT)
            for tokens in mixes(version, "tiered_pricing" in catalogue[model]):
                compared += 1
                mine, other = ours(tokens, version, fast), theirs(litellm, tokens, version)
                if not agree(mine, other):
                    differing.setdefault(model, []).append((tokens, mine, other))
    assert len(chat) > 3000 and compared > len(chat)
    unexplained = {m: found for m, found in differing.items() if m not in EXPECTED_DIFFERENCES}
    assert not unexplained, unexplained
    assert set(differing) == set(EXPECTED_DIFFERENCES), (
        "these listed models agree now; take them off the list: "
        f"{sorted(set(EXPECTED_DIFFERENCES) - set(differing))}"
    )


# Service tiers LiteLLM prices per token on a chat call ("batches" go through its batch
# cost calculator, "decisions" are a call type of their own).
CHAT_SERVICE_TIERS = ("flex", "priority", "balanced", "ultrafast")
EXPECTED_TIER_DIFFERENCES = {
    ("fireworks_ai", "priority"): (
        "LiteLLM's Fireworks calculator (llms/fireworks_ai/cost_calculator.py) takes no "
        "service_tier and bills a priority request at the standard prices; we bill the "
        "priority prices the entry states"
    ),
}


def _prices(version: PriceVersion) -> tuple:
    return tuple(getattr(version, name) for name in PRICE_FIELDS)


def test_service_tier_prices_agree_with_litellm(catalogue, imported):
    """The same comparison for every chat model's stated service tiers."""
    prices, chat = imported
    fast = Rater()
    compared, differing, listed = 0, {}, set()
    with our_catalogue_in_litellm(catalogue) as litellm:
        for provider, model, tiers in chat:
            if model in EXPECTED_DIFFERENCES:
                continue  # they differ in their standard prices already
            for tier in set(tiers) & set(CHAT_SERVICE_TIERS):
                version = prices.resolve(provider, model, PRICED_AT, service_tier=tier)
                standard = prices.resolve(provider, model, PRICED_AT)
                if (provider, tier) in EXPECTED_TIER_DIFFERENCES and _prices(version) != _prices(
                    standard
                ):
                    listed.add((model, tier))
                for tokens in mixes(version, "tiered_pricing" in catalogue[model]):
                    compared += 1
                    mine, other = ours(tokens, version, fast), theirs(litellm, tokens, version)
                    if not agree(mine, other):
                        differing.setdefault((model, tier), []).append((tokens, mine, other))
    assert compared > 500
    unexplained = {key: found for key, found in differing.items() if key not in listed}
    assert not unexplained, unexplained
    assert set(differing) == listed, sorted(listed - set(differing))


def test_a_stated_zero_is_zero_and_only_a_missing_price_falls_back(catalogue, imported):
    """deepseek/deepseek-chat states cache_creation_input_token_cost: 0.0 (DeepSeek does
    not charge cache writes): a write there costs 0, not the input price. A Fireworks
    model without a cache-read price bills reads at half its input price, as LiteLLM
    does (with_default_cache_read_rate); one that states its price keeps it."""
    fireworks = "fireworks_ai/accounts/fireworks/models/yi-6b"
    stated = "fireworks_ai/accounts/fireworks/models/deepseek-v4-pro-0813"
    assert catalogue["deepseek/deepseek-chat"]["cache_creation_input_token_cost"] == 0.0
    assert "cache_read_input_token_cost" not in catalogue[fireworks]
    prices, _ = imported
    deepseek = prices.resolve("deepseek", "deepseek/deepseek-chat", PRICED_AT)
    writes = rate(TokenCounts(cache_write=1_000_000), deepseek)
    assert deepseek.cache_write_per_token_atto == 0 and writes.amount_atto == 0
    yi = prices.resolve("fireworks_ai", fireworks, PRICED_AT)
    assert yi.cache_read_per_token_atto * 2 == yi.input_per_token_atto
    # The default is part of the version's fingerprint: a database that imported this
    # entry before the default existed gets a new version from its next import.
    parsed = parse_entry(fireworks, catalogue[fireworks])
    assert parsed.prices_sha256 != prices_sha256(CURRENCY, parsed.raw_prices)
    priced = prices.resolve("fireworks_ai", stated, PRICED_AT)
    assert priced.cache_read_per_token_atto == Decimal(
        str(catalogue[stated]["cache_read_input_token_cost"])
    ).scaleb(18)
    with our_catalogue_in_litellm(catalogue) as litellm:
        for version in (deepseek, yi, priced):
            tokens = TokenCounts(input=700, cache_read=2000, cache_write=300, output=50)
            assert agree(rate(tokens, version).amount_atto, theirs(litellm, tokens, version))
