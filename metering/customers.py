"""Who a usage event's customer is, cached: the consumer rates thousands of events a
second and cannot query the customer of each one."""

import time
from collections.abc import Iterable
from dataclasses import dataclass

from metering.rating import Unrateable
from wallets.models import Customer

CACHE_TTL_S = 60.0  # a plan or billing change reaches the consumer within a minute
CACHE_ENTRIES_MAX = 100_000


@dataclass(frozen=True, slots=True)
class CustomerInfo:
    external_id: str
    prepaid: bool
    plan: str
    seller_book_id: int
    seller_book_code: str
    distributor_book_id: int
    distributor_book_code: str
    asset_id: int
    asset_code: str
    asset_scale: int


class CustomerDirectory:
    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, CustomerInfo]] = {}

    def prefetch(self, external_ids: Iterable[str]) -> None:
        """Load every customer of a batch that is not cached (or is stale) in ONE query,
        instead of one query per customer in get(): a consumer's first batches, and
        every batch after the TTL lapses, name hundreds of customers. Unknown ids are
        left for get() to refuse (not cached: a customer created a moment later must
        not be refused for a whole TTL)."""
        now = time.monotonic()
        missing = {
            external_id for external_id in external_ids if not self._cached(external_id, now)
        }
        if not missing:
            return
        for customer in _customers().filter(external_id__in=missing):
            self._store(customer, now)

    def get(self, external_id: str) -> CustomerInfo:
        now = time.monotonic()
        cached = self._cached(external_id, now)
        if cached is not None:
            return cached
        customer = _customers().filter(external_id=external_id).first()
        if customer is None:
            raise Unrateable("unknown_customer", f"customer {external_id!r} is not known")
        return self._store(customer, now)

    def _cached(self, external_id: str, now: float) -> CustomerInfo | None:
        """The cached customer, unless absent or older than CACHE_TTL_S."""
        cached = self._cache.get(external_id)
        return cached[1] if cached is not None and now - cached[0] < CACHE_TTL_S else None

    def _store(self, customer: Customer, now: float) -> CustomerInfo:
        book = customer.book
        distributor = book.wholesale_from or book
        info = CustomerInfo(
            external_id=customer.external_id,
            prepaid=customer.billing == Customer.Billing.PREPAID,
            plan=customer.plan,
            seller_book_id=book.id,
            seller_book_code=book.code,
            distributor_book_id=distributor.id,
            distributor_book_code=distributor.code,
            asset_id=customer.currency_id,
            asset_code=customer.currency.code,
            asset_scale=customer.currency.scale,
        )
        if len(self._cache) >= CACHE_ENTRIES_MAX:
            self._cache.clear()
        self._cache[customer.external_id] = (now, info)
        return info


def _customers():
    return Customer.objects.select_related("book__wholesale_from", "currency")
