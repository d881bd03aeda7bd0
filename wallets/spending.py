"""After customers spent: whoever wants to follow spending up registers an observer here.

Usage spends prepaid customers' money in a metering batch, inside its transaction; the
batch calls `customers_spent` with the customers it charged. Each observer is called
there and then, in that transaction, and does its own work after commit
(`transaction.on_commit`), so a batch that rolls back triggers nothing. Observers are
registered once, at their app's `ready()` (payments registers its balance watch), so
wallets need not know who listens: the imports go one way (payments -> wallets).
"""

from collections.abc import Callable, Iterable

# observer(*, external_ids: frozenset[str]); what it returns is ignored.
SpendingObserver = Callable[..., object]

_observers: list[SpendingObserver] = []


def spending_observer_register(observer: SpendingObserver) -> None:
    """Call `observer(external_ids=...)` after every spending (once, however often this
    is called for it: ready() may run more than once in tests)."""
    if observer not in _observers:
        _observers.append(observer)


def customers_spent(*, external_ids: Iterable[str]) -> None:
    """Usage just spent these customers' money, in the caller's transaction: tell every
    observer. Nothing is called for an empty set."""
    spent = frozenset(external_ids)
    if not spent:
        return
    for observer in _observers:
        observer(external_ids=spent)
