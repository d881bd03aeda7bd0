"""Payments' API: thin views that validate input, call one service, serialise.

Under /api/wallets/customers/{external_id}/ (wallets.access: finance staff by Django
permissions on the payments models, a customer's members their own customer only):
  topups/                            GET list, POST {"amount"}: a Stripe Checkout session
  auto-topup/                        GET, PUT the auto top-up settings
  auto-topup/payment-method/         POST: a Stripe Checkout session (setup mode) that
                                     saves a card for auto top-up
  auto-topup/attempts/               GET the attempts (tries, failures)
  low-balance-alert/                 GET, PUT the alert (the signing secret is in the PUT
                                     answer when generated or rotated)
  low-balance-alert/deliveries/      GET the alerts sent (webhooks' deliveries to the
                                     customer's endpoint), with every attempt
Stripe (public, authenticated by its signature):
  POST /v1/stripe/webhook
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import DomainError
from config.fields import DecimalString
from config.pagination import BoundedLimitOffsetPagination
from ledger.amounts import from_minor_units, to_minor_units
from payments import selectors
from payments.alerts import low_balance as alerts
from payments.auto_topup import configuration as auto_topup_configuration
from payments.auto_topup import saved_cards
from payments.errors import (
    AlertNotConfigured,
    AutoTopUpNotConfigured,
    CurrencyNotSupported,
    InvalidAlertSettings,
    InvalidAutoTopUpSettings,
    InvalidStripePayload,
    InvalidStripeSignature,
    InvalidTopUp,
    PaymentMethodRequired,
    PrepaidOnly,
    StripeIdsFinanceOnly,
    StripeUnavailable,
    StripeWebhookNotConfigured,
    TopUpAmountOutOfRange,
)
from payments.models import (
    AutoTopUpAttempt,
    AutoTopUpSettings,
    CardSetup,
    LowBalanceAlert,
    StripeEvent,
    TopUp,
)
from payments.stripe import webhooks as stripe_webhooks
from payments.topups import services as topups
from payments.topups.amounts import stripe_exponent
from wallets import access
from wallets.errors import CustomerNotFound
from wallets.models import Customer
from webhooks.errors import InvalidWebhookUrl
from webhooks.models import WebhookDelivery
from webhooks.signing import SIGNATURE_HEADER

# The permissions' codenames are the models' (unchanged by the move from wallets; their
# content types were moved with them: payments 0001).
VIEW_TOPUPS = "payments.view_topup"
ADD_TOPUPS = "payments.add_topup"
VIEW_AUTO_TOPUP = "payments.view_autotopupsettings"
CHANGE_AUTO_TOPUP = "payments.change_autotopupsettings"
VIEW_ATTEMPTS = "payments.view_autotopupattempt"
VIEW_ALERT = "payments.view_lowbalancealert"
CHANGE_ALERT = "payments.change_lowbalancealert"
# The alerts sent are webhooks' deliveries (payments 0004 moved them; the finance group
# holds this by webhooks 0003). A grant of the old payments.view_alertdelivery is void.
VIEW_DELIVERIES = "webhooks.view_webhookdelivery"


def _customer(request, external_id: str, perm: str) -> Customer:
    return access.customer_for_user(user=request.user, external_id=external_id, perm=perm)


def _actor(request) -> str:
    return f"user:{request.user.get_username()}"


def _money(amount_minor: int | None, customer: Customer) -> str | None:
    """Ledger minor units -> decimal string in the customer's currency."""
    if amount_minor is None:
        return None
    return from_minor_units(amount_minor, customer.currency.scale)


def _settings_of(customer: Customer, model, missing: type[DomainError]):
    """A customer's settings row (auto top-up, alert), or the `missing` error (404)."""
    found = model.objects.filter(customer=customer).first()
    if found is None:
        raise missing(f"customer {customer.external_id} has no {model._meta.verbose_name}")
    found.customer = customer
    return found


def _time(value) -> str | None:
    return value.isoformat() if value else None


def _paginated(request, view, queryset, body):
    paginator = BoundedLimitOffsetPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response([body(item) for item in page])


# --- top-ups -----------------------------------------------------------------------------------


class TopUpOutput(serializers.Serializer):
    topup_id = serializers.UUIDField()
    customer = serializers.CharField()
    source = serializers.ChoiceField(choices=TopUp.Source.choices)
    state = serializers.ChoiceField(choices=TopUp.State.choices)
    currency = serializers.CharField()
    amount = serializers.CharField(help_text="credited to the wallet (decimal string)")
    fee = serializers.CharField(help_text="platform fee, paid on top")
    total = serializers.CharField(help_text="what the customer pays: amount + fee")
    fee_percent = serializers.CharField()
    checkout_session_id = serializers.CharField(allow_null=True)
    checkout_url = serializers.CharField(allow_null=True)
    payment_intent_id = serializers.CharField(allow_null=True)
    refunded = serializers.CharField()
    disputed = serializers.CharField(help_text="withdrawn by an open or lost dispute")
    dispute_status = serializers.CharField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)


