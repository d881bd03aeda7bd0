"""The daily usage rollup: what reconciliation reads instead of the usage records.

The draw-down job calls `rollup_add` for the usage batches it draws, in its transaction
and under its watermark lock (settlement.commitments.drawdown), so the rollup holds the
records of exactly the batches up to DrawdownCursor.through_sequence, each once: a
crash redoes the batches and their rollup together or neither. No read of its own: it
sums the rows the draw-down read for the batches (metering.selectors.
usage_batch_costs_list: per batch x day x book x currency x provider x model) and
writes them in one upsert; a month of usage is ~30 x models rows per provider, however
many requests.
A reseller's usage is its distributor's cost: rows are keyed by the distributor's book.
"""

from collections import defaultdict
from collections.abc import Sequence

from django.db import connection

from metering import selectors as metering_selectors
from settlement.reconciliation.models import DailyUsageRollup

_SUMS = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_minor",
)


def rollup_add(
    *, costs: Sequence[metering_selectors.BatchUsageCost], distributors: dict[int, int]
) -> int:
    """Add the usage batches whose every row is in `costs` to the rollup; returns the
    rows touched. The caller holds the draw-down's watermark lock."""
    sums: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(_SUMS))
    for t in costs:
        key = (t.usage_day, distributors.get(t.seller_book_id, t.seller_book_id), t.provider)
        row = sums[(*key, t.model, t.currency)]
        for i, name in enumerate(_SUMS):
            # a cost row's records are its requests
            row[i] += getattr(t, "records" if name == "requests" else name)
    if not sums:
        return 0
    keys = sorted(sums)
    columns = [list(column) for column in zip(*keys, strict=True)]
    values = [list(column) for column in zip(*(sums[k] for k in keys), strict=True)]
    table = DailyUsageRollup._meta.db_table
    sum_columns = ", ".join(_SUMS)
    updates = ", ".join(f"{name} = {table}.{name} + EXCLUDED.{name}" for name in _SUMS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (usage_day, book_id, provider, model, currency, {sum_columns})"
            " SELECT * FROM unnest(%s::date[], %s::bigint[], %s::text[], %s::text[], %s::text[],"
            "   %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[],"
            "   %s::bigint[], %s::bigint[])"
            " ON CONFLICT (book_id, provider, currency, usage_day, model)"
            f" DO UPDATE SET {updates}",
            [*columns, *values],
        )
    return len(keys)
