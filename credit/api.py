"""Credit limits over HTTP, under /api/wallets/customers/{external_id}/ (config/urls.py
mounts credit.urls beside wallets.urls: a customer's credit limit sits with its wallet):

  credit-limit/  GET  the limit, exposure and available credit (whoever sees the customer);
                 PUT  set the customer's own limit, or null for the default (finance:
                      wallets.change_customer).

The wallet view (wallets.api.CustomerWalletApi) shows the same credit position, through
wallets.funding (credit/funding.py registers it). Views are thin: who may act is
wallets.access; the work is credit.services / selectors.
"""

from datetime import date

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.csv_export import EXPORT_RENDERERS, csv_response, text_cell
from config.pagination import BoundedLimitOffsetPagination
from credit import reports, selectors, services
from credit.dunning import cards as dunning_cards
from credit.dunning import services as dunning_services
from credit.errors import (
    InvalidCreditInput,
    InvalidCreditLimit,
    WriteOffExceedsOpen,
    WriteOffNotFound,
)
from credit.losses import selectors as losses_selectors
from credit.losses import services as losses_services
from credit.models import BUCKETS, DunningStep, ProvisionMatrix, WriteOff
from credit.services import CREDIT_LIMIT_MAX
from invoicing.errors import CurrencyUnknown, InvoiceNotFound
from invoicing.models import Invoice
from ledger.amounts import from_minor_units
from ledger.errors import UnknownBook
from ledger.models import Book
from ledger.permissions import CanReadLedger, FinanceMay
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


# --- finance's reports and writes, under /api/credit/ (credit.report_urls) -----------------
#
#   exposure/  exposure.csv            per customer: receivable, unbilled, holds, negative
#                                      prepaid, limit, available, standing (?book=)
#   resellers/                         per seller book: the sum of its customers
#   aging/  aging.csv                  open receivables by days past due (?as_of=, ?book=)
#   allowance/  allowance.csv          the matrix x the aging, per bucket (?as_of=, ?book=)
#   allowance-bookings/                what the period-end job booked
#   provision-matrices/                GET versions, POST a new one (credit.add_provisionmatrix)
#   write-offs/                        GET, POST (credit.add_writeoff)
#   write-offs/{id}/recoveries/        POST (credit.add_recovery)
#   customers/{external_id}/dunning/   standing and history;  dunning.csv  every action
#   dunning-steps/                     GET a book's ladder, POST a rung (credit.add_dunningstep)
#   customers/{external_id}/dunning-card/  PUT the card dunning may charge (the same)


class _FinanceMay(FinanceMay):
    message = "Credit reports need the finance role."


class CanSetMatrices(_FinanceMay):
    write_perm = "credit.add_provisionmatrix"


class CanWriteOff(_FinanceMay):
    write_perm = "credit.add_writeoff"


class CanRecover(_FinanceMay):
    write_perm = "credit.add_recovery"


def _money_fields(*names: str) -> dict:
    fields = {}
    for name in names:
        fields[name] = serializers.CharField(help_text="decimal string")
        fields[f"{name}_minor"] = serializers.IntegerField()
    return fields


def _output(name: str, **fields) -> type[serializers.Serializer]:
    return type(name, (serializers.Serializer,), fields)


