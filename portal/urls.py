from django.urls import include, path
from django.views.i18n import set_language

from portal.views import auto_topup, dashboard, documents, keys, signin, topups, usage

app_name = "portal"

# Every customer page is under c/<external_id>/: the id names the customer, and a login
# that may not see it gets a 404 (portal.access).
CUSTOMER = "c/<slug:external_id>/"

urlpatterns = [
    path("", dashboard.home, name="home"),
    path("language/", set_language, name="set_language"),
    path("login/", signin.PortalLoginView.as_view(), name="login"),
    path("logout/", signin.PortalLogoutView.as_view(), name="logout"),
    path("password-reset/", signin.PortalPasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        signin.PortalPasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        signin.PortalPasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        signin.PortalPasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("finance/", include("portal.finance.urls")),
    path(CUSTOMER, dashboard.dashboard, name="dashboard"),
    path(CUSTOMER + "logo", dashboard.logo, name="logo"),
    path(CUSTOMER + "usage/", usage.usage, name="usage"),
    path(CUSTOMER + "usage.csv", usage.usage_csv, name="usage_csv"),
    path(CUSTOMER + "topup/", topups.topup, name="topup"),
    path(CUSTOMER + "topup/pay", topups.topup_pay, name="topup_pay"),
    path(CUSTOMER + "auto-topup/", auto_topup.auto_topup, name="auto_topup"),
    path(CUSTOMER + "auto-topup/card", auto_topup.card_setup, name="card_setup"),
    path(CUSTOMER + "keys/", keys.keys, name="keys"),
    path(CUSTOMER + "keys/<int:pk>/", keys.key_edit, name="key_edit"),
    path(CUSTOMER + "keys/<int:pk>/revoke", keys.key_revoke, name="key_revoke"),
    path(CUSTOMER + "documents/", documents.documents, name="documents"),
    path(CUSTOMER + "invoices/<uuid:public_id>.pdf", documents.invoice_pdf, name="invoice_pdf"),
    path(
        CUSTOMER + "credit-notes/<uuid:public_id>.pdf",
        documents.credit_note_pdf,
        name="credit_note_pdf",
    ),
    path(CUSTOMER + "receipts/<uuid:public_id>.pdf", documents.receipt_pdf, name="receipt_pdf"),
    # Stripe sends the customer back here (WALLETS_TOPUP_SUCCESS_URL and the others): the
    # session id, not the URL, says whose top-up or card it is.
    path("topups/done", topups.topup_done, name="topup_done"),
    path("topups/cancelled", topups.topup_cancelled, name="topup_cancelled"),
    path("auto-topup/card-saved", auto_topup.card_saved, name="card_saved"),
    path("auto-topup/cancelled", auto_topup.card_setup_cancelled, name="card_setup_cancelled"),
]
