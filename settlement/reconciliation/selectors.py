"""Reads of reconciliation: both sides of a comparison (the daily rollup and the
statements' lines, per request where a statement has them), runs and differences."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import NamedTuple

from django.db import connection
from django.db.models import QuerySet, Sum

from ledger.models import Book
from metering import selectors as metering_selectors
from settlement.commitments.locks import DRAWDOWN_CURSOR
from settlement.commitments.models import Contract, DrawdownCursor
from settlement.errors import DifferenceNotFound, ReconciliationNotFound
from settlement.reconciliation.matching import Totals
from settlement.reconciliation.models import (
    DailyUsageRollup,
    Difference,
    ReconciliationRun,
    TrueUp,
)
from settlement.statements.models import Statement, StatementLine

# Our records listed one by one for a day of a statement of requests that lacks them;
# past this many, the rest of the day is one difference.
REQUESTS_LISTED_MAX = 1000

Key = tuple[date, str, str]  # usage day, model, request id ("" for the whole day)
# Statements that list requests (one line per request id).
PER_REQUEST_FORMATS = [Statement.Format.OPENROUTER_GENERATIONS]
# The request id of a day and model's check of its day-level statement (OpenRouter's
# daily activity) against its statement of requests: no provider's request id looks so.
STATEMENTS_CHECK = "(daily activity)"


@dataclass(slots=True)
class Sides:
    """Everything a run compares, read at one watermark."""

    through_sequence: int
    ours: dict[Key, Totals]
    theirs: dict[Key, Totals]
    covered_days: set[date]
    trued: dict[Key, int]
    # A day and model with a statement of requests and a day-level one (or a day-level
    # one covering the day without it): (the requests summed, the day-level lines).
    statement_checks: dict[Key, tuple[Totals, Totals | None]]


def _ours_totals(requests, inputs, outputs, reads, writes, reasoning, cost) -> Totals:
    return Totals(
        requests,
        inputs + reads + writes,
        outputs + reasoning,
        inputs + outputs + reads + writes + reasoning,
        cost,
    )


def rollup_days_list(*, contract: Contract, since: date, until: date):
    """The rollup's rows of the contract's book, provider and currency, and the
    watermark they are true at, read in one statement (one snapshot)."""
    table = DailyUsageRollup._meta.db_table
    cursor_table = DrawdownCursor._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce((SELECT through_sequence FROM "
            + cursor_table
            + " WHERE name = %s), 0), r.usage_day, r.model, r.requests, r.input_tokens,"
            " r.output_tokens, r.cache_read_tokens, r.cache_write_tokens, r.reasoning_tokens,"
            " r.cost_minor FROM (SELECT 1) one LEFT JOIN "
            + table
            + " r ON r.book_id = %s AND r.provider = %s AND r.currency = %s"
            " AND r.usage_day >= %s AND r.usage_day < %s",
            [
                DRAWDOWN_CURSOR,
                contract.book_id,
                contract.provider,
                contract.currency.code,
                since,
                until,
            ],
        )
        rows = cursor.fetchall()
    through = rows[0][0] if rows else 0
    return through, [row[1:] for row in rows if row[1] is not None]


class _Line(NamedTuple):
    """What a comparison reads of a statement line (a tuple: a month of generations is
    hundreds of thousands of lines, model instances cost most of a run)."""

    usage_day: date
    model: str
    request_id: str
    kind: str
    requests: int | None
    tokens_split: bool
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    total_tokens: int | None
    cost_minor: int | None
    fx: bool


def _theirs(lines: list[_Line]) -> Totals:
    return _theirs_one(lines[0]) if len(lines) == 1 else _theirs_many(lines)


def _theirs_many(lines: list[_Line]) -> Totals:
    usage = [line for line in lines if line.kind == "usage"]
    counted = usage or [line for line in lines if line.total_tokens is not None]
    costs = [line for line in lines if line.kind == "cost" and line.cost_minor is not None]

    def total(name: str) -> int | None:
        values = [getattr(line, name) for line in counted]
        return None if not values or None in values else sum(values)

    split = bool(counted) and all(line.tokens_split for line in counted)
    inputs, outputs = total("input_tokens"), total("output_tokens")
    reads, writes = total("cache_read_tokens"), total("cache_write_tokens")
    requests = [line.requests for line in counted]
    return Totals(
        None if not requests or None in requests else sum(requests),
        None if not split or None in (inputs, reads, writes) else inputs + reads + writes,
        outputs if split else None,
        total("total_tokens"),
        sum(line.cost_minor for line in costs) if costs else None,
        split,
        any(line.fx for line in costs),
    )


def _theirs_one(line: _Line) -> Totals:
    """_theirs of one line (a request's), the same sums without the lists."""
    cost = line.cost_minor if line.kind == "cost" else None
    fx = cost is not None and line.fx
    if line.kind != "usage" and line.total_tokens is None:
        return Totals(None, None, None, None, cost, False, fx)
    split = line.tokens_split
    sides = (line.input_tokens, line.cache_read_tokens, line.cache_write_tokens)
    return Totals(
        line.requests,
        None if not split or None in sides else sum(sides),
        line.output_tokens if split else None,
        line.total_tokens,
        cost,
        split,
        fx,
    )


def _record_totals(record) -> Totals:
    return _ours_totals(
        1,
        record.input_tokens,
        record.output_tokens,
        record.cache_read_tokens,
        record.cache_write_tokens,
        record.reasoning_tokens,
        record.cost_minor,
    )


def sides_get(*, contract: Contract, since: date, until: date) -> Sides:
    through, rollup = rollup_days_list(contract=contract, since=since, until=until)
    ours: dict[Key, Totals] = {
        (day, model, ""): _ours_totals(*sums) for day, model, *sums in rollup
    }
    lines_of: dict[tuple[date, str], list[_Line]] = defaultdict(list)
    for row in (
        StatementLine.objects.filter(contract=contract, usage_day__gte=since, usage_day__lt=until)
        .order_by("pk")
        .values_list(*_Line._fields)
    ):
        line = _Line(*row)
        lines_of[(line.usage_day, line.model)].append(line)
    theirs: dict[Key, Totals] = {}
    checks: dict[Key, tuple[Totals, Totals | None]] = {}
    day_level_days = _covered(contract, since, until, per_request=False)
    distributors = _distributors()
    for (day, model), lines in lines_of.items():
        per_request = [line for line in lines if line.request_id]
        if not per_request:
            theirs[(day, model, "")] = _theirs(lines)
            continue
        # A statement of requests: compared request by request (day-level lines of the
        # same day and model, e.g. daily activity, would count the same usage again);
        # the day-level statement is checked against the requests' sum instead.
        day_level = [line for line in lines if not line.request_id]
        if day_level or day in day_level_days:
            checks[(day, model, STATEMENTS_CHECK)] = (
                _theirs(per_request),
                _theirs(day_level) if day_level else None,
            )
        day_total = ours.pop((day, model, ""), None)
        by_id: dict[str, list[_Line]] = defaultdict(list)
        for line in per_request:
            by_id[line.request_id].append(line)
        for request_id, request_lines in by_id.items():
            theirs[(day, model, request_id)] = _theirs(request_lines)
        request_ids = sorted(by_id)
        matched = _requests_ours(contract, request_ids, through, ours, day, model, distributors)
        if day_total is not None and day_total.requests > len(matched):
            _unlisted_ours(
                contract, day, model, request_ids, through, ours, day_total, matched, distributors
            )
    return Sides(
        through,
        ours,
        theirs,
        _covered(contract, since, until),
        _trued(contract, since, until),
        checks,
    )


def _distributors() -> dict[int, int]:
    return {pk: parent or pk for pk, parent in Book.objects.values_list("pk", "wholesale_from_id")}


def _mine(contract: Contract, record, distributors) -> bool:
    book = distributors.get(record.seller_book_id, record.seller_book_id)
    return book == contract.book_id and record.currency == contract.currency.code


def _requests_ours(contract, request_ids, through, ours, day, model, distributors) -> list[Key]:
    """Our records of the statement's request ids (one indexed lookup per day and
    model), put in `ours`; their keys."""
    found: list[Key] = []
    for record in metering_selectors.usage_requests_by_event_ids(
        provider=contract.provider, event_ids=request_ids, through_sequence=through
    ):
        if _mine(contract, record, distributors):
            # Keyed by the statement's day and model: a record of another day or model
            # under the same id is still this request (the difference says how).
            key = (day, model, record.event_id)
            ours[key] = _record_totals(record)
            found.append(key)
    return found


def _unlisted_ours(
    contract, day, model, request_ids, through, ours, day_total, matched, distributors
) -> None:
    records = metering_selectors.usage_requests_of_day(
        provider=contract.provider,
        model=model,
        day=day,
        through_sequence=through,
        excluding=request_ids,
        limit=REQUESTS_LISTED_MAX,
    )
    listed = [r for r in records if _mine(contract, r, distributors)]
    for record in listed:
        ours[(day, model, record.event_id)] = _record_totals(record)
    if len(records) == REQUESTS_LISTED_MAX:
        # The rest of the day, summed: the day's total less every request listed (the
        # ones matched and the ones unlisted, this day's and model's keys only).
        others = [ours[key] for key in matched] + [_record_totals(r) for r in listed]
        ours[(day, model, "")] = Totals(
            day_total.requests - sum(o.requests for o in others),
            day_total.input_side - sum(o.input_side for o in others),
            day_total.output_side - sum(o.output_side for o in others),
            day_total.total_tokens - sum(o.total_tokens for o in others),
            day_total.cost_minor - sum(o.cost_minor for o in others),
        )


def _covered(
    contract: Contract, since: date, until: date, *, per_request: bool | None = None
) -> set[date]:
    """The days statements speak for; `per_request` False: only statements by day."""
    statements = Statement.objects.filter(
        contract=contract, period_start__lt=until, period_end__gt=since
    )
    if per_request is False:
        statements = statements.exclude(format__in=PER_REQUEST_FORMATS)
    days: set[date] = set()
    for start, end in statements.values_list("period_start", "period_end"):
        day = max(start, since)
        while day < min(end, until):
            days.add(day)
            day += timedelta(days=1)
    return days


def _trued(contract: Contract, since: date, until: date) -> dict[Key, int]:
    return {
        (day, model, request_id): int(total)
        for day, model, request_id, total in TrueUp.objects.filter(
            contract=contract, usage_day__gte=since, usage_day__lt=until
        )
        .values_list("usage_day", "model", "request_id")
        .annotate(total=Sum("amount_minor"))
    }


# --- runs and differences --------------------------------------------------------------


def reconciliation_list(*, contract_id: int | None = None) -> QuerySet[ReconciliationRun]:
    runs = ReconciliationRun.objects.select_related("contract__currency").order_by("-pk")
    if contract_id is not None:
        runs = runs.filter(contract_id=contract_id)
    return runs


def reconciliation_get(*, run_id: int) -> ReconciliationRun:
    run = reconciliation_list().filter(pk=run_id).first()
    if run is None:
        raise ReconciliationNotFound(f"reconciliation {run_id} does not exist")
    return run


def difference_list(*, run: ReconciliationRun) -> QuerySet[Difference]:
    return (
        Difference.objects.filter(run=run)
        .select_related("true_up")
        .order_by("usage_day", "model", "request_id", "pk")
    )


def difference_get(*, difference_id: int) -> Difference:
    difference = (
        Difference.objects.select_related("contract__currency", "true_up")
        .filter(pk=difference_id)
        .first()
    )
    if difference is None:
        raise DifferenceNotFound(f"difference {difference_id} does not exist")
    return difference


def difference_true_up(difference: Difference) -> TrueUp | None:
    try:
        return difference.true_up
    except Difference.true_up.RelatedObjectDoesNotExist:
        return None
