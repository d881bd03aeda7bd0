"""Reads of payments: a customer's top-ups, auto top-up attempts and alerts,
newest first, with what their serialisers need."""

from django.db.models import QuerySet

from payments.models import AutoTopUpAttempt, LowBalanceAlert, TopUp
from wallets.models import Customer
from webhooks import selectors as webhooks
from webhooks.models import WebhookDelivery


def topup_list(*, customer: Customer) -> QuerySet[TopUp]:
    return (
        TopUp.objects.select_related("customer", "currency")
        .filter(customer=customer)
        .order_by("-created_at", "-pk")
    )


def auto_topup_attempt_list(*, customer: Customer) -> QuerySet[AutoTopUpAttempt]:
    return (
        AutoTopUpAttempt.objects.select_related(
            "customer__currency", "topup__customer", "topup__currency"
        )
        .filter(customer=customer)
        .order_by("-created_at", "-pk")
    )


def alert_delivery_list(*, customer: Customer) -> QuerySet[WebhookDelivery]:
    """The alerts sent to the customer's own endpoint (webhooks' deliveries, with their
    attempts); none without an alert."""
    endpoint_id = (
        LowBalanceAlert.objects.filter(customer=customer).values_list("endpoint_id", flat=True)
    ).first()
    if endpoint_id is None:
        return WebhookDelivery.objects.none()
    return webhooks.deliveries_list(endpoint_id=endpoint_id)
