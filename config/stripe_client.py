"""The one place that builds a Stripe client, so tests and production differ only in
settings (STRIPE_API_KEY, STRIPE_API_BASE: stripe-mock in tests).

Without STRIPE_API_KEY, Stripe is off: any call answers 503 stripe_not_configured (a
JSON error like every other, never a 500); payments checks it before it writes a row."""

import stripe
from django.conf import settings
from rest_framework import status

from config.errors import DomainError

STRIPE_NETWORK_RETRIES_MAX = 2


class StripeNotConfigured(DomainError):
    """No STRIPE_API_KEY: Stripe features are off (payments.errors re-exports it)."""

    code = "stripe_not_configured"
    http_status = status.HTTP_503_SERVICE_UNAVAILABLE


def stripe_configured_check() -> None:
    if not settings.STRIPE_API_KEY:
        raise StripeNotConfigured(
            "Stripe is not configured on this server (STRIPE_API_KEY is not set); "
            "nothing was created or charged"
        )


def stripe_client() -> stripe.StripeClient:
    stripe_configured_check()
    return stripe.StripeClient(
        settings.STRIPE_API_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=STRIPE_NETWORK_RETRIES_MAX,
    )
