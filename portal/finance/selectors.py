"""What the finance dashboard shows, composed from the other apps' reads.

Every balance comes from the ledger (`ledger.selectors`), every forecast from
settlement's (`settlement.commitments.selectors`), margins from metering's usage
records (`metering.selectors.usage_margin_*`), whose sums the ledger's usage postings
are made of (metering/postings.py), at list cost; the upstream savings from settlement's
draw-down (`upstream_savings_list`), which moved cogs:<provider> below list by exactly
them: so each figure here ties out to the ledger to the unit, and carries the address
of the ledger statement (or balances list) behind it.
Amounts stay integers in the asset's scale; the template turns them into text.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from django.urls import reverse

from credit.losses import selectors as loss_selectors
from credit.models import BUCKETS
from ledger import selectors as ledger_selectors
from ledger.models import Asset, Book
from metering import selectors as metering_selectors
from pricing.selectors import NegativeMargin, negative_margin_report
from settlement.commitments import selectors as commitment_selectors

# The page's periods. A year is the margin CSV's: summing a year of usage records on
# every page view costs more than the page's 300 ms (see portal/README.md).
PERIOD_DAYS_CHOICES = (7, 30, 90)
EXPORT_DAYS_CHOICES = (7, 30, 90, 365)
PERIOD_DAYS_DEFAULT = 30
PERIOD_DAYS_MAX = 366
# The dashboard lists this many models by revenue; the CSV export has all of them.
MODELS_SHOWN_MAX = 25
_DAY_S = 86_400

# The ledger accounts behind the tiles, by code prefix (wallets/accounts.py names the
# customer accounts, payments/postings.py the Stripe clearing account, invoicing the
# receivables).
WALLET_PREFIX = "wallet:"
UNBILLED_PREFIX = "unbilled:"
RECEIVABLE_PREFIX = "receivable:"
STRIPE_CASH_CODE = "cash:stripe"
ALLOWANCE_CODE = "allowance:doubtful"  # credit/postings.py: the contra asset
REVENUE_CODE = "revenue:usage"
COGS_PREFIX = "cogs:"


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in an asset's minor units; `code` and `scale` as on a ledger Asset, so
    the portal's `money` filter formats it (`{{ m.amount_minor|money:m }}`)."""

    amount_minor: int
    code: str
    scale: int


def statement_url(account_id: int) -> str:
    return reverse("ledger-account-statement-csv", kwargs={"account_id": account_id})


def balances_url(*, book: str, code: str) -> str:
    """The ledger's list of every account of the book with this code prefix (CSV)."""
    return reverse("ledger-balances-csv") + "?" + urlencode({"book": book, "code": code})


@dataclass(frozen=True, slots=True)
class AccountsTotal:
    """The balances of one book's accounts with a code prefix, in one asset, summed."""

    book: str
    money: Money
    accounts: int
    url: str  # one account: its statement; several: the balances list behind the sum


@dataclass(frozen=True, slots=True)
class LedgerBalances:
    """Every account's live balance, read once for the page (one query per 5,000
    accounts, where a read per figure cost a round trip each)."""

    rows: list[ledger_selectors.AccountBalanceRow]

    def matching(self, code_prefix: str, *, exact_code: bool = False):
        for row in self.rows:
            if row.account_code == code_prefix or (
                not exact_code and row.account_code.startswith(code_prefix)
            ):
                yield row

    def statement_urls(self, code_prefix: str) -> dict[tuple[str, str, str], str]:
        """{(book code, asset code, account code): statement address} by code prefix."""
        return {
            (row.book_code, row.asset_code, row.account_code): statement_url(row.account_id)
            for row in self.matching(code_prefix)
        }


def ledger_balances_get() -> LedgerBalances:
    return LedgerBalances(list(ledger_selectors.account_balances_iter()))


def accounts_totals_list(
    *, code_prefix: str, exact_code: bool = False, ledger: LedgerBalances | None = None
) -> list[AccountsTotal]:
    """Per book and asset, the sum of the posted balances of the accounts whose code
    starts with `code_prefix` (is it, when `exact_code`), each account as the ledger
    signs it (a wallet's funds positive, a receivable positive)."""
    ledger = ledger or ledger_balances_get()
    sums: dict[tuple[str, str, int], list[int]] = {}
    for row in ledger.matching(code_prefix, exact_code=exact_code):
        found = sums.setdefault((row.book_code, row.asset_code, row.scale), [0, 0, 0])
        found[0] += row.balance.balance
        found[1] += 1
        found[2] = row.account_id
    return [
        AccountsTotal(
            book,
            Money(amount, asset, scale),
            accounts,
            statement_url(last_id) if accounts == 1 else balances_url(book=book, code=code_prefix),
        )
        for (book, asset, scale), (amount, accounts, last_id) in sorted(sums.items())
    ]


