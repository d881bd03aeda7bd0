"""Credit's reports and finance's writes, mounted at /api/credit/ (config/urls.py)."""

from django.urls import path

from credit import api

urlpatterns = [
    path("exposure/", api.ExposureApi.as_view(), name="credit-exposure"),
    path("exposure.csv", api.ExposureCsvApi.as_view(), name="credit-exposure-csv"),
    path("resellers/", api.ResellerExposureApi.as_view(), name="credit-resellers"),
    path("aging/", api.AgingApi.as_view(), name="credit-aging"),
    path("aging.csv", api.AgingCsvApi.as_view(), name="credit-aging-csv"),
    path("allowance/", api.AllowanceApi.as_view(), name="credit-allowance"),
    path("allowance.csv", api.AllowanceCsvApi.as_view(), name="credit-allowance-csv"),
    path(
        "allowance-bookings/",
        api.AllowanceBookingsApi.as_view(),
        name="credit-allowance-bookings",
    ),
    path(
        "provision-matrices/",
        api.ProvisionMatrixApi.as_view(),
        name="credit-provision-matrices",
    ),
    path("write-offs/", api.WriteOffListApi.as_view(), name="credit-write-offs"),
    path(
        "write-offs/<int:write_off_id>/recoveries/",
        api.RecoveryApi.as_view(),
        name="credit-recoveries",
    ),
    path(
        "customers/<slug:external_id>/dunning/",
        api.CustomerDunningApi.as_view(),
        name="credit-customer-dunning",
    ),
    path("dunning.csv", api.DunningCsvApi.as_view(), name="credit-dunning-csv"),
    path("dunning-steps/", api.DunningStepsApi.as_view(), name="credit-dunning-steps"),
    path(
        "customers/<slug:external_id>/dunning-card/",
        api.DunningCardApi.as_view(),
        name="credit-dunning-card",
    ),
]
