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
