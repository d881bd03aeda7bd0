"""The process's one cache of ledger accounts (internal: use ledger.services).

An account never changes book, asset or code (a trigger refuses it), so what is cached
stays true for good, with one caveat: an account created in a transaction that rolls back
never existed. So an id is remembered under its (book, asset, code) only once the
transaction that found or made it has committed. The journal remembers (book, asset) of
accounts it read, to check postings without a query; an id that was never committed
cannot reach it through this cache.
"""

from django.db import connection, transaction

ENTRIES_MAX = 1_000_000  # far above any real chart of accounts; a runaway is cleared


class AccountCache:
    def __init__(self) -> None:
        self._book_and_asset: dict[int, tuple[int, int]] = {}
        self._ids: dict[tuple[int, int, str], int] = {}

    def book_and_asset(self, account_id: int) -> tuple[int, int] | None:
        return self._book_and_asset.get(account_id)

    def remember_book_and_asset(self, account_id: int, book_id: int, asset_id: int) -> None:
        if len(self._book_and_asset) >= ENTRIES_MAX:
            self._book_and_asset.clear()
        self._book_and_asset[account_id] = (book_id, asset_id)

    def id_for(self, book_id: int, asset_id: int, code: str) -> int | None:
        return self._ids.get((book_id, asset_id, code))

    def remember_ids(self, found: dict[tuple[int, int, str], int]) -> None:
        """Remember (book, asset, code) -> id once committed (now, outside a transaction)."""

        def remember() -> None:
            if len(self._ids) + len(found) > ENTRIES_MAX:
                self._ids.clear()
            self._ids.update(found)
            for (book_id, asset_id, _code), account_id in found.items():
                self.remember_book_and_asset(account_id, book_id, asset_id)

        if connection.in_atomic_block:
            transaction.on_commit(remember)
        else:
            remember()

    def clear(self) -> None:
        self._book_and_asset.clear()
        self._ids.clear()


account_cache = AccountCache()
