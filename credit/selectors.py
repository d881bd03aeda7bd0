"""Reads of the credit app: credit limits, exposure, standing, the credit position.

Exposure, live, from the ledger (one read of all the accounts involved, for one customer
or ten thousand): open receivables (`receivable:<c>`, invoiced and not yet paid, credited
or written off) + unbilled usage and in-flight holds (`unbilled:<c>`, posted and pending
debits) + a negative prepaid balance (`wallet:<c>` below zero). The same function serves
the authorization path (credit/funding.py, on the balance wallets locked) and reports.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings

from credit.losses.selectors import Evaluated, still_overdue_customers
from credit.models import CreditLimit, DunningStanding
from ledger.amounts import to_minor_units
from ledger.selectors import AccountBalance, account_balances_by_code
from wallets import funding
from wallets.funding import FundsQuery
from wallets.models import Customer
from wallets.services import CREDIT_LIMIT_EXCEEDED, CUSTOMER_RESTRICTED, CUSTOMER_SUSPENDED

# Credit customers without a limit of their own may reach this exposure, in major units
# of their currency (setting CREDIT_LIMIT_DEFAULT, a decimal string).
CREDIT_LIMIT_DEFAULT = "1000"


def credit_limit_default_minor(customer: Customer) -> int:
    limit = getattr(settings, "CREDIT_LIMIT_DEFAULT", CREDIT_LIMIT_DEFAULT)
    return to_minor_units(str(limit), customer.currency.scale)


def credit_limits_own_get(*, customer_ids: Iterable[int]) -> dict[int, int]:
    """{customer id: its own limit} of those that have one (one query)."""
    return dict(
        CreditLimit.objects.filter(
            customer_id__in=list(customer_ids), credit_limit_minor__isnull=False
        ).values_list("customer_id", "credit_limit_minor")
    )


def _limit_minor(customer: Customer, own: dict[int, int]) -> int:
    found = own.get(customer.id)
    return credit_limit_default_minor(customer) if found is None else found


@dataclass(frozen=True, slots=True)
class Exposure:
    """What a customer owes or may soon owe, in the ledger asset's units."""

    receivable_minor: int  # invoiced, still open
    unbilled_minor: int  # usage booked, not invoiced yet
    holds_minor: int  # authorizations in flight
    negative_prepaid_minor: int  # a wallet below zero, as a positive amount
    receivable_credits_minor: int  # all credits ever posted to the receivable (dunning's record)

    @property
    def total_minor(self) -> int:
        return (
            self.receivable_minor
            + self.unbilled_minor
            + self.holds_minor
            + self.negative_prepaid_minor
        )


def _codes(customer: Customer) -> tuple[str, str, str]:
    key = customer.external_id
    return (f"receivable:{key}", f"unbilled:{key}", f"wallet:{key}")


def _exposure(
    found: dict[tuple[int, int, str], AccountBalance],
    customer: Customer,
    unbilled: AccountBalance | None = None,
) -> Exposure:
    book, asset = customer.book_id, customer.currency_id
    receivable_code, unbilled_code, wallet_code = _codes(customer)
    receivable = found.get((book, asset, receivable_code))
    unbilled = unbilled or found.get((book, asset, unbilled_code))
    wallet = found.get((book, asset, wallet_code))
    return Exposure(
        receivable_minor=receivable.balance if receivable else 0,
        unbilled_minor=unbilled.balance if unbilled else 0,
        holds_minor=unbilled.debits_pending if unbilled else 0,
        negative_prepaid_minor=max(0, -wallet.balance) if wallet else 0,
        receivable_credits_minor=receivable.credits_posted if receivable else 0,
    )


def exposures_get(
    *, customers: Sequence[Customer], locked: dict[int, AccountBalance] | None = None
) -> dict[int, Exposure]:
    """{customer id: its exposure}, all read in one query. `locked`: {customer id: the
    balance of its unbilled:<c> as the caller locked it} (authorizations), used instead."""
    locked = locked or {}
    keys = []
    for customer in customers:
        receivable, unbilled, wallet = _codes(customer)
        book, asset = customer.book_id, customer.currency_id
        keys += [(book, asset, receivable), (book, asset, wallet)]
        if customer.id not in locked:
            keys.append((book, asset, unbilled))
    found = account_balances_by_code(keys=keys)
    return {c.id: _exposure(found, c, locked.get(c.id)) for c in customers}


# --- standing (dunning) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Standing:
    level: str  # DunningStanding.Level
    restrict_request_max_minor: int | None
    lifted_by_payment: bool  # paid since the evaluation: good at once


def standing_of(row: DunningStanding | None, *, still_overdue: bool) -> Standing:
    """A customer's standing now: the last evaluation's, unless every invoice that was
    past due then has been settled since (paid or credited: losses.selectors
    .still_overdue_customers): the payment reinstates it at once. A payment on a later
    invoice, not yet due, leaves the overdue one open and the standing as it was; a
    write-off is not a payment. The next evaluation records the reinstatement."""
    good = DunningStanding.Level.GOOD
    if row is None or row.level == good:
        return Standing(good, None, False)
    if not still_overdue:
        return Standing(good, None, True)
    return Standing(row.level, row.restrict_request_max_minor, False)


