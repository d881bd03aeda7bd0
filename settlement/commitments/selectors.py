"""Reads of contracts and commitments: live balances (from the ledger), draw-downs, the
forecast of each commitment's run-out against its expiry, and the upstream savings the
draw-down booked (what cogs:<provider> is below the usage's list cost)."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import QuerySet, Sum, Value
from django.utils import timezone

from ledger import selectors as ledger_selectors
from settlement.commitments.models import (
    Commitment,
    Contract,
    DrawdownDiscount,
    DrawdownLine,
)
from settlement.errors import CommitmentNotFound, ContractNotFound

FORECAST_DAYS_DEFAULT = 7
FORECAST_STATUSES = ("pending", "active", "expired", "closed")
FORECAST_DAYS_MAX = 366
_DAY_S = 86_400


def contract_list() -> QuerySet[Contract]:
    return Contract.objects.select_related("book", "currency").order_by("provider", "pk")


def contract_get(*, contract_id: int) -> Contract:
    contract = contract_list().filter(pk=contract_id).first()
    if contract is None:
        raise ContractNotFound(f"contract {contract_id} does not exist")
    return contract


def commitment_list(
    *, contract_id: int | None = None, provider: str | None = None
) -> QuerySet[Commitment]:
    commitments = Commitment.objects.select_related(
        "contract__currency", "contract__book", "breakage"
    ).order_by("contract__provider", "priority", "expires_at", "pk")
    if contract_id is not None:
        commitments = commitments.filter(contract_id=contract_id)
    if provider is not None:
        commitments = commitments.filter(contract__provider=provider)
    return commitments


def commitment_get(*, commitment_id: int) -> Commitment:
    commitment = commitment_list().filter(pk=commitment_id).first()
    if commitment is None:
        raise CommitmentNotFound(f"commitment {commitment_id} does not exist")
    return commitment


@dataclass(frozen=True, slots=True)
class CommitmentBalance:
    amount_minor: int  # bought (the price paid)
    drawn_minor: int  # paid for covered usage
    breakage_minor: int  # written off at expiry
    remaining_minor: int  # the ledger's balance of prepaid_capacity:<p>:<id>
    covered_minor: int = 0  # the list cost of the usage it covered
    # In tokens (None for a commitment in money): bought, drawn, written off, and the
    # ledger's balance of prepaid_tokens:<p>:<id>.
    tokens: int | None = None
    tokens_drawn: int | None = None
    tokens_breakage: int | None = None
    tokens_remaining: int | None = None


def commitment_ledger_balances_get(*, commitment: Commitment) -> tuple[int, int | None]:
    """What the ledger holds of a commitment: its money (prepaid_capacity:<p>:<id>; 0
    before the purchase made the account) and, for one in tokens, its tokens
    (prepaid_tokens:<p>:<id>; None for one in money)."""
    money = (
        ledger_selectors.account_balance_get(account_id=commitment.account_id).balance
        if commitment.account_id
        else 0
    )
    tokens = (
        ledger_selectors.account_balance_get(account_id=commitment.token_account_id).balance
        if commitment.token_account_id
        else None
    )
    return money, tokens


def commitment_balance_get(*, commitment: Commitment) -> CommitmentBalance:
    sums = commitment.draws.aggregate(
        drawn=Sum("amount_minor"), covered=Sum("list_minor"), tokens=Sum("tokens")
    )
    breakage = commitment.breakage if _has_breakage(commitment) else None
    in_tokens = commitment.tokens is not None
    money_left, tokens_left = commitment_ledger_balances_get(commitment=commitment)
    return CommitmentBalance(
        commitment.amount_minor,
        sums["drawn"] or 0,
        breakage.amount_minor if breakage else 0,
        money_left,
        sums["covered"] or 0,
        commitment.tokens,
        (sums["tokens"] or 0) if in_tokens else None,
        ((breakage.tokens or 0) if breakage else 0) if in_tokens else None,
        (tokens_left or 0) if in_tokens else None,
    )


def commitment_drawdowns_list(*, commitment: Commitment) -> QuerySet[DrawdownLine]:
    """What the commitment covered, per metering batch, model and usage day, newest first."""
    return (
        DrawdownLine.objects.filter(commitment=commitment)
        .select_related("batch")
        .order_by("-batch__metering_sequence", "pk")
    )


@dataclass(frozen=True, slots=True)
class Forecast:
    commitment: Commitment
    status: str  # "pending" (not started), "active", "expired", "closed" (breakage booked)
    remaining_minor: int
    window_days: int
    drawn_in_window_minor: int
    burn_per_day_minor: int  # the window's draw-down per day, rounded down
    run_out_at: datetime | None  # at this burn rate; None when nothing burns
    expected_breakage_minor: int  # left at expiry at this burn rate
    shortfall_at: datetime | None  # run-out before expiry: usage then goes to payable
    # A commitment in tokens: what is left of them. Its money burns with its tokens
    # (each token is worth its share of the price), so the projection above holds.
    tokens_remaining: int | None = None


def commitment_forecast(
    *, commitment: Commitment, days: int = FORECAST_DAYS_DEFAULT, now: datetime | None = None
) -> Forecast:
    """Burn rate from the last `days` whole UTC days of draw-down (by the day the usage
    occurred, today excluded; fewer when the commitment started since), projected from
    now: the run-out date, and against the expiry either the expected breakage or the
    date of the shortfall. Integer arithmetic on minor units throughout."""
    assert days >= 1, "a burn rate needs a window of at least one day"
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    # Not before the commitment started: a young commitment's rate is over its own days.
    window_start: date = max(
        today - timedelta(days=days), commitment.starts_at.astimezone(UTC).date()
    )
    window_days = (today - window_start).days
    drawn = (
        DrawdownLine.objects.filter(
            commitment=commitment, usage_day__gte=window_start, usage_day__lt=today
        ).aggregate(total=Sum("amount_minor"))["total"]
        or 0
    )
    balance = commitment_balance_get(commitment=commitment)
    remaining = balance.remaining_minor
    window_s = max(window_days, 1) * _DAY_S
    if _has_breakage(commitment):
        status = "closed"
    elif now >= commitment.expires_at:
        status = "expired"
    elif now < commitment.starts_at:
        status = "pending"
    else:
        status = "active"
    run_out_at = shortfall_at = None
    expected_breakage = remaining if status in ("pending", "active", "expired") else 0
    if status in ("pending", "active"):
        start = max(now, commitment.starts_at)
        usable_s = int((commitment.expires_at - start).total_seconds())
        if drawn > 0 and window_days > 0:
            run_out_at = start + timedelta(seconds=-(-remaining * window_s // drawn))
            burned_by_expiry = drawn * usable_s // window_s
            expected_breakage = max(0, remaining - burned_by_expiry)
            if run_out_at < commitment.expires_at:
                shortfall_at = run_out_at
    return Forecast(
        commitment,
        status,
        remaining,
        window_days,
        drawn,
        drawn // window_days if window_days > 0 else 0,
        run_out_at,
        expected_breakage,
        shortfall_at,
        balance.tokens_remaining,
    )


def commitment_closed(commitment: Commitment) -> bool:
    """Breakage was booked: the commitment draws no more."""
    return _has_breakage(commitment)


def _has_breakage(commitment: Commitment) -> bool:
    try:
        return commitment.breakage is not None
    except Commitment.breakage.RelatedObjectDoesNotExist:
        return False


def commitment_forecasts_list(
    *, days: int = FORECAST_DAYS_DEFAULT, provider: str | None = None, now: datetime | None = None
) -> list[Forecast]:
    return [
        commitment_forecast(commitment=commitment, days=days, now=now)
        for commitment in commitment_list(provider=provider)
    ]


# --- upstream savings -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UpstreamSavings:
    """What the draw-down took off the list cost metering booked to cogs:<provider>, for
    usage of one distributor book, currency and provider (and model and day, when asked):
    `discounts_minor` the contract's discount on usage no commitment covered (the
    DrawdownDiscount rows), `commitments_minor` list less money drawn from commitments in
    money, `token_packs_minor` list less money drawn from commitments in tokens (below
    zero when the pack's tokens are dearer than list)."""

    book_id: int
    currency: str  # the asset code
    provider: str
    model: str | None
    usage_day: date | None
    list_minor: int  # list cost of the drawn usage (covered and discounted)
    discounts_minor: int
    commitments_minor: int
    token_packs_minor: int

    @property
    def savings_minor(self) -> int:
        """How far cogs:<provider> is below the list cost: the three summed."""
        return self.discounts_minor + self.commitments_minor + self.token_packs_minor


def upstream_savings_list(
    *, since: date, until: date, by_model: bool = False, by_day: bool = False
) -> list[UpstreamSavings]:
    """The upstream savings of the usage that occurred from day `since` to day `until`
    (both included, UTC), per distributor book x currency x provider, and per model and
    usage day when asked. Only drawn batches count: usage after the draw-down's
    watermark is still at list in the ledger too, so these and cogs:<provider> agree at
    any time.

    One read of the contracts and commitments, then one of DrawdownLine per commitment
    and DrawdownDiscount per contract, grouped (a UNION ALL; their (commitment|contract,
    usage_day) indexes, skip-scanned by the day range), without joins: the few
    commitments and contracts are mapped to their book, currency and provider here.
    Grouping by the joined text columns made PostgreSQL sort every line of the period
    (ten times the cost of reading them, benchmarks/savings_bench.py)."""
    keys = [k for k, wanted in (("model", by_model), ("usage_day", by_day)) if wanted]
    # Every contract with each of its commitments (a contract without any: once, None).
    terms, of_commitment = {}, {}
    contracts = Contract.objects.values_list(
        "pk", "book_id", "currency__code", "provider", "commitments__pk", "commitments__tokens"
    )
    for contract_id, book_id, currency, provider, commitment_id, tokens in contracts:
        terms[contract_id] = (book_id, currency, provider)
        if commitment_id is not None:
            of_commitment[commitment_id] = (terms[contract_id], tokens is not None)
    # One round trip: the lines per commitment (kind 0) and the discounts per contract
    # (kind 1), each grouped by the keys asked for.
    lines = (
        DrawdownLine.objects.filter(usage_day__gte=since, usage_day__lte=until)
        .values("commitment_id", *keys)
        .annotate(list=Sum("list_minor"), less=Sum("amount_minor"), kind=Value(0))
        .order_by()
    )
    discounts = (
        DrawdownDiscount.objects.filter(usage_day__gte=since, usage_day__lte=until)
        .values("contract_id", *keys)
        .annotate(list=Sum("list_minor"), less=Sum("amount_minor"), kind=Value(1))
        .order_by()
    )
    found: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in lines.union(discounts, all=True):
        if row["kind"] == 0:
            group, in_tokens = of_commitment[row["commitment_id"]]
            # list less drawn: what a commitment in money or in tokens saved
            saved, index = row["list"] - row["less"], 3 if in_tokens else 2
        else:
            # the union names the contract's id as the lines' first column
            group, saved, index = terms[row["commitment_id"]], row["less"], 1
        sums = found[group + tuple(row[k] for k in keys)]
        sums[0] += row["list"]
        sums[index] += saved
    return [
        UpstreamSavings(
            key[0],
            key[1],
            key[2],
            key[3] if by_model else None,
            key[-1] if by_day else None,
            *sums,
        )
        for key, sums in sorted(found.items(), key=lambda item: tuple(map(str, item[0])))
    ]
