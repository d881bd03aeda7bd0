"""Aging of receivables and the allowance it calls for, as of any date.

Aging reads invoicing's documents (the receivable of each finalized invoice) and credit's
write-offs, each as it stood at the end of the day `as_of` (UTC): an invoice counts from
its issue until it is voided; payments, credit notes, write-offs and recoveries count
from when they were recorded. The sum over a buyer's invoices is what receivable:<buyer>
held at that moment; tests/credit/test_losses.py checks the two against each other.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection

from credit.models import BUCKETS, ProvisionMatrix
from invoicing.currencies import divide_half_even

BPS = 10_000
# The first day of each bucket past due (current: not yet due, or due today).
BUCKET_BOUNDS = ((0, "current"), (1, "d1_30"), (31, "d31_60"), (61, "d61_90"), (91, "over_90"))
BUCKET_LABELS = {
    "current": "current",
    "d1_30": "1-30",
    "d31_60": "31-60",
    "d61_90": "61-90",
    "over_90": ">90",
}


def bucket_of(days_past_due: int) -> str:
    found = BUCKETS[0]
    for first_day, bucket in BUCKET_BOUNDS:
        if days_past_due >= first_day:
            found = bucket
    return found


def day_end(as_of: date) -> datetime:
    """What `as of` a day means: everything recorded before the next day began (UTC)."""
    return datetime.combine(as_of + timedelta(days=1), time.min, tzinfo=UTC)


# One pass per table, grouped before the join, so 120,000 invoices cost a few hash joins
# instead of four correlated lookups each. Written-off and recovered amounts are credit's.
_OPEN_SQL = """
WITH paid AS (
    SELECT invoice_id, sum(applied) AS amount FROM invoicing_invoicepayment
     WHERE recorded_at < %(cut)s GROUP BY invoice_id
), credited AS (
    SELECT invoice_id, sum(to_receivable) AS amount FROM invoicing_creditnote
     WHERE issued_at < %(cut)s GROUP BY invoice_id
), written_off AS (
    SELECT invoice_id, sum(amount_minor) AS amount FROM credit_writeoff
     WHERE written_off_at < %(cut)s GROUP BY invoice_id
), recovered AS (
    SELECT w.invoice_id, sum(r.amount_minor) AS amount
      FROM credit_recovery r JOIN credit_writeoff w ON w.id = r.write_off_id
     WHERE r.recovered_at < %(cut)s GROUP BY w.invoice_id
), voided AS (
    SELECT DISTINCT invoice_id FROM invoicing_invoicestatechange
     WHERE to_state = 'void' AND at < %(cut)s
), open AS (
    SELECT i.seller_book_id, i.currency_id, i.buyer_key, i.buyer_customer_id,
           %(day)s::date - (i.due_at AT TIME ZONE 'UTC')::date AS days_past_due,
           i.total - coalesce(p.amount, 0) - coalesce(c.amount, 0)
                   - coalesce(w.amount, 0) + coalesce(r.amount, 0) AS open
      FROM invoicing_invoice i
      LEFT JOIN paid p ON p.invoice_id = i.id
      LEFT JOIN credited c ON c.invoice_id = i.id
      LEFT JOIN written_off w ON w.invoice_id = i.id
      LEFT JOIN recovered r ON r.invoice_id = i.id
     WHERE i.state <> 'draft' AND i.issued_at < %(cut)s
       AND NOT EXISTS (SELECT 1 FROM voided v WHERE v.invoice_id = i.id)
       {filters}
)
SELECT seller_book_id, currency_id, buyer_key, buyer_customer_id,
       sum(open) FILTER (WHERE days_past_due <= 0),
       sum(open) FILTER (WHERE days_past_due BETWEEN 1 AND 30),
       sum(open) FILTER (WHERE days_past_due BETWEEN 31 AND 60),
       sum(open) FILTER (WHERE days_past_due BETWEEN 61 AND 90),
       sum(open) FILTER (WHERE days_past_due > 90),
       max(days_past_due) FILTER (WHERE days_past_due > 0)
  FROM open WHERE open <> 0
 GROUP BY seller_book_id, currency_id, buyer_key, buyer_customer_id
 ORDER BY seller_book_id, currency_id, buyer_key
