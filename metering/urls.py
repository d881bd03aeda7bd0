from django.urls import path

from metering import api

urlpatterns = [
    path("usage", api.UsageIngestApi.as_view(), name="usage-ingest"),
    path("usage/openai", api.OpenAIUsageIngestApi.as_view(), name="usage-ingest-openai"),
    path("usage/anthropic", api.AnthropicUsageIngestApi.as_view(), name="usage-ingest-anthropic"),
    path(
        "usage/openrouter", api.OpenRouterUsageIngestApi.as_view(), name="usage-ingest-openrouter"
    ),
    path("usage/litellm", api.LiteLLMUsageIngestApi.as_view(), name="usage-ingest-litellm"),
    path("usage/summary", api.UsageSummaryApi.as_view(), name="usage-summary"),
]
