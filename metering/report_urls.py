"""Metering's reads for people (finance, customers' members), under /api/metering/."""

from django.urls import path

from metering import api

urlpatterns = [
    path(
        "customers/<str:external_id>/usage.csv",
        api.CustomerUsageCsvApi.as_view(),
        name="metering-customer-usage-csv",
    ),
]
