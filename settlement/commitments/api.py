"""Contracts and commitments over HTTP, for finance, under /api/settlement/:

  contracts/                     GET list, POST sign one (settlement.add_contract)
  contracts/{id}/                GET one
  commitments/                   GET list with live balances, POST buy one
                                 (settlement.add_commitment, Idempotency-Key header)
  commitments/{id}/              GET one with its live balance
  commitments/{id}/drawdowns/    GET what it covered, per batch, model and usage day
  forecast/  forecast.csv        burn rate, run-out, expected breakage or shortfall

Views are thin: validate, call one selector or service, serialise. Amounts leave as the
integer in minor units and a decimal string, and come in as decimal strings.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.csv_export import EXPORT_RENDERERS, csv_response, text_cell
from config.fields import DecimalString
from config.pagination import BoundedLimitOffsetPagination
from ledger.amounts import InvalidAmount, from_minor_units, to_minor_units
from ledger.errors import IdempotencyConflict as LedgerIdempotencyConflict
from ledger.errors import UnknownBook
from ledger.models import Asset, Book
from ledger.permissions import CanReadLedger, FinanceMay
from settlement.commitments import selectors, services
from settlement.commitments.models import BPS_MAX, Commitment, Contract
from settlement.errors import (
    CommitmentNotFound,
    ContractConflict,
    ContractNotFound,
    CurrencyMismatch,
    IdempotencyConflict,
    IdempotencyKeyRequired,
    InvalidCommitment,
    InvalidContract,
    UnknownContract,
    UnknownCurrency,
    UnknownProvider,
)


class _FinanceMay(FinanceMay):
    message = "Settlement needs the finance role."


class CanManageContracts(_FinanceMay):
    write_perm = "settlement.add_contract"


class CanBuyCommitments(_FinanceMay):
    write_perm = "settlement.add_commitment"


def _actor(request) -> str:
    return f"user:{request.user.get_username()}"


def _money(amount: int, scale: int) -> str:
    return from_minor_units(amount, scale)


# --- contracts -------------------------------------------------------------------------


class ContractOutput(serializers.Serializer):
    id = serializers.IntegerField()
    book = serializers.CharField()
    provider = serializers.CharField()
    name = serializers.CharField()
    currency = serializers.CharField()
    discount_bps = serializers.IntegerField()
    tolerance_bps = serializers.IntegerField()
    tolerance = serializers.CharField(help_text="decimal string")
    tolerance_minor = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField()


def contract_body(contract: Contract) -> dict:
    return {
        "id": contract.pk,
        "book": contract.book.code,
        "provider": contract.provider,
        "name": contract.name,
        "currency": contract.currency.code,
        "discount_bps": contract.discount_bps,
        "tolerance_bps": contract.tolerance_bps,
        "tolerance": _money(contract.tolerance_minor, contract.currency.scale),
        "tolerance_minor": contract.tolerance_minor,
        "created_at": contract.created_at.isoformat(),
        "created_by": contract.created_by,
    }


class ContractListApi(APIView):
    pagination_class = BoundedLimitOffsetPagination  # paginated by hand; the schema says so
    api_errors = {
        "POST": (
            UnknownBook,
            UnknownProvider,
            UnknownCurrency,
            InvalidContract,
            InvalidAmount,
            ContractConflict,
        )
    }
    permission_classes = [CanManageContracts]

    class ContractInput(serializers.Serializer):
        book = serializers.CharField(max_length=64, help_text="the distributor's book code")
        provider = serializers.CharField(max_length=64, help_text="as usage records name it")
        name = serializers.CharField(max_length=services.NAME_LENGTH_MAX)
        currency = serializers.CharField(max_length=16, help_text="ledger asset code: USD")
        discount_bps = serializers.IntegerField(min_value=0, max_value=BPS_MAX, default=0)
        tolerance_bps = serializers.IntegerField(min_value=0, max_value=BPS_MAX, default=0)
        tolerance = DecimalString(required=False, default="0", help_text="absolute tolerance")

    @extend_schema(responses=ContractOutput(many=True))
    def get(self, request):
        paginator = BoundedLimitOffsetPagination()
        page = paginator.paginate_queryset(selectors.contract_list(), request, view=self)
        return paginator.get_paginated_response([contract_body(c) for c in page])

    @extend_schema(request=ContractInput, responses={201: ContractOutput})
    def post(self, request):
        data = self.ContractInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        book = Book.objects.filter(code=values["book"]).first()
        if book is None:
            raise UnknownBook(f"book {values['book']!r} does not exist")
        currency = Asset.objects.filter(code=values["currency"]).first()
        if currency is None:
            raise UnknownCurrency(f"currency {values['currency']!r} is not a ledger asset")
        contract = services.contract_create(
            book=book,
            provider=values["provider"],
            name=values["name"],
            currency=currency,
            discount_bps=values["discount_bps"],
            tolerance_bps=values["tolerance_bps"],
            tolerance_minor=_non_negative(values["tolerance"], currency.scale, "tolerance"),
            actor=_actor(request),
        )
        return Response(contract_body(contract), status=status.HTTP_201_CREATED)


def _non_negative(text: str, scale: int, field: str) -> int:
    amount = to_minor_units(text, scale)
    if amount < 0:
        raise InvalidAmount(f"{field} must not be negative", details={"field": field})
    return amount


class ContractDetailApi(APIView):
    api_errors = (ContractNotFound,)
    permission_classes = [CanReadLedger]

    @extend_schema(responses=ContractOutput)
    def get(self, request, contract_id: int):
        return Response(contract_body(selectors.contract_get(contract_id=contract_id)))


# --- commitments -----------------------------------------------------------------------

_AMOUNTS = ("amount", "drawn", "breakage", "remaining", "covered")


class CommitmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    contract = serializers.IntegerField()
    provider = serializers.CharField()
    name = serializers.CharField()
    currency = serializers.CharField()
    starts_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    covered_models = serializers.ListField(
        child=serializers.CharField(), help_text="empty: every model of the provider"
    )
    priority = serializers.IntegerField(help_text="lower draws first; then earliest expiry")
    funded_from = serializers.ChoiceField(choices=Commitment.FundedFrom.choices)
    account = serializers.IntegerField(help_text="prepaid_capacity:<provider>:<id>")
    amount = serializers.CharField(help_text="the price paid (decimal string)")
    drawn = serializers.CharField(help_text="paid for covered usage")
    covered = serializers.CharField(help_text="the list cost of the usage it covered")
    breakage = serializers.CharField(help_text="written off at expiry")
    remaining = serializers.CharField(help_text="the ledger's live balance")
    amount_minor = serializers.IntegerField()
    drawn_minor = serializers.IntegerField()
    breakage_minor = serializers.IntegerField()
    remaining_minor = serializers.IntegerField()
    covered_minor = serializers.IntegerField()
    discount_bps = serializers.IntegerField(help_text="the contract's, paid off list")
    tokens = serializers.IntegerField(
        allow_null=True, help_text="tokens bought; null for a commitment in money"
    )
    tokens_drawn = serializers.IntegerField(allow_null=True)
    tokens_breakage = serializers.IntegerField(allow_null=True)
    tokens_remaining = serializers.IntegerField(
        allow_null=True, help_text="the ledger's prepaid_tokens:<provider>:<id>"
    )
    token_account = serializers.IntegerField(allow_null=True)
    closed = serializers.BooleanField(help_text="breakage booked: no more draw-down")
    purchase_sequence = serializers.IntegerField(help_text="the ledger event")
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField()


def commitment_body(commitment: Commitment) -> dict:
    balance = selectors.commitment_balance_get(commitment=commitment)
    contract = commitment.contract
    scale = contract.currency.scale
    minor = {
        "amount": balance.amount_minor,
        "drawn": balance.drawn_minor,
        "breakage": balance.breakage_minor,
        "remaining": balance.remaining_minor,
        "covered": balance.covered_minor,
    }
    return {
        "id": commitment.pk,
        "contract": contract.pk,
        "provider": contract.provider,
        "name": commitment.name,
        "currency": contract.currency.code,
        "starts_at": commitment.starts_at.isoformat(),
        "expires_at": commitment.expires_at.isoformat(),
        "covered_models": list(commitment.covered_models),
        "priority": commitment.priority,
        "funded_from": commitment.funded_from,
        "account": commitment.account_id,
        **{name: _money(minor[name], scale) for name in _AMOUNTS},
        **{f"{name}_minor": minor[name] for name in _AMOUNTS},
        "discount_bps": contract.discount_bps,
        "tokens": balance.tokens,
        "tokens_drawn": balance.tokens_drawn,
        "tokens_breakage": balance.tokens_breakage,
        "tokens_remaining": balance.tokens_remaining,
        "token_account": commitment.token_account_id,
        "closed": selectors.commitment_closed(commitment),
        "purchase_sequence": commitment.purchase_sequence,
        "created_at": commitment.created_at.isoformat(),
        "created_by": commitment.created_by,
    }


_COMMITMENT_FILTERS = [
    OpenApiParameter("contract", int, description="contract id"),
    OpenApiParameter("provider", str, description="provider, e.g. openai"),
]


def _int_param(request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    if not value.isdigit() or len(value) > 18:
        raise InvalidCommitment(f"{name} must be an id", details={name: value})
    return int(value)


class CommitmentListApi(APIView):
    pagination_class = BoundedLimitOffsetPagination  # paginated by hand; the schema says so
    api_errors = {
        "GET": (InvalidCommitment,),
        "POST": (
            IdempotencyKeyRequired,
            UnknownContract,
            CurrencyMismatch,
            InvalidAmount,
            InvalidCommitment,
            IdempotencyConflict,
            LedgerIdempotencyConflict,
        ),
    }
    permission_classes = [CanBuyCommitments]

    class CommitmentInput(serializers.Serializer):
        contract = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
        name = serializers.CharField(
            max_length=services.NAME_LENGTH_MAX, required=False, allow_blank=True, default=""
        )
        amount = DecimalString(
            help_text="the price paid, decimal string in the contract's currency"
        )
        tokens = serializers.IntegerField(
            min_value=1,
            max_value=2**63 - 1,
            required=False,
            allow_null=True,
            default=None,
            help_text="buy this many tokens (every kind counted) instead of money's worth",
        )
        currency = serializers.CharField(max_length=16)
        starts_at = serializers.DateTimeField()
        expires_at = serializers.DateTimeField()
        covered_models = serializers.ListField(
            child=serializers.CharField(max_length=services.MODEL_LENGTH_MAX),
            max_length=services.COVERED_MODELS_MAX,
            required=False,
            default=list,
        )
        priority = serializers.IntegerField(
            min_value=services.PRIORITY_MIN, max_value=services.PRIORITY_MAX, default=100
        )
        funded_from = serializers.ChoiceField(choices=Commitment.FundedFrom.choices)

    @extend_schema(parameters=_COMMITMENT_FILTERS, responses=CommitmentOutput(many=True))
    def get(self, request):
        commitments = selectors.commitment_list(
            contract_id=_int_param(request, "contract"),
            provider=request.query_params.get("provider"),
        )
        paginator = BoundedLimitOffsetPagination()
        page = paginator.paginate_queryset(commitments, request, view=self)
        return paginator.get_paginated_response([commitment_body(c) for c in page])

    @extend_schema(
        request=CommitmentInput,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                required=True,
                description="a retry with the same key and body returns the first purchase (200)",
            )
        ],
        responses={201: CommitmentOutput, 200: CommitmentOutput},
        description="Buy capacity: books prepaid_capacity:<provider>:<id> Dr against cash:bank "
        "or payable:<provider> Cr, in the contract's book and currency; with `tokens`, also "
        "prepaid_tokens:<provider>:<id> Dr against tokens_bought:<provider> Cr in TOKENS.",
    )
    def post(self, request):
        idempotency_key = request.headers.get("Idempotency-Key")
        if not idempotency_key:
            raise IdempotencyKeyRequired("buying a commitment needs an Idempotency-Key header")
        data = self.CommitmentInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        contract = Contract.objects.select_related("currency", "book").filter(pk=values["contract"])
        contract = contract.first()
        if contract is None:
            raise UnknownContract(f"contract {values['contract']} does not exist")
        purchase = services.commitment_purchase(
            contract=contract,
            amount_minor=to_minor_units(values["amount"], contract.currency.scale),
            tokens=values["tokens"],
            currency=values["currency"],
            starts_at=values["starts_at"],
            expires_at=values["expires_at"],
            funded_from=values["funded_from"],
            covered_models=values["covered_models"],
            priority=values["priority"],
            name=values["name"],
            idempotency_key=idempotency_key,
            actor=_actor(request),
        )
        commitment = selectors.commitment_get(commitment_id=purchase.commitment.pk)
        code = status.HTTP_200_OK if purchase.replayed else status.HTTP_201_CREATED
        return Response(commitment_body(commitment), status=code)


class CommitmentDetailApi(APIView):
    api_errors = (CommitmentNotFound,)
    permission_classes = [CanReadLedger]

    @extend_schema(responses=CommitmentOutput)
    def get(self, request, commitment_id: int):
        return Response(commitment_body(selectors.commitment_get(commitment_id=commitment_id)))


class DrawdownOutput(serializers.Serializer):
    metering_sequence = serializers.IntegerField(help_text="the usage batch's ledger event")
    ledger_sequence = serializers.IntegerField(help_text="the draw-down's ledger event")
    model = serializers.CharField()
    usage_day = serializers.DateField()
    list = serializers.CharField(help_text="list cost of the usage covered")
    list_minor = serializers.IntegerField()
    amount = serializers.CharField(help_text="paid from the commitment for it")
    amount_minor = serializers.IntegerField()
    tokens = serializers.IntegerField(help_text="tokens drawn (a commitment in tokens)")


class CommitmentDrawdownsApi(APIView):
    pagination_class = BoundedLimitOffsetPagination  # paginated by hand; the schema says so
    api_errors = (CommitmentNotFound,)
    permission_classes = [CanReadLedger]

    @extend_schema(responses=DrawdownOutput(many=True))
    def get(self, request, commitment_id: int):
        commitment = selectors.commitment_get(commitment_id=commitment_id)
        scale = commitment.contract.currency.scale
        paginator = BoundedLimitOffsetPagination()
        page = paginator.paginate_queryset(
            selectors.commitment_drawdowns_list(commitment=commitment), request, view=self
        )
        return paginator.get_paginated_response(
            [
                {
                    "metering_sequence": line.batch.metering_sequence,
                    "ledger_sequence": line.batch.ledger_sequence,
                    "model": line.model,
                    "usage_day": line.usage_day.isoformat(),
                    "list": _money(line.list_minor, scale),
                    "list_minor": line.list_minor,
                    "amount": _money(line.amount_minor, scale),
                    "amount_minor": line.amount_minor,
                    "tokens": line.tokens,
                }
                for line in page
            ]
        )


# --- forecast --------------------------------------------------------------------------


class ForecastOutput(serializers.Serializer):
    commitment = serializers.IntegerField()
    provider = serializers.CharField()
    name = serializers.CharField()
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=selectors.FORECAST_STATUSES)
    expires_at = serializers.DateTimeField()
    remaining = serializers.CharField()
    remaining_minor = serializers.IntegerField()
    window_days = serializers.IntegerField()
    burn_per_day = serializers.CharField(help_text="draw-down per day over the window")
    burn_per_day_minor = serializers.IntegerField()
    run_out_at = serializers.DateTimeField(allow_null=True)
    expected_breakage = serializers.CharField(help_text="left at expiry at this burn rate")
    expected_breakage_minor = serializers.IntegerField()
    shortfall_at = serializers.DateTimeField(
        allow_null=True, help_text="runs out before expiry: usage goes to payable from then"
    )
    tokens_remaining = serializers.IntegerField(
        allow_null=True, help_text="a commitment in tokens: the ledger's token balance"
    )


class _ForecastQuery(serializers.Serializer):
    days = serializers.IntegerField(
        min_value=1, max_value=selectors.FORECAST_DAYS_MAX, default=selectors.FORECAST_DAYS_DEFAULT
    )
    provider = serializers.CharField(max_length=64, required=False)


_FORECAST_PARAMETERS = [
    OpenApiParameter("days", int, description="burn-rate window in days (default 7)"),
    OpenApiParameter("provider", str, description="provider, e.g. openai"),
]


def _forecasts(request) -> list[selectors.Forecast]:
    query = _ForecastQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    return selectors.commitment_forecasts_list(
        days=query.validated_data["days"], provider=query.validated_data.get("provider")
    )


def forecast_body(forecast: selectors.Forecast) -> dict:
    commitment = forecast.commitment
    scale = commitment.contract.currency.scale
    return {
        "commitment": commitment.pk,
        "provider": commitment.contract.provider,
        "name": commitment.name,
        "currency": commitment.contract.currency.code,
        "status": forecast.status,
        "expires_at": commitment.expires_at.isoformat(),
        "remaining": _money(forecast.remaining_minor, scale),
        "remaining_minor": forecast.remaining_minor,
        "window_days": forecast.window_days,
        "burn_per_day": _money(forecast.burn_per_day_minor, scale),
        "burn_per_day_minor": forecast.burn_per_day_minor,
        "run_out_at": forecast.run_out_at.isoformat() if forecast.run_out_at else None,
        "expected_breakage": _money(forecast.expected_breakage_minor, scale),
        "expected_breakage_minor": forecast.expected_breakage_minor,
        "shortfall_at": forecast.shortfall_at.isoformat() if forecast.shortfall_at else None,
        "tokens_remaining": forecast.tokens_remaining,
    }


class ForecastApi(APIView):
    permission_classes = [CanReadLedger]

    @extend_schema(parameters=_FORECAST_PARAMETERS, responses=ForecastOutput(many=True))
    def get(self, request):
        return Response([forecast_body(forecast) for forecast in _forecasts(request)])


_FORECAST_COLUMNS = [
    "commitment",
    "provider",
    "name",
    "currency",
    "status",
    "expires_at",
    "remaining",
    "remaining_minor",
    "window_days",
    "burn_per_day",
    "burn_per_day_minor",
    "run_out_at",
    "expected_breakage",
    "expected_breakage_minor",
    "shortfall_at",
    "tokens_remaining",
]
_TEXT_COLUMNS = {"provider", "name", "currency"}


class ForecastCsvApi(APIView):
    permission_classes = [CanReadLedger]
    renderer_classes = EXPORT_RENDERERS

    @extend_schema(parameters=_FORECAST_PARAMETERS, responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        forecasts = _forecasts(request)
        return csv_response(
            "commitments-forecast.csv",
            _FORECAST_COLUMNS,
            (
                [
                    text_cell(value) if column in _TEXT_COLUMNS else value
                    for column, value in (
                        (column, forecast_body(forecast)[column]) for column in _FORECAST_COLUMNS
                    )
                ]
                for forecast in forecasts
            ),
        )


_COMMITMENT_COLUMNS = [
    "id",
    "contract",
    "provider",
    "name",
    "currency",
    "starts_at",
    "expires_at",
    "priority",
    "funded_from",
    "amount",
    "amount_minor",
    "drawn",
    "drawn_minor",
    "breakage",
    "breakage_minor",
    "remaining",
    "remaining_minor",
    "covered",
    "covered_minor",
    "tokens",
    "tokens_drawn",
    "tokens_breakage",
    "tokens_remaining",
    "closed",
]


class CommitmentsCsvApi(APIView):
    """Every commitment with its live balance, for finance's spreadsheet."""

    api_errors = (InvalidCommitment,)
    permission_classes = [CanReadLedger]
    renderer_classes = EXPORT_RENDERERS

    @extend_schema(parameters=_COMMITMENT_FILTERS, responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        commitments = selectors.commitment_list(
            contract_id=_int_param(request, "contract"),
            provider=request.query_params.get("provider"),
        )
        return csv_response(
            "commitments.csv",
            _COMMITMENT_COLUMNS,
            (
                [
                    text_cell(value)
                    if isinstance(value, str) and column in _TEXT_COLUMNS
                    else value
                    for column, value in ((column, body[column]) for column in _COMMITMENT_COLUMNS)
                ]
                for body in (commitment_body(c) for c in commitments.iterator(chunk_size=500))
            ),
        )
