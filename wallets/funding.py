"""What an authorization may hold: one funds policy per billing mode, and what the wallet
endpoint shows about funds.

Wallets asks the question; the app that owns a billing mode answers it, the way apps
register posting rules with the ledger (so that wallets imports none of them):

- prepaid (wallets' own, below): the wallet's balance less its open holds;
- credit (registered by the credit app, credit/funding.py, in CreditConfig.ready): the
  credit limit less the exposure on `unbilled:<customer>`.

A billing mode with no policy registered has no funds: if the credit app is not
installed, every authorization of a credit customer is declined `insufficient_funds`.

A policy answers a whole batch at once (`authorizations_decide` decides many requests in
one transaction), so it can load what it needs for all of them in one query; a batch
whose customers are all prepaid calls no other policy, and so costs no other query.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ledger.selectors import AccountBalance
from wallets.models import Customer

if TYPE_CHECKING:
    from rest_framework.serializers import Serializer


@dataclass(frozen=True, slots=True)
class FundsQuery:
    """One customer account's balance, as locked by the decision (ledger.locks)."""

    customer: Customer
    balance: AccountBalance  # debits_pending: the open holds


@dataclass(frozen=True, slots=True)
class Funds:
    """A policy's answer that says more than an amount (the credit app's: a customer over
    its credit limit, restricted or suspended by dunning). `refused_reason`: every request
    of the account is declined with it; `request_max_minor`: a single request costing more
    is declined with `request_max_reason`; a request over `available_minor` is declined
    with `short_reason`. Every reason is one of wallets.services.DECLINE_REASONS."""

    available_minor: int
    short_reason: str = "insufficient_funds"
    refused_reason: str = ""
    request_max_minor: int | None = None
    request_max_reason: str = ""


# Answers, in order, what each account may still hold (may be negative): an amount, or
# Funds when the policy has more to say.
FundsPolicy = Callable[[Sequence[FundsQuery]], list["int | Funds"]]
_POLICIES: dict[str, FundsPolicy] = {}


def funds_policy(billing: str) -> Callable[[FundsPolicy], FundsPolicy]:
    """Register the funds policy of customers billed `billing` (a Customer.Billing)."""
    assert billing in Customer.Billing.values, billing

    def register(policy: FundsPolicy) -> FundsPolicy:
        assert billing not in _POLICIES, f"funds policy {billing} registered twice"
        _POLICIES[billing] = policy
        return policy

    return register


@funds_policy(Customer.Billing.PREPAID)
def prepaid_available_minor(queries: Sequence[FundsQuery]) -> list[int]:
    """The wallet's available balance: its balance less its open holds (the ledger's
    one definition, ledger.selectors.balance_from_sums)."""
    return [q.balance.available for q in queries]


def available_minor(queries: Sequence[FundsQuery]) -> list["int | Funds"]:
    """What each query's account may still hold, in order: one policy call per billing
    mode present; 0 where no policy is registered for the customer's billing."""
    by_billing: dict[str, list[int]] = {}
    for index, query in enumerate(queries):
        by_billing.setdefault(query.customer.billing, []).append(index)
    answers: list[int | Funds] = [0] * len(queries)
    for billing, indexes in by_billing.items():
        policy = _POLICIES.get(billing)
        if policy is None:
            continue
        found = policy([queries[index] for index in indexes])
        assert len(found) == len(indexes), f"funds policy {billing} answered {len(found)}"
        for index, amount in zip(indexes, found, strict=True):
            answers[index] = amount
    return answers


# --- what the wallet endpoint shows about funds ----------------------------------------


@dataclass(frozen=True, slots=True)
class WalletDetails:
    """More fields of GET customers/{id}/wallet/, from another app: `fields` declares them
    (a serializer, for the schema), `body` fills them for a customer."""

    fields: "type[Serializer]"
    body: Callable[[Customer], dict]


_WALLET_DETAILS: list[WalletDetails] = []


def wallet_details_register(*, fields: "type[Serializer]", body: Callable[[Customer], dict]):
    assert all(d.fields is not fields for d in _WALLET_DETAILS), f"{fields} registered twice"
    _WALLET_DETAILS.append(WalletDetails(fields, body))


def wallet_details() -> list[WalletDetails]:
    return list(_WALLET_DETAILS)
