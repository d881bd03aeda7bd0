"""Wallets' row locks, each kind in primary-key order (level 1 of ledger.locks, except
lot cursors: level 4, after the ledger's chain lock). `select_for_update` of wallets'
tables appears here only.
"""

import uuid
from collections.abc import Sequence

from wallets.models import Authorization, Customer, LotCursor


def customer_lock(pk: int) -> Customer:
    """Level 1: a customer's row, to order changes of what hangs off it (its credit
    limit: credit.services) when there may be no row of their own to lock yet."""
    return Customer.objects.select_for_update().get(pk=pk)


def authorization_lock(public_id: uuid.UUID) -> Authorization | None:
    """Level 1: one authorization (with its currency), before its hold is resolved."""
    return (
        Authorization.objects.select_for_update(of=("self",))
        .select_related("currency")
        .filter(public_id=public_id)
        .first()
    )


def authorizations_lock(
    public_ids: Sequence[uuid.UUID], *, states: Sequence[str]
) -> list[Authorization]:
    """Level 1: the authorizations in these states, in pk order, with their customer."""
    return list(
        Authorization.objects.select_for_update(of=("self",))
        .select_related("customer")
        .filter(public_id__in=list(public_ids), state__in=list(states))
        .order_by("pk")
    )


def lot_cursor_lock(account_id: int) -> LotCursor | None:
    """Level 4: the wallet's lot cursor, if it has one (under the chain lock)."""
    return LotCursor.objects.select_for_update().filter(account_id=account_id).first()


def lot_cursors_lock(cursor_ids: Sequence[int], *, skip_locked: bool = False) -> list[LotCursor]:
    """Level 4: lot cursors in pk order; with `skip_locked`, those another allocation
    holds are left out instead of waited for (the allocator takes no chain lock)."""
    return list(
        LotCursor.objects.select_for_update(skip_locked=skip_locked)
        .filter(pk__in=cursor_ids)
        .order_by("pk")
    )
