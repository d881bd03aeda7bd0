"""Wallets' HTTP API: thin views that validate input, call one service, serialise output.

Gateways (Bearer gateway key, as for /v1/usage):
  POST /v1/authorizations                 may this key spend the request's maximum cost?
  GET  /v1/authorizations/{id}
  POST /v1/authorizations/{id}/capture    the actual amount; the rest is released
  POST /v1/authorizations/{id}/void
Finance and tenants, under /api/wallets/ (wallets.access decides who sees what: finance
staff by Django permissions on wallets' models, a customer's members their own only):
  customers/ (GET), customers/{external_id}/keys/ (GET, POST), keys/{id}/ (GET, PATCH),
  keys/{id}/revoke/, customers/{external_id}/wallet/ (GET), authorizations/ (GET);
  customers/{external_id}/suspension/ (POST) is finance only. Lots: wallets.lots.api.
  The wallet view also shows what other apps register (wallets.funding: the credit app
  adds the credit limit, exposure and available credit).
"""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config import metrics
from config.fields import DecimalString
from config.pagination import BoundedLimitOffsetPagination
from config.parsers import JSONParser
from ledger.amounts import InvalidAmount, from_minor_units, to_minor_units
from wallets import access, funding, selectors, services
from wallets.batching import AuthorizationsBusy, batcher
from wallets.errors import (
    ApiKeyNotFound,
    AuthorizationNotFound,
    AuthorizationNotOpen,
    CaptureExceedsAuthorization,
    CustomerNotFound,
    IdempotencyConflict,
    InvalidApiKeyInput,
    InvalidAuthorizationRequest,
    ModelNotPriced,
)
from wallets.gateways.keys import GatewayKeyAuthentication
from wallets.models import ApiKey, Authorization, Customer

AUTHORIZATION_ACTOR_PREFIX = "gateway:"


def batching_enabled() -> bool:
    """Decide concurrent authorizations together (wallets.batching). Off by default
    (setting WALLETS_AUTHORIZATION_BATCHING): the worker thread has its own connection,
    which tests inside a rolled-back transaction cannot share."""
    return bool(getattr(settings, "WALLETS_AUTHORIZATION_BATCHING", False))


def _has(perm: str):
    class HasPerm(BasePermission):
        message = f"This needs the permission {perm}."

        def has_permission(self, request, view) -> bool:
            return bool(request.user and request.user.has_perm(perm))

    HasPerm.__name__ = f"Has_{perm.replace('.', '_')}"
    return HasPerm


# Finance staff act on every customer with these; members of a customer act on their own
# customer without them (wallets.access).
VIEW_KEYS = "wallets.view_apikey"
ADD_KEYS = "wallets.add_apikey"
CHANGE_KEYS = "wallets.change_apikey"
VIEW_CUSTOMERS = "wallets.view_customer"
VIEW_AUTHORIZATIONS = "wallets.view_authorization"
CanChangeCustomers = _has("wallets.change_customer")


# --- authorizations (gateways) ---------------------------------------------------------


class AuthorizationOutput(serializers.Serializer):
    decision = serializers.ChoiceField(choices=Authorization.Decision.choices)
    reason = serializers.ChoiceField(choices=services.DECLINE_REASONS, allow_null=True)
    authorization_id = serializers.UUIDField(allow_null=True)
    state = serializers.ChoiceField(choices=Authorization.State.choices)
    amount = serializers.CharField(allow_null=True, help_text="decimal string: the amount held")
    captured = serializers.CharField(allow_null=True)
    currency = serializers.CharField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)


def authorization_body(authorization: Authorization) -> dict:
    currency = authorization.currency
    scale = currency.scale if currency else None
    approved = authorization.decision == Authorization.Decision.APPROVED
    return {
        "decision": authorization.decision,
        "reason": authorization.reason or None,
        "authorization_id": str(authorization.public_id) if approved else None,
        "state": authorization.state,
        "amount": selectors.amount_display(authorization.amount_minor, scale) if approved else None,
        "captured": selectors.amount_display(authorization.captured_minor, scale),
        "currency": currency.code if currency else None,
        "expires_at": authorization.expires_at.isoformat() if authorization.expires_at else None,
    }