def topup_body(topup: TopUp) -> dict:
    exponent = stripe_exponent(topup.currency.code)

    def major(amount_stripe: int) -> str:
        return from_minor_units(amount_stripe, exponent)

    return {
        "topup_id": str(topup.public_id),
        "customer": topup.customer.external_id,
        "source": topup.source,
        "state": topup.state,
        "currency": topup.currency.code,
        "amount": major(topup.amount_stripe),
        "fee": major(topup.fee_stripe),
        "total": major(topup.total_stripe),
        "fee_percent": topup.fee_percent,
        "checkout_session_id": topup.stripe_checkout_session_id or None,
        "checkout_url": topup.checkout_url or None,
        "payment_intent_id": topup.stripe_payment_intent_id or None,
        "refunded": major(topup.refunded_stripe),
        "disputed": major(topup.disputed_stripe),
        "dispute_status": topup.dispute_status or None,
        "error": topup.error or None,
        "created_at": topup.created_at.isoformat(),
        "paid_at": topup.paid_at.isoformat() if topup.paid_at else None,
    }


class CustomerTopUpsApi(APIView):
    pagination_class = BoundedLimitOffsetPagination  # paginated by hand; the schema says so
    api_errors = {
        "GET": (CustomerNotFound,),
        "POST": (
            CustomerNotFound,
            InvalidTopUp,
            TopUpAmountOutOfRange,
            PrepaidOnly,
            CurrencyNotSupported,
            StripeUnavailable,
        ),
    }

    class TopUpCreateInput(serializers.Serializer):
        amount = DecimalString(
            max_length=32,
            help_text="decimal string in the customer's currency, credited to the wallet; "
            "the platform fee is added on top",
        )
        save_card_for_auto_topup = serializers.BooleanField(
            default=False,
            help_text="Stripe keeps the card this top-up pays with, and it becomes the "
            "card of auto top-up once the payment succeeds",
        )

    @extend_schema(responses=TopUpOutput(many=True))
    def get(self, request, external_id):
        customer = _customer(request, external_id, VIEW_TOPUPS)
        return _paginated(request, self, selectors.topup_list(customer=customer), topup_body)

    @extend_schema(
        request=TopUpCreateInput,
        responses={201: TopUpOutput},
        description="Open a Stripe Checkout session for `amount` plus the platform fee "
        "(WALLETS_PLATFORM_FEE_PERCENT, rounded half up to the cent). Send the customer to "
        "`checkout_url`; the wallet is credited when Stripe's webhook reports the payment "
        "(and, with `save_card_for_auto_topup`, the card is saved for auto top-up). "
        "Errors: invalid_topup, topup_amount_out_of_range, prepaid_only, "
        "currency_not_supported, stripe_not_configured (503), stripe_unavailable (502).",
    )
    def post(self, request, external_id):
        customer = _customer(request, external_id, ADD_TOPUPS)
        data = self.TopUpCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        topup = topups.topup_checkout_create(
            customer=customer,
            amount=data.validated_data["amount"],
            save_card=data.validated_data["save_card_for_auto_topup"],
            actor=_actor(request),
        )
        return Response(topup_body(topup), status=status.HTTP_201_CREATED)


# --- auto top-up -------------------------------------------------------------------------------


class AutoTopUpInput(serializers.Serializer):
    enabled = serializers.BooleanField()
    threshold = DecimalString(
        max_length=32, help_text="decimal string: charge when the available balance is below"
    )
    target = DecimalString(
        max_length=32, help_text="decimal string: the available balance a charge brings back"
    )
    stripe_customer_id = serializers.CharField(
        max_length=255,
        required=False,
        help_text="omit both Stripe ids to keep the card saved through Stripe "
        "(POST auto-topup/payment-method/, or a top-up with save_card_for_auto_topup)",
    )
    stripe_payment_method_id = serializers.CharField(
        max_length=255,
        required=False,
        help_text="a saved card of that Stripe customer, usable off-session",
    )


