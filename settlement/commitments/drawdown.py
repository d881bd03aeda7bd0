"""The draw-down of commitments by metered usage, and breakage at expiry: the two jobs
that lower a commitment's balance (Celery beat runs both every minute).

Draw-down. Metering books each usage batch at list price as Dr cogs:<p> / Cr
payable:<p> and is never slowed by settlement: this job follows the log afterwards.
For each usage batch after the watermark (DrawdownCursor), it sums the batch's upstream
cost and tokens per provider x model x day (metering.selectors) and books ONE event for
the batch (settlement.commitments.postings):
- a commitment covers usage of its contract's book (the distributor's: a reseller's
  usage costs the distributor), provider and currency, of a covered model (none listed:
  all), that occurred while it was active (starts_at <= occurred_at < expires_at), while
  it has money (in money) or tokens (in tokens) left and no breakage was booked for it;
- usage is drawn from the matching commitments in order of priority (lower first), then
  earliest expiry, then the oldest. A commitment in money pays the list cost less its
  contract's discount (settlement.terms); one in tokens takes the usage's tokens and
  draws their share of its price. Either way its list cost leaves payable:<p> and cogs:<p>
  moves to what the commitment paid;
- what none covers stays on payable:<p>, less the discount of the contract of that book,
  provider and currency (the most recent one when there are several): the provider
  bills it at that discount, so the discount moves from payable:<p> to cogs:<p>.
A batch is drawn once: the DrawdownBatch row is unique per metering sequence and the
event's idempotency key is `settlement:drawdown:<sequence>`; the watermark moves in the
same transaction, so a crash redoes the whole run or nothing. The same run adds its
batches to reconciliation's daily rollup (settlement.reconciliation.rollup) from the
same rows, so the rollup holds exactly the batches up to the watermark.

Breakage. Once a commitment has been expired for SETTLEMENT_BREAKAGE_GRACE_HOURS, the
job first draws every batch booked so far (usage that occurred before the expiry but
was metered late is drawn from the commitment, not lost), then writes the remainder off
once: Dr expense:breakage / Cr prepaid_capacity, and for a commitment in tokens the
tokens left to tokens_expired:<p> (key `settlement:commitment:<id>:expired`, one
Breakage row per commitment). Usage of before the expiry metered after the breakage
is not drawn from it any more: it stays on payable:<p>, which is what the provider bills
us for it once the commitment is gone (and reconciliation shows it).
"""

from collections import defaultdict
from dataclasses import dataclass, field
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
from settlement.commitments.models import (
    Breakage,
    Commitment,
    Contract,
    DrawdownBatch,
    DrawdownDiscount,
    DrawdownLine,
)
from settlement.commitments.postings import BREAKAGE_EVENT, DRAWDOWN_EVENT, drawdown_payload
from settlement.commitments.selectors import commitment_ledger_balances_get
from settlement.commitments.services import (
    BREAKAGE_ACCOUNT_CODE,
    cogs_account_code,
    payable_account_code,
    tokens_expired_account_code,
    tokens_used_account_code,
)
from settlement.reconciliation.rollup import rollup_add
from settlement.terms import list_capacity, net_of_discount, proportion, token_value

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
    events: int  # draw-down events booked (batches with covered usage or a discount)
    cost_minor: int  # their upstream cost at list
    drawn_minor: int  # money drawn from commitments
    through_sequence: int  # the watermark after the run
    caught_up: bool  # the watermark reached the log's head as this run saw it
    covered_minor: int = 0  # the list cost commitments covered
    discount_minor: int = 0  # the discount on what they did not
    tokens: int = 0  # tokens drawn from commitments in tokens


