"""Finance's screens for webhooks. Events and attempts are history: read-only (the
database refuses changes anyway); deliveries are changed by the services only (re-send
through the API)."""

from django.contrib import admin

from ledger.admin import ReadOnlyAdmin
from webhooks.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Made through the API (which checks the URL and makes the secret); here finance can
    turn one off or on and describe it."""

    list_display = ["id", "book", "url", "audience", "active", "created_at", "created_by"]
    list_filter = ["active", "book"]
    search_fields = ["url", "description"]
    fields = [
        "book",
        "url",
        "event_types",
        "audience",
        "description",
        "active",
        "secret",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
        "secret_rotated_at",
    ]
    readonly_fields = [f for f in fields if f not in ("description", "active")]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # deliveries refer to it: disable it instead

    def save_model(self, request, obj, form, change) -> None:
        obj.updated_by = f"user:{request.user.get_username()}"
        super().save_model(request, obj, form, change)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "public_id", "book", "type", "idempotency_key", "created_at"]
    list_filter = ["type", "book"]
    search_fields = ["idempotency_key", "public_id"]


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    can_delete = False
    extra = 0
    fields = ["number", "attempted_at", "status_code", "error", "duration_ms", "response_excerpt"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "event", "endpoint", "state", "attempts", "next_attempt_at"]
    list_filter = ["state"]
    inlines = [DeliveryAttemptInline]


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    list_display = ["id", "delivery", "number", "attempted_at", "status_code", "duration_ms"]
    list_filter = ["status_code"]