ExposureRow = _output(
    "ExposureRow",
    customer=serializers.CharField(),
    book=serializers.CharField(),
    billing=serializers.CharField(),
    currency=serializers.CharField(),
    standing=serializers.CharField(),
    **_money_fields(
        "receivable",
        "unbilled",
        "holds",
        "negative_prepaid",
        "exposure",
        "credit_limit",
        "available",
    ),
)
ResellerRow = _output(
    "ResellerExposureRow",
    book=serializers.CharField(),
    kind=serializers.CharField(),
    currency=serializers.CharField(),
    customers=serializers.IntegerField(),
    **_money_fields("exposure", "credit_limits"),
)
AgingRowOutput = _output(
    "AgingRow",
    book=serializers.CharField(),
    buyer=serializers.CharField(),
    currency=serializers.CharField(),
    oldest_days_past_due=serializers.IntegerField(),
    **_money_fields(*BUCKETS, "total"),
)
AllowanceRow = _output(
    "AllowanceRow",
    book=serializers.CharField(),
    currency=serializers.CharField(),
    matrix=serializers.IntegerField(),
    bucket=serializers.CharField(),
    rate_bps=serializers.IntegerField(),
    **_money_fields("open", "allowance"),
)
AllowanceBookingRow = _output(
    "AllowanceBookingRow",
    book=serializers.CharField(),
    currency=serializers.CharField(),
    period_end=serializers.DateField(),
    matrix=serializers.IntegerField(),
    ledger_event_sequence=serializers.IntegerField(allow_null=True),
    booked_at=serializers.DateTimeField(),
    booked_by=serializers.CharField(),
    **_money_fields("receivable", "allowance", "previous", "change"),
)
DunningActionRow = _output(
    "DunningActionRow",
    id=serializers.IntegerField(),
    customer=serializers.CharField(),
    episode=serializers.IntegerField(),
    step=serializers.IntegerField(allow_null=True),
    action=serializers.CharField(),
    reason=serializers.CharField(),
    outcome=serializers.CharField(),
    days_past_due=serializers.IntegerField(),
    at=serializers.DateTimeField(),
    actor=serializers.CharField(),
    **_money_fields("overdue"),
)
DunningOutput = _output(
    "DunningOutput",
    customer=serializers.CharField(),
    standing=serializers.CharField(),
    lifted_by_payment=serializers.BooleanField(),
    evaluated_level=serializers.CharField(),
    episode=serializers.IntegerField(),
    last_step=serializers.IntegerField(),
    restrict_request_max_minor=serializers.IntegerField(allow_null=True),
    evaluated_at=serializers.DateTimeField(allow_null=True),
    history=DunningActionRow(many=True),
    **_money_fields("overdue_at_evaluation"),
)

_BOOK = OpenApiParameter("book", str, description="a seller book's code")
_AS_OF = OpenApiParameter("as_of", OpenApiTypes.DATE, description="YYYY-MM-DD; default today")
_CUSTOMER = OpenApiParameter("customer", str, description="a customer's external id")


def _book_id(request) -> int | None:
    code = request.query_params.get("book")
    if code is None:
        return None
    book = Book.objects.filter(code=code).first()
    if book is None:
        raise UnknownBook(f"book {code!r} does not exist")
    return book.pk


def _as_of(request) -> date:
    text = request.query_params.get("as_of")
    if text is None:
        return timezone.now().date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidCreditInput("as_of must be a date, YYYY-MM-DD") from None


def _csv(filename: str, rows: list[dict], serializer) -> object:
    columns = list(serializer().fields)
    return csv_response(
        filename,
        columns,
        (
            [
                text_cell(v) if isinstance(v, str) and not c.endswith("_minor") else v
                for c, v in ((c, row[c]) for c in columns)
            ]
            for row in rows
        ),
    )


def _customers(request):
    found = Customer.objects.select_related("currency", "book").order_by("pk")
    book_id = _book_id(request)
    return found.filter(book_id=book_id) if book_id is not None else found


class ExposureApi(APIView):
    pagination_class = BoundedLimitOffsetPagination  # paginated by hand; the schema says so
    api_errors = (UnknownBook,)
    permission_classes = [CanReadLedger]

    @extend_schema(parameters=[_BOOK], responses=ExposureRow(many=True))
    def get(self, request):
        paginator = BoundedLimitOffsetPagination()
        page = paginator.paginate_queryset(_customers(request), request, view=self)
        return paginator.get_paginated_response(reports.exposure_rows(list(page)))


