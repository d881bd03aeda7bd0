"""The real LiteLLM client reports usage to us, and we book what it says it cost.

A LiteLLM Router runs in-process with `mock_response` (no network: no provider is
called, and LiteLLM's price map is our catalogue file, see tests/litellm_support.py).
Its `generic_api` logger is configured as LiteLLM documents it, through the environment:
GENERIC_LOGGER_ENDPOINT (read in GenericAPILogger.__init__) names our live test server's
`/v1/usage/litellm` on loopback, GENERIC_LOGGER_HEADERS ("key=value,key=value",
`_get_headers`) carries the gateway key. The logger queues each call's
StandardLoggingPayload (`async_log_success_event`) and posts the queue as one JSON array
(log_format "json_array", the default) when it holds `batch_size` payloads or every
`flush_interval` seconds; the test flushes it itself (`flush_queue`), once every call is
queued, so the post happens exactly once and at a known moment.

Each booked usage record's upstream cost (cost_minor nano-dollars plus
cost_remainder_atto, the exact amount in atto-dollars) is compared with LiteLLM's own
`response_cost` for the same request, converted with Decimal(str(x)). A float of dollars
cannot hold every exact amount: LiteLLM adds several float products, so its last digit
can be off by a unit of the 17th significant digit (0.007500000000000001). The
comparison is therefore within 1e-9 relative, and the test also counts how many agree
exactly (as text), to show that the tolerance is for the float and not for the price.
"""

import asyncio
import time
import uuid
from decimal import Decimal

import pytest

from ledger.integrity import verify_ledger
from ledger.selectors import trial_balance_list
from metering import ingest
from metering.adapters.litellm import to_usage_event
from metering.models import DeadLetter, UsageRecord
from metering.schema import InvalidUsageEvent
from pricing import services as pricing_services
from pricing.rating import ATTO_PER_UNIT
from tests.litellm_support import load_catalogue, our_catalogue_in_litellm
from tests.metering.conftest import MODELS as WORLD_MODELS
from tests.metering.conftest import PRICES_FROM
from wallets.gateways.keys import gateway_key_create

import litellm  # isort: skip (after tests.litellm_support has set the environment)
from litellm import Router  # isort: skip
from litellm.integrations.generic_api.generic_api_callback import GenericAPILogger  # isort: skip
from litellm.llms.custom_httpx.async_client_cleanup import close_litellm_async_clients  # isort: skip
from litellm.types.utils import (  # isort: skip
    CompletionTokensDetailsWrapper,
    ModelResponse,
    PromptTokensDetailsWrapper,
    Usage,
)

# LiteLLM's pydantic models warn about their own ReadOnly TypedDicts as they are built.
pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning"),
]

# The catalogue entries the requests use, each for a kind of token (the world's four
# models plus one with its own reasoning price).
MODELS = {
    "sonnet": ("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5"),  # cache reads + writes
    "gemini-pro": ("gemini/gemini-2.5-pro", "gemini/gemini-2.5-pro"),  # tiered above 200k
    "qwen-turbo": ("dashscope/qwen-turbo", "dashscope/qwen-turbo"),  # a reasoning price
    "gpt-4o": ("openai/gpt-4o", "gpt-4o"),  # cache reads; reasoning billed as output
}
RELATIVE_TOLERANCE = Decimal("1e-9")
TOKEN_KINDS = ("input", "cache_read", "cache_write", "output", "reasoning")
QUEUE_WAIT_S = 20.0


def _usage(input=0, cache_read=0, cache_write=0, output=0, reasoning=0) -> Usage:
    """Usage as a provider's response carries it, in OpenAI's inclusive convention."""
    prompt = input + cache_read + cache_write
    completion = output + reasoning
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        prompt_tokens_details=PromptTokensDetailsWrapper(
            cached_tokens=cache_read, cache_creation_tokens=cache_write
        ),
        completion_tokens_details=CompletionTokensDetailsWrapper(reasoning_tokens=reasoning),
    )


# (router model name, tokens): every kind of token, and one request beyond 200k.
REQUESTS = [
    ("sonnet", {"input": 1200, "cache_read": 30_000, "cache_write": 4096, "output": 700}),
    ("sonnet", {"input": 15, "cache_read": 0, "cache_write": 2048, "output": 90, "reasoning": 512}),
    ("gemini-pro", {"input": 230_000, "cache_read": 12_000, "output": 3000, "reasoning": 1800}),
    ("gemini-pro", {"input": 9000, "cache_read": 1000, "output": 400, "reasoning": 250}),
    ("qwen-turbo", {"input": 800, "output": 300, "reasoning": 2500}),
    ("gpt-4o", {"input": 5000, "cache_read": 2048, "output": 640, "reasoning": 64}),
]


