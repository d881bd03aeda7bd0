from django.urls import path

from ledger import api

urlpatterns = [
    path("books/", api.BookListApi.as_view(), name="ledger-books"),
    path("accounts/", api.AccountListApi.as_view(), name="ledger-accounts"),
    path(
        "accounts/<int:account_id>/balance/",
        api.AccountBalanceApi.as_view(),
        name="ledger-account-balance",
    ),
    path(
        "accounts/<int:account_id>/statement/",
        api.AccountStatementApi.as_view(),
        name="ledger-account-statement",
    ),
    path("entries/", api.EntryListApi.as_view(), name="ledger-entries"),
    path("entries/<int:pk>/", api.EntryDetailApi.as_view(), name="ledger-entry"),
    path("events/<int:sequence>/", api.EventDetailApi.as_view(), name="ledger-event"),
    path(
        "accounts/<int:account_id>/statement.csv",
        api.AccountStatementCsvApi.as_view(),
        name="ledger-account-statement-csv",
    ),
    path("balances.csv", api.BalancesCsvApi.as_view(), name="ledger-balances-csv"),
    path("trial-balance/", api.TrialBalanceApi.as_view(), name="ledger-trial-balance"),
    path("trial-balance.csv", api.TrialBalanceCsvApi.as_view(), name="ledger-trial-balance-csv"),
    path("adjustments/", api.AdjustmentCreateApi.as_view(), name="ledger-adjustments"),
]
