"""The home page of a customer: what it has, what is held, what is left."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from credit.selectors import credit_position_get
from ledger.amounts import to_minor_units
from payments.models import AutoTopUpSettings, LowBalanceAlert
from portal.access import portal_customer, portal_customers
from portal.branding import seller_profile
from portal.pages import render_page
from wallets.models import Customer, Lot
from wallets.selectors import LOT_STATUS_OPEN, lot_list, wallet_balance_get

# The lots a dashboard lists; a customer with more sees the first ones by consumption order.
LOTS_SHOWN_MAX = 20
LOT_KINDS = {
    Lot.Kind.PAID: _("Paid"),
    Lot.Kind.PROMOTIONAL: _("Promotional"),
    Lot.Kind.UNATTRIBUTED: _("Other credit"),
}


@login_required
@require_GET
def home(request):
    """The first customer this login belongs to; a page listing them when there are many."""
    customers = list(portal_customers(request)[:50])
    if len(customers) == 1:
        return redirect("portal:dashboard", customers[0].external_id)
    return render(request, "portal/choose_customer.html", {"customers": customers})


def low_balance_threshold_minor(customer: Customer) -> int:
    """Below what the dashboard warns: the customer's own low-balance alert or auto top-up
    threshold when it set one, else PORTAL_LOW_BALANCE_WARNING (major units)."""
    alert = LowBalanceAlert.objects.filter(customer=customer, enabled=True).first()
    if alert is not None:
        return alert.threshold_minor
    auto = AutoTopUpSettings.objects.filter(customer=customer, enabled=True).first()
    if auto is not None:
        return auto.threshold_minor
    return to_minor_units(settings.PORTAL_LOW_BALANCE_WARNING, customer.currency.scale)


@login_required
@require_GET
def dashboard(request, external_id):
    customer = portal_customer(request, external_id)
    found = wallet_balance_get(customer=customer)
    context = {"suspended": customer.suspended}
    if customer.billing == Customer.Billing.CREDIT:
        position = credit_position_get(customer=customer)
        context |= {
            "on_credit": True,
            "credit_limit_minor": position.credit_limit_minor,
            "exposure_minor": position.exposure_minor,
            "available_minor": position.available_minor,
            "pending_minor": found.debits_pending if found else 0,
            # Warn at a tenth of the limit left: the same signal as a prepaid wallet's.
            "low": position.available_minor * 10 < position.credit_limit_minor,
        }
    else:
        balance = found.balance if found else 0
        available = found.available if found else 0
        threshold = low_balance_threshold_minor(customer)
        context |= {
            "on_credit": False,
            "balance_minor": balance,
            "available_minor": available,
            "pending_minor": balance - available,
            "threshold_minor": threshold,
            "low": available < threshold,
        }
    lots = list(lot_list(customer=customer, status=LOT_STATUS_OPEN)[:LOTS_SHOWN_MAX])
    context["lots"] = [{"lot": lot, "kind": LOT_KINDS[lot.kind]} for lot in lots]
    return render_page(
        request, "portal/dashboard.html", customer=customer, page="dashboard", context=context
    )


@login_required
@require_GET
def logo(request, external_id):
    """The seller's logo, to its own customers only."""
    customer = portal_customer(request, external_id)
    profile = seller_profile(customer)
    if profile is None or not profile.logo.name:
        raise Http404("no logo")
    response = FileResponse(profile.logo.open("rb"))
    response["Cache-Control"] = "private, max-age=3600"
    return response
