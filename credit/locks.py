"""Credit's row locks, and its only select_for_update (level 1 of ledger.locks: before
holds and the chain).

In one transaction, in this order and never back: an invoice (invoicing.locks, for a
write-off), then the customer (wallets.locks.customer_lock), then its dunning standing,
then a book's allowance lock (the Book row).
"""

from credit.models import DunningStanding
from ledger.models import Book
from wallets.locks import customer_lock


def standing_lock(*, customer_id: int, now) -> DunningStanding:
    """The customer's standing, made on first use; the customer's row is locked first,
    so the first evaluation of two concurrent ones waits for the other."""
    customer_lock(customer_id)
    standing, _made = DunningStanding.objects.get_or_create(
        customer_id=customer_id, defaults={"evaluated_at": now}
    )
    return DunningStanding.objects.select_for_update().get(pk=standing.pk)


def allowance_book_lock(*, book_id: int) -> Book:
    """A book's period-end allowance booking is serialised by its row."""
    return Book.objects.select_for_update().get(pk=book_id)