# --- prepaid upstream capacity ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CapacityCommitment:
    commitment_id: int
    name: str
    status: str
    expires_at: datetime
    remaining: Money
    burn_per_day: Money
    run_out_at: datetime | None
    expected_breakage: Money
    shortfall_at: datetime | None
    url: str | None  # the statement of prepaid_capacity:<provider>:<id>
    tokens_remaining: int | None = None  # a commitment in tokens: the ledger's token balance


@dataclass(frozen=True, slots=True)
class ProviderCapacity:
    provider: str
    book: str
    remaining: Money
    burn_per_day: Money
    # When the provider's open commitments are used up at its current draw-down rate
    # (whichever commitment each day's usage falls on); None when nothing burns.
    run_out_at: datetime | None
    expected_breakage: Money
    first_shortfall_at: datetime | None
    commitments: list[CapacityCommitment]
    url: str  # every prepaid_capacity:<provider>: account of the book


def capacity_by_provider_list(*, now: datetime) -> list[ProviderCapacity]:
    """Per provider and currency, what is left of the commitments not closed yet (the
    ledger's balances), with settlement's forecast of each."""
    groups: dict[tuple[str, str, str, int], list[CapacityCommitment]] = defaultdict(list)
    for forecast in commitment_selectors.commitment_forecasts_list(now=now):
        if forecast.status == "closed":
            continue  # its breakage is booked: nothing left, nothing to forecast
        commitment = forecast.commitment
        contract = commitment.contract
        currency, scale = contract.currency.code, contract.currency.scale
        groups[(contract.provider, contract.book.code, currency, scale)].append(
            CapacityCommitment(
                commitment.pk,
                commitment.name,
                forecast.status,
                commitment.expires_at,
                Money(forecast.remaining_minor, currency, scale),
                Money(forecast.burn_per_day_minor, currency, scale),
                forecast.run_out_at,
                Money(forecast.expected_breakage_minor, currency, scale),
                forecast.shortfall_at,
                statement_url(commitment.account_id) if commitment.account_id else None,
                forecast.tokens_remaining,
            )
        )
    found = []
    for (provider, book, currency, scale), commitments in sorted(groups.items()):
        remaining = sum(c.remaining.amount_minor for c in commitments)
        burn = sum(c.burn_per_day.amount_minor for c in commitments)
        run_out = now + timedelta(seconds=-(-remaining * _DAY_S // burn)) if burn > 0 else None
        shortfalls = [c.shortfall_at for c in commitments if c.shortfall_at is not None]
        found.append(
            ProviderCapacity(
                provider,
                book,
                Money(remaining, currency, scale),
                Money(burn, currency, scale),
                run_out,
                Money(sum(c.expected_breakage.amount_minor for c in commitments), currency, scale),
                min(shortfalls) if shortfalls else None,
                commitments,
                balances_url(book=book, code=f"prepaid_capacity:{provider}:"),
            )
        )
    return found


# --- receivables by age, expected loss ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceivablesAging:
    """A book's open receivables in one currency by aging bucket (credit's aging as of
    today), the allowance credit's provision matrix calls for (the expected loss) and
    the allowance booked so far (the ledger's allowance:doubtful)."""

    book: str
    code: str  # the currency's asset code (and `scale`: what the `money` filter reads)
    scale: int
    buckets: list[tuple[str, int]]  # (bucket, open minor units), in BUCKETS order
    total_minor: int
    buyers: int
    expected_loss_minor: int | None  # None: the book has no provision matrix in force
    allowance_booked_minor: int | None  # None: nothing booked yet
    url: str  # credit's aging CSV of the book, as of the day
    expected_loss_url: str  # credit's allowance CSV (matrix x aging, per bucket)
    allowance_url: str | None  # the statement of allowance:doubtful

    @property
    def overdue_minor(self) -> int:
        return self.total_minor - dict(self.buckets)["current"]


def receivables_aging_list(
    *, as_of: date, ledger: LedgerBalances | None = None
) -> list[ReceivablesAging]:
    """Credit's aging as of the day and, where the book has a provision matrix in force,
    the allowance it calls for (credit.losses.selectors.allowance_of: what
    allowances_list computes, from the same aging read once)."""
    ledger = ledger or ledger_balances_get()
    totals = loss_selectors.aging_totals(loss_selectors.aging_list(as_of=as_of))
    books = dict(Book.objects.values_list("id", "code"))
    assets = {asset.id: asset for asset in Asset.objects.all()}
    booked = {
        (row.book_code, row.asset_code): row
        for row in ledger.matching(ALLOWANCE_CODE, exact_code=True)
    }
    matrices: dict[int, object] = {}
    found = []
    for total in totals:
        book, asset = books[total.book_id], assets[total.currency_id]
        if total.book_id not in matrices:
            matrices[total.book_id] = loss_selectors.provision_matrix_in_force(
                book_id=total.book_id, on=as_of
            )
        matrix = matrices[total.book_id]
        allowance = loss_selectors.allowance_of(total, matrix) if matrix else None
        account = booked.get((book, asset.code))
        query = urlencode({"book": book, "as_of": as_of.isoformat()})
        found.append(
            ReceivablesAging(
                book,
                asset.code,
                asset.scale,
                [(bucket, total.buckets[bucket]) for bucket in BUCKETS],
                total.total,
                total.buyers,
                allowance.allowance_minor if allowance else None,
                # A contra asset: its credit balance is the allowance.
                -account.balance.balance if account else None,
                reverse("credit-aging-csv") + "?" + query,
                reverse("credit-allowance-csv") + "?" + query,
                statement_url(account.account_id) if account else None,
            )
        )
    return found


# --- margin -----------------------------------------------------------------------------


@dataclass(slots=True)
class MarginSums:
    """Usage of a period summed: price (what customers pay their seller), wholesale (what
    resellers pay the distributor), upstream cost, margin (price - cost, every book)."""

    requests: int = 0
    tokens: int = 0
    price_minor: int = 0
    wholesale_minor: int = 0
    cost_minor: int = 0
    margin_minor: int = 0
    # What the draw-down took off the list cost (discounts, commitments, token packs):
    # the ledger's cogs is cost_minor - savings_minor.
    savings_minor: int = 0

    def add(self, row: dict) -> None:
        self.requests += row["requests"]
        self.tokens += row["tokens"]
        self.price_minor += row["price"]
        self.wholesale_minor += row["wholesale"] or 0
        self.cost_minor += row["cost"]
        self.margin_minor += row["margin"]

    @property
    def margin_after_savings_minor(self) -> int:
        """Price less what the usage really cost: revenue - cogs in the ledger."""
        return self.margin_minor + self.savings_minor

    @property
    def seller_margin_minor(self) -> int:
        """A reseller's own margin: what its customers paid less what it pays us."""
        return self.price_minor - self.wholesale_minor

    @property
    def distributor_margin_minor(self) -> int:
        """Ours on a reseller's usage: the wholesale price less the upstream cost."""
        return self.wholesale_minor - self.cost_minor


@dataclass(frozen=True, slots=True)
class MarginRow:
    key: tuple  # (day,) | (provider, model) | (book code,) | () for the total
    code: str  # the currency's asset code (with `scale`, what the `money` filter reads)
    scale: int
    sums: MarginSums
    url: str | None = None  # the ledger statement of the row's revenue or cost


@dataclass(frozen=True, slots=True)
class SavingsRow:
    """The upstream savings of a period's usage in one distributor book, provider and
    currency, by kind, linked to the book's cogs:<provider> (which they lowered)."""

    book: str
    provider: str
    code: str
    scale: int
    list_minor: int  # list cost of the usage the draw-down drew
    discounts_minor: int
    commitments_minor: int
    token_packs_minor: int
    savings_minor: int
    url: str | None


@dataclass(frozen=True, slots=True)
class Margins:
    since: datetime
    until: datetime
    total: list[MarginRow]  # per currency, linked to the distributor's revenue:usage
    per_day: list[MarginRow]  # oldest first
    per_model: list[MarginRow]  # dearest first, at most MODELS_SHOWN_MAX; cogs:<provider>
    per_reseller: list[MarginRow]  # resellers' books, linked to their revenue:usage
    negative_models: list[MarginRow]  # every model whose margin in the period is below 0
    models_count: int
    savings: list[SavingsRow] = field(default_factory=list)  # per book, provider, currency


def _usage_days(since: datetime, until: datetime) -> dict[str, date]:
    """The UTC days of usage of [since, until), as the draw-down dates it (the period's
    bounds are whole days, but for `until`: now)."""
    return {
        "since": since.astimezone(UTC).date(),
        "until": (until - timedelta(microseconds=1)).astimezone(UTC).date(),
    }


def margins_get(
    *, since: datetime, until: datetime, ledger: LedgerBalances | None = None
) -> Margins:
    """Price, wholesale, cost and margin of the usage that occurred in [since, until):
    in total, per day, per model and per reseller. A usage record's amounts are what
    its batch posted (metering/postings.py), so over the same records these tie out
    to revenue:usage in the ledger, and with the draw-down's savings to cogs:*
    (settlement's upstream_savings_list: metering books usage at list, the draw-down
    moves cogs to what it really cost). Two scans of the period's records, one grouped
    read of the draw-down's lines and discounts."""
    scales = dict(Asset.objects.values_list("code", "scale"))
    books = {book.id: book for book in Book.objects.all()}
    ledger = ledger or ledger_balances_get()
    revenue = ledger.statement_urls(REVENUE_CODE)
    cogs = ledger.statement_urls(COGS_PREFIX)
    distributors = sorted(b.code for b in books.values() if b.kind == Book.Kind.DISTRIBUTOR)

    def first_url(urls: dict, currency: str, code: str) -> str | None:
        # A distributor's account: where revenue and upstream cost are booked whoever
        # sold (the first distributor's book that has the account).
        return next((urls[k] for b in distributors if (k := (b, currency, code)) in urls), None)

    total: dict[str, MarginSums] = defaultdict(MarginSums)
    per_model: dict[tuple[str, str, str], MarginSums] = defaultdict(MarginSums)
    per_book: dict[tuple[str, str], MarginSums] = defaultdict(MarginSums)
    for row in metering_selectors.usage_margin_routes_list(since=since, until=until):
        currency, book = row["currency"], books[row["seller_book_id"]]
        total[currency].add(row)
        per_model[(row["provider"], row["model"], currency)].add(row)
        if book.kind == Book.Kind.RESELLER:
            per_book[(book.code, currency)].add(row)
    # The draw-down's savings by usage day and model: into the totals, the models (a
    # model drawn but without usage in the period cannot be: lines are by usage day)
    # and the days; per provider for the savings table. Not per reseller: a commitment
    # is the distributor's, whoever sold the usage it covered.
    savings_by_day: dict[tuple, int] = defaultdict(int)
    savings: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for found in commitment_selectors.upstream_savings_list(
        **_usage_days(since, until),
        by_model=True,
        by_day=True,
    ):
        saved = found.savings_minor
        total[found.currency].savings_minor += saved
        per_model[(found.provider, found.model, found.currency)].savings_minor += saved
        savings_by_day[(found.usage_day, found.currency)] += saved
        sums = savings[(books[found.book_id].code, found.provider, found.currency)]
        kinds = (found.discounts_minor, found.commitments_minor, found.token_packs_minor)
        for i, amount in enumerate((found.list_minor, *kinds, saved)):
            sums[i] += amount
    models = sorted(
        (
            MarginRow(
                (provider, model),
                currency,
                scales[currency],
                sums,
                first_url(cogs, currency, COGS_PREFIX + provider),
            )
            for (provider, model, currency), sums in per_model.items()
        ),
        key=lambda r: (-r.sums.price_minor, r.key, r.code),
    )
    per_day = []
    for row in metering_selectors.usage_margin_days_list(since=since, until=until):
        sums = MarginSums()
        sums.add(row | {"tokens": 0, "wholesale": None})
        sums.savings_minor = savings_by_day.get((row["day"], row["currency"]), 0)
        per_day.append(MarginRow((row["day"],), row["currency"], scales[row["currency"]], sums))
    return Margins(
        since=since,
        until=until,
        total=[
            MarginRow(
                (), currency, scales[currency], sums, first_url(revenue, currency, REVENUE_CODE)
            )
            for currency, sums in sorted(total.items())
        ],
        per_day=sorted(per_day, key=lambda r: (r.key, r.code)),
        per_model=models[:MODELS_SHOWN_MAX],
        per_reseller=[
            MarginRow(
                (code,),
                currency,
                scales[currency],
                sums,
                revenue.get((code, currency, REVENUE_CODE)),
            )
            for (code, currency), sums in sorted(per_book.items())
        ],
        negative_models=[row for row in models if row.sums.margin_minor < 0],
        models_count=len(models),
        savings=[
            SavingsRow(
                book,
                provider,
                currency,
                scales[currency],
                *sums,
                cogs.get((book, currency, COGS_PREFIX + provider)),
            )
            for (book, provider, currency), sums in sorted(savings.items())
        ],
    )


def margin_export_rows(*, since: datetime, until: datetime):
    """The period's usage summed per day, model and seller book, for the CSV export:
    (day, book code, provider, model, currency, scale, requests, tokens, price,
    wholesale, cost, margin, upstream savings, margin after savings), by day, book,
    provider and model. The savings are the distributor's (its commitments and
    contracts lowered its cogs:<provider>): on its book's row of the day and model,
    a row of their own (no usage of its customers) where only a reseller's sold it."""
    scales = dict(Asset.objects.values_list("code", "scale"))
    books = dict(Book.objects.values_list("id", "code"))
    routes = metering_selectors.usage_margin_routes_list(since=since, until=until, by_day=True)
    rows: dict[tuple, list] = {}
    for row in routes:
        key = (row["day"], books[row["seller_book_id"]], row["provider"], row["model"])
        rows[key + (row["currency"],)] = [
            *key,
            row["currency"],
            scales[row["currency"]],
            row["requests"],
            row["tokens"],
            row["price"],
            row["wholesale"],
            row["cost"],
            row["margin"],
            0,
        ]
    for found in commitment_selectors.upstream_savings_list(
        **_usage_days(since, until), by_model=True, by_day=True
    ):
        if not found.savings_minor:
            continue
        key = (found.usage_day, books[found.book_id], found.provider, found.model, found.currency)
        if key not in rows:
            rows[key] = [*key, scales[found.currency], 0, 0, 0, None, 0, 0, 0]
        rows[key][12] += found.savings_minor
    exported = [(*row, row[11] + row[12]) for row in rows.values()]
    exported.sort(key=lambda r: r[:5])
    return exported


# --- the page ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dashboard:
    now: datetime
    period_days: int
    capacity: list[ProviderCapacity]
    wallet_liabilities: list[AccountsTotal]
    unbilled_usage: list[AccountsTotal]
    receivables: list[AccountsTotal]
    receivables_aging: list[ReceivablesAging]
    stripe_cash: list[AccountsTotal]
    margins: Margins
    prices_below_cost: list[NegativeMargin] = field(default_factory=list)


def period_bounds(*, now: datetime, days: int) -> tuple[datetime, datetime]:
    """The last `days` whole UTC days and today so far."""
    today = datetime.combine(now.astimezone(UTC).date(), datetime.min.time(), tzinfo=UTC)
    return today - timedelta(days=days - 1), now


def finance_dashboard_get(*, now: datetime, period_days: int = PERIOD_DAYS_DEFAULT) -> Dashboard:
    assert 1 <= period_days <= PERIOD_DAYS_MAX, "a period of whole days, at most a year"
    since, until = period_bounds(now=now, days=period_days)
    ledger = ledger_balances_get()
    return Dashboard(
        now=now,
        period_days=period_days,
        capacity=capacity_by_provider_list(now=now),
        wallet_liabilities=accounts_totals_list(code_prefix=WALLET_PREFIX, ledger=ledger),
        unbilled_usage=accounts_totals_list(code_prefix=UNBILLED_PREFIX, ledger=ledger),
        receivables=accounts_totals_list(code_prefix=RECEIVABLE_PREFIX, ledger=ledger),
        receivables_aging=receivables_aging_list(as_of=now.astimezone(UTC).date(), ledger=ledger),
        stripe_cash=accounts_totals_list(
            code_prefix=STRIPE_CASH_CODE, exact_code=True, ledger=ledger
        ),
        margins=margins_get(since=since, until=until, ledger=ledger),
        prices_below_cost=negative_margin_report(at=now),
    )