class _GatewayApi(APIView):
    authentication_classes = [GatewayKeyAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    def _actor(self, request) -> str:
        return f"{AUTHORIZATION_ACTOR_PREFIX}{request.auth.source}"

    def _own(self, request, public_id) -> Authorization:
        """Gateways see the authorizations of their own source only."""
        found = selectors.authorization_get(public_id=public_id)
        if (
            found is None
            or found.gateway_key is None
            or found.gateway_key.source != request.auth.source
        ):
            raise AuthorizationNotFound(f"authorization {public_id} does not exist")
        return found


class AuthorizationCreateInput(serializers.Serializer):
    """The request body: the schema, and the rules _authorization_input applies."""

    api_key = serializers.CharField(max_length=300, help_text="the customer's secret key")
    provider = serializers.CharField(max_length=200)
    model = serializers.CharField(max_length=200)
    max_input_tokens = serializers.IntegerField(min_value=0, max_value=services.TOKENS_MAX)
    max_output_tokens = serializers.IntegerField(min_value=0, max_value=services.TOKENS_MAX)


# The serializer's own limits, read once: {field: max length} and {field: (min, max)}.
_AUTHORIZATION_STRINGS = {
    name: field.max_length
    for name, field in AuthorizationCreateInput._declared_fields.items()
    if isinstance(field, serializers.CharField)
}
_AUTHORIZATION_TOKENS = {
    name: (field.min_value, field.max_value)
    for name, field in AuthorizationCreateInput._declared_fields.items()
    if isinstance(field, serializers.IntegerField)
}


def _authorization_input(data) -> dict:
    """What AuthorizationCreateInput validates, without building a serializer: this is
    the gateways' hot path, and a DRF serializer deep-copies its fields per request
    (a sizeable share of the request's CPU). Same rules, same `invalid_input` errors."""
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": ["Expected a JSON object."]})
    problems: dict[str, list[str]] = {}
    for name, length_max in _AUTHORIZATION_STRINGS.items():
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            problems[name] = ["This field is required and must be a non-empty string."]
        elif len(value) > length_max:
            problems[name] = [f"Ensure this field has no more than {length_max} characters."]
        elif "\x00" in value:  # as DRF's CharField: PostgreSQL text cannot hold it
            problems[name] = ["Null characters are not allowed."]
    for name, (low, high) in _AUTHORIZATION_TOKENS.items():
        value = data.get(name)
        if type(value) is not int or not low <= value <= high:
            problems[name] = [f"This field must be an integer in {low}..{high}."]
    if problems:
        raise ValidationError(problems)
    return {name: data[name] for name in (*_AUTHORIZATION_STRINGS, *_AUTHORIZATION_TOKENS)}


class AuthorizationCreateApi(_GatewayApi):
    api_errors = (
        InvalidAuthorizationRequest,
        ModelNotPriced,
        IdempotencyConflict,
        AuthorizationsBusy,
    )

    @extend_schema(
        request=AuthorizationCreateInput,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="a retry with the same key and request returns the first answer",
            )
        ],
        responses={201: AuthorizationOutput, 200: AuthorizationOutput},
        description="Estimate the request's maximum cost at the retail price in force and "
        "hold it on the customer's wallet. Declines are answers, not errors: `reason` is "
        f"one of {', '.join(services.DECLINE_REASONS)}. 201 for a new answer, 200 for a "
        "replay of an Idempotency-Key.",
    )
    @metrics.authorization_observed
    def post(self, request):
        data = _authorization_input(request.data)
        result = services.authorization_create(
            secret=data["api_key"],
            provider=data["provider"],
            model=data["model"],
            max_input_tokens=data["max_input_tokens"],
            max_output_tokens=data["max_output_tokens"],
            gateway_key_id=request.auth.id,
            idempotency_key=request.headers.get("Idempotency-Key"),
            actor=self._actor(request),
            decide=batcher.decide if batching_enabled() else None,
        )
        code = status.HTTP_200_OK if result.replayed else status.HTTP_201_CREATED
        return Response(authorization_body(result.authorization), status=code)


class AuthorizationDetailApi(_GatewayApi):
    api_errors = (AuthorizationNotFound,)

    @extend_schema(responses=AuthorizationOutput)
    def get(self, request, public_id):
        return Response(authorization_body(self._own(request, public_id)))


class AuthorizationCaptureApi(_GatewayApi):
    api_errors = (
        AuthorizationNotFound,
        AuthorizationNotOpen,
        InvalidAmount,
        CaptureExceedsAuthorization,
    )

    class AuthorizationCaptureInput(serializers.Serializer):
        amount = DecimalString(help_text="decimal string in the authorization's currency")

    @extend_schema(request=AuthorizationCaptureInput, responses=AuthorizationOutput)
    def post(self, request, public_id):
        authorization = self._own(request, public_id)
        data = self.AuthorizationCaptureInput(data=request.data)
        data.is_valid(raise_exception=True)
        if authorization.currency is None:
            raise AuthorizationNotOpen("a declined authorization cannot be captured")
        amount_minor = to_minor_units(data.validated_data["amount"], authorization.currency.scale)
        captured = services.authorization_capture(
            public_id=authorization.public_id, amount_minor=amount_minor, actor=self._actor(request)
        )
        return Response(authorization_body(captured))


