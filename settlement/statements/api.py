"""Provider statements over HTTP, for finance, under /api/settlement/:

  statements/                   GET list, POST import a file (multipart `file`;
                                settlement.add_statement)
  statements/{id}/              GET one, with its refusals counted by reason
  statements/{id}/lines/        GET the rows imported
  statements/{id}/refusals/     GET the rows refused, with where and why

Importing the same file again answers 200 with the first import and writes nothing.
"""

from collections import Counter
from decimal import Decimal

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from config.fields import DecimalString
from config.pagination import BoundedLimitOffsetPagination
from ledger.amounts import from_minor_units
from ledger.permissions import CanReadLedger
from settlement.commitments.api import _actor, _FinanceMay, _int_param
from settlement.errors import (
    InvalidCommitment,
    StatementMalformed,
    StatementNotFound,
    UnknownContract,
)
from settlement.statements import selectors, services
from settlement.statements.models import Statement
from settlement.statements.parsers import FILE_BYTES_MAX, PARSERS


class CanImportStatements(_FinanceMay):
    write_perm = "settlement.add_statement"


class StatementOutput(serializers.Serializer):
    id = serializers.IntegerField()
    contract = serializers.IntegerField()
    provider = serializers.CharField()
    format = serializers.ChoiceField(choices=Statement.Format.choices)
    filename = serializers.CharField()
    content_sha256 = serializers.CharField()
    period_start = serializers.DateField(allow_null=True)
    period_end = serializers.DateField(allow_null=True, help_text="exclusive")
    rows_imported = serializers.IntegerField()
    rows_refused = serializers.IntegerField()
    fx_rate = serializers.CharField(allow_null=True)
    refused_by_reason = serializers.DictField(child=serializers.IntegerField())
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField()


def statement_body(statement: Statement) -> dict:
    reasons = Counter(
        selectors.statement_refusals_list(statement=statement).values_list("reason_code", flat=True)
    )
    return {
        "id": statement.pk,
        "contract": statement.contract_id,
        "provider": statement.contract.provider,
        "format": statement.format,
        "filename": statement.filename,
        "content_sha256": statement.content_sha256,
        "period_start": statement.period_start.isoformat() if statement.period_start else None,
        "period_end": statement.period_end.isoformat() if statement.period_end else None,
        "rows_imported": statement.rows_imported,
        "rows_refused": statement.rows_refused,
        "fx_rate": None
        if statement.fx_rate is None
        else format(statement.fx_rate.normalize(), "f"),
        "refused_by_reason": dict(sorted(reasons.items())),
        "created_at": statement.created_at.isoformat(),
        "created_by": statement.created_by,
    }


class StatementListApi(APIView):
    pagination_class = BoundedLimitOffsetPagination  # paginated by hand; the schema says so
    parser_classes = [MultiPartParser]
    permission_classes = [CanImportStatements]
    api_errors = {
        "GET": (InvalidCommitment,),
        "POST": (UnknownContract, StatementMalformed),
    }

    class StatementInput(serializers.Serializer):
        file = serializers.FileField(max_length=255, allow_empty_file=False)
        provider = serializers.CharField(max_length=64)
        contract = serializers.IntegerField(
            min_value=1, max_value=2**63 - 1, required=False, help_text="when several"
        )
        format = serializers.ChoiceField(
            choices=sorted(PARSERS), required=False, help_text="detected from the file if absent"
        )
        fx_rate = DecimalString(
            required=False, help_text="contract currency per unit of the file's currency"
        )

    @extend_schema(
        parameters=[OpenApiParameter("contract", int, description="contract id")],
        responses=StatementOutput(many=True),
    )
    def get(self, request):
        statements = selectors.statement_list(contract_id=_int_param(request, "contract"))
        paginator = BoundedLimitOffsetPagination()
        page = paginator.paginate_queryset(statements, request, view=self)
        return paginator.get_paginated_response([statement_body(s) for s in page])

    @extend_schema(
        request={"multipart/form-data": StatementInput},
        responses={201: StatementOutput, 200: StatementOutput},
        description="Import a statement file: every row imported or refused with its reason. "
        "The same file again answers 200 with the first import; nothing is written twice.",
    )
    def post(self, request):
        data = self.StatementInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        upload = values["file"]
        if upload.size > FILE_BYTES_MAX:
            raise StatementMalformed(f"a statement is at most {FILE_BYTES_MAX} bytes")
        fx_rate = None
        if "fx_rate" in values:
            try:
                fx_rate = Decimal(values["fx_rate"])
            except ArithmeticError as exc:
                raise StatementMalformed("fx_rate is a decimal string") from exc
        contract = selectors.statement_contract_get(
            provider=values["provider"], contract_id=values.get("contract")
        )
        result = services.statement_import(
            contract=contract,
            content=upload.read(),
            format=values.get("format"),
            filename=upload.name or "",
            fx_rate=fx_rate,
            actor=_actor(request),
        )
        statement = selectors.statement_get(statement_id=result.statement.pk)
        code = status.HTTP_200_OK if result.replayed else status.HTTP_201_CREATED
        return Response(statement_body(statement), status=code)


