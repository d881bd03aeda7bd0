"""Ledger accounts for metered usage, created on first use and cached by key.

An account never changes book or asset, so a cached id stays valid for good, provided
it was committed: ids are cached only when looked up outside a transaction, since an
account created inside one that later rolls back would otherwise stay in the cache.
"""

from django.db import connection

from ledger.models import Account
from metering.booking import AccountKey


class AccountDirectory:
    def __init__(self) -> None:
        self._ids: dict[tuple[AccountKey, int], int] = {}

    def ids(self, keys: set[AccountKey], asset_id: int) -> dict[AccountKey, int]:
        result = {key: self._ids[(key, asset_id)] for key in keys if (key, asset_id) in self._ids}
        missing = [key for key in keys if key not in result]
        if missing:
            found = self._load(missing, asset_id)
            absent = [key for key in missing if key not in found]
            if absent:
                # ignore_conflicts: a concurrent consumer may create the same account.
                # The database trigger creates each balance row.
                Account.objects.bulk_create(
                    [
                        Account(
                            book_id=key.book_id, asset_id=asset_id, code=key.code, type=key.type
                        )
                        for key in absent
                    ],
                    ignore_conflicts=True,
                )
                found |= self._load(absent, asset_id)
            assert all(key in found for key in missing), "accounts missing after create"
            if not connection.in_atomic_block:
                self._ids.update({(key, asset_id): found[key] for key in missing})
            result |= {key: found[key] for key in missing}
        return result

    @staticmethod
    def _load(keys: list[AccountKey], asset_id: int) -> dict[AccountKey, int]:
        wanted = {(key.book_id, key.code): key for key in keys}
        rows = Account.objects.filter(
            asset_id=asset_id,
            book_id__in={key.book_id for key in keys},
            code__in={key.code for key in keys},
        ).values_list("book_id", "code", "id")
        return {wanted[(book, code)]: pk for book, code, pk in rows if (book, code) in wanted}
