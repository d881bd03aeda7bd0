"""The one place that builds a Stripe client, so tests and production differ only in
settings (STRIPE_API_KEY, STRIPE_API_BASE: stripe-mock in tests)."""

import stripe
from django.conf import settings

STRIPE_NETWORK_RETRIES_MAX = 2


def stripe_client() -> stripe.StripeClient:
    if not settings.STRIPE_API_KEY:
        raise RuntimeError("STRIPE_API_KEY is not set; Stripe features are disabled")
    return stripe.StripeClient(
        settings.STRIPE_API_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=STRIPE_NETWORK_RETRIES_MAX,
    )
