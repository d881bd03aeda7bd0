"""Reads of the credit app: credit limits, exposure, the credit position.

Exposure, today, is what the ledger holds on `unbilled:<customer>`: unbilled usage plus
open holds (open receivables and negative prepaid balances join it with invoicing).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings

from credit.models import CreditLimit
from ledger.amounts import to_minor_units
from wallets.funding import FundsQuery
from wallets.models import Customer
from wallets.selectors import wallet_balance_get

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


def exposure_minor(*, debits: int, credits: int, pending: int) -> int:
    """A credit customer's exposure on `unbilled:<c>` (an asset): unbilled usage plus
    open holds."""
    return debits - credits + pending


def _limit_minor(customer: Customer, own: dict[int, int]) -> int:
    found = own.get(customer.id)
    return credit_limit_default_minor(customer) if found is None else found


def credit_available_minor(queries: Sequence[FundsQuery]) -> list[int]:
    """The funds policy of credit customers (wallets.funding): the limit less the
    exposure, per query; the limits of the whole batch are read in one query."""
    own = credit_limits_own_get(customer_ids={q.customer.id for q in queries})
    return [
        _limit_minor(q.customer, own)
        - exposure_minor(
            debits=q.balance.debits_posted,
            credits=q.balance.credits_posted,
            pending=q.balance.debits_pending,
        )
        for q in queries
    ]


@dataclass(frozen=True, slots=True)
class CreditPosition:
    own_limit_minor: int | None  # null: the default applies
    credit_limit_minor: int  # the limit that applies
    exposure_minor: int
    available_minor: int  # what authorizations may still hold

    @property
    def limit_is_default(self) -> bool:
        return self.own_limit_minor is None


def credit_position_get(*, customer: Customer) -> CreditPosition:
    """The limit, the exposure on the customer account (`unbilled:<c>` when billed on
    credit) and what is left of the limit."""
    own = credit_limits_own_get(customer_ids=[customer.id])
    found = wallet_balance_get(customer=customer)
    exposure = (
        exposure_minor(
            debits=found.debits_posted, credits=found.credits_posted, pending=found.debits_pending
        )
        if found
        else 0
    )
    limit = _limit_minor(customer, own)
    return CreditPosition(own.get(customer.id), limit, exposure, limit - exposure)
