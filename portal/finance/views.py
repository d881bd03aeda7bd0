"""The finance dashboard: capital pressure on one page, and its margin CSV.

Finance logins only (the finance role's ledger permission, as the ledger's API asks):
anyone else signed in gets 403, a visitor the sign-in page. Thin views: the figures
are portal.finance.selectors'; these pick the period and lay the numbers out.
"""

from dataclasses import dataclass

from django import forms
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from config.csv_export import csv_response, text_cell
from credit.models import BUCKETS
from ledger.amounts import from_minor_units
from portal.finance import selectors

FINANCE_PERMISSION = "ledger.view_entry"  # ledger.permissions.CanReadLedger's
CHART_HEIGHT = 120  # px of the per-day bars
CHART_BAR_WIDTH = 12
# The per-day table lists the most recent days (the chart has the whole period; the
# margin CSV every day): a year of rows would cost more to render than to compute.
DAY_ROWS_MAX = 31


# The pricing's token types (pricing.rating.TOKEN_TYPES) as the page names them.
TOKEN_TYPE_LABELS = {
    "input": _("input"),
    "output": _("output"),
    "cache_read": _("cache read"),
    "cache_write": _("cache write"),
    "reasoning": _("reasoning"),
}
# credit's aging buckets (credit.models.BUCKETS) as the page names them.
BUCKET_LABELS = {
    "current": _("Not yet due"),
    "d1_30": _("1–30 days overdue"),
    "d31_60": _("31–60 days overdue"),
    "d61_90": _("61–90 days overdue"),
    "over_90": _("Over 90 days overdue"),
}
PERIOD_LABELS = {
    7: _("Last 7 days"),
    30: _("Last 30 days"),
    90: _("Last 90 days"),
    365: _("Last 365 days"),
}


class PeriodForm(forms.Form):
    days = forms.TypedChoiceField(label=_("Period"), coerce=int)

    def __init__(self, *args, choices=selectors.PERIOD_DAYS_CHOICES, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["days"].choices = [(days, PERIOD_LABELS[days]) for days in choices]


def _period_days(request, choices=selectors.PERIOD_DAYS_CHOICES) -> tuple[PeriodForm, int]:
    """The period asked for; anything else is the default (a GET form, nothing to refuse)."""
    form = PeriodForm(request.GET or None, choices=choices)
    if form.is_bound and form.is_valid():
        return form, form.cleaned_data["days"]
    default = selectors.PERIOD_DAYS_DEFAULT
    return PeriodForm(initial={"days": default}, choices=choices), default


@dataclass(frozen=True, slots=True)
class Bar:
    x: int
    y: int
    height: int
    negative: bool
    # The bar's tooltip: the day and the exact margin (a decimal string, the same in
    # every language); the table and the CSV have the formatted amounts.
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    code: str
    width: int
    height: int
    axis_y: int
    bars: list[Bar]
    first: selectors.MarginRow
    last: selectors.MarginRow


def _charts(per_day: list[selectors.MarginRow]) -> list[Chart]:
    """Margin after upstream savings per day (revenue less the ledger's cogs: what the
    day really earned) as bars, one chart per currency, in whole pixels from the integer
    margins: the chart spans the highest margin to the lowest loss (zero included), the
    axis where zero falls."""
    by_currency: dict[str, list[selectors.MarginRow]] = {}
    for row in per_day:
        by_currency.setdefault(row.code, []).append(row)
    charts = []
    for code, rows in by_currency.items():
        top = max(0, *(row.sums.margin_after_savings_minor for row in rows))
        bottom = min(0, *(row.sums.margin_after_savings_minor for row in rows))
        span = (top - bottom) or 1
        axis_y = CHART_HEIGHT * top // span
        bars = []
        for n, row in enumerate(rows):
            margin = row.sums.margin_after_savings_minor
            height = max(1, abs(margin) * CHART_HEIGHT // span) if margin else 0
            y = axis_y - height if margin >= 0 else axis_y
            label = f"{row.key[0].isoformat()}: {from_minor_units(margin, row.scale)} {code}"
            bars.append(Bar(n * CHART_BAR_WIDTH, y, height, margin < 0, label))
        charts.append(
            Chart(code, len(rows) * CHART_BAR_WIDTH, CHART_HEIGHT, axis_y, bars, rows[0], rows[-1])
        )
    return charts


@require_GET
@login_required
@permission_required(FINANCE_PERMISSION, raise_exception=True)
def finance_dashboard(request):
    form, days = _period_days(request)
    dashboard = selectors.finance_dashboard_get(now=timezone.now(), period_days=days)
    return render(
        request,
        "portal/finance/dashboard.html",
        {
            "page": "finance",
            "form": form,
            "dashboard": dashboard,
            "charts": _charts(dashboard.margins.per_day),
            "below_cost": [
                (m, TOKEN_TYPE_LABELS.get(m.token_type, m.token_type))
                for m in dashboard.prices_below_cost
            ],
            "day_rows": dashboard.margins.per_day[-DAY_ROWS_MAX:],
            "bucket_labels": [BUCKET_LABELS[bucket] for bucket in BUCKETS],
            "days_hidden": max(0, len(dashboard.margins.per_day) - DAY_ROWS_MAX),
        },
    )


MARGIN_CSV_HEADER = (
    "day",
    "book",
    "provider",
    "model",
    "currency",
    "requests",
    "tokens",
    "price",
    "price_minor",
    "wholesale",
    "wholesale_minor",
    "cost",
    "cost_minor",
    "margin",
    "margin_minor",
    # Added after the columns above (a reader of the old ones is unaffected): what the
    # draw-down took off the list cost, and the margin on what the usage really cost.
    "upstream_savings",
    "upstream_savings_minor",
    "margin_after_savings",
    "margin_after_savings_minor",
)


@require_GET
@login_required
@permission_required(FINANCE_PERMISSION, raise_exception=True)
def margin_csv(request):
    """The period's margin per usage day, seller book and model, at list cost and after
    the upstream savings: exact decimal strings beside the integers in the currency's
    minor units (config/csv_export.py)."""
    _form, days = _period_days(request, selectors.EXPORT_DAYS_CHOICES)
    since, until = selectors.period_bounds(now=timezone.now(), days=days)

    def rows():
        for row in selectors.margin_export_rows(since=since, until=until):
            day, book, provider, model, currency, scale, requests, tokens, *amounts = row
            money = []
            for amount in amounts:
                money += [None if amount is None else from_minor_units(amount, scale), amount]
            yield [
                day.isoformat(),
                text_cell(book),
                text_cell(provider),
                text_cell(model),
                text_cell(currency),
                requests,
                tokens,
                *money,
            ]

    return csv_response(f"margin-{since.date().isoformat()}-{days}d.csv", MARGIN_CSV_HEADER, rows())