def standings_now(
    *, customers: Sequence[Customer], rows: dict[int, DunningStanding]
) -> dict[int, Standing]:
    """{customer id: its standing now}: one query more, only if dunning holds back any."""
    behind = [
        Evaluated(c.id, c.book_id, rows[c.id].evaluated_at)
        for c in customers
        if c.id in rows and rows[c.id].level != DunningStanding.Level.GOOD
    ]
    overdue = still_overdue_customers(evaluated=behind)
    return {c.id: standing_of(rows.get(c.id), still_overdue=c.id in overdue) for c in customers}


def standings_get(*, customer_ids: Iterable[int]) -> dict[int, DunningStanding]:
    return {s.customer_id: s for s in DunningStanding.objects.filter(customer_id__in=customer_ids)}


# --- the funds policy of credit customers (registered in credit/funding.py) -----------


def credit_funds(queries: Sequence[FundsQuery]) -> list[funding.Funds]:
    """What each credit customer may still hold: its limit less its exposure (the locked
    unbilled:<c> balance, plus receivable and wallet read with it), unless dunning has
    suspended it (customer_suspended) or restricted what one request may cost
    (customer_restricted). Three queries per batch: limits, standings, balances; a fourth
    only when dunning holds back one of its customers (standings_now)."""
    customers = [q.customer for q in queries]
    ids = {c.id for c in customers}
    own = credit_limits_own_get(customer_ids=ids)
    standings = standings_get(customer_ids=ids)
    exposures = exposures_get(
        customers=customers, locked={q.customer.id: q.balance for q in queries}
    )
    now = standings_now(customers=customers, rows=standings)
    answers = []
    for customer in customers:
        exposure = exposures[customer.id]
        standing = now[customer.id]
        available = _limit_minor(customer, own) - exposure.total_minor
        if standing.level == DunningStanding.Level.SUSPENDED:
            answers.append(funding.Funds(available, refused_reason=CUSTOMER_SUSPENDED))
        elif standing.level == DunningStanding.Level.RESTRICTED:
            answers.append(
                funding.Funds(
                    available,
                    short_reason=CREDIT_LIMIT_EXCEEDED,
                    request_max_minor=standing.restrict_request_max_minor,
                    request_max_reason=CUSTOMER_RESTRICTED,
                )
            )
        else:
            answers.append(funding.Funds(available, short_reason=CREDIT_LIMIT_EXCEEDED))
    return answers


# --- reports ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreditPosition:
    own_limit_minor: int | None  # null: the default applies
    credit_limit_minor: int  # the limit that applies
    exposure_minor: int
    available_minor: int  # what authorizations may still hold
    exposure: Exposure | None = None
    standing: Standing | None = None

    @property
    def limit_is_default(self) -> bool:
        return self.own_limit_minor is None


def credit_positions_list(*, customers: Sequence[Customer]) -> list[CreditPosition]:
    """Limit, exposure, available credit and standing of each customer (three
    queries, a fourth when dunning holds back one of them)."""
    ids = [c.id for c in customers]
    own = credit_limits_own_get(customer_ids=ids)
    standings = standings_get(customer_ids=ids)
    exposures = exposures_get(customers=customers)
    now = standings_now(customers=customers, rows=standings)
    positions = []
    for customer in customers:
        exposure = exposures[customer.id]
        limit = _limit_minor(customer, own)
        positions.append(
            CreditPosition(
                own.get(customer.id),
                limit,
                exposure.total_minor,
                limit - exposure.total_minor,
                exposure,
                now[customer.id],
            )
        )
    return positions


def credit_position_get(*, customer: Customer) -> CreditPosition:
    [position] = credit_positions_list(customers=[customer])
    return position


@dataclass(frozen=True, slots=True)
class ResellerExposure:
    book_id: int
    currency_id: int
    customers: int
    exposure_minor: int
    credit_limit_minor: int


def reseller_exposures_list(*, book_ids: Iterable[int] | None = None) -> list[ResellerExposure]:
    """Per seller book (a reseller's, or the distributor's) and currency: the sum of its
    customers' exposures and limits."""
    customers = Customer.objects.select_related("currency").order_by("pk")
    if book_ids is not None:
        customers = customers.filter(book_id__in=list(book_ids))
    sums: dict[tuple[int, int], list[int]] = {}
    for position, customer in zip(
        credit_positions_list(customers=list(customers)), customers, strict=True
    ):
        entry = sums.setdefault((customer.book_id, customer.currency_id), [0, 0, 0])
        entry[0] += 1
        entry[1] += position.exposure_minor
        entry[2] += position.credit_limit_minor
    return [ResellerExposure(*key, *values) for key, values in sorted(sums.items())]
