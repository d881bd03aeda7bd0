"""The draw-down of commitments by metered usage, and breakage at expiry: the two jobs
that lower a commitment's balance (Celery beat runs both every minute).

Draw-down. Metering books each usage batch as Dr cogs:<p> / Cr payable:<p> and is never
slowed by settlement: this job follows the log afterwards. For each usage batch after
the watermark (DrawdownCursor), it sums the batch's upstream cost per provider x model
(metering.selectors) and books ONE event for the batch, Dr payable:<p> / Cr
prepaid_capacity:<p>:<id>, for what the commitments cover:
- a commitment covers usage of its contract's book (the distributor's: a reseller's
  usage costs the distributor), provider and currency, of a covered model (none listed:
  all), that occurred while it was active (starts_at <= occurred_at < expires_at), while
  it has a balance left and no breakage was booked for it;
- usage is drawn from the matching commitments in order of priority (lower first), then
  earliest expiry, then the oldest; what none covers stays on payable:<p>.
A batch is drawn once: the DrawdownBatch row is unique per metering sequence and the
event's idempotency key is `settlement:drawdown:<sequence>`; the watermark moves in the
same transaction, so a crash redoes the whole run or nothing. The same run adds its
batches to reconciliation's daily rollup (settlement.reconciliation.rollup), which so
holds exactly the batches up to the watermark.

Breakage. Once a commitment has been expired for SETTLEMENT_BREAKAGE_GRACE_HOURS, the
job first draws every batch booked so far (usage that occurred before the expiry but
was metered late is drawn from the commitment, not lost), then writes the remainder off
once: Dr expense:breakage / Cr prepaid_capacity (key `settlement:commitment:<id>:expired`,
one Breakage row per commitment). Usage of before the expiry metered after the breakage
is not drawn from it any more: it stays on payable:<p>, which is what the provider bills
us for it once the commitment is gone (and reconciliation shows it).
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ledger import selectors as ledger_selectors
from ledger import services as ledger_services
from ledger.models import Account, Book
from ledger.services import AccountRef, NewEvent
from metering import selectors as metering_selectors
from settlement.commitments.locks import drawdown_cursor_lock
from settlement.commitments.models import Breakage, Commitment, DrawdownBatch, DrawdownLine
from settlement.commitments.postings import BREAKAGE_EVENT, DRAWDOWN_EVENT, drawdown_payload
from settlement.commitments.services import BREAKAGE_ACCOUNT_CODE, payable_account_code
from settlement.reconciliation.rollup import rollup_add

DRAWDOWN_ACTOR = "system:settlement-drawdown"
BREAKAGE_ACTOR = "system:settlement-breakage"
BATCHES_PER_RUN_DEFAULT = 500
BREAKAGE_GRACE_HOURS_DEFAULT = 24
BREAKAGES_PER_RUN_MAX = 1000
CATCH_UP_RUNS_MAX = 1000  # before breakage: 500,000 batches at the default run size
# A run reads usage records of at most this many ledger events per batch it may draw:
# one index range, however long the log after the watermark (holds, top-ups and other
# events sit between usage batches), and the next run goes on from there.
SEQUENCES_PER_BATCH_SCANNED = 20


@dataclass(frozen=True, slots=True)
class DrawdownRun:
    batches: int  # metering batches drawn by this run
    events: int  # draw-down events booked (batches with covered usage)
    cost_minor: int  # their upstream cost
    drawn_minor: int  # of which commitments covered
    through_sequence: int  # the watermark after the run
    caught_up: bool  # the watermark reached the log's head as this run saw it


@dataclass(slots=True)
class _Open:
    """A commitment that may still be drawn, with what is left of it in this run."""

    commitment: Commitment
    remaining: int
    book_id: int
    provider: str
    currency: str

    def covers(self, *, book_id, provider, currency, model, occurred_at) -> bool:
        c = self.commitment
        return (
            self.remaining > 0
            and (book_id, provider, currency) == (self.book_id, self.provider, self.currency)
            and c.starts_at <= occurred_at < c.expires_at
            and (not c.covered_models or model in c.covered_models)
        )


def _open_commitments() -> list[_Open]:
    """Commitments without breakage, in draw order, with their ledger balance."""
    commitments = (
        Commitment.objects.filter(breakage__isnull=True, account__isnull=False)
        .select_related("contract__currency")
        .order_by("priority", "expires_at", "pk")
    )
    return [
        _Open(
            commitment,
            ledger_selectors.account_balance_get(account_id=commitment.account_id).balance,
            commitment.contract.book_id,
            commitment.contract.provider,
            commitment.contract.currency.code,
        )
        for commitment in commitments
    ]


def _distributor_books() -> dict[int, int]:
    """Each book's distributor: the book it buys wholesale from, or itself."""
    return {
        pk: wholesale_from or pk
        for pk, wholesale_from in Book.objects.values_list("pk", "wholesale_from_id")
    }


