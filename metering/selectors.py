"""Reads of metered usage: margin per model, customer or seller book over a period; the
upstream cost of each usage batch (settlement's draw-down)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.db import connection
from django.db.models import BigIntegerField, Count, F, Q, Sum
from django.db.models.functions import Cast, TruncDate

from metering.models import UsageRecord

# Every kind of token of a record, summed (the summaries' and finance's "tokens").
TOKENS_TOTAL = (
    F("input_tokens")
    + F("output_tokens")
    + F("cache_read_tokens")
    + F("cache_write_tokens")
    + F("reasoning_tokens")
)
# Each grouping's output keys and what they read: the API's names, never ORM paths.
GROUPINGS = {
    "model": {"provider": "provider", "model": "model"},
    "customer": {"customer": "customer"},
    "book": {"book": "seller_book__code"},
}


def usage_summary_list(
    *, group_by: str, since: datetime | None = None, until: datetime | None = None, limit: int = 100
) -> list[dict]:
    """Requests, tokens, price, cost and margin (minor units) per group, dearest first."""
    grouping = GROUPINGS[group_by]
    fields = [name for name, path in grouping.items() if name == path]
    aliases = {name: F(path) for name, path in grouping.items() if name != path}
    records = UsageRecord.objects.all()
    if since is not None:
        records = records.filter(occurred_at__gte=since)
    if until is not None:
        records = records.filter(occurred_at__lt=until)
    rows = (
        records.values(*fields, "currency", **aliases)
        .annotate(
            requests=Count("id"),
            tokens=Sum(TOKENS_TOTAL),
            price_minor=Sum("price_minor"),
            cost_minor=Sum("cost_minor"),
            margin_minor=Sum("margin_minor"),
        )
        .order_by("-price_minor")[:limit]
    )
    return [dict(row) for row in rows]


def _period_records(*, since: datetime, until: datetime):
    return UsageRecord.objects.filter(occurred_at__gte=since, occurred_at__lt=until)


def usage_margin_days_list(*, since: datetime, until: datetime):
    """Requests, price, cost and margin per UTC day and currency of the usage that occurred
    in [since, until) (the finance dashboard's chart: fewer sums than the routes' make a
    year's scan a third cheaper)."""
    return (
        _period_records(since=since, until=until)
        .annotate(day=TruncDate("occurred_at", tzinfo=UTC))
        .values("day", "currency")
        .annotate(
            requests=Count("id"),
            price=Sum("price_minor"),
            cost=Sum("cost_minor"),
            margin=Sum("margin_minor"),
        )
        .order_by()
    )


def usage_margin_routes_list(*, since: datetime, until: datetime, by_day: bool = False):
    """The usage of [since, until) per provider, model, seller book and currency (and UTC
    day): requests, tokens, price, wholesale, cost and margin. Without the day, a few
    hundred groups hash-aggregate in one scan; with it (a CSV export) a year is thousands
    of groups, sorted."""
    records = _period_records(since=since, until=until)
    by = ["provider", "model", "seller_book_id", "currency"]
    if by_day:
        records = records.annotate(day=TruncDate("occurred_at", tzinfo=UTC))
        by.insert(0, "day")
    return (
        records.values(*by)
        .annotate(
            requests=Count("id"),
            tokens=Sum(TOKENS_TOTAL),
            price=Sum("price_minor"),
            wholesale=Sum("wholesale_minor"),
            cost=Sum("cost_minor"),
            margin=Sum("margin_minor"),
        )
        .order_by()
    )


USAGE_EXPORT_CHUNK = 5000
# What a customer's members see of each record, and what only finance sees besides
# (what we and a reseller pay, and our margin).
USAGE_TENANT_FIELDS = (
    "occurred_at",
    "source",
    "event_id",
    "api_key",
    "provider",
    "model",
    "upstream_request_id",
    "authorization_id",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "currency",
    "price_minor",
)
USAGE_FINANCE_FIELDS = ("wholesale_minor", "cost_minor", "margin_minor")
_EXPORTED = ("id", *USAGE_TENANT_FIELDS, *USAGE_FINANCE_FIELDS)


def _customer_records(
    *,
    customer: str,
    since: datetime | None,
    until: datetime | None,
    model: str | None = None,
    api_key: str | None = None,
):
    records = UsageRecord.objects.filter(customer=customer)
    if since is not None:
        records = records.filter(occurred_at__gte=since)
    if until is not None:
        records = records.filter(occurred_at__lt=until)
    if model:
        records = records.filter(model=model)
    if api_key:
        records = records.filter(api_key=api_key)
    return records


def usage_records_iter(
    *,
    customer: str,
    since: datetime | None = None,
    until: datetime | None = None,
    model: str | None = None,
    api_key: str | None = None,
):
    """One customer's usage records (of one model or API key), oldest first, read in
    chunks along the (customer, occurred_at) index, so an export of a busy month streams."""
    records = _customer_records(
        customer=customer, since=since, until=until, model=model, api_key=api_key
    )
    page = records
    while True:
        ordered = page.order_by("occurred_at", "id")
        rows = list(ordered.values_list(*_EXPORTED, named=True)[:USAGE_EXPORT_CHUNK])
        yield from rows
        if len(rows) < USAGE_EXPORT_CHUNK:
            return
        last = rows[-1]
        page = records.filter(
            Q(occurred_at__gt=last.occurred_at) | Q(occurred_at=last.occurred_at, id__gt=last.id)
        )


def usage_records_recent(
    *,
    customer: str,
    since: datetime | None = None,
    until: datetime | None = None,
    model: str | None = None,
    api_key: str | None = None,
):
    """A customer's usage records, newest first, with the fields its members see (a page
    of the portal's usage table is a slice of this)."""
    records = _customer_records(
        customer=customer, since=since, until=until, model=model, api_key=api_key
    )
    return records.order_by("-occurred_at", "-id").values(*USAGE_TENANT_FIELDS)


_DAILY_FIGURES = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "price_minor",
)


