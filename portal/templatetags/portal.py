"""Template filters: `{{ amount_minor|money:customer }}` and `{{ count|tokens }}`."""

from django import template
from django.utils.html import format_html

from portal import formatting

register = template.Library()


def _money(amount_minor, currency, extra_places: int):
    if amount_minor is None:
        return "—"
    text = formatting.money(
        amount_minor, code=currency.code, scale=currency.scale, extra_places=extra_places
    )
    exact = formatting.exact(amount_minor, code=currency.code, scale=currency.scale)
    return format_html('<span class="money" title="{}">{}</span>', exact, text)


@register.filter
def money(amount_minor, currency):
    """An amount in the currency's minor unit (the asset is `customer.currency`)."""
    return _money(amount_minor, currency, 0)


@register.filter
def money_fine(amount_minor, currency):
    """Usage amounts: two decimals more than the currency's minor unit."""
    return _money(amount_minor, currency, 2)


@register.filter
def tokens(count):
    return "—" if count is None else formatting.tokens(count)
