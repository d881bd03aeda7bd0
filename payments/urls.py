"""Payments' API for finance and tenants, mounted at /api/wallets/ beside wallets' own
(config/urls.py): its paths did not change when payments left wallets. Stripe's webhook
is mounted apart, at /v1/stripe/ (payments/stripe/urls.py)."""

from django.urls import path

from payments import api

urlpatterns = [
    path(
        "customers/<slug:external_id>/topups/",
        api.CustomerTopUpsApi.as_view(),
        name="payments-customer-topups",
    ),
    path(
        "customers/<slug:external_id>/auto-topup/",
        api.CustomerAutoTopUpApi.as_view(),
        name="payments-customer-auto-topup",
    ),
    path(
        "customers/<slug:external_id>/auto-topup/payment-method/",
        api.CustomerAutoTopUpPaymentMethodApi.as_view(),
        name="payments-customer-auto-topup-payment-method",
    ),
    path(
        "customers/<slug:external_id>/auto-topup/attempts/",
        api.CustomerAutoTopUpAttemptsApi.as_view(),
        name="payments-customer-auto-topup-attempts",
    ),
    path(
        "customers/<slug:external_id>/low-balance-alert/",
        api.CustomerLowBalanceAlertApi.as_view(),
        name="payments-customer-low-balance-alert",
    ),
    path(
        "customers/<slug:external_id>/low-balance-alert/deliveries/",
        api.CustomerAlertDeliveriesApi.as_view(),
        name="payments-customer-alert-deliveries",
    ),
]