@pytest.fixture
def gateway_headers(monkeypatch, live_server, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = ""  # the embedded default: /v1/usage books directly
    ingest.reset_direct_pipeline()
    _, secret = gateway_key_create(name="LiteLLM", source="litellm-router", actor="test")
    monkeypatch.setenv("GENERIC_LOGGER_ENDPOINT", f"{live_server.url}/v1/usage/litellm")
    monkeypatch.setenv("GENERIC_LOGGER_HEADERS", f"Authorization=Bearer {secret}")
    yield
    ingest.reset_direct_pipeline()


async def _serve(router: Router) -> list[tuple[str, float]]:
    """Every request through the Router, then one flush: [(response id, response_cost)]."""
    logger = GenericAPILogger()  # reads GENERIC_LOGGER_ENDPOINT / _HEADERS, as a user's would
    litellm.callbacks = [logger]
    try:
        answered = []
        for name, tokens in REQUESTS:
            response_id = f"chatcmpl-{uuid.uuid4().hex}"
            mocked = ModelResponse(
                id=response_id,
                model=MODELS[name][0],
                choices=[{"message": {"role": "assistant", "content": "ok"}}],
                usage=_usage(**tokens),
            )
            response = await router.acompletion(
                model=name,
                messages=[{"role": "user", "content": "hello"}],
                mock_response=mocked,
                metadata={"user_api_key_team_id": "acme"},  # whom the proxy bills: the team
            )
            assert response.id == response_id
            answered.append((response_id, response._hidden_params["response_cost"]))
        # LiteLLM logs success in the background: wait (bounded) until every payload is
        # queued, then flush once; the logger never raises, the records tell.
        deadline = time.monotonic() + QUEUE_WAIT_S
        while len(logger.log_queue) < len(REQUESTS) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert len(logger.log_queue) == len(REQUESTS), logger.log_queue
        await logger.flush_queue()
        assert logger.log_queue == []
        return answered
    finally:
        litellm.callbacks = []
        # Its cached HTTP clients belong to this event loop, which ends here.
        await close_litellm_async_clients()


@pytest.mark.django_db(transaction=True)
def test_the_litellm_router_reports_usage_and_we_book_its_cost(world, gateway_headers):
    catalogue = load_catalogue()
    # The world's prices from PRICES_FROM, and the extra model, in a later catalogue.
    later = PRICES_FROM.replace(month=3)
    pricing_services.catalog_import(
        data={key: catalogue[key] for key in [*WORLD_MODELS, *(k for _, k in MODELS.values())]},
        effective_from=later,
        actor="test",
    )
    model_list = [
        {"model_name": name, "litellm_params": {"model": model, "api_key": "unused-mock"}}
        for name, (model, _) in MODELS.items()
    ]
    with our_catalogue_in_litellm(catalogue):
        answered = asyncio.run(_serve(Router(model_list=model_list)))

    assert not DeadLetter.objects.exists(), list(DeadLetter.objects.values("reason"))
    records = {r.event_id: r for r in UsageRecord.objects.filter(source="litellm-router")}
    assert set(records) == {response_id for response_id, _ in answered}  # one per request
    exact = 0
    for (response_id, response_cost), (name, tokens) in zip(answered, REQUESTS, strict=True):
        record = records[response_id]
        assert (record.customer, record.metadata["adapter"]) == ("acme", "litellm")
        assert (
            record.input_tokens,
            record.cache_read_tokens,
            record.cache_write_tokens,
            record.output_tokens,
            record.reasoning_tokens,
        ) == tuple(tokens.get(k, 0) for k in TOKEN_KINDS), name
        reported = Decimal(str(response_cost))
        # What LiteLLM sent in the payload is what it answered the caller.
        assert Decimal(record.metadata["gateway_reported_cost"]) == reported
        booked_atto = record.cost_minor * 10**9 + record.cost_remainder_atto
        booked = Decimal(booked_atto) / ATTO_PER_UNIT
        assert reported > 0 and abs(booked - reported) <= RELATIVE_TOLERANCE * booked, (
            name,
            tokens,
            booked,
            reported,
        )
        exact += booked == reported
    assert exact >= len(REQUESTS) // 2, "most floats should carry the exact amount"
    assert all(row.difference == 0 for row in trial_balance_list())
    assert verify_ledger().ok


def _payload(**fields) -> dict:
    payload = {
        "id": "chatcmpl-1",
        "status": "success",
        "custom_llm_provider": "anthropic",
        "model": "anthropic/claude-sonnet-4-5",
        "startTime": 1780315200.5,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "metadata": {"user_api_key_team_id": "acme"},
    }
    return {**payload, **fields}


@pytest.mark.parametrize(
    ("model_map_information", "model"),
    [
        # What the Router logs: the entry LiteLLM priced, by the key of its price map.
        (
            {"model_map_key": "claude-sonnet-4-5", "model_map_value": {"key": "claude-sonnet-4-5"}},
            "claude-sonnet-4-5",
        ),
        # The name looked up differs from the entry found (the provider-prefixed one).
        (
            {
                "model_map_key": "deepseek-chat",
                "model_map_value": {"key": "deepseek/deepseek-chat"},
            },
            "deepseek/deepseek-chat",
        ),
        ({"model_map_key": "claude-sonnet-4-5", "model_map_value": None}, "claude-sonnet-4-5"),
        # Nothing priced: the logged model without the provider prefix it carries.
        ({"model_map_key": "", "model_map_value": None}, "claude-sonnet-4-5"),
        (None, "claude-sonnet-4-5"),
    ],
)
def test_the_adapter_names_the_entry_litellm_priced(model_map_information, model):
    payload = _payload(model_map_information=model_map_information)
    event = to_usage_event(payload, source="litellm-router")
    assert event.model == model
    assert event.metadata["litellm_model"] == "anthropic/claude-sonnet-4-5"


def test_cache_writes_spelled_cache_write_tokens_are_read_and_must_agree():
    usage = {"prompt_tokens": 100, "completion_tokens": 5, "total_tokens": 105}
    only = {**usage, "prompt_tokens_details": {"cache_write_tokens": 40}}
    payload = _payload(prompt_tokens=100, total_tokens=105)
    payload["metadata"] = {"user_api_key_team_id": "acme"}
    payload["metadata"]["usage_object"] = only
    event = to_usage_event(payload, source="litellm-router")
    assert (event.tokens.cache_write, event.tokens.input) == (40, 60)
    payload["metadata"]["usage_object"] = {
        **usage,
        "prompt_tokens_details": {"cache_write_tokens": 40, "cache_creation_tokens": 41},
    }
    with pytest.raises(InvalidUsageEvent, match="disagree"):
        to_usage_event(payload, source="litellm-router")