class ExposureCsvApi(APIView):
    api_errors = (UnknownBook,)
    permission_classes = [CanReadLedger]
    renderer_classes = EXPORT_RENDERERS

    @extend_schema(parameters=[_BOOK], responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        return _csv("exposure.csv", reports.exposure_rows(list(_customers(request))), ExposureRow)


class ResellerExposureApi(APIView):
    api_errors = (UnknownBook,)
    permission_classes = [CanReadLedger]

    @extend_schema(parameters=[_BOOK], responses=ResellerRow(many=True))
    def get(self, request):
        book_id = _book_id(request)
        return Response(reports.reseller_rows(None if book_id is None else [book_id]))


class AgingApi(APIView):
    api_errors = (UnknownBook, InvalidCreditInput)
    permission_classes = [CanReadLedger]

    @extend_schema(parameters=[_AS_OF, _BOOK], responses=AgingRowOutput(many=True))
    def get(self, request):
        return Response(reports.aging_rows(as_of=_as_of(request), book_id=_book_id(request)))


class AgingCsvApi(APIView):
    api_errors = (UnknownBook, InvalidCreditInput)
    permission_classes = [CanReadLedger]
    renderer_classes = EXPORT_RENDERERS

    @extend_schema(parameters=[_AS_OF, _BOOK], responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        rows = reports.aging_rows(as_of=_as_of(request), book_id=_book_id(request))
        return _csv("aging.csv", rows, AgingRowOutput)


class AllowanceApi(APIView):
    api_errors = (UnknownBook, InvalidCreditInput)
    permission_classes = [CanReadLedger]

    @extend_schema(parameters=[_AS_OF, _BOOK], responses=AllowanceRow(many=True))
    def get(self, request):
        return Response(reports.allowance_rows(as_of=_as_of(request), book_id=_book_id(request)))


class AllowanceCsvApi(APIView):
    api_errors = (UnknownBook, InvalidCreditInput)
    permission_classes = [CanReadLedger]
    renderer_classes = EXPORT_RENDERERS

    @extend_schema(parameters=[_AS_OF, _BOOK], responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        rows = reports.allowance_rows(as_of=_as_of(request), book_id=_book_id(request))
        return _csv("allowance.csv", rows, AllowanceRow)


class AllowanceBookingsApi(APIView):
    pagination_class = BoundedLimitOffsetPagination  # paginated by hand; the schema says so
    api_errors = (UnknownBook,)
    permission_classes = [CanReadLedger]

    @extend_schema(parameters=[_BOOK], responses=AllowanceBookingRow(many=True))
    def get(self, request):
        paginator = BoundedLimitOffsetPagination()
        found = reports.allowance_bookings(_book_id(request))
        page = paginator.paginate_queryset(found, request, view=self)
        return paginator.get_paginated_response(reports.allowance_booking_rows(page))


class ProvisionMatrixOutput(serializers.Serializer):
    id = serializers.IntegerField()
    book = serializers.CharField()
    effective_from = serializers.DateField()
    rates_bps = serializers.DictField(child=serializers.IntegerField())
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField()


def _matrix_body(matrix: ProvisionMatrix) -> dict:
    return {
        "id": matrix.pk,
        "book": matrix.book.code,
        "effective_from": matrix.effective_from.isoformat(),
        "rates_bps": losses_selectors.matrix_rates_bps(matrix),
        "created_at": matrix.created_at.isoformat(),
        "created_by": matrix.created_by,
    }


class ProvisionMatrixApi(APIView):
    api_errors = {"GET": (UnknownBook,), "POST": (UnknownBook, InvalidCreditInput)}
    permission_classes = [CanSetMatrices]

    class MatrixInput(serializers.Serializer):
        book = serializers.CharField(max_length=64)
        effective_from = serializers.DateField()
        current_bps = serializers.IntegerField(min_value=0, max_value=10000)
        d1_30_bps = serializers.IntegerField(min_value=0, max_value=10000)
        d31_60_bps = serializers.IntegerField(min_value=0, max_value=10000)
        d61_90_bps = serializers.IntegerField(min_value=0, max_value=10000)
        over_90_bps = serializers.IntegerField(min_value=0, max_value=10000)

    @extend_schema(parameters=[_BOOK], responses=ProvisionMatrixOutput(many=True))
    def get(self, request):
        found = ProvisionMatrix.objects.select_related("book").order_by("book_id", "effective_from")
        book_id = _book_id(request)
        if book_id is not None:
            found = found.filter(book_id=book_id)
        return Response([_matrix_body(m) for m in found[: BoundedLimitOffsetPagination.max_limit]])

    @extend_schema(
        request=MatrixInput,
        responses={201: ProvisionMatrixOutput},
        description="A new version of a book's loss rates (basis points per aging bucket), "
        "in force from effective_from; earlier versions stay as they were.",
    )
    def post(self, request):
        data = self.MatrixInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        book = Book.objects.filter(code=values["book"]).first()
        if book is None:
            raise UnknownBook(f"book {values['book']!r} does not exist")
        matrix = losses_services.provision_matrix_set(
            book=book,
            effective_from=values["effective_from"],
            rates_bps={bucket: values[f"{bucket}_bps"] for bucket in BUCKETS},
            actor=_actor(request),
        )
        return Response(_matrix_body(matrix), status=201)


class WriteOffOutput(serializers.Serializer):
    id = serializers.IntegerField()
    invoice = serializers.UUIDField()
    invoice_number = serializers.CharField()
    buyer = serializers.CharField()
    amount = serializers.CharField(help_text="decimal string")
    amount_minor = serializers.IntegerField()
    recovered_minor = serializers.IntegerField()
    reason = serializers.CharField()
    approved_by = serializers.CharField()
    written_off_at = serializers.DateTimeField()
    written_off_by = serializers.CharField()
    ledger_event_sequence = serializers.IntegerField()


def _write_off_body(write_off: WriteOff) -> dict:
    invoice = write_off.invoice
    return {
        "id": write_off.pk,
        "invoice": str(invoice.public_id),
        "invoice_number": invoice.number_text,
        "buyer": invoice.buyer_key,
        "amount": from_minor_units(write_off.amount_minor, invoice.currency.scale),
        "amount_minor": write_off.amount_minor,
        "recovered_minor": sum(r.amount_minor for r in write_off.recoveries.all()),
        "reason": write_off.reason,
        "approved_by": write_off.approved_by,
        "written_off_at": write_off.written_off_at.isoformat(),
        "written_off_by": write_off.written_off_by,
        "ledger_event_sequence": write_off.ledger_event_sequence,
    }


def _write_offs():
    return WriteOff.objects.select_related("invoice__currency").prefetch_related("recoveries")


class WriteOffListApi(APIView):
    pagination_class = BoundedLimitOffsetPagination  # paginated by hand; the schema says so
    api_errors = {
        "POST": (InvoiceNotFound, InvalidCreditInput, WriteOffExceedsOpen, CurrencyUnknown)
    }
    permission_classes = [CanWriteOff]

    class WriteOffInput(serializers.Serializer):
        invoice = serializers.UUIDField()
        amount_minor = serializers.IntegerField(min_value=1, max_value=CREDIT_LIMIT_MAX)
        reason = serializers.CharField(max_length=500)
        approved_by = serializers.CharField(max_length=200)

    @extend_schema(responses=WriteOffOutput(many=True))
    def get(self, request):
        paginator = BoundedLimitOffsetPagination()
        page = paginator.paginate_queryset(_write_offs().order_by("-pk"), request, view=self)
        return paginator.get_paginated_response([_write_off_body(w) for w in page])

    @extend_schema(
        request=WriteOffInput,
        responses={201: WriteOffOutput},
        description="Write off (part of) a finalized invoice's open receivable against the "
        "allowance (Dr allowance:doubtful / Cr receivable:<buyer>). Nothing is deleted.",
    )
    def post(self, request):
        data = self.WriteOffInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        invoice = Invoice.objects.filter(public_id=values["invoice"]).first()
        if invoice is None:
            raise InvoiceNotFound(f"invoice {values['invoice']} does not exist")
        write_off = losses_services.write_off_create(
            invoice=invoice,
            amount_minor=values["amount_minor"],
            reason=values["reason"],
            approved_by=values["approved_by"],
            actor=_actor(request),
        )
        return Response(_write_off_body(_write_offs().get(pk=write_off.pk)), status=201)


class RecoveryApi(APIView):
    api_errors = {"POST": (WriteOffNotFound, InvalidCreditInput, WriteOffExceedsOpen)}
    permission_classes = [CanRecover]

    class RecoveryInput(serializers.Serializer):
        amount_minor = serializers.IntegerField(min_value=1, max_value=CREDIT_LIMIT_MAX)
        note = serializers.CharField(max_length=500, required=False, default="")

    @extend_schema(
        request=RecoveryInput,
        responses={201: WriteOffOutput},
        description="Book back (part of) a write-off when the money comes after all; then "
        "record the payment on the invoice as usual.",
    )
    def post(self, request, write_off_id: int):
        write_off = _write_offs().filter(pk=write_off_id).first()
        if write_off is None:
            raise WriteOffNotFound(f"write-off {write_off_id} does not exist")
        data = self.RecoveryInput(data=request.data)
        data.is_valid(raise_exception=True)
        losses_services.recovery_create(
            write_off=write_off,
            amount_minor=data.validated_data["amount_minor"],
            note=data.validated_data["note"],
            actor=_actor(request),
        )
        return Response(_write_off_body(_write_offs().get(pk=write_off.pk)), status=201)


class CustomerDunningApi(APIView):
    api_errors = (CustomerNotFound,)
    permission_classes = [CanReadLedger]

    @extend_schema(responses=DunningOutput)
    def get(self, request, external_id):
        customer = Customer.objects.select_related("currency").filter(external_id=external_id)
        found = customer.first()
        if found is None:
            raise CustomerNotFound(f"customer {external_id!r} does not exist")
        return Response(reports.dunning_body(found))


class DunningCsvApi(APIView):
    api_errors = (CustomerNotFound,)
    permission_classes = [CanReadLedger]
    renderer_classes = EXPORT_RENDERERS

    @extend_schema(parameters=[_CUSTOMER], responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        external_id = request.query_params.get("customer")
        customer = None
        if external_id is not None:
            customer = Customer.objects.filter(external_id=external_id).first()
            if customer is None:
                raise CustomerNotFound(f"customer {external_id!r} does not exist")
        actions = reports.dunning_actions(customer).iterator(chunk_size=500)
        return _csv("dunning.csv", reports.dunning_action_rows(actions), DunningActionRow)


class CanSetLadders(_FinanceMay):
    write_perm = "credit.add_dunningstep"


class DunningStepOutput(serializers.Serializer):
    book = serializers.CharField()
    position = serializers.IntegerField()
    days_past_due = serializers.IntegerField()
    amount_overdue_minor = serializers.IntegerField()
    action = serializers.CharField()
    restrict_request_max_minor = serializers.IntegerField(allow_null=True)
    card_tries_max = serializers.IntegerField()


def _step_body(step: DunningStep) -> dict:
    return {
        "book": step.book.code,
        "position": step.position,
        "days_past_due": step.days_past_due,
        "amount_overdue_minor": step.amount_overdue_minor,
        "action": step.action,
        "restrict_request_max_minor": step.restrict_request_max_minor,
        "card_tries_max": step.card_tries_max,
    }


class DunningStepsApi(APIView):
    api_errors = {"GET": (UnknownBook,), "POST": (UnknownBook, InvalidCreditInput)}
    permission_classes = [CanSetLadders]

    class StepInput(serializers.Serializer):
        book = serializers.CharField(max_length=64)
        position = serializers.IntegerField(min_value=1, max_value=100)
        days_past_due = serializers.IntegerField(min_value=0, max_value=3650)
        amount_overdue_minor = serializers.IntegerField(
            min_value=0, max_value=CREDIT_LIMIT_MAX, required=False, default=0
        )
        action = serializers.ChoiceField(choices=DunningStep.Action.values)
        restrict_request_max_minor = serializers.IntegerField(
            min_value=0, max_value=CREDIT_LIMIT_MAX, required=False, allow_null=True, default=None
        )
        card_tries_max = serializers.IntegerField(
            min_value=1, max_value=10, required=False, default=3
        )

    @extend_schema(parameters=[_BOOK], responses=DunningStepOutput(many=True))
    def get(self, request):
        found = DunningStep.objects.select_related("book").order_by("book_id", "position")
        book_id = _book_id(request)
        if book_id is not None:
            found = found.filter(book_id=book_id)
        return Response([_step_body(s) for s in found[: BoundedLimitOffsetPagination.max_limit]])

    @extend_schema(
        request=StepInput,
        responses={201: DunningStepOutput},
        description="Add or replace the rung at `position` of a book's dunning ladder.",
    )
    def post(self, request):
        data = self.StepInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        code = values.pop("book")
        book = Book.objects.filter(code=code).first()
        if book is None:
            raise UnknownBook(f"book {code!r} does not exist")
        step = dunning_services.dunning_step_set(book=book, actor=_actor(request), **values)
        return Response(_step_body(step), status=201)


class DunningCardApi(APIView):
    api_errors = {"PUT": (CustomerNotFound, InvalidCreditInput)}
    permission_classes = [CanSetLadders]

    class CardInput(serializers.Serializer):
        stripe_customer_id = serializers.CharField(max_length=255)
        stripe_payment_method_id = serializers.CharField(max_length=255)

    class CardOutput(serializers.Serializer):
        customer = serializers.CharField()
        stripe_customer_id = serializers.CharField()
        stripe_payment_method_id = serializers.CharField()
        updated_at = serializers.DateTimeField()
        updated_by = serializers.CharField()

    @extend_schema(
        request=CardInput,
        responses=CardOutput,
        description="Save the card (Stripe ids) dunning's card retry may charge.",
    )
    def put(self, request, external_id):
        customer = Customer.objects.filter(external_id=external_id).first()
        if customer is None:
            raise CustomerNotFound(f"customer {external_id!r} does not exist")
        data = self.CardInput(data=request.data)
        data.is_valid(raise_exception=True)
        card = dunning_cards.dunning_card_set(
            customer=customer, actor=_actor(request), **data.validated_data
        )
        return Response(
            {
                "customer": customer.external_id,
                "stripe_customer_id": card.stripe_customer_id,
                "stripe_payment_method_id": card.stripe_payment_method_id,
                "updated_at": card.updated_at.isoformat(),
                "updated_by": card.updated_by,
            }
        )
