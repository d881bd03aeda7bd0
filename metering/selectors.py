"""Reads of metered usage: margin per model, customer or seller book over a period."""

from datetime import datetime

from django.db.models import Count, F, Sum

from metering.models import UsageRecord

GROUPINGS = {
    "model": ("provider", "model"),
    "customer": ("customer",),
    "book": ("seller_book__code",),
}


def usage_summary_list(
    *, group_by: str, since: datetime | None = None, until: datetime | None = None, limit: int = 100
) -> list[dict]:
    """Requests, tokens, price, cost and margin (minor units) per group, dearest first."""
    fields = GROUPINGS[group_by]
    records = UsageRecord.objects.all()
    if since is not None:
        records = records.filter(occurred_at__gte=since)
    if until is not None:
        records = records.filter(occurred_at__lt=until)
    rows = (
        records.values(*fields, "currency")
        .annotate(
            requests=Count("id"),
            tokens=Sum(
                F("input_tokens")
                + F("output_tokens")
                + F("cache_read_tokens")
                + F("cache_write_tokens")
                + F("reasoning_tokens")
            ),
            price_minor=Sum("price_minor"),
            cost_minor=Sum("cost_minor"),
            margin_minor=Sum("margin_minor"),
        )
        .order_by("-price_minor")[:limit]
    )
    return [dict(row) for row in rows]
