"""Reads of payments: a customer's top-ups, auto top-up attempts and alerts,
newest first, with what their serialisers need."""

from django.db.models import QuerySet

from payments.models import AlertDelivery, AutoTopUpAttempt, TopUp
from wallets.models import Customer


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


def alert_delivery_list(*, customer: Customer) -> QuerySet[AlertDelivery]:
    return (
        AlertDelivery.objects.filter(customer=customer)
        .prefetch_related("attempt_log")
        .order_by("-created_at", "-pk")
    )
