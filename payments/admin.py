"""Finance's screens for payments.

Money records (top-ups, Stripe events, auto top-up attempts) are read-only: they
change only through their services and Stripe's webhooks. Settings can be
switched off here; the signing secret of an alert is never shown.
"""

from django.contrib import admin

# Rows that change only through services and Stripe's webhooks.
from ledger.admin import ReadOnlyAdmin
from payments.models import (
    AutoTopUpAttempt,
    AutoTopUpSettings,
    CardSetup,
    LowBalanceAlert,
    StripeCustomer,
    StripeEvent,
    TopUp,
)


@admin.register(TopUp)
class TopUpAdmin(ReadOnlyAdmin):
    list_display = [
        "public_id",
        "customer",
        "source",
        "state",
        "currency",
        "amount_stripe",
        "fee_stripe",
        "refunded_stripe",
        "disputed_stripe",
        "dispute_status",
        "created_at",
        "paid_at",
    ]
    list_filter = ["source", "state", "dispute_status"]
    search_fields = [
        "public_id",
        "customer__external_id",
        "stripe_checkout_session_id",
        "stripe_payment_intent_id",
        "dispute_id",
    ]
    list_select_related = ["customer", "currency"]


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "type", "outcome", "detail", "topup", "received_at"]
    list_filter = ["type", "outcome", "livemode"]
    search_fields = ["event_id", "object_id"]
    list_select_related = ["topup"]


class SwitchOnlyAdmin(admin.ModelAdmin):
    """A customer's settings: finance may switch them off (or on) here; everything else
    comes from the customer through the API."""

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return [name for name in self.fields if name != "enabled"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(AutoTopUpSettings)
class AutoTopUpSettingsAdmin(SwitchOnlyAdmin):
    list_display = ["customer", "enabled", "threshold_minor", "target_minor", "armed"]
    list_filter = ["enabled", "armed"]
    search_fields = ["customer__external_id", "stripe_customer_id"]
    fields = [
        "customer",
        "enabled",
        "threshold_minor",
        "target_minor",
        "stripe_customer_id",
        "stripe_payment_method_id",
        "payment_method_source",
        "payment_method_reference",
        "payment_method_saved_at",
        "card_brand",
        "card_last4",
        "armed",
        "updated_at",
        "updated_by",
    ]


@admin.register(StripeCustomer)
class StripeCustomerAdmin(ReadOnlyAdmin):
    list_display = ["customer", "stripe_customer_id", "created_at", "created_by"]
    search_fields = ["customer__external_id", "stripe_customer_id"]


@admin.register(CardSetup)
class CardSetupAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "customer", "state", "stripe_payment_method_id", "created_at"]
    list_filter = ["state"]
    search_fields = [
        "public_id",
        "customer__external_id",
        "stripe_checkout_session_id",
        "stripe_setup_intent_id",
    ]


@admin.register(AutoTopUpAttempt)
class AutoTopUpAttemptAdmin(ReadOnlyAdmin):
    list_display = [
        "public_id",
        "customer",
        "state",
        "tries",
        "available_minor",
        "next_try_at",
        "created_at",
        "resolved_at",
    ]
    list_filter = ["state"]
    search_fields = ["public_id", "customer__external_id", "topup__stripe_payment_intent_id"]
    list_select_related = ["customer"]


@admin.register(LowBalanceAlert)
class LowBalanceAlertAdmin(SwitchOnlyAdmin):
    list_display = ["customer", "enabled", "endpoint", "threshold_minor", "armed"]
    list_filter = ["enabled", "armed"]
    search_fields = ["customer__external_id", "endpoint__url"]
    list_select_related = ["customer", "endpoint__book"]
    # The URL, the signing secret and every delivery are the endpoint's, in webhooks'
    # screens (which never show the secret either).
    fields = [
        "customer",
        "enabled",
        "endpoint",
        "threshold_minor",
        "armed",
        "updated_at",
        "updated_by",
    ]
