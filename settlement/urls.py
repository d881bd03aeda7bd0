from django.urls import path

from settlement.commitments import api
from settlement.reconciliation import api as reconciliation_api
from settlement.statements import api as statements_api

urlpatterns = [
    path("contracts/", api.ContractListApi.as_view(), name="settlement-contracts"),
    path(
        "contracts/<int:contract_id>/",
        api.ContractDetailApi.as_view(),
        name="settlement-contract",
    ),
    path("commitments/", api.CommitmentListApi.as_view(), name="settlement-commitments"),
    path(
        "commitments/<int:commitment_id>/",
        api.CommitmentDetailApi.as_view(),
        name="settlement-commitment",
    ),
    path(
        "commitments/<int:commitment_id>/drawdowns/",
        api.CommitmentDrawdownsApi.as_view(),
        name="settlement-commitment-drawdowns",
    ),
    path("commitments.csv", api.CommitmentsCsvApi.as_view(), name="settlement-commitments-csv"),
    path("forecast/", api.ForecastApi.as_view(), name="settlement-forecast"),
    path("forecast.csv", api.ForecastCsvApi.as_view(), name="settlement-forecast-csv"),
]

urlpatterns += [
    path("statements/", statements_api.StatementListApi.as_view(), name="settlement-statements"),
    path(
        "statements/<int:statement_id>/",
        statements_api.StatementDetailApi.as_view(),
        name="settlement-statement",
    ),
    path(
        "statements/<int:statement_id>/lines/",
        statements_api.StatementLinesApi.as_view(),
        name="settlement-statement-lines",
    ),
    path(
        "statements/<int:statement_id>/refusals/",
        statements_api.StatementRefusalsApi.as_view(),
        name="settlement-statement-refusals",
    ),
    path(
        "reconciliations/",
        reconciliation_api.ReconciliationListApi.as_view(),
        name="settlement-reconciliations",
    ),
    path(
        "reconciliations/<int:run_id>/",
        reconciliation_api.ReconciliationDetailApi.as_view(),
        name="settlement-reconciliation",
    ),
    path(
        "reconciliations/<int:run_id>/differences/",
        reconciliation_api.DifferencesApi.as_view(),
        name="settlement-reconciliation-differences",
    ),
    path(
        "reconciliations/<int:run_id>/differences.csv",
        reconciliation_api.DifferencesCsvApi.as_view(),
        name="settlement-reconciliation-differences-csv",
    ),
    path(
        "differences/<int:difference_id>/accept/",
        reconciliation_api.DifferenceAcceptApi.as_view(),
        name="settlement-difference-accept",
    ),
]