class AutoTopUpOutput(serializers.Serializer):
    customer = serializers.CharField()
    enabled = serializers.BooleanField()
    threshold = serializers.CharField()
    target = serializers.CharField()
    currency = serializers.CharField()
    stripe_customer_id = serializers.CharField()
    stripe_payment_method_id = serializers.CharField()
    payment_method_source = serializers.ChoiceField(
        choices=AutoTopUpSettings.PaymentMethodSource.choices,
        help_text="manual (Stripe ids given), card_setup or topup (saved through Stripe)",
    )
    payment_method_reference = serializers.CharField(
        allow_null=True, help_text="the card setup or top-up that saved the card"
    )
    payment_method_saved_at = serializers.DateTimeField(allow_null=True)
    card_brand = serializers.CharField(allow_null=True, help_text="null when Stripe did not say")
    card_last4 = serializers.CharField(allow_null=True, help_text="null when Stripe did not say")
    armed = serializers.BooleanField(help_text="false from a charge until back above threshold")
    updated_at = serializers.DateTimeField()
    updated_by = serializers.CharField()


def auto_topup_body(config: AutoTopUpSettings) -> dict:
    customer = config.customer
    return {
        "customer": customer.external_id,
        "enabled": config.enabled,
        "threshold": _money(config.threshold_minor, customer),
        "target": _money(config.target_minor, customer),
        "currency": customer.currency.code,
        "stripe_customer_id": config.stripe_customer_id,
        "stripe_payment_method_id": config.stripe_payment_method_id,
        "payment_method_source": config.payment_method_source,
        "payment_method_reference": config.payment_method_reference or None,
        "payment_method_saved_at": _time(config.payment_method_saved_at),
        "card_brand": config.card_brand or None,
        "card_last4": config.card_last4 or None,
        "armed": config.armed,
        "updated_at": config.updated_at.isoformat(),
        "updated_by": config.updated_by,
    }


def _check_stripe_ids_allowed(request, customer, values: dict) -> None:
    """Tenants may send back the ids already stored (a GET's body PUT again), not others."""
    if access.is_staff_for(request.user, CHANGE_AUTO_TOPUP):
        return
    current = AutoTopUpSettings.objects.filter(customer=customer).first()
    for name in ("stripe_customer_id", "stripe_payment_method_id"):
        given = values.get(name)
        if given and given != (getattr(current, name, "") if current else ""):
            raise StripeIdsFinanceOnly(
                "only finance staff may set Stripe ids; save a card through "
                "POST auto-topup/payment-method/ or a top-up with save_card_for_auto_topup",
                details={"field": name},
            )


class CustomerAutoTopUpApi(APIView):
    api_errors = {
        "GET": (CustomerNotFound, AutoTopUpNotConfigured),
        "PUT": (
            CustomerNotFound,
            InvalidAutoTopUpSettings,
            PaymentMethodRequired,
            StripeIdsFinanceOnly,
        ),
    }

    @extend_schema(responses=AutoTopUpOutput)
    def get(self, request, external_id):
        customer = _customer(request, external_id, VIEW_AUTO_TOPUP)
        config = _settings_of(customer, AutoTopUpSettings, AutoTopUpNotConfigured)
        return Response(auto_topup_body(config))

    @extend_schema(
        request=AutoTopUpInput,
        responses=AutoTopUpOutput,
        description="Create or replace the auto top-up; saving re-arms it. Without Stripe "
        "ids the card saved through Stripe is kept. Errors: invalid_auto_topup_settings, "
        "invalid_amount, prepaid_only, payment_method_required (no card saved yet).",
    )
    def put(self, request, external_id):
        customer = _customer(request, external_id, CHANGE_AUTO_TOPUP)
        data = AutoTopUpInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        _check_stripe_ids_allowed(request, customer, values)
        scale = customer.currency.scale
        config = auto_topup_configuration.auto_topup_settings_set(
            customer=customer,
            enabled=values["enabled"],
            threshold_minor=to_minor_units(values["threshold"], scale),
            target_minor=to_minor_units(values["target"], scale),
            stripe_customer_id=values.get("stripe_customer_id"),
            stripe_payment_method_id=values.get("stripe_payment_method_id"),
            actor=_actor(request),
        )
        config.customer = customer
        return Response(auto_topup_body(config))


class CardSetupOutput(serializers.Serializer):
    card_setup_id = serializers.UUIDField()
    customer = serializers.CharField()
    state = serializers.ChoiceField(choices=CardSetup.State.choices)
    stripe_customer_id = serializers.CharField()
    checkout_session_id = serializers.CharField()
    checkout_url = serializers.CharField(help_text="send the customer here to enter a card")
    created_at = serializers.DateTimeField()