class AuthorizationVoidApi(_GatewayApi):
    api_errors = (AuthorizationNotFound, AuthorizationNotOpen)

    @extend_schema(request=None, responses=AuthorizationOutput)
    def post(self, request, public_id):
        authorization = self._own(request, public_id)
        voided = services.authorization_void(
            public_id=authorization.public_id, actor=self._actor(request)
        )
        return Response(authorization_body(voided))


# --- API keys and customers (finance) --------------------------------------------------


def _customer(request, external_id: str, perm: str) -> Customer:
    return access.customer_for_user(user=request.user, external_id=external_id, perm=perm)


def _actor(request) -> str:
    return f"user:{request.user.get_username()}"


class ApiKeyOutput(serializers.ModelSerializer):
    customer = serializers.SlugRelatedField(slug_field="external_id", read_only=True)
    display = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "customer",
            "name",
            "prefix",
            "display",
            "daily_limit_minor",
            "monthly_limit_minor",
            "total_limit_minor",
            "allowed_models",
            "created_at",
            "created_by",
            "revoked_at",
            "revoked_by",
        ]

    def get_display(self, key: ApiKey) -> str:
        return str(key)


class _KeyLimits(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    daily_limit_minor = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    monthly_limit_minor = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    total_limit_minor = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    allowed_models = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=services.ALLOWED_MODELS_MAX,
    )


class CustomerListApi(APIView):
    pagination_class = BoundedLimitOffsetPagination  # paginated by hand; the schema says so

    @extend_schema(
        responses=inline_serializer(
            "CustomerSummary",
            {
                "customer": serializers.CharField(),
                "name": serializers.CharField(),
                "billing": serializers.CharField(),
                "currency": serializers.CharField(),
                "suspended": serializers.BooleanField(),
            },
            many=True,
        ),
        description="The customers this login may act on: all of them for finance staff, "
        "its own for a customer's members.",
    )
    def get(self, request):
        paginator = BoundedLimitOffsetPagination()
        visible = access.customers_visible(user=request.user, perm=VIEW_CUSTOMERS)
        page = paginator.paginate_queryset(visible.order_by("external_id"), request, view=self)
        return paginator.get_paginated_response(
            [
                {
                    "customer": c.external_id,
                    "name": c.name,
                    "billing": c.billing,
                    "currency": c.currency.code,
                    "suspended": c.suspended,
                }
                for c in page
            ]
        )


class CustomerApiKeysApi(APIView):
    api_errors = (CustomerNotFound, InvalidApiKeyInput)

    @extend_schema(responses=ApiKeyOutput(many=True))
    def get(self, request, external_id):
        customer = _customer(request, external_id, VIEW_KEYS)
        return Response(ApiKeyOutput(selectors.api_key_list(customer=customer), many=True).data)

    @extend_schema(
        request=_KeyLimits,
        responses={
            201: inline_serializer(
                "ApiKeyCreated",
                {"key": ApiKeyOutput(), "secret": serializers.CharField(help_text="shown once")},
            )
        },
    )
    def post(self, request, external_id):
        customer = _customer(request, external_id, ADD_KEYS)
        data = _KeyLimits(data=request.data)
        data.is_valid(raise_exception=True)
        key, secret = services.api_key_create(
            customer=customer, actor=_actor(request), **data.validated_data
        )
        return Response(
            {"key": ApiKeyOutput(key).data, "secret": secret}, status=status.HTTP_201_CREATED
        )