def usage_daily_list(
    *,
    customer: str,
    since: datetime,
    until: datetime,
    model: str | None = None,
    api_key: str | None = None,
) -> list[dict]:
    """A customer's usage per UTC day and model (of one model or API key): requests, each
    kind of tokens apart (input, output, cache read, cache write, reasoning) and the price
    it pays, in minor units. One grouped scan along the (customer, occurred_at) index; a
    year is a few thousand rows, summed as bigint (no numeric round trip)."""
    sums = {name: Cast(Sum(name), BigIntegerField()) for name in _DAILY_FIGURES}
    rows = (
        _customer_records(customer=customer, since=since, until=until, model=model, api_key=api_key)
        .annotate(day=TruncDate("occurred_at", tzinfo=UTC))
        .values("day", "provider", "model")
        .annotate(requests=Count("id"), **sums)
        .order_by("day", "provider", "model")
    )
    return list(rows)


def usage_filter_options(
    *, customer: str, since: datetime, until: datetime
) -> tuple[list[str], list[str]]:
    """The models and the API key ids a customer's usage of a period names (the portal's
    filters), sorted."""
    pairs = (
        _customer_records(customer=customer, since=since, until=until)
        .values_list("model", "api_key")
        .distinct()
    )
    found = list(pairs)
    return sorted({model for model, _key in found}), sorted({key for _m, key in found if key})


# --- usage to invoice (invoicing.services calls this; metering owns the table) ----------

# What an invoice line is made of: one model at one price version.
_INVOICE_LINE_KEYS = ("provider", "model", "upstream_price_id")