def card_setup_body(setup: CardSetup) -> dict:
    return {
        "card_setup_id": str(setup.public_id),
        "customer": setup.customer.external_id,
        "state": setup.state,
        "stripe_customer_id": setup.stripe_customer_id,
        "checkout_session_id": setup.stripe_checkout_session_id,
        "checkout_url": setup.checkout_url,
        "created_at": setup.created_at.isoformat(),
    }


class CustomerAutoTopUpPaymentMethodApi(APIView):
    api_errors = (CustomerNotFound, StripeUnavailable)

    @extend_schema(
        request=None,
        responses={201: CardSetupOutput},
        description="Open a Stripe Checkout session in setup mode for the customer's Stripe "
        "customer (created on first use). Send the customer to `checkout_url`; nothing is "
        "charged. When Stripe's webhook reports the card saved, it becomes the card of auto "
        "top-up (settings are created disabled if there were none; GET auto-topup/ shows "
        "it). Errors: prepaid_only, currency_not_supported, stripe_not_configured (503), "
        "stripe_unavailable (502).",
    )
    def post(self, request, external_id):
        customer = _customer(request, external_id, CHANGE_AUTO_TOPUP)
        setup = saved_cards.card_setup_create(customer=customer, actor=_actor(request))
        return Response(card_setup_body(setup), status=status.HTTP_201_CREATED)


class AutoTopUpAttemptOutput(serializers.Serializer):
    attempt_id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=AutoTopUpAttempt.State.choices)
    available = serializers.CharField(help_text="the available balance that triggered it")
    threshold = serializers.CharField()
    target = serializers.CharField()
    topup = TopUpOutput()
    tries = serializers.IntegerField()
    failures = serializers.ListField(child=serializers.DictField())
    next_try_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)


def attempt_body(attempt: AutoTopUpAttempt) -> dict:
    customer = attempt.customer
    return {
        "attempt_id": str(attempt.public_id),
        "state": attempt.state,
        "available": _money(attempt.available_minor, customer),
        "threshold": _money(attempt.threshold_minor, customer),
        "target": _money(attempt.target_minor, customer),
        "topup": topup_body(attempt.topup),
        "tries": attempt.tries,
        "failures": attempt.failures,
        "next_try_at": attempt.next_try_at.isoformat() if attempt.next_try_at else None,
        "created_at": attempt.created_at.isoformat(),
        "resolved_at": attempt.resolved_at.isoformat() if attempt.resolved_at else None,
    }


class CustomerAutoTopUpAttemptsApi(APIView):
    pagination_class = BoundedLimitOffsetPagination  # paginated by hand; the schema says so
    api_errors = (CustomerNotFound,)

    @extend_schema(responses=AutoTopUpAttemptOutput(many=True))
    def get(self, request, external_id):
        customer = _customer(request, external_id, VIEW_ATTEMPTS)
        return _paginated(
            request,
            self,
            selectors.auto_topup_attempt_list(customer=customer),
            attempt_body,
        )


# --- low-balance alerts ----------------------------------------------------------------------


class LowBalanceAlertInput(serializers.Serializer):
    url = serializers.CharField(max_length=alerts.URL_LENGTH_MAX, help_text="http(s) URL")
    threshold = DecimalString(max_length=32, help_text="decimal string")
    enabled = serializers.BooleanField(default=True)
    rotate_secret = serializers.BooleanField(
        default=False, help_text="generate a new signing secret (shown in this answer only)"
    )


class LowBalanceAlertOutput(serializers.Serializer):
    customer = serializers.CharField()
    enabled = serializers.BooleanField()
    url = serializers.CharField()
    threshold = serializers.CharField()
    currency = serializers.CharField()
    armed = serializers.BooleanField()
    secret_hint = serializers.CharField(help_text="the signing secret's last 4 characters")
    signing_secret = serializers.CharField(
        allow_null=True, help_text="only in the answer that generated it"
    )
    updated_at = serializers.DateTimeField()
    updated_by = serializers.CharField()


def alert_body(alert: LowBalanceAlert, new_secret: str | None = None) -> dict:
    customer = alert.customer
    return {
        "customer": customer.external_id,
        "enabled": alert.enabled,
        "url": alert.endpoint.url,
        "threshold": _money(alert.threshold_minor, customer),
        "currency": customer.currency.code,
        "armed": alert.armed,
        "secret_hint": f"…{alert.endpoint.secret[-4:]}",
        "signing_secret": new_secret,
        "updated_at": alert.updated_at.isoformat(),
        "updated_by": alert.updated_by,
    }


