"""API keys: create (the secret is shown once, on the answer to the POST, never stored
or shown again), revoke, spend limits and the model allow-list, through wallets' services."""

from datetime import UTC, datetime

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from config.errors import DomainError
from ledger.amounts import from_minor_units, to_minor_units
from portal.access import (
    ADD_KEYS,
    CHANGE_KEYS,
    VIEW_KEYS,
    actor_of,
    portal_api_key,
    portal_customer,
)
from portal.forms import ApiKeyForm
from portal.messages import refusal_text
from portal.pages import render_page
from wallets import services as wallets_services
from wallets.models import ApiKey, Customer
from wallets.selectors import API_KEY_PREFIX, api_key_list, api_key_spend_get

KEYS_LISTED_MAX = 100
LIMITS = (
    ("daily_limit", "daily_limit_minor"),
    ("monthly_limit", "monthly_limit_minor"),
    ("total_limit", "total_limit_minor"),
)


def _key_rows(customer: Customer) -> list[dict]:
    now = timezone.now()
    day_start = datetime(now.year, now.month, now.day, tzinfo=UTC)
    month_start = datetime(now.year, now.month, 1, tzinfo=UTC)
    rows = []
    for key in api_key_list(customer=customer).order_by("revoked_at", "-created_at")[
        :KEYS_LISTED_MAX
    ]:
        spend = api_key_spend_get(api_key_id=key.pk, day_start=day_start, month_start=month_start)
        rows.append({"key": key, "label": f"{API_KEY_PREFIX}{key.prefix}_…", "spend": spend})
    return rows


def _limits_minor(form: ApiKeyForm, customer: Customer) -> dict:
    scale = customer.currency.scale
    return {
        minor: None
        if form.cleaned_data[name] is None
        else to_minor_units(form.cleaned_data[name], scale)
        for name, minor in LIMITS
    }


def _page(request, customer, form, *, created=None, secret=None, status=200):
    response = render_page(
        request,
        "portal/keys.html",
        customer=customer,
        page="keys",
        status=status,
        context={"keys": _key_rows(customer), "form": form, "created": created, "secret": secret},
    )
    return response


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def keys(request, external_id):
    """GET: the keys and the form. POST: a new key, its secret on this answer only."""
    if request.method == "GET":
        return _page(request, portal_customer(request, external_id, VIEW_KEYS), ApiKeyForm())
    customer = portal_customer(request, external_id, ADD_KEYS)
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _page(request, customer, form, status=400)
    try:
        key, secret = wallets_services.api_key_create(
            customer=customer,
            name=form.cleaned_data["name"],
            allowed_models=form.cleaned_data["allowed_models"],
            actor=actor_of(request),
            **_limits_minor(form, customer),
        )
    except DomainError as error:
        form.add_error(None, refusal_text(error))
        return _page(request, customer, form, status=400)
    return _page(request, customer, ApiKeyForm(), created=key, secret=secret)


@login_required
@require_http_methods(["GET", "POST"])
def key_edit(request, external_id, pk):
    perm = VIEW_KEYS if request.method == "GET" else CHANGE_KEYS
    customer = portal_customer(request, external_id, perm)
    key = portal_api_key(request, customer, pk, perm)
    if key.revoked_at is not None:
        raise Http404("a revoked key cannot be changed")
    scale = customer.currency.scale
    if request.method == "GET":
        form = ApiKeyForm(
            initial={
                "name": key.name,
                "allowed_models": "\n".join(key.allowed_models),
                **{
                    name: None
                    if getattr(key, minor) is None
                    else from_minor_units(getattr(key, minor), scale)
                    for name, minor in LIMITS
                },
            }
        )
        return _edit_page(request, customer, key, form)
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _edit_page(request, customer, key, form, status=400)
    try:
        wallets_services.api_key_update(
            api_key=key,
            name=form.cleaned_data["name"],
            allowed_models=form.cleaned_data["allowed_models"],
            actor=actor_of(request),
            **_limits_minor(form, customer),
        )
    except DomainError as error:
        form.add_error(None, refusal_text(error))
        return _edit_page(request, customer, key, form, status=400)
    return redirect("portal:keys", customer.external_id)


def _edit_page(request, customer, key: ApiKey, form, *, status=200):
    return render_page(
        request,
        "portal/key_edit.html",
        customer=customer,
        page="keys",
        status=status,
        context={"key": key, "label": f"{API_KEY_PREFIX}{key.prefix}_…", "form": form},
    )


@login_required
@require_POST
def key_revoke(request, external_id, pk):
    customer = portal_customer(request, external_id, CHANGE_KEYS)
    key = portal_api_key(request, customer, pk, CHANGE_KEYS)
    wallets_services.api_key_revoke(api_key=key, actor=actor_of(request))
    return redirect("portal:keys", customer.external_id)
