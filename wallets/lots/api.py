"""Credit lots over HTTP, under /api/wallets/customers/{external_id}/:

  lots/          GET  the customer's lots (remaining, consumed, expired), in consumption
                      order, and where the allocation stands;
                 POST grant promotional credit (finance: wallets.add_lot), with an
                      Idempotency-Key header.

Views are thin: who may act is wallets.access; the work is wallets.lots. (Credit limits,
at customers/{external_id}/credit-limit/, are the credit app's: credit/api.py.)
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.fields import DecimalString
from config.pagination import BoundedLimitOffsetPagination
from ledger.amounts import from_minor_units, to_minor_units
from wallets import access, selectors
from wallets.errors import (
    CustomerNotFound,
    IdempotencyConflict,
    IdempotencyKeyRequired,
    InvalidLotInput,
    LotEventAlreadyAllocated,
    LotEventNotCredited,
    WalletNotPrepaid,
)
from wallets.lots import services as lots
from wallets.lots.allocation import PRIORITY_DEFAULT, PRIORITY_MAX, PRIORITY_MIN
from wallets.models import Customer, Lot

VIEW_LOTS = "wallets.view_lot"
ADD_LOTS = "wallets.add_lot"
LOT_STATUSES = (
    selectors.LOT_STATUS_OPEN,
    selectors.LOT_STATUS_EXHAUSTED,
    selectors.LOT_STATUS_EXPIRED,
)


def _actor(request) -> str:
    return f"user:{request.user.get_username()}"


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
    api_errors = {
        "GET": (CustomerNotFound,),
        "POST": (
            CustomerNotFound,
            IdempotencyKeyRequired,
            InvalidLotInput,
            LotEventNotCredited,
            WalletNotPrepaid,
            LotEventAlreadyAllocated,
            IdempotencyConflict,
        ),
    }
    permission_classes = [IsAuthenticated, access.staff_only_for("POST", ADD_LOTS)]

    class LotGrantInput(serializers.Serializer):
        amount = DecimalString(help_text="decimal string in the customer's currency")
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
        paginator = BoundedLimitOffsetPagination()
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