def commitments_draw_down(
    *, batches_max: int | None = None, actor: str = DRAWDOWN_ACTOR
) -> DrawdownRun:
    """Draw the commitments down by the next usage batches after the watermark, at most
    `batches_max` (SETTLEMENT_DRAWDOWN_BATCHES_PER_RUN), in one transaction."""
    batches_max = batches_max or getattr(
        settings, "SETTLEMENT_DRAWDOWN_BATCHES_PER_RUN", BATCHES_PER_RUN_DEFAULT
    )
    with ledger_services.ledger_errors(), transaction.atomic():
        cursor = drawdown_cursor_lock()
        after = cursor.through_sequence
        # Every event up to the head is committed (sequences commit in order), so the
        # watermark may move to it even past events that are not usage batches.
        head = ledger_selectors.head_sequence_get()
        scan_to = min(head, after + batches_max * SEQUENCES_PER_BATCH_SCANNED)
        sequences = metering_selectors.usage_batch_sequences_list(
            after_sequence=after, through_sequence=scan_to, limit=batches_max
        )
        through = sequences[-1] if len(sequences) == batches_max else scan_to
        if not sequences:
            if through > after:
                _advance(cursor, through)
            return DrawdownRun(0, 0, 0, 0, max(through, after), through >= head)
        open_commitments = _open_commitments()
        boundaries = {o.commitment.starts_at for o in open_commitments} | {
            o.commitment.expires_at for o in open_commitments
        }
        costs = metering_selectors.usage_batch_costs_list(
            after_sequence=cursor.through_sequence,
            through_sequence=sequences[-1],
            split_at=sorted(boundaries),
        )
        distributors = _distributor_books()
        # The same batches, once each, into reconciliation's daily rollup.
        rollup_add(
            after_sequence=cursor.through_sequence,
            through_sequence=sequences[-1],
            distributors=distributors,
        )
        by_batch = defaultdict(list)
        for cost in costs:
            by_batch[cost.ledger_sequence].append(cost)
        # Payable accounts exist (metering made them when it booked the usage).
        payables: dict[tuple[int, int, str], int] = {}
        events, batch_rows, lines_of = [], [], {}
        total_cost = total_drawn = 0
        for sequence in sequences:
            lines: dict[tuple[int, str, object], int] = defaultdict(int)
            batch_cost = 0
            for cost in by_batch[sequence]:
                book_id = distributors[cost.seller_book_id]
                batch_cost += cost.cost_minor
                left = cost.cost_minor
                for candidate in open_commitments:
                    if left == 0:
                        break
                    if not candidate.covers(
                        book_id=book_id,
                        provider=cost.provider,
                        currency=cost.currency,
                        model=cost.model,
                        occurred_at=cost.first_occurred_at,
                    ):
                        continue
                    take = min(left, candidate.remaining)
                    candidate.remaining -= take
                    left -= take
                    lines[(candidate.commitment.pk, cost.model, cost.usage_day)] += take
            drawn = sum(lines.values())
            total_cost += batch_cost
            total_drawn += drawn
            batch_rows.append(
                DrawdownBatch(
                    metering_sequence=sequence,
                    cost_minor=batch_cost,
                    drawn_minor=drawn,
                    created_at=timezone.now(),
                )
            )
            lines_of[sequence] = lines
            if drawn:
                events.append(_drawdown_event(sequence, lines, open_commitments, payables))
        appended = ledger_services.events_record_batch(events=events, actor=actor) if events else []
        ledger_sequences = {
            event.payload["metering_sequence"]: result.sequence
            for event, result in zip(events, appended, strict=True)
        }
        for row in batch_rows:
            row.ledger_sequence = ledger_sequences.get(row.metering_sequence)
        DrawdownBatch.objects.bulk_create(batch_rows)
        DrawdownLine.objects.bulk_create(
            [
                DrawdownLine(
                    batch=row,
                    commitment_id=commitment_id,
                    model=model,
                    usage_day=day,
                    amount_minor=amount,
                )
                for row in batch_rows
                for (commitment_id, model, day), amount in sorted(
                    lines_of[row.metering_sequence].items(), key=lambda item: str(item[0])
                )
            ]
        )
        _advance(cursor, through)
        return DrawdownRun(
            len(sequences), len(events), total_cost, total_drawn, through, through >= head
        )


