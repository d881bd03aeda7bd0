from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.health import healthz
from config.metrics import metrics_view

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/ledger/", include("ledger.urls")),
    # The credit app's views live under the customer's wallets URLs (credit-limit/).
    path("api/wallets/", include("credit.urls")),
    path("api/wallets/", include("wallets.urls")),
    # Payments' customer API keeps the /api/wallets/customers/... paths it had in wallets.
    path("api/wallets/", include("payments.urls")),
    path("api/metering/", include("metering.report_urls")),
    path("api/webhooks/", include("webhooks.urls")),
    path("api/settlement/", include("settlement.urls")),
    path("api/invoicing/", include("invoicing.urls")),
    path("api/credit/", include("credit.report_urls")),
    path("v1/", include("metering.urls")),
    path("v1/", include("wallets.gateways.urls")),
    path("v1/stripe/", include("payments.stripe.urls")),
    path("portal/", include("portal.urls")),
]
