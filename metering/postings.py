"""Metering's posting rules: pure functions from rated records to aggregated entries.

A batch of usage becomes one ledger event ("metering.usage_batch") whose entries carry
one posting per account and side, summed over the batch, so a hot account (revenue, a
busy wallet) is touched once per batch whatever the traffic. Per-request detail stays in
the usage records.

Per record, with P = the customer's price, W = the wholesale price a reseller pays the
distributor, C = the distributor's upstream cost:

  sold by the distributor D:   D: Dr <customer account> P / Cr revenue:usage P
                               D: Dr cogs:<provider> C    / Cr payable:<provider> C
  sold by a reseller R of D:   R: Dr <customer account> P / Cr revenue:usage P
                               R: Dr cogs:<D>  W          / Cr payable:<D> W
                               D: Dr unbilled:reseller:<R> W / Cr revenue:usage W
                               D: Dr cogs:<provider> C    / Cr payable:<provider> C

The customer account is the one wallets.accounts.customer_account names: `wallet:<c>`
(prepaid) or `unbilled:<c>` (credit). Zero amounts post nothing. A usage batch carries
its aggregated entries explicitly, so its registered rule is a transfer's pure parse.
"""

from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple

from ledger.posting_rules import CREDIT, DEBIT, EntrySpec, PostingSpec, posting_rule, transfer
from wallets.accounts import customer_account as customer_account_rule

USAGE_BATCH_EVENT = "metering.usage_batch"
posting_rule(USAGE_BATCH_EVENT)(transfer)


class AccountKey(NamedTuple):
    """A NamedTuple, not a dataclass: it is hashed thousands of times per batch."""

    book_id: int
    code: str
    type: str  # ledger Account.Type value


@dataclass(slots=True)  # not frozen: built once per event (see metering.rating.RatedEvent)
class RatedUsage:
    """What booking needs of one rated record."""

    customer: str
    prepaid: bool
    provider: str
    seller_book_id: int
    seller_book_code: str
    distributor_book_id: int  # == seller_book_id when the distributor sells directly
    distributor_book_code: str
    price_minor: int
    wholesale_minor: int | None
    cost_minor: int


def customer_account(usage: RatedUsage) -> AccountKey:
    code, account_type = customer_account_rule(external_id=usage.customer, prepaid=usage.prepaid)
    return AccountKey(usage.seller_book_id, code, account_type)


def usage_legs(usage: RatedUsage) -> list[tuple[AccountKey, AccountKey, int]]:
    """(debit account, credit account, amount) for one record, before aggregation."""
    seller, distributor = usage.seller_book_id, usage.distributor_book_id
    legs = [
        (
            customer_account(usage),
            AccountKey(seller, "revenue:usage", "revenue"),
            usage.price_minor,
        ),
        (
            AccountKey(distributor, f"cogs:{usage.provider}", "expense"),
            AccountKey(distributor, f"payable:{usage.provider}", "liability"),
            usage.cost_minor,
        ),
    ]
    if seller != distributor:
        wholesale = usage.wholesale_minor or 0
        legs += [
            (
                AccountKey(seller, f"cogs:{usage.distributor_book_code}", "expense"),
                AccountKey(seller, f"payable:{usage.distributor_book_code}", "liability"),
                wholesale,
            ),
            (
                AccountKey(distributor, f"unbilled:reseller:{usage.seller_book_code}", "asset"),
                AccountKey(distributor, "revenue:usage", "revenue"),
                wholesale,
            ),
        ]
    return [leg for leg in legs if leg[2] > 0]


def aggregate_legs(
    records: list[RatedUsage],
) -> dict[int, dict[tuple[AccountKey, str], int]]:
    """Sum every leg per book, account and side.

    Legs are linear in the amounts, so records are first summed per route (customer,
    provider, books) and the legs made once per route: thousands of records in a batch
    share a few hundred routes.
    """
    routes: dict[tuple, list[int]] = {}
    for usage in records:
        route = (
            usage.customer,
            usage.prepaid,
            usage.provider,
            usage.seller_book_id,
            usage.seller_book_code,
            usage.distributor_book_id,
            usage.distributor_book_code,
        )
        amounts = routes.get(route)
        if amounts is None:
            routes[route] = [usage.price_minor, usage.cost_minor, usage.wholesale_minor or 0]
        else:
            amounts[0] += usage.price_minor
            amounts[1] += usage.cost_minor
            amounts[2] += usage.wholesale_minor or 0
    sums: dict[int, dict[tuple[AccountKey, str], int]] = defaultdict(lambda: defaultdict(int))
    for route, (price, cost, wholesale) in routes.items():
        usage = RatedUsage(
            *route,
            price_minor=price,
            cost_minor=cost,
            wholesale_minor=wholesale if route[3] != route[5] else None,
        )
        for debit, credit, amount in usage_legs(usage):
            sums[debit.book_id][(debit, DEBIT)] += amount
            sums[credit.book_id][(credit, CREDIT)] += amount
    return sums


def batch_entries(
    sums: dict[int, dict[tuple[AccountKey, str], int]],
    account_ids: dict[AccountKey, int],
    asset_id: int,
) -> list[EntrySpec]:
    """One entry per book, postings in a stable order so the event payload is canonical."""
    entries = []
    for book_id in sorted(sums):
        postings = tuple(
            PostingSpec(account_ids[key], asset_id, side, amount)
            for (key, side), amount in sorted(
                sums[book_id].items(), key=lambda item: (item[0][0].code, item[0][1])
            )
        )
        entries.append(EntrySpec(book_id, postings, "metered usage"))
    return entries


def debit_checksum(usage: RatedUsage) -> int:
    """The total of a record's debit legs: verify compares it with the event's postings."""
    return sum(amount for _debit, _credit, amount in usage_legs(usage))
