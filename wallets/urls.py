"""The wallets API for finance and tenants, mounted at /api/wallets/."""

from django.urls import path

from wallets import api
from wallets.lots import api as lots_api

urlpatterns = [
    path("customers/", api.CustomerListApi.as_view(), name="wallets-customers"),
    path(
        "customers/<slug:external_id>/keys/",
        api.CustomerApiKeysApi.as_view(),
        name="wallets-customer-keys",
    ),
    path(
        "customers/<slug:external_id>/suspension/",
        api.CustomerSuspensionApi.as_view(),
        name="wallets-customer-suspension",
    ),
    path(
        "customers/<slug:external_id>/wallet/",
        api.CustomerWalletApi.as_view(),
        name="wallets-customer-wallet",
    ),
    path(
        "customers/<slug:external_id>/lots/",
        lots_api.CustomerLotsApi.as_view(),
        name="wallets-customer-lots",
    ),
    path("keys/<int:pk>/", api.ApiKeyDetailApi.as_view(), name="wallets-key"),
    path("keys/<int:pk>/revoke/", api.ApiKeyRevokeApi.as_view(), name="wallets-key-revoke"),
    path("authorizations/", api.AuthorizationListApi.as_view(), name="wallets-authorizations"),
]
