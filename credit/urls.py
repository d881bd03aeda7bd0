"""The credit app's URLs, mounted at /api/wallets/ beside wallets.urls (config/urls.py)."""

from django.urls import path

from credit import api

urlpatterns = [
    path(
        "customers/<slug:external_id>/credit-limit/",
        api.CustomerCreditLimitApi.as_view(),
        name="wallets-customer-credit-limit",
    ),
]
