"""Credit limits over HTTP, under /api/wallets/customers/{external_id}/ (config/urls.py
mounts credit.urls beside wallets.urls: a customer's credit limit sits with its wallet):

  credit-limit/  GET  the limit, exposure and available credit (whoever sees the customer);
                 PUT  set the customer's own limit, or null for the default (finance:
                      wallets.change_customer).

The wallet view (wallets.api.CustomerWalletApi) shows the same credit position, through
wallets.funding (credit/funding.py registers it). Views are thin: who may act is
wallets.access; the work is credit.services / selectors.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from credit import selectors, services
from credit.errors import InvalidCreditLimit
from ledger.amounts import from_minor_units
from wallets import access
from wallets.api import CustomerHeadOutput, customer_head
from wallets.errors import CustomerNotFound
from wallets.models import Customer
from wallets.selectors import amount_display

# Customers' credit limits are part of the customer: wallets' permissions on Customer.
VIEW_CUSTOMERS = "wallets.view_customer"
CHANGE_CUSTOMERS = "wallets.change_customer"


def _actor(request) -> str:
    return f"user:{request.user.get_username()}"


class CreditPositionOutput(serializers.Serializer):
    credit_limit_minor = serializers.IntegerField(
        allow_null=True, help_text="the customer's own limit; null = the default applies"
    )
    effective_credit_limit_minor = serializers.IntegerField()
    effective_credit_limit = serializers.CharField()
    limit_is_default = serializers.BooleanField()
    exposure_minor = serializers.IntegerField(
        allow_null=True,
        help_text="open receivables + unbilled usage + open holds + a negative prepaid "
        "balance (credit customers)",
    )
    exposure = serializers.CharField(allow_null=True)
    available_credit_minor = serializers.IntegerField(allow_null=True)
    available_credit = serializers.CharField(allow_null=True)


class CreditOutput(CustomerHeadOutput, CreditPositionOutput):
    pass


def credit_position_body(customer: Customer) -> dict:
    """The credit position; exposure and available credit only for credit customers (a
    prepaid customer's limit is kept but applies once it is billed on credit)."""
    scale = customer.currency.scale
    position = selectors.credit_position_get(customer=customer)
    on_credit = customer.billing == Customer.Billing.CREDIT
    exposure = position.exposure_minor if on_credit else None
    available = position.available_minor if on_credit else None
    return {
        "credit_limit_minor": position.own_limit_minor,
        "effective_credit_limit_minor": position.credit_limit_minor,
        "effective_credit_limit": from_minor_units(position.credit_limit_minor, scale),
        "limit_is_default": position.limit_is_default,
        "exposure_minor": exposure,
        "exposure": amount_display(exposure, scale),
        "available_credit_minor": available,
        "available_credit": amount_display(available, scale),
    }


def credit_body(customer: Customer) -> dict:
    return customer_head(customer) | credit_position_body(customer)


class CustomerCreditLimitApi(APIView):
    api_errors = {"GET": (CustomerNotFound,), "PUT": (CustomerNotFound, InvalidCreditLimit)}
    permission_classes = [IsAuthenticated, access.staff_only_for("PUT", CHANGE_CUSTOMERS)]

    class CreditLimitInput(serializers.Serializer):
        credit_limit_minor = serializers.IntegerField(
            min_value=0,
            max_value=services.CREDIT_LIMIT_MAX,
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
        services.credit_limit_set(
            customer=customer,
            credit_limit_minor=data.validated_data["credit_limit_minor"],
            actor=_actor(request),
        )
        return Response(credit_body(customer))
