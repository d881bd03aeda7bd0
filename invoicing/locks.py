"""Invoicing's row locks (level 1 of ledger.locks: before holds and the chain), and the
only select_for_update of invoicing.

In one transaction, in this order and never back: the invoice (or a payments top-up,
for a receipt), then its buyer (a customer through wallets.locks, or a reseller's book),
then the seller's document counter. Finalizations of one buyer are serialised by the
buyer's row; numbers of one seller's series by its counter row, held to commit.
"""

from collections.abc import Sequence

from invoicing.models import DocumentCounter, Invoice
from ledger.models import Book
from wallets.locks import customer_lock
from wallets.models import Customer


def invoice_lock(*, invoice_id: int) -> Invoice:
    """The invoice row (its seller, buyer and currency read with it, unlocked)."""
    return (
        Invoice.objects.select_for_update(of=("self",))
        .select_related("seller_book", "buyer_customer", "buyer_book", "currency")
        .get(pk=invoice_id)
    )


def draft_lock(*, seller_book_id: int, buyer_key: str, period_start, period_end) -> Invoice | None:
    """The open draft of this buyer and period, if there is one, to regenerate it."""
    return (
        Invoice.objects.select_for_update()
        .filter(
            seller_book_id=seller_book_id,
            buyer_key=buyer_key,
            period_start=period_start,
            period_end=period_end,
            state=Invoice.State.DRAFT,
        )
        .first()
    )


def buyer_lock(*, customer_id: int | None, book_id: int | None) -> None:
    """The buyer's row: a customer on credit, or a reseller's book."""
    if customer_id is not None:
        customer_lock(customer_id)
    else:
        Book.objects.select_for_update().get(pk=book_id)


def invoices_lock(*, invoice_ids: Sequence[int]) -> list[Invoice]:
    """Many invoices in pk order (a batch finalization), as invoice_lock reads one."""
    return list(
        Invoice.objects.select_for_update(of=("self",))
        .select_related("seller_book", "buyer_customer", "buyer_book", "currency")
        .filter(pk__in=list(invoice_ids))
        .order_by("pk")
    )


def customers_lock(*, customer_ids: Sequence[int]) -> None:
    """Many buyers' customer rows in pk order (after their invoices, as buyer_lock)."""
    list(
        Customer.objects.select_for_update()
        .filter(pk__in=list(customer_ids))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def document_number_take(*, seller_book_id: int, series: str, count: int = 1) -> int:
    """The next number of the seller's series (the first of `count` consecutive ones),
    in the caller's transaction: the counter row stays locked to commit, and a rollback
    gives the numbers back (no gap)."""
    DocumentCounter.objects.bulk_create(
        [DocumentCounter(seller_book_id=seller_book_id, series=series)], ignore_conflicts=True
    )
    counter = DocumentCounter.objects.select_for_update().get(
        seller_book_id=seller_book_id, series=series
    )
    number = counter.next_number
    counter.next_number = number + count
    counter.save(update_fields=["next_number"])
    return number


def overdue_invoices_lock(*, now, limit: int) -> list[Invoice]:
    """Finalized invoices past due and not marked overdue yet, oldest due first; rows
    another transaction holds are skipped (the next run takes them)."""
    return list(
        Invoice.objects.select_for_update(of=("self",), skip_locked=True)
        .select_related("seller_book", "currency")
        .filter(state=Invoice.State.FINALIZED, overdue_at__isnull=True, due_at__lt=now)
        .order_by("due_at", "pk")[:limit]
    )