@dataclass(slots=True)
class _Open:
    """A commitment that may still be drawn, with what is left of it in this run."""

    commitment: Commitment
    remaining: int  # money, from the ledger
    tokens_left: int | None  # tokens, from the ledger; None for a commitment in money
    book_id: int
    provider: str
    currency: str
    discount_bps: int

    def covers(self, *, book_id, provider, currency, model, occurred_at) -> bool:
        c = self.commitment
        left = self.remaining if self.tokens_left is None else self.tokens_left
        return (
            left > 0
            and (book_id, provider, currency) == (self.book_id, self.provider, self.currency)
            and c.starts_at <= occurred_at < c.expires_at
            and (not c.covered_models or model in c.covered_models)
        )

    def take(self, list_left: int, tokens_left: int) -> tuple[int, int, int, int]:
        """Cover what it can of usage with `list_left` cost and `tokens_left` tokens
        still uncovered: (list cost covered, money drawn, tokens drawn, tokens covered).
        Each side of the usage is taken in proportion to the other, and the last take
        takes both sides whole."""
        if self.tokens_left is not None:
            n = min(tokens_left, self.tokens_left)
            if n == 0:
                return 0, 0, 0, 0
            c = self.commitment
            used = c.tokens - self.tokens_left
            money = token_value(c.amount_minor, c.tokens, used + n) - token_value(
                c.amount_minor, c.tokens, used
            )
            self.tokens_left -= n
            self.remaining -= money
            return proportion(list_left, n, tokens_left), money, n, n
        if list_left == 0:
            return 0, 0, 0, 0  # free usage is not the money's to cover
        capacity = list_capacity(self.remaining, self.discount_bps)
        covered = list_left if capacity is None else min(list_left, capacity)
        if covered == 0:
            return 0, 0, 0, 0
        # The take that exhausts the commitment takes what is left of it (under a unit
        # more than the exact net value), so no crumb of it is left for breakage.
        money = (
            self.remaining if covered == capacity else net_of_discount(covered, self.discount_bps)
        )
        self.remaining -= money
        return covered, money, 0, proportion(tokens_left, covered, list_left)


def _open_commitments() -> list[_Open]:
    """Commitments without breakage, in draw order, with their ledger balances."""
    commitments = (
        Commitment.objects.filter(breakage__isnull=True, account__isnull=False)
        .select_related("contract__currency", "token_account")
        .order_by("priority", "expires_at", "pk")
    )
    return [
        _Open(
            commitment,
            *commitment_ledger_balances_get(commitment=commitment),
            commitment.contract.book_id,
            commitment.contract.provider,
            commitment.contract.currency.code,
            commitment.contract.discount_bps,
        )
        for commitment in commitments
    ]


def _discount_contracts() -> dict[tuple[int, str, str], Contract]:
    """The contract whose discount applies to usage no commitment covers, per book,
    provider and currency: the most recent one (a renewal's terms replace the old)."""
    contracts = {}
    for contract in Contract.objects.select_related("currency").order_by("created_at", "pk"):
        contracts[(contract.book_id, contract.provider, contract.currency.code)] = contract
    return contracts


def _distributor_books() -> dict[int, int]:
    """Each book's distributor: the book it buys wholesale from, or itself."""
    return {
        pk: wholesale_from or pk
        for pk, wholesale_from in Book.objects.values_list("pk", "wholesale_from_id")
    }


@dataclass(slots=True)
class _Drawn:
    """One batch's draw-down, summed per (commitment, model, day) and per (contract,
    model, day) for the uncovered usage's discount."""

    lines: dict[tuple[int, str, object], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0, 0])  # list, money, tokens
    )
    discounts: dict[tuple[int, str, object], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])  # list, discount
    )
    cost: int = 0

    def total(self, index: int) -> int:
        return sum(line[index] for line in self.lines.values())


