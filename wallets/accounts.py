"""The customer account rule: which ledger account a customer's money is in.

One rule, used by usage booking (metering.postings), authorizations (their holds debit
this account), lots and top-ups (the prepaid wallet), credit and invoicing (the unbilled
usage of a customer on credit). Both live in the seller's book, in the customer's
currency.
"""

from typing import NamedTuple

HOLDS_ACCOUNT_CODE = "holds:authorizations"  # the clearing liability holds credit


class CustomerAccount(NamedTuple):
    code: str
    type: str  # ledger Account.Type value


def customer_account(*, external_id: str, prepaid: bool) -> CustomerAccount:
    """Prepaid: `wallet:<customer>`, the customer's funds (a liability). On credit:
    `unbilled:<customer>`, usage accrued but not invoiced yet (an asset)."""
    if prepaid:
        return CustomerAccount(f"wallet:{external_id}", "liability")
    return CustomerAccount(f"unbilled:{external_id}", "asset")
