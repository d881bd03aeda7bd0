"""Top-ups: the amount, the platform fee shown before paying, Stripe Checkout, the result.

Three steps, each a form with its CSRF token: the amount (GET), the quote (POST: the
same parsing, range and fee as the payment, payments.topups.services.topup_quote,
nothing written), then pay (POST: payments' top-up service opens the Checkout session and
the browser is sent to Stripe). Stripe sends the customer back to `topups/done` with the
session id, usually before its webhook has booked the payment: the page says so and
looks again every few seconds until the top-up is paid.
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.errors import DomainError
from invoicing.selectors import topup_receipt_get
from payments.models import TopUp
from payments.selectors import topup_list
from payments.topups import amounts as topup_amounts
from payments.topups import services as topups
from portal.access import ADD_TOPUPS, VIEW_TOPUPS, actor_of, portal_customer
from portal.formatting import money
from portal.forms import TopUpForm
from portal.messages import refusal_text
from portal.pages import render_login_page, render_page
from wallets.models import Customer
from wallets.selectors import wallet_balance_get

TOPUPS_LISTED_MAX = 20
TOPUP_STATES = {
    TopUp.State.CREATING: _("Starting"),
    TopUp.State.OPEN: _("Waiting for payment"),
    TopUp.State.PAID: _("Paid"),
    TopUp.State.EXPIRED: _("Expired unpaid"),
    TopUp.State.FAILED: _("Not started"),
}
TOPUP_SOURCES = {TopUp.Source.CHECKOUT: _("Card (Checkout)"), TopUp.Source.AUTO: _("Auto top-up")}


def topup_rows(customer: Customer, limit: int = TOPUPS_LISTED_MAX) -> list[dict]:
    return [
        {
            "topup": topup,
            "state": TOPUP_STATES[topup.state],
            "source": TOPUP_SOURCES[topup.source],
            "total_minor": topup.amount_minor + topup.fee_minor,
        }
        for topup in topup_list(customer=customer)[:limit]
    ]


def _limits_text(customer: Customer) -> dict:
    """The smallest and largest top-up, as the page shows amounts."""
    minimum, maximum = topups.topup_limits_stripe(customer.currency.code)
    unit = topup_amounts.ledger_units_per_stripe_unit(
        customer.currency.code, customer.currency.scale
    )
    code, scale = customer.currency.code, customer.currency.scale
    return {
        "minimum": money(minimum * unit, code=code, scale=scale),
        "maximum": money(maximum * unit, code=code, scale=scale),
    }


def _page(request, customer, form, *, quote=None, status=200):
    payable = customer.billing == Customer.Billing.PREPAID
    return render_page(
        request,
        "portal/topup.html",
        customer=customer,
        page="topup",
        status=status,
        context={
            "payable": payable,
            "form": form,
            "quote": quote,
            "fee_percent": topups.fee_percent(),
            "limits": _limits_text(customer) if payable else None,
            "topups": topup_rows(customer) if payable else [],
        },
    )


def _refused(form: TopUpForm, customer: Customer, error: DomainError) -> None:
    form.add_error("amount", refusal_text(error, **_limits_text(customer)))


@login_required
@require_http_methods(["GET", "POST"])
def topup(request, external_id):
    """GET: the form. POST: the quote (amount, fee, total), nothing written yet."""
    customer = portal_customer(request, external_id, VIEW_TOPUPS)
    if request.method == "GET":
        return _page(request, customer, TopUpForm())
    form = TopUpForm(request.POST)
    if not form.is_valid():
        return _page(request, customer, form, status=400)
    try:
        quote = topups.topup_quote(customer=customer, amount=form.cleaned_data["amount"])
    except DomainError as error:
        _refused(form, customer, error)
        return _page(request, customer, form, status=400)
    return _page(request, customer, form, quote=quote)


@login_required
@require_POST
def topup_pay(request, external_id):
    """Open the Checkout session and send the browser to Stripe's page."""
    customer = portal_customer(request, external_id, ADD_TOPUPS)
    form = TopUpForm(request.POST)
    if not form.is_valid():
        return _page(request, customer, form, status=400)
    try:
        created = topups.topup_checkout_create(
            customer=customer,
            amount=form.cleaned_data["amount"],
            save_card=form.cleaned_data["save_card"],
            actor=actor_of(request),
        )
    except DomainError as error:
        _refused(form, customer, error)
        return _page(request, customer, form, status=400)
    return redirect(created.checkout_url)


def _visible_topup(request, topup: TopUp | None) -> TopUp:
    if topup is None:
        raise Http404("no such top-up")
    # Tenancy as everywhere: a session id of another customer's top-up is a 404.
    portal_customer(request, topup.customer.external_id, VIEW_TOPUPS)
    return topup


@login_required
@require_GET
def topup_done(request):
    """Where Stripe sends the customer after paying (WALLETS_TOPUP_SUCCESS_URL)."""
    session_id = request.GET.get("session_id", "")
    found = (
        TopUp.objects.select_related("customer", "currency", "customer__book", "customer__currency")
        .filter(stripe_checkout_session_id=session_id)
        .first()
        if session_id
        else None
    )
    topup = _visible_topup(request, found)
    customer = topup.customer
    # Read only: invoicing issues the receipt in the transaction that books the payment
    # (or, when the seller had no billing profile yet, on its schedule).
    receipt = topup_receipt_get(topup_id=topup.pk) if topup.state == TopUp.State.PAID else None
    balance = wallet_balance_get(customer=customer)
    return render_page(
        request,
        "portal/topup_done.html",
        customer=customer,
        page="topup",
        context={
            "topup": topup,
            "state": TOPUP_STATES[topup.state],
            "total_minor": topup.amount_minor + topup.fee_minor,
            "paid": topup.state == TopUp.State.PAID,
            "waiting": topup.state in (TopUp.State.OPEN, TopUp.State.CREATING),
            "available_minor": balance.available if balance else 0,
            "receipt": receipt,
        },
    )


@login_required
@require_GET
def topup_cancelled(request):
    """Where Stripe sends the customer who left Checkout without paying."""
    return render_login_page(request, "portal/topup_cancelled.html", page="topup")
