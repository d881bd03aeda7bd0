"""Small helpers for ledger tests: move money through the real services."""

import uuid

from ledger import services
from ledger.models import Account
from ledger.posting_rules import PostingSpec
from ledger.selectors import account_balance_get


def key() -> str:
    return uuid.uuid4().hex


def transfer(debit: Account, credit: Account, amount: int, *, idempotency_key: str | None = None):
    """One balanced two-posting entry: debit `debit`, credit `credit`."""
    return services.adjustment_post(
        book=debit.book,
        postings=[
            PostingSpec(debit.id, debit.asset_id, "D", amount),
            PostingSpec(credit.id, credit.asset_id, "C", amount),
        ],
        memo="test transfer",
        idempotency_key=idempotency_key or key(),
        actor="test",
    )


def balance(account: Account) -> int:
    return account_balance_get(account_id=account.id).balance


def available(account: Account) -> int:
    return account_balance_get(account_id=account.id).available