class ApiKeyDetailApi(APIView):
    api_errors = (ApiKeyNotFound, InvalidApiKeyInput)

    @extend_schema(responses=ApiKeyOutput)
    def get(self, request, pk):
        return Response(
            ApiKeyOutput(access.api_key_for_user(user=request.user, pk=pk, perm=VIEW_KEYS)).data
        )

    @extend_schema(request=_KeyLimits, responses=ApiKeyOutput)
    def patch(self, request, pk):
        key = access.api_key_for_user(user=request.user, pk=pk, perm=CHANGE_KEYS)
        data = _KeyLimits(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        key = services.api_key_update(api_key=key, actor=_actor(request), **data.validated_data)
        return Response(ApiKeyOutput(key).data)


class ApiKeyRevokeApi(APIView):
    api_errors = (ApiKeyNotFound,)

    @extend_schema(request=None, responses=ApiKeyOutput)
    def post(self, request, pk):
        key = access.api_key_for_user(user=request.user, pk=pk, perm=CHANGE_KEYS)
        return Response(
            ApiKeyOutput(services.api_key_revoke(api_key=key, actor=_actor(request))).data
        )


class CustomerSuspensionApi(APIView):
    api_errors = (CustomerNotFound,)
    permission_classes = [CanChangeCustomers]

    class CustomerSuspensionInput(serializers.Serializer):
        suspended = serializers.BooleanField()

    @extend_schema(
        request=CustomerSuspensionInput,
        responses=inline_serializer(
            "CustomerSuspension",
            {"customer": serializers.CharField(), "suspended": serializers.BooleanField()},
        ),
    )
    def post(self, request, external_id):
        data = self.CustomerSuspensionInput(data=request.data)
        data.is_valid(raise_exception=True)
        customer = services.customer_suspend(
            customer=_customer(request, external_id, "wallets.change_customer"),
            suspended=data.validated_data["suspended"],
            actor=_actor(request),
        )
        return Response({"customer": customer.external_id, "suspended": customer.suspended})


# Whose view it is: the first fields of the wallet view (and of credit's). A comment, not
# a docstring: the schema would show it as the description of every view's output.
class CustomerHeadOutput(serializers.Serializer):
    customer = serializers.CharField()
    billing = serializers.CharField()
    currency = serializers.CharField()


def customer_head(customer: Customer) -> dict:
    return {
        "customer": customer.external_id,
        "billing": customer.billing,
        "currency": customer.currency.code,
    }


class CustomerWalletOutput(CustomerHeadOutput):
    account_id = serializers.IntegerField(allow_null=True)
    balance = serializers.CharField(
        help_text="prepaid: wallet:<c> (funds); credit: unbilled:<c> (owed)"
    )
    available = serializers.CharField(help_text="prepaid: the balance less open holds")
    suspended = serializers.BooleanField()

    def get_fields(self):
        """The fields other apps register (wallets.funding) stand between whose wallet it
        is and its balance, as in the body."""
        own = super().get_fields()
        fields = {name: own.pop(name) for name in CustomerHeadOutput._declared_fields}
        for details in funding.wallet_details():
            fields.update(details.fields().get_fields())
        return fields | own


class CustomerWalletApi(APIView):
    api_errors = (CustomerNotFound,)

    @extend_schema(
        responses=CustomerWalletOutput,
        description="The customer account's balance and what authorizations may still hold; "
        "for credit customers also the credit limit, exposure (unbilled usage + open holds) "
        "and available credit.",
    )
    def get(self, request, external_id):
        customer = _customer(request, external_id, VIEW_CUSTOMERS)
        found = selectors.wallet_balance_get(customer=customer)
        scale = customer.currency.scale
        body = customer_head(customer)
        for details in funding.wallet_details():
            body |= details.body(customer)
        return Response(
            body
            | {
                "account_id": found.account_id if found else None,
                "balance": from_minor_units(found.balance if found else 0, scale),
                "available": from_minor_units(found.available if found else 0, scale),
                "suspended": customer.suspended,
            }
        )


class AuthorizationListApi(APIView):
    pagination_class = BoundedLimitOffsetPagination  # paginated by hand; the schema says so
    api_errors = (CustomerNotFound,)  # ?customer= names one this login cannot see

    @extend_schema(
        parameters=[OpenApiParameter("customer", str, description="customer external id")],
        responses=AuthorizationOutput(many=True),
    )
    def get(self, request):
        customer_id = request.query_params.get("customer")
        if customer_id:
            found = selectors.authorization_list(
                customer=_customer(request, customer_id, VIEW_AUTHORIZATIONS)
            )
        elif access.is_staff_for(request.user, VIEW_AUTHORIZATIONS):
            found = selectors.authorization_list()  # declines of unknown keys too
        else:
            found = selectors.authorization_list(
                customers=access.customers_visible(user=request.user, perm=VIEW_AUTHORIZATIONS)
            )
        paginator = BoundedLimitOffsetPagination()
        page = paginator.paginate_queryset(found, request, view=self)
        return paginator.get_paginated_response([authorization_body(a) for a in page])
