"""The wallets API for finance and tenants, mounted at /api/wallets/."""

from django.urls import path

from wallets import api, lots_api, payment_api

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
    # Payments: Stripe top-ups, auto top-up, low-balance alerts (wallets/payment_api.py).
    path(
        "customers/<slug:external_id>/topups/",
        payment_api.CustomerTopUpsApi.as_view(),
        name="wallets-customer-topups",
    ),
    path(
        "customers/<slug:external_id>/auto-topup/",
        payment_api.CustomerAutoTopUpApi.as_view(),
        name="wallets-customer-auto-topup",
    ),
    path(
        "customers/<slug:external_id>/auto-topup/payment-method/",
        payment_api.CustomerAutoTopUpPaymentMethodApi.as_view(),
        name="wallets-customer-auto-topup-payment-method",
    ),
    path(
        "customers/<slug:external_id>/auto-topup/attempts/",
        payment_api.CustomerAutoTopUpAttemptsApi.as_view(),
        name="wallets-customer-auto-topup-attempts",
    ),
    path(
        "customers/<slug:external_id>/low-balance-alert/",
        payment_api.CustomerLowBalanceAlertApi.as_view(),
        name="wallets-customer-low-balance-alert",
    ),
    path(
        "customers/<slug:external_id>/low-balance-alert/deliveries/",
        payment_api.CustomerAlertDeliveriesApi.as_view(),
        name="wallets-customer-alert-deliveries",
    ),
]
