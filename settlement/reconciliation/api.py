"""Reconciliation over HTTP, for finance, under /api/settlement/:

reconciliations/                        GET list, POST run one {contract, since, until}
                                        (settlement.add_reconciliationrun)
reconciliations/{id}/                   GET one, its differences counted by kind
reconciliations/{id}/differences/       GET every difference with its explanation
reconciliations/{id}/differences.csv    the same, for a spreadsheet
differences/{id}/accept/                POST book its true-up, once (settlement.add_trueup)
"""

from collections import Counter

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.csv_export import EXPORT_RENDERERS, csv_response, text_cell
from config.pagination import BoundedLimitOffsetPagination
from ledger.amounts import from_minor_units
from ledger.permissions import CanReadLedger
from settlement.commitments.api import _actor, _FinanceMay, _int_param
from settlement.commitments.models import Contract
from settlement.errors import (
    DifferenceNotFound,
    DifferenceStale,
    InvalidCommitment,
    InvalidReconciliation,
    NothingToTrueUp,
    ReconciliationNotFound,
    UnknownContract,
)
from settlement.reconciliation import selectors, services
from settlement.reconciliation.models import Difference, ReconciliationRun


class CanRunReconciliations(_FinanceMay):
    write_perm = "settlement.add_reconciliationrun"


class CanAcceptDifferences(_FinanceMay):
    write_perm = "settlement.add_trueup"


def _money(amount: int | None, scale: int) -> str | None:
    return None if amount is None else from_minor_units(amount, scale)


class RunOutput(serializers.Serializer):
    id = serializers.IntegerField()
    contract = serializers.IntegerField()
    provider = serializers.CharField()
    currency = serializers.CharField()
    since = serializers.DateField()
    until = serializers.DateField(help_text="exclusive")
    through_sequence = serializers.IntegerField(help_text="our usage: batches up to this event")
    keys_compared = serializers.IntegerField(help_text="days x models (and requests) compared")
    keys_matched = serializers.IntegerField()
    ours_cost = serializers.CharField(help_text="what they should bill: ours less the discount")
    theirs_cost = serializers.CharField()
    differences_by_kind = serializers.DictField(child=serializers.IntegerField())
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField()


def run_body(run: ReconciliationRun) -> dict:
    scale = run.contract.currency.scale
    kinds = Counter(Difference.objects.filter(run=run).values_list("kind", flat=True))
    return {
        "id": run.pk,
        "contract": run.contract_id,
        "provider": run.contract.provider,
        "currency": run.contract.currency.code,
        "since": run.since.isoformat(),
        "until": run.until.isoformat(),
        "through_sequence": run.through_sequence,
        "keys_compared": run.keys_compared,
        "keys_matched": run.keys_matched,
        "ours_cost": _money(run.ours_cost_minor, scale),
        "theirs_cost": _money(run.theirs_cost_minor, scale),
        "differences_by_kind": dict(sorted(kinds.items())),
        "created_at": run.created_at.isoformat(),
        "created_by": run.created_by,
    }


class ReconciliationListApi(APIView):
    pagination_class = BoundedLimitOffsetPagination  # paginated by hand; the schema says so
    permission_classes = [CanRunReconciliations]
    api_errors = {"GET": (InvalidCommitment,), "POST": (UnknownContract, InvalidReconciliation)}

    class RunInput(serializers.Serializer):
        contract = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
        since = serializers.DateField(help_text="first UTC day")
        until = serializers.DateField(help_text="the day after the last")

    @extend_schema(
        parameters=[OpenApiParameter("contract", int, description="contract id")],
        responses=RunOutput(many=True),
    )
    def get(self, request):
        runs = selectors.reconciliation_list(contract_id=_int_param(request, "contract"))
        paginator = BoundedLimitOffsetPagination()
        page = paginator.paginate_queryset(runs, request, view=self)
        return paginator.get_paginated_response([run_body(run) for run in page])

    @extend_schema(
        request=RunInput,
        responses={201: RunOutput},
        description="Compare our metering with the contract's imported statements, per UTC day "
        "x model (and per request where a statement lists requests), within the contract's "
        "tolerance; store every difference with its kind and explanation.",
    )
    def post(self, request):
        data = self.RunInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        contract = Contract.objects.select_related("currency").filter(pk=values["contract"]).first()
        if contract is None:
            raise UnknownContract(f"contract {values['contract']} does not exist")
        result = services.reconciliation_run(
            contract=contract, since=values["since"], until=values["until"], actor=_actor(request)
        )
        run = selectors.reconciliation_get(run_id=result.run.pk)
        return Response(run_body(run), status=status.HTTP_201_CREATED)


class ReconciliationDetailApi(APIView):
    api_errors = (ReconciliationNotFound,)
    permission_classes = [CanReadLedger]

    @extend_schema(responses=RunOutput)
    def get(self, request, run_id: int):
        return Response(run_body(selectors.reconciliation_get(run_id=run_id)))


class DifferenceOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Difference.Kind.choices)
    usage_day = serializers.DateField()
    model = serializers.CharField()
    request_id = serializers.CharField(help_text="empty: the whole day of the model")
    ours_requests = serializers.IntegerField()
    theirs_requests = serializers.IntegerField(allow_null=True)
    ours_tokens = serializers.IntegerField()
    theirs_tokens = serializers.IntegerField(allow_null=True)
    ours_cost = serializers.CharField(help_text="expected: ours less the discount, after true-ups")
    theirs_cost = serializers.CharField(allow_null=True)
    delta = serializers.CharField(help_text="theirs less ours: what accepting books")
    delta_minor = serializers.IntegerField()
    explanation = serializers.CharField()
    accepted = serializers.BooleanField()
    true_up_sequence = serializers.IntegerField(allow_null=True, help_text="the ledger event")


def difference_body(difference: Difference, scale: int) -> dict:
    true_up = selectors.difference_true_up(difference)
    return {
        "id": difference.pk,
        "kind": difference.kind,
        "usage_day": difference.usage_day.isoformat(),
        "model": difference.model,
        "request_id": difference.request_id,
        "ours_requests": difference.ours_requests,
        "theirs_requests": difference.theirs_requests,
        "ours_tokens": difference.ours_tokens,
        "theirs_tokens": difference.theirs_tokens,
        "ours_cost": _money(difference.ours_cost_minor, scale),
        "theirs_cost": _money(difference.theirs_cost_minor, scale),
        "delta": _money(difference.delta_minor, scale),
        "delta_minor": difference.delta_minor,
        "explanation": difference.explanation,
        "accepted": true_up is not None,
        "true_up_sequence": None if true_up is None else true_up.ledger_sequence,
    }


class DifferencesApi(APIView):
    pagination_class = BoundedLimitOffsetPagination  # paginated by hand; the schema says so
    api_errors = (ReconciliationNotFound,)
    permission_classes = [CanReadLedger]

    @extend_schema(responses=DifferenceOutput(many=True))
    def get(self, request, run_id: int):
        run = selectors.reconciliation_get(run_id=run_id)
        scale = run.contract.currency.scale
        paginator = BoundedLimitOffsetPagination()
        page = paginator.paginate_queryset(selectors.difference_list(run=run), request, view=self)
        return paginator.get_paginated_response([difference_body(d, scale) for d in page])


_COLUMNS = [
    "id",
    "kind",
    "usage_day",
    "model",
    "request_id",
    "ours_requests",
    "theirs_requests",
    "ours_tokens",
    "theirs_tokens",
    "ours_cost",
    "theirs_cost",
    "delta",
    "delta_minor",
    "explanation",
    "accepted",
    "true_up_sequence",
]
_TEXT = {"model", "request_id", "explanation"}


class DifferencesCsvApi(APIView):
    api_errors = (ReconciliationNotFound,)
    permission_classes = [CanReadLedger]
    renderer_classes = EXPORT_RENDERERS

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request, run_id: int):
        run = selectors.reconciliation_get(run_id=run_id)
        scale = run.contract.currency.scale
        return csv_response(
            f"reconciliation-{run.pk}.csv",
            _COLUMNS,
            (
                [text_cell(body[c]) if c in _TEXT else body[c] for c in _COLUMNS]
                for body in (
                    difference_body(d, scale)
                    for d in selectors.difference_list(run=run).iterator(chunk_size=2000)
                )
            ),
        )


class TrueUpOutput(serializers.Serializer):
    difference = serializers.IntegerField()
    amount = serializers.CharField(help_text="> 0: Dr expense:upstream_true_up / Cr payable")
    amount_minor = serializers.IntegerField()
    ledger_sequence = serializers.IntegerField()
    note = serializers.CharField()
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField()


class DifferenceAcceptApi(APIView):
    permission_classes = [CanAcceptDifferences]
    api_errors = (DifferenceNotFound, DifferenceStale, NothingToTrueUp, InvalidReconciliation)

    class AcceptInput(serializers.Serializer):
        note = serializers.CharField(
            max_length=services.NOTE_LENGTH_MAX, required=False, allow_blank=True, default=""
        )

    @extend_schema(
        request=AcceptInput,
        responses={201: TrueUpOutput, 200: TrueUpOutput},
        description="Finance accepts the difference: one ledger event books its delta "
        "between payable:<provider> and expense:upstream_true_up. Accepting it again "
        "answers 200 with the same true-up; a difference the books moved on from is 409.",
    )
    def post(self, request, difference_id: int):
        data = self.AcceptInput(data=request.data)
        data.is_valid(raise_exception=True)
        difference = selectors.difference_get(difference_id=difference_id)
        accepted = services.difference_accept(
            difference=difference, actor=_actor(request), note=data.validated_data["note"]
        )
        true_up = accepted.true_up
        body = {
            "difference": difference.pk,
            "amount": from_minor_units(true_up.amount_minor, difference.contract.currency.scale),
            "amount_minor": true_up.amount_minor,
            "ledger_sequence": true_up.ledger_sequence,
            "note": true_up.note,
            "created_at": true_up.created_at.isoformat(),
            "created_by": true_up.created_by,
        }
        code = status.HTTP_200_OK if accepted.replayed else status.HTTP_201_CREATED
        return Response(body, status=code)
