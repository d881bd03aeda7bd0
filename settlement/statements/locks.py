"""Statements' and reconciliation's row lock (level 1 of ledger.locks: an app's own rows,
before the chain). `select_for_update` of these tables appears here only."""

from django.db import transaction

from settlement.commitments.models import Contract


def contract_lock(*, contract_id: int) -> Contract:
    """The contract, locked to commit: imports of its statements and acceptances of its
    differences take it, so two imports cannot both add a row and two acceptances cannot
    both book the same difference."""
    assert transaction.get_connection().in_atomic_block, "lock the contract in a transaction"
    return Contract.objects.select_for_update().select_related("currency").get(pk=contract_id)
