"""The wallets' errors, each with a stable code (mapped to HTTP by config.errors).

Declines are not errors: an authorization that is refused is a normal answer with a
stable reason (see wallets.services.DECLINE_REASONS).
"""

from rest_framework import status

from config.errors import Conflict, DomainError, NotFound


class WalletsError(DomainError):
    code = "wallets_error"


class InvalidApiKeyInput(WalletsError):
    code = "invalid_api_key_input"


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"


class CustomerNotFound(NotFound):
    code = "customer_not_found"


class InvalidAuthorizationRequest(WalletsError):
    code = "invalid_authorization_request"


class ModelNotPriced(WalletsError):
    """No retail price is in force for the model: nothing can be estimated or held."""

    code = "model_not_priced"
    http_status = status.HTTP_422_UNPROCESSABLE_ENTITY


class AuthorizationNotFound(NotFound):
    code = "authorization_not_found"


class AuthorizationNotOpen(Conflict):
    """Capture or void of an authorization that is declined or already resolved."""

    code = "authorization_not_open"


class CaptureExceedsAuthorization(WalletsError):
    code = "capture_exceeds_authorization"


class IdempotencyConflict(Conflict):
    """The Idempotency-Key was used before with a different request."""

    code = "idempotency_conflict"


# --- payments (Stripe top-ups, auto top-up, low-balance alerts) -------------------------


class InvalidTopUp(WalletsError):
    """An amount that is not a positive decimal in the currency's smallest Stripe unit."""

    code = "invalid_topup"


class TopUpAmountOutOfRange(WalletsError):
    """Below WALLETS_TOPUP_MIN or above WALLETS_TOPUP_MAX (details: minimum, maximum)."""

    code = "topup_amount_out_of_range"


class PrepaidOnly(WalletsError):
    """Top-ups, auto top-up and balance alerts are for prepaid customers only."""

    code = "prepaid_only"


class CurrencyNotSupported(WalletsError):
    code = "currency_not_supported"
    http_status = status.HTTP_422_UNPROCESSABLE_ENTITY


class StripeUnavailable(WalletsError):
    """Stripe refused or could not be reached; nothing was booked."""

    code = "stripe_unavailable"
    http_status = status.HTTP_502_BAD_GATEWAY


class InvalidStripeSignature(WalletsError):
    """The webhook's Stripe-Signature does not verify (or is too old): nothing is stored."""

    code = "invalid_signature"


class InvalidStripePayload(WalletsError):
    code = "invalid_payload"


class StripeWebhookNotConfigured(WalletsError):
    code = "webhook_not_configured"
    http_status = status.HTTP_503_SERVICE_UNAVAILABLE


class InvalidAutoTopUpSettings(WalletsError):
    code = "invalid_auto_topup_settings"


class InvalidAlertSettings(WalletsError):
    code = "invalid_alert_settings"


class InvalidWebhookUrl(WalletsError):
    """Not http(s), or (unless allowed by a setting) a private or loopback address."""

    code = "invalid_webhook_url"


class AutoTopUpNotConfigured(NotFound):
    code = "auto_topup_not_configured"


class AlertNotConfigured(NotFound):
    code = "low_balance_alert_not_configured"


class InvalidLotInput(WalletsError):
    code = "invalid_lot_input"


class WalletNotPrepaid(Conflict):
    """Lots fund a prepaid wallet (`wallet:<customer>`); a credit customer has none."""

    code = "wallet_not_prepaid"


class LotEventNotCredited(WalletsError):
    """The ledger event named for a lot (or a lot's reversal) does not move the wallet
    by that much: a lot can only record a credit the ledger really booked."""

    code = "lot_event_not_booked"


class LotEventAlreadyAllocated(Conflict):
    """The wallet's movements past this event are already attributed to lots: a lot for
    it must be opened in the transaction that booked the event."""

    code = "lot_event_already_allocated"


class IdempotencyKeyRequired(WalletsError):
    """A request that creates money must carry an Idempotency-Key header."""

    code = "idempotency_key_required"


class PaymentMethodRequired(WalletsError):
    """Auto top-up needs a card: save one through Stripe first (or give Stripe ids)."""

    code = "payment_method_required"


class StripeIdsFinanceOnly(WalletsError):
    """Only finance staff may name Stripe customer and card ids: a tenant could otherwise
    point auto top-up at another customer's card. Tenants save a card through Stripe
    (POST …/auto-topup/payment-method/ or a top-up with save_card_for_auto_topup)."""

    code = "stripe_ids_finance_only"
    http_status = status.HTTP_403_FORBIDDEN
