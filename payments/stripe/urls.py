"""Stripe's webhook, mounted at /v1/stripe/ (public: Stripe signs what it sends)."""

from django.urls import path

from payments import api

urlpatterns = [
    path("webhook", api.StripeWebhookApi.as_view(), name="payments-stripe-webhook"),
]
