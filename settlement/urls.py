from django.urls import path

from settlement.commitments import api

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
