from django.urls import include, path
from django.views.i18n import set_language

from portal.views import dashboard, signin

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
]
