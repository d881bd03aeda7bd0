"""Payments' errors, each with a stable code (mapped to HTTP by config.errors).

The codes are what API clients match on: they did not change when these errors moved
out of wallets.errors.
"""

from rest_framework import status

from config.errors import DomainError, NotFound
from config.stripe_client import StripeNotConfigured  # noqa: F401  (see below)


class PaymentsError(DomainError):
    code = "payments_error"


class InvalidTopUp(PaymentsError):
    """An amount that is not a positive decimal in the currency's smallest Stripe unit."""

    code = "invalid_topup"


class TopUpAmountOutOfRange(PaymentsError):
    """Below WALLETS_TOPUP_MIN or above WALLETS_TOPUP_MAX (details: minimum, maximum)."""

    code = "topup_amount_out_of_range"


class PrepaidOnly(PaymentsError):
    """Top-ups, auto top-up and balance alerts are for prepaid customers only."""

    code = "prepaid_only"


class CurrencyNotSupported(PaymentsError):
    code = "currency_not_supported"
    http_status = status.HTTP_422_UNPROCESSABLE_ENTITY


# StripeNotConfigured (503 stripe_not_configured, config.stripe_client): no STRIPE_API_KEY;
# a top-up or card setup is refused before its row is written, any other Stripe call
# when it is made.


class StripeUnavailable(PaymentsError):
    """Stripe refused or could not be reached; nothing was booked. A top-up or card setup
    whose Checkout session Stripe did not open is kept as `failed` with Stripe's error
    (its row had to exist first: it carries the idempotency key and the webhook's
    reference), never left `creating`."""

    code = "stripe_unavailable"
    http_status = status.HTTP_502_BAD_GATEWAY


class InvalidStripeSignature(PaymentsError):
    """The webhook's Stripe-Signature does not verify (or is too old): nothing is stored."""

    code = "invalid_signature"


class InvalidStripePayload(PaymentsError):
    code = "invalid_payload"


class StripeWebhookNotConfigured(PaymentsError):
    code = "webhook_not_configured"
    http_status = status.HTTP_503_SERVICE_UNAVAILABLE


class InvalidAutoTopUpSettings(PaymentsError):
    code = "invalid_auto_topup_settings"


class InvalidAlertSettings(PaymentsError):
    code = "invalid_alert_settings"


class AutoTopUpNotConfigured(NotFound):
    code = "auto_topup_not_configured"


class AlertNotConfigured(NotFound):
    code = "low_balance_alert_not_configured"


class PaymentMethodRequired(PaymentsError):
    """Auto top-up needs a card: save one through Stripe first (or give Stripe ids)."""

    code = "payment_method_required"


class StripeIdsFinanceOnly(PaymentsError):
    """Only finance staff may name Stripe customer and card ids: a tenant could otherwise
    point auto top-up at another customer's card. Tenants save a card through Stripe
    (POST …/auto-topup/payment-method/ or a top-up with save_card_for_auto_topup)."""

    code = "stripe_ids_finance_only"
    http_status = status.HTTP_403_FORBIDDEN
