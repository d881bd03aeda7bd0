"""Usage: spend and tokens per day and per model as SVG charts, the records in a filtered
table, and the same records as CSV."""

from datetime import UTC, datetime, time, timedelta

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from config.csv_export import csv_response, text_cell
from ledger.amounts import from_minor_units
from metering.selectors import (
    USAGE_TENANT_FIELDS,
    usage_daily_list,
    usage_filter_options,
    usage_records_iter,
    usage_records_recent,
)
from portal import charts, formatting
from portal.access import portal_customer
from portal.forms import UsageFilterForm, default_period
from portal.pages import render_page
from portal.usage import TOKEN_KINDS, usage_figures

RECORDS_PER_PAGE = 50
MODELS_CHARTED_MAX = charts.ROWS_MAX
# Chart colours per token kind (colour-blind safe, Okabe-Ito).
TOKEN_COLOURS = dict(
    zip(TOKEN_KINDS, ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00"), strict=True)
)
SPEND_COLOUR = "#2457c5"


def _token_series() -> list[charts.Series]:
    labels = {
        "input_tokens": _("Input"),
        "output_tokens": _("Output"),
        "cache_read_tokens": _("Cache read"),
        "cache_write_tokens": _("Cache write"),
        "reasoning_tokens": _("Reasoning"),
    }
    return [charts.Series(kind, labels[kind], TOKEN_COLOURS[kind]) for kind in TOKEN_KINDS]


def _period(form: UsageFilterForm) -> tuple:
    if form.is_valid():
        data = form.cleaned_data
        return data["since"], data["until"], data["model"], data["api_key"]
    since, until = default_period()
    return since, until, "", ""


def _bounds(since, until) -> tuple[datetime, datetime]:
    # Whole UTC days: the charts' days are UTC days (metering groups by them).
    return (
        datetime.combine(since, time.min, tzinfo=UTC),
        datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC),
    )


@login_required
@require_GET
def usage(request, external_id):
    customer = portal_customer(request, external_id)
    since, until = default_period()
    # Unbound (no filter asked), the form shows the default period it stands for.
    form = UsageFilterForm(request.GET or None, initial={"since": since, "until": until})
    since, until, model, api_key = _period(form)
    start, end = _bounds(since, until)
    rows = usage_daily_list(
        customer=customer.external_id, since=start, until=end, model=model, api_key=api_key
    )
    figures = usage_figures(rows, since=since, until=until)
    models, api_keys = usage_filter_options(customer=customer.external_id, since=start, until=end)
    form.options_set(models=models, api_keys=api_keys)

    currency = customer.currency

    def money(amount_minor: int) -> str:
        return formatting.money(
            amount_minor, code=currency.code, scale=currency.scale, extra_places=2
        )

    token_series = _token_series()
    spend_series = [charts.Series("price_minor", _("Spend"), SPEND_COLOUR)]
    day_columns = [
        (date_format(day, "MONTH_DAY_FORMAT"), totals.as_dict()) for day, totals in figures.days
    ]
    every_nth = max(len(day_columns) // 10, 1)
    top_models = [(name, totals.as_dict()) for name, totals in figures.models][:MODELS_CHARTED_MAX]
    chart = {
        "spend_per_day": charts.stacked_columns(
            title=_("Spend per day"),
            columns=day_columns,
            series=spend_series,
            value_text=money,
            every_nth_label=every_nth,
        ),
        "tokens_per_day": charts.stacked_columns(
            title=_("Tokens per day"),
            columns=day_columns,
            series=token_series,
            value_text=formatting.tokens,
            every_nth_label=every_nth,
        ),
        "spend_per_model": charts.horizontal_bars(
            title=_("Spend per model"), rows=top_models, series=spend_series, value_text=money
        ),
        "tokens_per_model": charts.horizontal_bars(
            title=_("Tokens per model"),
            rows=top_models,
            series=token_series,
            value_text=formatting.tokens,
        ),
    }
    records = usage_records_recent(
        customer=customer.external_id, since=start, until=end, model=model, api_key=api_key
    )
    page = Paginator(records, RECORDS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render_page(
        request,
        "portal/usage.html",
        customer=customer,
        page="usage",
        context={
            "form": form,
            "since": since,
            "until": until,
            "figures": figures,
            "chart": chart,
            "token_series": token_series,
            "records": page,
            "query": query.urlencode(),
        },
    )


@login_required
@require_GET
def usage_csv(request, external_id):
    """The records the page's filters select, every one, oldest first: the columns of the
    usage API's CSV for members (GET /api/metering/customers/<id>/usage.csv)."""
    customer = portal_customer(request, external_id)
    form = UsageFilterForm(request.GET or None)
    since, until, model, api_key = _period(form)
    start, end = _bounds(since, until)
    scale = customer.currency.scale
    amounts = [name for name in USAGE_TENANT_FIELDS if name.endswith("_minor")]

    def cell(value):
        if isinstance(value, str):
            return text_cell(value)
        return value.isoformat() if hasattr(value, "isoformat") else value

    def row(record) -> list:
        line = [cell(getattr(record, name)) for name in USAGE_TENANT_FIELDS]
        return line + [from_minor_units(getattr(record, name), scale) for name in amounts]

    records = usage_records_iter(
        customer=customer.external_id, since=start, until=end, model=model, api_key=api_key
    )
    return csv_response(
        f"usage-{customer.external_id}-{since.isoformat()}-{until.isoformat()}.csv",
        [*USAGE_TENANT_FIELDS, *(name.removesuffix("_minor") for name in amounts)],
        (row(record) for record in records),
    )
