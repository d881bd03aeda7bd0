"""The errors webhooks services raise (config.errors maps them to HTTP)."""

from rest_framework import status

from config.errors import Conflict, DomainError, NotFound


class WebhooksError(DomainError):
    code = "webhooks_error"


class InvalidWebhookUrl(WebhooksError):
    """Not http(s), no host, credentials in it, or (in production) a non-public address.
    Also what payments' low-balance alert settings answer: their URL is an endpoint."""

    code = "invalid_webhook_url"


class InvalidWebhookPayload(WebhooksError):
    """A payload that is not exact JSON: floats (send decimals as strings), Decimals,
    other types, NUL characters, or too large."""

    code = "invalid_webhook_payload"


class InvalidWebhookEvent(WebhooksError):
    """An idempotency key that is empty or too long, or a book id that is not an int."""

    code = "invalid_webhook_event"


class UnknownWebhookEventType(WebhooksError):
    """Not a type of webhooks.event_types.EVENT_TYPES (enqueued or subscribed to)."""

    code = "unknown_webhook_event_type"


class WebhookEndpointLimit(WebhooksError):
    code = "webhook_endpoint_limit"


class WebhookIdempotencyConflict(Conflict):
    """The idempotency key was used for this book with another type or payload."""

    code = "webhook_idempotency_conflict"


class WebhookEndpointNotFound(NotFound):
    code = "webhook_endpoint_not_found"


class WebhookDeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"


class InvalidWebhookSignature(WebhooksError):
    """For receivers (webhooks.signing.verify): missing or malformed header, a signature
    that does not match, or a timestamp outside the tolerance."""

    code = "invalid_webhook_signature"
    http_status = status.HTTP_400_BAD_REQUEST


class WebhookEndpointDisabled(Conflict):
    """A delivery to a disabled endpoint cannot be re-sent; enable the endpoint first."""

    code = "webhook_endpoint_disabled"


class WebhookDeliveryPending(Conflict):
    """A pending delivery is already scheduled (or in flight); only a delivered or failed
    one can be re-sent."""

    code = "webhook_delivery_pending"