class StatementDetailApi(APIView):
    api_errors = (StatementNotFound,)
    permission_classes = [CanReadLedger]

    @extend_schema(responses=StatementOutput)
    def get(self, request, statement_id: int):
        return Response(statement_body(selectors.statement_get(statement_id=statement_id)))


class StatementLineOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(help_text="usage (tokens) or cost")
    row_key = serializers.CharField(help_text="the provider's identity of the row")
    usage_day = serializers.DateField()
    model = serializers.CharField()
    request_id = serializers.CharField()
    requests = serializers.IntegerField(allow_null=True)
    input_tokens = serializers.IntegerField(allow_null=True)
    output_tokens = serializers.IntegerField(allow_null=True)
    cache_read_tokens = serializers.IntegerField(allow_null=True)
    cache_write_tokens = serializers.IntegerField(allow_null=True)
    total_tokens = serializers.IntegerField(allow_null=True)
    cost = serializers.CharField(allow_null=True, help_text="in the contract's currency")
    cost_minor = serializers.IntegerField(allow_null=True)
    source_currency = serializers.CharField()
    source_amount = serializers.CharField()
    fx = serializers.BooleanField()


class StatementLinesApi(APIView):
    pagination_class = BoundedLimitOffsetPagination  # paginated by hand; the schema says so
    api_errors = (StatementNotFound,)
    permission_classes = [CanReadLedger]

    @extend_schema(responses=StatementLineOutput(many=True))
    def get(self, request, statement_id: int):
        statement = selectors.statement_get(statement_id=statement_id)
        scale = statement.contract.currency.scale
        paginator = BoundedLimitOffsetPagination()
        page = paginator.paginate_queryset(
            selectors.statement_lines_list(statement=statement), request, view=self
        )
        return paginator.get_paginated_response(
            [
                {
                    "id": line.pk,
                    "kind": line.kind,
                    "row_key": line.row_key,
                    "usage_day": line.usage_day.isoformat(),
                    "model": line.model,
                    "request_id": line.request_id,
                    "requests": line.requests,
                    "input_tokens": line.input_tokens,
                    "output_tokens": line.output_tokens,
                    "cache_read_tokens": line.cache_read_tokens,
                    "cache_write_tokens": line.cache_write_tokens,
                    "total_tokens": line.total_tokens,
                    "cost": None
                    if line.cost_minor is None
                    else from_minor_units(line.cost_minor, scale),
                    "cost_minor": line.cost_minor,
                    "source_currency": line.source_currency,
                    "source_amount": line.source_amount,
                    "fx": line.fx,
                }
                for line in page
            ]
        )


class StatementRefusalOutput(serializers.Serializer):
    locator = serializers.CharField(help_text="where in the file: data[3].results[1], line 7")
    reason_code = serializers.CharField()
    reason = serializers.CharField()
    row = serializers.CharField(help_text="the row as the file had it")


class StatementRefusalsApi(APIView):
    pagination_class = BoundedLimitOffsetPagination  # paginated by hand; the schema says so
    api_errors = (StatementNotFound,)
    permission_classes = [CanReadLedger]

    @extend_schema(responses=StatementRefusalOutput(many=True))
    def get(self, request, statement_id: int):
        statement = selectors.statement_get(statement_id=statement_id)
        paginator = BoundedLimitOffsetPagination()
        page = paginator.paginate_queryset(
            selectors.statement_refusals_list(statement=statement), request, view=self
        )
        return paginator.get_paginated_response(
            [
                {
                    "locator": r.locator,
                    "reason_code": r.reason_code,
                    "reason": r.reason,
                    "row": r.row,
                }
                for r in page
            ]
        )