def _advance(cursor, through: int) -> None:
    cursor.through_sequence = through
    cursor.updated_at = timezone.now()
    cursor.save(update_fields=["through_sequence", "updated_at"])


def _drawdown_event(sequence: int, lines, open_commitments: list[_Open], payables) -> NewEvent:
    by_id = {o.commitment.pk: o for o in open_commitments}
    per_commitment: dict[int, int] = defaultdict(int)
    for (commitment_id, _model, _day), amount in lines.items():
        per_commitment[commitment_id] += amount
    draws = []
    for commitment_id, amount in per_commitment.items():
        source = by_id[commitment_id]
        asset_id = source.commitment.contract.currency_id
        key = (source.book_id, asset_id, source.provider)
        if key not in payables:
            ref = AccountRef(
                source.book_id,
                asset_id,
                payable_account_code(source.provider),
                Account.Type.LIABILITY,
            )
            payables[key] = ledger_services.accounts_ensure(refs=[ref])[ref]
        draws.append(
            {
                "book": source.book_id,
                "asset": asset_id,
                "commitment": commitment_id,
                "payable_account": payables[key],
                "capacity_account": source.commitment.account_id,
                "amount": amount,
            }
        )
    payload = drawdown_payload(metering_sequence=sequence, draws=draws)
    return NewEvent(DRAWDOWN_EVENT, payload, f"settlement:drawdown:{sequence}")


def commitments_draw_down_all(
    *, batches_max: int | None = None, runs_max: int = CATCH_UP_RUNS_MAX, progress=None
) -> list[DrawdownRun]:
    """Run the draw-down until it has caught up with the log (or `runs_max` runs);
    `progress(run)` is told after each."""
    runs = []
    for _ in range(runs_max):
        run = commitments_draw_down(batches_max=batches_max)
        if run.batches:
            runs.append(run)
            if progress is not None:
                progress(run)
        if run.caught_up:
            break
    return runs


# --- breakage --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BreakageRun:
    closed: int  # commitments closed
    amount_minor: int  # written off (summed over currencies: a figure for logs)


def _grace() -> timedelta:
    hours = getattr(settings, "SETTLEMENT_BREAKAGE_GRACE_HOURS", BREAKAGE_GRACE_HOURS_DEFAULT)
    return timedelta(hours=hours)


def commitments_expire(
    *, now: datetime | None = None, actor: str = BREAKAGE_ACTOR, limit: int = BREAKAGES_PER_RUN_MAX
) -> BreakageRun:
    """Write off what is left of the commitments expired for longer than the grace, once
    each, after drawing every usage batch booked so far."""
    now = now or timezone.now()
    closing_at = now - _grace()
    if not Commitment.objects.filter(expires_at__lte=closing_at, breakage__isnull=True).exists():
        return BreakageRun(0, 0)
    commitments_draw_down_all()
    with ledger_services.ledger_errors(), transaction.atomic():
        drawdown_cursor_lock()  # no draw-down moves these balances until commit
        due = list(
            Commitment.objects.filter(
                expires_at__lte=closing_at, breakage__isnull=True, account__isnull=False
            )
            .select_related("contract")
            .order_by("expires_at", "pk")[:limit]
        )
        events, rows = [], []
        for commitment in due:
            left = ledger_selectors.account_balance_get(account_id=commitment.account_id).balance
            rows.append(Breakage(commitment=commitment, amount_minor=left, created_at=now))
            if left > 0:
                events.append(_breakage_event(commitment, left))
        appended = ledger_services.events_record_batch(events=events, actor=actor) if events else []
        sequences = {
            event.payload["commitment"]: result.sequence
            for event, result in zip(events, appended, strict=True)
        }
        for row in rows:
            row.ledger_sequence = sequences.get(row.commitment_id)
        Breakage.objects.bulk_create(rows)
    return BreakageRun(len(rows), sum(row.amount_minor for row in rows))


def _breakage_event(commitment: Commitment, amount: int) -> NewEvent:
    contract = commitment.contract
    breakage = ledger_services.account_ensure(
        book_id=contract.book_id,
        asset_id=contract.currency_id,
        code=BREAKAGE_ACCOUNT_CODE,
        type=Account.Type.EXPENSE,
    )
    payload = {
        "book": contract.book_id,
        "asset": contract.currency_id,
        "commitment": commitment.pk,
        "breakage_account": breakage.id,
        "capacity_account": commitment.account_id,
        "amount": amount,
    }
    return NewEvent(BREAKAGE_EVENT, payload, f"settlement:commitment:{commitment.pk}:expired")