def _draw_batch(costs, open_commitments, discount_contracts, distributors) -> _Drawn:
    drawn = _Drawn()
    for cost in costs:
        book_id = distributors[cost.seller_book_id]
        drawn.cost += cost.cost_minor
        list_left, tokens_left = cost.cost_minor, cost.tokens
        for candidate in open_commitments:
            if list_left == 0 and tokens_left == 0:
                break
            if not candidate.covers(
                book_id=book_id,
                provider=cost.provider,
                currency=cost.currency,
                model=cost.model,
                occurred_at=cost.first_occurred_at,
            ):
                continue
            covered, money, tokens, tokens_covered = candidate.take(list_left, tokens_left)
            if covered or money or tokens:
                line = drawn.lines[(candidate.commitment.pk, cost.model, cost.usage_day)]
                line[0] += covered
                line[1] += money
                line[2] += tokens
            list_left -= covered
            tokens_left -= tokens_covered
        contract = discount_contracts.get((book_id, cost.provider, cost.currency))
        if list_left and contract is not None and contract.discount_bps:
            discount = list_left - net_of_discount(list_left, contract.discount_bps)
            if discount:
                row = drawn.discounts[(contract.pk, cost.model, cost.usage_day)]
                row[0] += list_left
                row[1] += discount
    return drawn


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
        rollup_add(costs=costs, distributors=distributors)
        by_batch = defaultdict(list)
        for cost in costs:
            by_batch[cost.ledger_sequence].append(cost)
        discount_contracts = _discount_contracts()
        accounts = _Accounts()
        events, batch_rows, drawn_of = [], [], {}
        for sequence in sequences:
            drawn = _draw_batch(
                by_batch[sequence], open_commitments, discount_contracts, distributors
            )
            batch_rows.append(
                DrawdownBatch(
                    metering_sequence=sequence,
                    cost_minor=drawn.cost,
                    covered_minor=drawn.total(0),
                    drawn_minor=drawn.total(1),
                    tokens=drawn.total(2),
                    discount_minor=sum(row[1] for row in drawn.discounts.values()),
                    created_at=timezone.now(),
                )
            )
            drawn_of[sequence] = drawn
            if drawn.lines or drawn.discounts:
                events.append(
                    _drawdown_event(sequence, drawn, open_commitments, discount_contracts, accounts)
                )
        appended = ledger_services.events_record_batch(events=events, actor=actor) if events else []
        ledger_sequences = {
            event.payload["metering_sequence"]: result.sequence
            for event, result in zip(events, appended, strict=True)
        }
        for row in batch_rows:
            row.ledger_sequence = ledger_sequences.get(row.metering_sequence)
        DrawdownBatch.objects.bulk_create(batch_rows)
        _lines_create(batch_rows, drawn_of)
        _advance(cursor, through)
        return DrawdownRun(
            len(sequences),
            len(events),
            sum(row.cost_minor for row in batch_rows),
            sum(row.drawn_minor for row in batch_rows),
            through,
            through >= head,
            sum(row.covered_minor for row in batch_rows),
            sum(row.discount_minor for row in batch_rows),
            sum(row.tokens for row in batch_rows),
        )


def _lines_create(batch_rows: list[DrawdownBatch], drawn_of: dict[int, _Drawn]) -> None:
    def ordered(items):
        return sorted(items, key=lambda item: str(item[0]))

    DrawdownLine.objects.bulk_create(
        [
            DrawdownLine(
                batch=row,
                commitment_id=commitment_id,
                model=model,
                usage_day=day,
                list_minor=covered,
                amount_minor=money,
                tokens=tokens,
            )
            for row in batch_rows
            for (commitment_id, model, day), (covered, money, tokens) in ordered(
                drawn_of[row.metering_sequence].lines.items()
            )
        ]
    )
    DrawdownDiscount.objects.bulk_create(
        [
            DrawdownDiscount(
                batch=row,
                contract_id=contract_id,
                model=model,
                usage_day=day,
                list_minor=uncovered,
                amount_minor=discount,
            )
            for row in batch_rows
            for (contract_id, model, day), (uncovered, discount) in ordered(
                drawn_of[row.metering_sequence].discounts.items()
            )
        ]
    )


def _advance(cursor, through: int) -> None:
    cursor.through_sequence = through
    cursor.updated_at = timezone.now()
    cursor.save(update_fields=["through_sequence", "updated_at"])


class _Accounts:
    """The payable, cogs and token accounts the draw-down posts to, made when missing
    (metering made payable and cogs when it booked the usage), looked up once a run."""

    def __init__(self):
        self._ids: dict[AccountRef, int] = {}

    def id(self, book_id: int, asset_id: int, code: str, type: str) -> int:
        ref = AccountRef(book_id, asset_id, code, type)
        if ref not in self._ids:
            self._ids[ref] = ledger_services.accounts_ensure(refs=[ref])[ref]
        return self._ids[ref]

    def payable(self, book_id, asset_id, provider) -> int:
        return self.id(book_id, asset_id, payable_account_code(provider), Account.Type.LIABILITY)

    def cogs(self, book_id, asset_id, provider) -> int:
        return self.id(book_id, asset_id, cogs_account_code(provider), Account.Type.EXPENSE)


