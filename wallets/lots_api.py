"""Credit lots and credit limits over HTTP, under /api/wallets/customers/{external_id}/:

  lots/          GET  the customer's lots (remaining, consumed, expired), in consumption
                      order, and where the allocation stands;
                 POST grant promotional credit (finance: wallets.add_lot), with an
                      Idempotency-Key header;
  credit-limit/  GET  the limit, exposure and available credit (whoever sees the customer);
                 PUT  set the customer's own limit, or null for the default (finance:
                      wallets.change_customer).

Views are thin: who may act is wallets.access; the work is wallets.lots / services.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from ledger.amounts import from_minor_units, to_minor_units
from wallets import access, lots, selectors, services
from wallets.allocation import PRIORITY_DEFAULT, PRIORITY_MAX, PRIORITY_MIN
from wallets.errors import IdempotencyKeyRequired, InvalidLotInput
from wallets.models import Customer, Lot

VIEW_LOTS = "wallets.view_lot"
ADD_LOTS = "wallets.add_lot"
VIEW_CUSTOMERS = "wallets.view_customer"
CHANGE_CUSTOMERS = "wallets.change_customer"
LOT_STATUSES = (
    selectors.LOT_STATUS_OPEN,
    selectors.LOT_STATUS_EXHAUSTED,
    selectors.LOT_STATUS_EXPIRED,
)


def _actor(request) -> str:
    return f"user:{request.user.get_username()}"


def _finance_for(method: str, perm: str) -> type[BasePermission]:
    """Only staff holding `perm` may use `method`; other methods need a login (tenancy is
    then decided per customer by wallets.access)."""

    class FinanceFor(BasePermission):
        message = f"This needs the permission {perm}."

        def has_permission(self, request, view) -> bool:
            if request.method != method:
                return True
            return access.is_staff_for(request.user, perm)

    FinanceFor.__name__ = f"FinanceFor_{method}_{perm.replace('.', '_')}"
    return FinanceFor


def _money(amount_minor: int | None, scale: int) -> str | None:
    return None if amount_minor is None else from_minor_units(amount_minor, scale)


# --- lots ------------------------------------------------------------------------------

_MONEY_FIELDS = ("amount", "remaining", "consumed", "reversed", "expired")


class LotOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Lot.Kind.choices)
    status = serializers.ChoiceField(choices=LOT_STATUSES)
    priority = serializers.IntegerField(help_text="lower is consumed first")
    expires_at = serializers.DateTimeField(allow_null=True)
    currency = serializers.CharField()
    amount = serializers.CharField(help_text="decimal string")
    remaining = serializers.CharField()
    consumed = serializers.CharField()
    reversed = serializers.CharField(help_text="taken back by a refund or dispute")
    expired = serializers.CharField(help_text="booked as breakage at expiry")
    amount_minor = serializers.IntegerField()
    remaining_minor = serializers.IntegerField()
    consumed_minor = serializers.IntegerField()
    reversed_minor = serializers.IntegerField()
    expired_minor = serializers.IntegerField()
    opened_sequence = serializers.IntegerField(help_text="the ledger event that booked it")
    closed_sequence = serializers.IntegerField(allow_null=True)
    source = serializers.CharField()
    memo = serializers.CharField()
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField()
    closed_at = serializers.DateTimeField(allow_null=True)


def lot_body(lot: Lot, customer: Customer) -> dict:
    scale = customer.currency.scale
    minor = {
        "amount": lot.amount_minor,
        "remaining": lot.remaining_minor,
        "consumed": lot.consumed_minor,
        "reversed": lot.reversed_minor,
        "expired": lot.expired_minor,
    }
    return {
        "id": lot.pk,
        "kind": lot.kind,
        "status": selectors.lot_status(lot),
        "priority": lot.priority,
        "expires_at": lot.expires_at.isoformat() if lot.expires_at else None,
        "currency": customer.currency.code,
        **{name: from_minor_units(minor[name], scale) for name in _MONEY_FIELDS},
        **{f"{name}_minor": minor[name] for name in _MONEY_FIELDS},
        "opened_sequence": lot.opened_sequence,
        "closed_sequence": lot.closed_sequence,
        "source": lot.source,
        "memo": lot.memo,
        "created_at": lot.created_at.isoformat(),
        "created_by": lot.created_by,
        "closed_at": lot.closed_at.isoformat() if lot.closed_at else None,
    }


class CustomerLotsApi(APIView):
    permission_classes = [IsAuthenticated, _finance_for("POST", ADD_LOTS)]

    class LotGrantInput(serializers.Serializer):
        amount = serializers.CharField(
            max_length=64, help_text="decimal string in the customer's currency"
        )
        priority = serializers.IntegerField(
            min_value=PRIORITY_MIN, max_value=PRIORITY_MAX, default=PRIORITY_DEFAULT
        )
        expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
        source = serializers.CharField(
            max_length=lots.SOURCE_LENGTH_MAX, required=False, allow_blank=True, default="promotion"
        )
        memo = serializers.CharField(
            max_length=lots.MEMO_LENGTH_MAX, required=False, allow_blank=True, default=""
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=list(LOT_STATUSES), description="filter"),
        ],
        responses=inline_serializer(
            "CustomerLots",
            {
                "customer": serializers.CharField(),
                "currency": serializers.CharField(),
                "allocated_through_sequence": serializers.IntegerField(
                    allow_null=True,
                    help_text="lots show consumption up to this ledger event (the allocator "
                    "runs every minute)",
                ),
                "unfunded": serializers.CharField(
                    help_text="consumption no lot paid for: the next lot covers it"
                ),
                "unfunded_minor": serializers.IntegerField(),
                "count": serializers.IntegerField(),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": LotOutput(many=True),
            },
        ),
        description="The customer's credit lots in consumption order (priority, earliest "
        "expiry, oldest), expired ones last.",
    )
    def get(self, request, external_id):
        customer = access.customer_for_user(
            user=request.user, external_id=external_id, perm=VIEW_LOTS
        )
        status_filter = request.query_params.get("status")
        if status_filter is not None and status_filter not in LOT_STATUSES:
            raise InvalidLotInput(f"status must be one of {', '.join(LOT_STATUSES)}")
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(
            selectors.lot_list(customer=customer, status=status_filter), request, view=self
        )
        cursor = selectors.lot_cursor_get(customer=customer)
        unfunded = cursor.unfunded_minor if cursor else 0
        response = paginator.get_paginated_response([lot_body(lot, customer) for lot in page])
        response.data = {
            "customer": customer.external_id,
            "currency": customer.currency.code,
            "allocated_through_sequence": cursor.allocated_through_sequence if cursor else None,
            "unfunded": from_minor_units(unfunded, customer.currency.scale),
            "unfunded_minor": unfunded,
            **response.data,
        }
        return response

    @extend_schema(
        request=LotGrantInput,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                required=True,
                description="a retry with the same key and body returns the first lot (200)",
            )
        ],
        responses={201: LotOutput, 200: LotOutput},
        description="Grant promotional credit: books expense:promotions Dr / wallet Cr and "
        "opens the lot. Finance only (wallets.add_lot). Prepaid customers only "
        "(wallet_not_prepaid otherwise).",
    )
    def post(self, request, external_id):
        customer = access.customer_for_user(
            user=request.user, external_id=external_id, perm=ADD_LOTS
        )
        idempotency_key = request.headers.get("Idempotency-Key")
        if not idempotency_key:
            raise IdempotencyKeyRequired("granting credit needs an Idempotency-Key header")
        data = self.LotGrantInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = lots.lot_grant(
            customer=customer,
            amount_minor=to_minor_units(data.validated_data["amount"], customer.currency.scale),
            priority=data.validated_data["priority"],
            expires_at=data.validated_data["expires_at"],
            source=data.validated_data["source"],
            memo=data.validated_data["memo"],
            idempotency_key=idempotency_key,
            actor=_actor(request),
        )
        code = status.HTTP_200_OK if result.replayed else status.HTTP_201_CREATED
        return Response(lot_body(result.lot, customer), status=code)


# --- credit limit ----------------------------------------------------------------------


class CreditOutput(serializers.Serializer):
    customer = serializers.CharField()
    billing = serializers.CharField()
    currency = serializers.CharField()
    credit_limit_minor = serializers.IntegerField(
        allow_null=True, help_text="the customer's own limit; null = the default applies"
    )
    effective_credit_limit_minor = serializers.IntegerField()
    effective_credit_limit = serializers.CharField()
    limit_is_default = serializers.BooleanField()
    exposure_minor = serializers.IntegerField(
        allow_null=True, help_text="unbilled usage + open holds (credit customers)"
    )
    exposure = serializers.CharField(allow_null=True)
    available_credit_minor = serializers.IntegerField(allow_null=True)
    available_credit = serializers.CharField(allow_null=True)


def credit_body(customer: Customer) -> dict:
    """The credit position; exposure and available credit only for credit customers (a
    prepaid customer's limit is kept but applies once it is billed on credit)."""
    scale = customer.currency.scale
    position = selectors.credit_position_get(customer=customer)
    on_credit = customer.billing == Customer.Billing.CREDIT
    exposure = position.exposure_minor if on_credit else None
    available = position.available_minor if on_credit else None
    return {
        "customer": customer.external_id,
        "billing": customer.billing,
        "currency": customer.currency.code,
        "credit_limit_minor": customer.credit_limit_minor,
        "effective_credit_limit_minor": position.credit_limit_minor,
        "effective_credit_limit": from_minor_units(position.credit_limit_minor, scale),
        "limit_is_default": position.limit_is_default,
        "exposure_minor": exposure,
        "exposure": _money(exposure, scale),
        "available_credit_minor": available,
        "available_credit": _money(available, scale),
    }


class CustomerCreditLimitApi(APIView):
    permission_classes = [IsAuthenticated, _finance_for("PUT", CHANGE_CUSTOMERS)]

    class CreditLimitInput(serializers.Serializer):
        credit_limit_minor = serializers.IntegerField(
            min_value=0,
            max_value=2**63 - 1,
            allow_null=True,
            help_text="minor units of the customer's currency; null = the default",
        )

    @extend_schema(responses=CreditOutput)
    def get(self, request, external_id):
        customer = access.customer_for_user(
            user=request.user, external_id=external_id, perm=VIEW_CUSTOMERS
        )
        return Response(credit_body(customer))

    @extend_schema(
        request=CreditLimitInput,
        responses=CreditOutput,
        description="Set the customer's credit limit (finance: wallets.change_customer). "
        "Authorizations decided afterwards use it; approved holds stay.",
    )
    def put(self, request, external_id):
        customer = access.customer_for_user(
            user=request.user, external_id=external_id, perm=CHANGE_CUSTOMERS
        )
        data = self.CreditLimitInput(data=request.data)
        data.is_valid(raise_exception=True)
        customer = services.customer_credit_limit_set(
            customer=customer,
            credit_limit_minor=data.validated_data["credit_limit_minor"],
            actor=_actor(request),
        )
        return Response(credit_body(customer))
