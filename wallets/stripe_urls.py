"""Stripe's webhook, mounted at /v1/stripe/ (public: Stripe signs what it sends)."""

from django.urls import path

from wallets import payment_api

urlpatterns = [
    path("webhook", payment_api.StripeWebhookApi.as_view(), name="stripe-webhook"),
]
