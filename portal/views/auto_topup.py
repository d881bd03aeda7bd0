"""Auto top-up: below a threshold, the saved card is charged up to a target; the card is
saved through Stripe Checkout in setup mode (payments.auto_topup.saved_cards), never typed
in here (Stripe ids are for finance only)."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.errors import DomainError
from ledger.amounts import from_minor_units, to_minor_units
from payments.auto_topup.configuration import auto_topup_settings_set
from payments.auto_topup.saved_cards import card_setup_create, card_setup_for_session
from payments.models import AutoTopUpSettings, CardSetup
from portal.access import CHANGE_AUTO_TOPUP, VIEW_TOPUPS, actor_of, portal_customer
from portal.forms import AutoTopUpForm
from portal.messages import refusal_text
from portal.pages import render_login_page, render_page
from wallets.models import Customer


def _page(request, customer: Customer, form=None, *, status=200):
    current = AutoTopUpSettings.objects.filter(customer=customer).first()
    scale = customer.currency.scale
    if form is None:
        initial = (
            {
                "enabled": current.enabled,
                "threshold": from_minor_units(current.threshold_minor, scale),
                "target": from_minor_units(current.target_minor, scale),
            }
            if current
            else {}
        )
        form = AutoTopUpForm(initial=initial)
    has_card = bool(current and current.stripe_payment_method_id)
    return render_page(
        request,
        "portal/auto_topup.html",
        customer=customer,
        page="topup",
        status=status,
        context={
            "payable": customer.billing == Customer.Billing.PREPAID,
            "settings": current,
            "has_card": has_card,
            "form": form,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def auto_topup(request, external_id):
    if request.method == "GET":
        return _page(request, portal_customer(request, external_id, VIEW_TOPUPS))
    customer = portal_customer(request, external_id, CHANGE_AUTO_TOPUP)
    form = AutoTopUpForm(request.POST)
    if not form.is_valid():
        return _page(request, customer, form, status=400)
    scale = customer.currency.scale
    try:
        auto_topup_settings_set(
            customer=customer,
            enabled=form.cleaned_data["enabled"],
            threshold_minor=to_minor_units(form.cleaned_data["threshold"], scale),
            target_minor=to_minor_units(form.cleaned_data["target"], scale),
            actor=actor_of(request),
        )
    except DomainError as error:
        form.add_error(None, refusal_text(error))
        return _page(request, customer, form, status=400)
    return redirect("portal:auto_topup", customer.external_id)


@login_required
@require_POST
def card_setup(request, external_id):
    """Open a Checkout session in setup mode and send the browser to Stripe's page."""
    customer = portal_customer(request, external_id, CHANGE_AUTO_TOPUP)
    try:
        setup = card_setup_create(customer=customer, actor=actor_of(request))
    except DomainError as error:
        form = AutoTopUpForm()
        form.add_error(None, refusal_text(error))
        return _page(request, customer, form, status=400)
    return redirect(setup.checkout_url)


@login_required
@require_GET
def card_saved(request):
    """Where Stripe sends the customer after entering a card (WALLETS_CARD_SETUP_SUCCESS_URL)."""
    setup = card_setup_for_session(request.GET.get("session_id", ""))
    if setup is None:
        raise Http404("no such card setup")
    customer = portal_customer(request, setup.customer.external_id, VIEW_TOPUPS)
    current = AutoTopUpSettings.objects.filter(customer=customer).first()
    return render_page(
        request,
        "portal/card_saved.html",
        customer=customer,
        page="topup",
        context={
            "completed": setup.state == CardSetup.State.COMPLETED,
            "waiting": setup.state in (CardSetup.State.OPEN, CardSetup.State.CREATING),
            "settings": current,
        },
    )


@login_required
@require_GET
def card_setup_cancelled(request):
    return render_login_page(request, "portal/card_setup_cancelled.html", page="topup")