"""


@dataclass(frozen=True, slots=True)
class AgingRow:
    """One buyer's open receivable by bucket, in the ledger asset's units."""

    book_id: int
    currency_id: int
    buyer_key: str  # a customer's external id, or reseller:<book code>
    customer_id: int | None
    buckets: dict[str, int]
    oldest_days_past_due: int  # 0: nothing past due

    @property
    def total(self) -> int:
        return sum(self.buckets.values())

    @property
    def overdue(self) -> int:
        return self.total - self.buckets["current"]


def aging_list(
    *, as_of: date, book_id: int | None = None, customer_ids: Iterable[int] | None = None
) -> list[AgingRow]:
    """Every buyer with an open receivable at the end of `as_of`, by book and currency."""
    filters, params = "", {"cut": day_end(as_of), "day": as_of}
    if book_id is not None:
        filters += " AND i.seller_book_id = %(book)s"
        params["book"] = book_id
    if customer_ids is not None:
        filters += " AND i.buyer_customer_id = ANY(%(customers)s)"
        params["customers"] = list(customer_ids)
    with connection.cursor() as cursor:
        cursor.execute(_OPEN_SQL.format(filters=filters), params)
        rows = cursor.fetchall()
    return [
        AgingRow(
            book,
            currency,
            key,
            customer,
            {bucket: int(amount or 0) for bucket, amount in zip(BUCKETS, amounts, strict=True)},
            int(oldest or 0),
        )
        for book, currency, key, customer, *amounts, oldest in rows
    ]


@dataclass(slots=True)
class AgingTotal:
    book_id: int
    currency_id: int
    buckets: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))
    buyers: int = 0

    @property
    def total(self) -> int:
        return sum(self.buckets.values())


def aging_totals(rows: Iterable[AgingRow]) -> list[AgingTotal]:
    """The rows summed per book and currency."""
    totals: dict[tuple[int, int], AgingTotal] = {}
    for row in rows:
        key = (row.book_id, row.currency_id)
        total = totals.get(key) or totals.setdefault(key, AgingTotal(*key))
        total.buyers += 1
        for bucket, amount in row.buckets.items():
            total.buckets[bucket] += amount
    return [totals[key] for key in sorted(totals)]


def provision_matrix_in_force(*, book_id: int, on: date) -> ProvisionMatrix | None:
    """The version with the latest effective_from on or before `on`."""
    return (
        ProvisionMatrix.objects.filter(book_id=book_id, effective_from__lte=on)
        .order_by("-effective_from")
        .first()
    )


def matrix_rates_bps(matrix: ProvisionMatrix) -> dict[str, int]:
    return {bucket: getattr(matrix, f"{bucket}_bps") for bucket in BUCKETS}


@dataclass(frozen=True, slots=True)
class Allowance:
    book_id: int
    currency_id: int
    matrix_id: int
    receivable_minor: int
    allowance_minor: int
    buckets: dict  # {bucket: {"open": n, "rate_bps": r, "allowance": a}}


def allowance_of(total: AgingTotal, matrix: ProvisionMatrix) -> Allowance:
    """The matrix applied to a book's aging: per bucket, open x rate, rounded once,
    half-even, to the ledger unit; the allowance is their sum (so it ties out to the
    unit with the bucket lines finance sees)."""
    rates = matrix_rates_bps(matrix)
    lines = {}
    for bucket in BUCKETS:
        amount = total.buckets[bucket]
        rate = rates[bucket]
        lines[bucket] = {
            "open": amount,
            "rate_bps": rate,
            "allowance": divide_half_even(amount * rate, BPS, 1),
        }
    return Allowance(
        total.book_id,
        total.currency_id,
        matrix.id,
        total.total,
        sum(line["allowance"] for line in lines.values()),
        lines,
    )


def allowances_list(*, as_of: date, book_id: int | None = None) -> list[Allowance]:
    """Per book and currency with a matrix in force: the allowance the aging calls for."""
    totals = aging_totals(aging_list(as_of=as_of, book_id=book_id))
    matrices: dict[int, ProvisionMatrix | None] = {}
    found = []
    for total in totals:
        if total.book_id not in matrices:
            matrices[total.book_id] = provision_matrix_in_force(book_id=total.book_id, on=as_of)
        matrix = matrices[total.book_id]
        if matrix is not None:
            found.append(allowance_of(total, matrix))
    return found


# Standing at authorization time (credit.selectors.standing_of): which customers still
# have an invoice open that was past due when dunning last evaluated them. Only customers
# dunning holds back are asked, so the usual authorization costs no query of this.
# Settled = paid or credited (invoicing's rows, recorded in the same transaction as their
# ledger entries), or voided; a write-off made after the evaluation is not a payment
# (it stays open here until the next run re-evaluates), one made before was already out
# of what was overdue (as in aging), and a recovery reopens what its write-off closed.
_STILL_OVERDUE_SQL = """
WITH standing AS (
    SELECT * FROM unnest(%(customers)s::bigint[], %(books)s::bigint[],
                         %(evaluated)s::timestamptz[]) AS s(customer_id, book_id, evaluated_at)
), was_overdue AS (
    SELECT i.id, i.total, s.customer_id, s.evaluated_at
      FROM standing s
      JOIN invoicing_invoice i
        ON i.buyer_customer_id = s.customer_id AND i.seller_book_id = s.book_id
     WHERE i.state NOT IN ('draft', 'void') AND i.issued_at < s.evaluated_at
       AND (i.due_at AT TIME ZONE 'UTC')::date < (s.evaluated_at AT TIME ZONE 'UTC')::date
)
SELECT DISTINCT o.customer_id FROM was_overdue o
 WHERE o.total
       - coalesce((SELECT sum(p.applied) FROM invoicing_invoicepayment p
                    WHERE p.invoice_id = o.id), 0)
       - coalesce((SELECT sum(c.to_receivable) FROM invoicing_creditnote c
                    WHERE c.invoice_id = o.id), 0)
       - coalesce((SELECT sum(w.amount_minor) FROM credit_writeoff w
                    WHERE w.invoice_id = o.id AND w.written_off_at < o.evaluated_at), 0)
       + coalesce((SELECT sum(r.amount_minor) FROM credit_recovery r
                     JOIN credit_writeoff w ON w.id = r.write_off_id
                    WHERE w.invoice_id = o.id AND w.written_off_at < o.evaluated_at), 0)
       > 0
"""


@dataclass(frozen=True, slots=True)
class Evaluated:
    """A customer dunning holds back, as of its last evaluation, in its own book."""

    customer_id: int
    book_id: int
    evaluated_at: datetime


def still_overdue_customers(*, evaluated: Iterable[Evaluated]) -> set[int]:
    """Those of `evaluated` with an invoice, past due at their evaluation, still open now
    (one query; none for an empty list)."""
    evaluated = list(evaluated)
    if not evaluated:
        return set()
    params = {
        "customers": [e.customer_id for e in evaluated],
        "books": [e.book_id for e in evaluated],
        "evaluated": [e.evaluated_at for e in evaluated],
    }
    with connection.cursor() as cursor:
        cursor.execute(_STILL_OVERDUE_SQL, params)
        return {customer_id for (customer_id,) in cursor.fetchall()}
