"""Pricing's locks (level 1 of ledger.locks: taken before any ledger lock). Advisory
locks of pricing appear here only."""

import hashlib

from django.db import connection


def price_list_lock(name: str) -> None:
    """Serialise writers of one price list (the catalogue, a retail book) for the rest of
    the transaction: a transaction-level advisory lock keyed by the list's name."""
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