class CustomerLowBalanceAlertApi(APIView):
    api_errors = {
        "GET": (CustomerNotFound, AlertNotConfigured),
        "PUT": (CustomerNotFound, InvalidAlertSettings, InvalidWebhookUrl),
    }

    @extend_schema(responses=LowBalanceAlertOutput)
    def get(self, request, external_id):
        customer = _customer(request, external_id, VIEW_ALERT)
        alert = _settings_of(customer, LowBalanceAlert, AlertNotConfigured)
        return Response(alert_body(alert))

    @extend_schema(
        request=LowBalanceAlertInput,
        responses=LowBalanceAlertOutput,
        description="Create or replace the alert; saving re-arms it. Alerts are POSTed with "
        f'`{SIGNATURE_HEADER}: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` as '
        "webhooks sends every event (type `wallet.balance_low`). "
        "Errors: invalid_webhook_url, invalid_alert_settings, invalid_amount, prepaid_only.",
    )
    def put(self, request, external_id):
        customer = _customer(request, external_id, CHANGE_ALERT)
        data = LowBalanceAlertInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        alert, secret = alerts.low_balance_alert_set(
            customer=customer,
            url=values["url"],
            threshold_minor=to_minor_units(values["threshold"], customer.currency.scale),
            enabled=values["enabled"],
            rotate_secret=values["rotate_secret"],
            actor=_actor(request),
        )
        alert.customer = customer
        return Response(alert_body(alert, secret))


class AlertDeliveryOutput(serializers.Serializer):
    alert_id = serializers.UUIDField()
    kind = serializers.CharField()
    url = serializers.CharField()
    state = serializers.ChoiceField(choices=WebhookDelivery.State.choices)
    payload = serializers.DictField()
    attempts = serializers.ListField(
        child=inline_serializer(
            "AlertDeliveryAttempt",
            {
                "number": serializers.IntegerField(),
                "attempted_at": serializers.DateTimeField(),
                "status_code": serializers.IntegerField(allow_null=True),
                "error": serializers.CharField(),
                "duration_ms": serializers.IntegerField(),
            },
        )
    )
    created_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)


def delivery_body(delivery: WebhookDelivery) -> dict:
    event = delivery.event
    return {
        "alert_id": str(event.public_id),
        "kind": event.type,
        "url": delivery.endpoint.url,
        "state": delivery.state,
        "payload": event.payload,
        "attempts": [
            {
                "number": attempt.number,
                "attempted_at": attempt.attempted_at.isoformat(),
                "status_code": attempt.status_code,
                "error": attempt.error,
                "duration_ms": attempt.duration_ms,
            }
            for attempt in delivery.attempt_log.all()
        ],
        "created_at": delivery.created_at.isoformat(),
        "resolved_at": delivery.resolved_at.isoformat() if delivery.resolved_at else None,
    }


class CustomerAlertDeliveriesApi(APIView):
    pagination_class = BoundedLimitOffsetPagination  # paginated by hand; the schema says so
    api_errors = (CustomerNotFound,)

    @extend_schema(responses=AlertDeliveryOutput(many=True))
    def get(self, request, external_id):
        customer = _customer(request, external_id, VIEW_DELIVERIES)
        return _paginated(
            request,
            self,
            selectors.alert_delivery_list(customer=customer),
            delivery_body,
        )


# --- Stripe's webhook --------------------------------------------------------------------------


class StripeWebhookApi(APIView):
    """Public: Stripe authenticates by signing the payload (no session, so no CSRF)."""

    api_errors = (InvalidStripeSignature, InvalidStripePayload, StripeWebhookNotConfigured)
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        parameters=[
            OpenApiParameter(
                "Stripe-Signature",
                str,
                OpenApiParameter.HEADER,
                required=True,
                description="t=<unix>,v1=<hex HMAC-SHA256(STRIPE_WEBHOOK_SECRET, "
                '"<t>.<raw body>")>',
            )
        ],
        responses={
            200: inline_serializer(
                "StripeWebhookReceived",
                {
                    "received": serializers.BooleanField(),
                    "event_id": serializers.CharField(),
                    "outcome": serializers.ChoiceField(choices=StripeEvent.Outcome.choices),
                    "duplicate": serializers.BooleanField(),
                },
            )
        },
        description="Stripe events (Checkout, PaymentIntents, refunds, disputes). A bad "
        "signature answers 400 invalid_signature and stores nothing; an event id seen "
        "before answers 200 with duplicate=true and does nothing.",
    )
    def post(self, request):
        event = stripe_webhooks.stripe_event_verify(
            payload=request.body, signature=request.headers.get("Stripe-Signature")
        )
        processed = stripe_webhooks.stripe_event_process(event=event)
        return Response(
            {
                "received": True,
                "event_id": processed.record.event_id,
                "outcome": processed.record.outcome,
                "duplicate": processed.duplicate,
            }
        )
