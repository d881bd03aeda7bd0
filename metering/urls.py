from django.urls import path

from metering import api

urlpatterns = [
    path("usage", api.UsageIngestApi.as_view(), name="usage-ingest"),
    path("usage/summary", api.UsageSummaryApi.as_view(), name="usage-summary"),
]