def usage_invoice_lines_list(
    *,
    seller_book_id: int,
    customer: str | None = None,
    until: datetime,
    through_sequence: int,
    after_until: datetime | None = None,
    after_sequence: int | None = None,
    wholesale: bool = False,
) -> list[dict]:
    """Usage to invoice, summed per model and price version: the records of the seller
    book (of one customer, or of every customer when `customer` is None) that occurred
    before `until` and were booked by an event up to `through_sequence`, less those the
    previous invoice covered (before `after_until` and up to `after_sequence`).

    `wholesale`: the distributor's price to the reseller whose book `seller_book_id` is
    (wholesale_minor, by wholesale price book), instead of the customer's price
    (price_minor, by retail price book and override). Each row: provider, model,
    upstream_price_id, price_book_id, price_override_id, requests, the five token
    counts, amount_minor.
    """
    records = UsageRecord.objects.filter(
        seller_book_id=seller_book_id, occurred_at__lt=until, ledger_event_id__lte=through_sequence
    )
    if customer is not None:
        records = records.filter(customer=customer)
    if after_until is not None and after_sequence is not None:
        records = records.exclude(
            Q(occurred_at__lt=after_until) & Q(ledger_event_id__lte=after_sequence)
        )
    if wholesale:
        keys = {"price_book_id": F("wholesale_price_book_id")}
        amount = Sum("wholesale_minor")
    else:
        keys = {
            "price_book_id": F("retail_price_book_id"),
            "price_override_id": F("retail_override_id"),
        }
        amount = Sum("price_minor")
    rows = (
        records.values(*_INVOICE_LINE_KEYS, **keys)
        .annotate(
            requests=Count("id"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cache_read_tokens=Sum("cache_read_tokens"),
            cache_write_tokens=Sum("cache_write_tokens"),
            reasoning_tokens=Sum("reasoning_tokens"),
            amount_minor=amount,
        )
        .order_by("provider", "model", "upstream_price_id", *keys)
    )
    return [{"price_override_id": None, **row} for row in rows]


def usage_invoice_lines_by_customer(
    *,
    seller_book_id: int,
    until: datetime,
    through_sequence: int,
    after: dict[str, tuple[datetime, int] | None],
) -> dict[str, list[dict]]:
    """usage_invoice_lines_list (retail prices) for many customers of one seller book in
    one query: `after` maps each customer to the span its previous invoice covered
    (period end, watermark), or None. Rows per customer, in the same order and shape."""
    if not after:
        return {}
    names = sorted(after)
    sql = (
        "SELECT r.customer, r.provider, r.model, r.upstream_price_id,"
        "       r.retail_price_book_id, r.retail_override_id, count(*),"
        "       sum(r.input_tokens), sum(r.output_tokens), sum(r.cache_read_tokens),"
        "       sum(r.cache_write_tokens), sum(r.reasoning_tokens), sum(r.price_minor)"
        "  FROM metering_usagerecord r"
        "  JOIN unnest(%s::text[], %s::timestamptz[], %s::bigint[])"
        "       AS c(customer, after_until, after_sequence) ON r.customer = c.customer"
        # The ANY lets the planner read each customer's records by the (customer,
        # occurred_at) index instead of the seller book's whole month.
        " WHERE r.customer = ANY(%s) AND r.seller_book_id = %s AND r.occurred_at < %s"
        "   AND r.ledger_event_sequence <= %s"
        "   AND NOT (c.after_until IS NOT NULL AND r.occurred_at < c.after_until"
        "            AND r.ledger_event_sequence <= c.after_sequence)"
        " GROUP BY 1, 2, 3, 4, 5, 6"
        " ORDER BY 1, 2, 3, 4, 5, 6"
    )
    params = [
        names,
        [after[name][0] if after[name] else None for name in names],
        [after[name][1] if after[name] else None for name in names],
        names,
        seller_book_id,
        until,
        through_sequence,
    ]
    found: dict[str, list[dict]] = {name: [] for name in names}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for customer, *values in cursor.fetchall():
            found[customer].append(dict(zip(_LINE_COLUMNS, values, strict=True)))
    return found


_LINE_COLUMNS = (
    "provider",
    "model",
    "upstream_price_id",
    "price_book_id",
    "price_override_id",
    "requests",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "amount_minor",
)
# --- upstream cost per usage batch (settlement's draw-down) ----------------------------


def usage_batch_sequences_list(
    *, after_sequence: int, through_sequence: int, limit: int
) -> list[int]:
    """The ledger sequences of the first `limit` usage batches in (after_sequence,
    through_sequence], in order. Sequences commit in order (the chain lock), so a reader
    that has seen batch N will never see a batch before N appear later."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT ledger_event_sequence FROM metering_usagerecord"
            " WHERE ledger_event_sequence > %s AND ledger_event_sequence <= %s"
            " ORDER BY 1 LIMIT %s",
            [after_sequence, through_sequence, limit],
        )
        return [sequence for (sequence,) in cursor.fetchall()]


@dataclass(frozen=True, slots=True)
class BatchUsageCost:
    """The upstream cost and tokens of a batch's records of one seller book, currency,
    provider, model, UTC day and period between two `split_at` instants."""

    ledger_sequence: int
    seller_book_id: int
    currency: str
    provider: str
    model: str
    usage_day: date
    first_occurred_at: datetime  # every record of the group is on its side of each split
    records: int
    cost_minor: int
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def tokens(self) -> int:
        """Every kind of token, summed (as TOKENS_TOTAL)."""
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
            + self.reasoning_tokens
        )


def usage_batch_costs_list(
    *, after_sequence: int, through_sequence: int, split_at: Sequence[datetime] = ()
) -> list[BatchUsageCost]:
    """Upstream cost and tokens by kind of the usage batches in (after_sequence,
    through_sequence], summed per batch, seller book, currency, provider, model and day,
    and split at each instant of `split_at` (a commitment's start or expiry), so that a
    group's records all lie on the same side of each: the caller can judge a whole group
    by its first record. One read of the batches' records: settlement draws commitments
    down and adds its daily rollup from the same rows."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ledger_event_sequence, seller_book_id, currency, provider, model,"
            "       (occurred_at AT TIME ZONE 'UTC')::date,"
            "       min(occurred_at), count(*), sum(cost_minor), sum(input_tokens),"
            "       sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens),"
            "       sum(reasoning_tokens)"
            "  FROM metering_usagerecord"
            " WHERE ledger_event_sequence > %s AND ledger_event_sequence <= %s"
            " GROUP BY ledger_event_sequence, seller_book_id, currency, provider, model,"
            "          (occurred_at AT TIME ZONE 'UTC')::date,"
            "          width_bucket(occurred_at, %s::timestamptz[])"
            " ORDER BY 1, 2, 3, 4, 5, 7",
            [after_sequence, through_sequence, sorted(set(split_at))],
        )
        return [
            BatchUsageCost(seq, book, currency, provider, model, day, first, n, *map(int, sums))
            for seq, book, currency, provider, model, day, first, n, *sums in cursor.fetchall()
        ]


# --- daily totals and single requests (settlement's reconciliation) --------------------


@dataclass(frozen=True, slots=True)
class DailyUsageTotal:
    """The records of some usage batches of one UTC day, seller book, currency, provider
    and model, summed."""

    usage_day: date
    seller_book_id: int
    currency: str
    provider: str
    model: str
    requests: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_minor: int


def usage_daily_totals_list(*, after_sequence: int, through_sequence: int) -> list[DailyUsageTotal]:
    """Requests, tokens by kind and upstream cost of the usage batches in
    (after_sequence, through_sequence], per day, seller book, currency, provider, model:
    one read of the batches' records along the ledger-event BRIN index."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (occurred_at AT TIME ZONE 'UTC')::date, seller_book_id, currency,"
            "       provider, model, count(*), sum(input_tokens), sum(output_tokens),"
            "       sum(cache_read_tokens), sum(cache_write_tokens), sum(reasoning_tokens),"
            "       sum(cost_minor)"
            "  FROM metering_usagerecord"
            " WHERE ledger_event_sequence > %s AND ledger_event_sequence <= %s"
            " GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5",
            [after_sequence, through_sequence],
        )
        return [
            DailyUsageTotal(day, book, cur, provider, model, *(int(v) for v in sums))
            for day, book, cur, provider, model, *sums in cursor.fetchall()
        ]


@dataclass(frozen=True, slots=True)
class RequestUsage:
    """One usage record, as reconciliation compares it with a provider's per-request line."""

    event_id: str
    usage_day: date
    seller_book_id: int
    currency: str
    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_minor: int


_REQUEST_COLUMNS = (
    "SELECT event_id, (occurred_at AT TIME ZONE 'UTC')::date, seller_book_id, currency, model,"
    "       input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,"
    "       reasoning_tokens, cost_minor FROM metering_usagerecord"
)


def usage_requests_by_event_ids(
    *, provider: str, event_ids: Sequence[str], through_sequence: int
) -> list[RequestUsage]:
    """The records of a provider with these event ids (an OpenRouter generation's id is
    its record's event id), booked by an event up to `through_sequence`. OpenRouter's
    are one scan of the partial index usage_record_openrouter_id (metering 0007)."""
    if not event_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            _REQUEST_COLUMNS + " WHERE event_id = ANY(%s) AND provider = %s"
            " AND ledger_event_sequence <= %s ORDER BY event_id",
            [list(event_ids), provider, through_sequence],
        )
        return [RequestUsage(*row) for row in cursor.fetchall()]


def usage_requests_of_day(
    *,
    provider: str,
    model: str,
    day: date,
    through_sequence: int,
    excluding: Sequence[str] = (),
    limit: int = 1000,
) -> list[RequestUsage]:
    """A provider's records of one model on one UTC day booked up to `through_sequence`,
    other than `excluding`, at most `limit` (the ones a statement of requests lacks).
    OpenRouter's are read in order along usage_record_openrouter_day (metering 0007):
    at most the day's records of the model, never the table."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            _REQUEST_COLUMNS + " WHERE provider = %s AND model = %s"
            " AND occurred_at >= %s AND occurred_at < %s + interval '1 day'"
            " AND ledger_event_sequence <= %s AND NOT (event_id = ANY(%s))"
            " ORDER BY occurred_at, id LIMIT %s",
            [provider, model, start, start, through_sequence, list(excluding), limit],
        )
        return [RequestUsage(*row) for row in cursor.fetchall()]
