"""Finance's view of metering: usage records with their margin, dead letters, offsets."""

from django.contrib import admin

from ledger.admin import ReadOnlyAdmin
from metering.models import ConsumerOffset, DeadLetter, UsageRecord


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdmin):
    list_display = [
        "occurred_at",
        "customer",
        "provider",
        "model",
        "input_tokens",
        "output_tokens",
        "price_minor",
        "cost_minor",
        "margin_minor",
        "currency",
    ]
    list_filter = ["provider", "currency", "source"]
    search_fields = ["customer", "event_id", "model", "upstream_request_id"]
    date_hierarchy = "occurred_at"


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "reason_code", "topic", "partition", "offset", "reason"]
    list_filter = ["reason_code", "topic"]


@admin.register(ConsumerOffset)
class ConsumerOffsetAdmin(ReadOnlyAdmin):
    list_display = ["group", "topic", "partition", "next_offset", "updated_at"]