def _drawdown_event(
    sequence: int, drawn: _Drawn, open_commitments: list[_Open], contracts, accounts: _Accounts
) -> NewEvent:
    by_id = {o.commitment.pk: o for o in open_commitments}
    per_commitment: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (commitment_id, _model, _day), values in drawn.lines.items():
        for i, value in enumerate(values):
            per_commitment[commitment_id][i] += value
    draws = []
    for commitment_id, (covered, money, tokens) in per_commitment.items():
        source = by_id[commitment_id]
        commitment = source.commitment
        book_id, asset_id = source.book_id, commitment.contract.currency_id
        draw = {
            "book": book_id,
            "asset": asset_id,
            "commitment": commitment_id,
            "payable_account": accounts.payable(book_id, asset_id, source.provider),
            "capacity_account": commitment.account_id,
            "cogs_account": accounts.cogs(book_id, asset_id, source.provider),
            "list": covered,
            "amount": money,
        }
        if commitment.token_account_id:
            token_asset = commitment.token_account.asset_id
            draw |= {
                "tokens": tokens,
                "token_asset": token_asset,
                "token_account": commitment.token_account_id,
                "tokens_used_account": accounts.id(
                    book_id,
                    token_asset,
                    tokens_used_account_code(source.provider),
                    Account.Type.EXPENSE,
                ),
            }
        draws.append(draw)
    by_contract: dict[int, int] = defaultdict(int)
    for (contract_id, _model, _day), (_uncovered, discount) in drawn.discounts.items():
        by_contract[contract_id] += discount
    contract_of = {contract.pk: contract for contract in contracts.values()}
    discounts = []
    for contract_id, amount in by_contract.items():
        contract = contract_of[contract_id]
        book_id, asset_id = contract.book_id, contract.currency_id
        discounts.append(
            {
                "book": book_id,
                "asset": asset_id,
                "contract": contract_id,
                "payable_account": accounts.payable(book_id, asset_id, contract.provider),
                "cogs_account": accounts.cogs(book_id, asset_id, contract.provider),
                "amount": amount,
            }
        )
    payload = drawdown_payload(metering_sequence=sequence, draws=draws, discounts=discounts)
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
            .select_related("contract", "token_account")
            .order_by("expires_at", "pk")[:limit]
        )
        events, rows = [], []
        for commitment in due:
            left, tokens_left = commitment_ledger_balances_get(commitment=commitment)
            rows.append(
                Breakage(
                    commitment=commitment, amount_minor=left, tokens=tokens_left, created_at=now
                )
            )
            if left > 0 or (tokens_left or 0) > 0:
                events.append(_breakage_event(commitment, left, tokens_left))
        appended = ledger_services.events_record_batch(events=events, actor=actor) if events else []
        sequences = {
            event.payload["commitment"]: result.sequence
            for event, result in zip(events, appended, strict=True)
        }
        for row in rows:
            row.ledger_sequence = sequences.get(row.commitment_id)
        Breakage.objects.bulk_create(rows)
    return BreakageRun(len(rows), sum(row.amount_minor for row in rows))


def _breakage_event(commitment: Commitment, amount: int, tokens: int | None) -> NewEvent:
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
    if tokens is not None:
        token_asset = commitment.token_account.asset_id
        payload |= {
            "tokens": tokens,
            "token_asset": token_asset,
            "token_account": commitment.token_account_id,
            "tokens_expired_account": ledger_services.account_ensure(
                book_id=contract.book_id,
                asset_id=token_asset,
                code=tokens_expired_account_code(contract.provider),
                type=Account.Type.EXPENSE,
            ).id,
        }
    return NewEvent(BREAKAGE_EVENT, payload, f"settlement:commitment:{commitment.pk}:expired")
