"""Settlement's row locks (level 1 of ledger.locks: an app's own rows, before the chain).
`select_for_update` of commitments' tables appears here only."""

from django.db import transaction
from django.utils import timezone

from settlement.commitments.models import DrawdownCursor

DRAWDOWN_CURSOR = "drawdown"


def drawdown_cursor_lock() -> DrawdownCursor:
    """The draw-down's watermark, locked to commit: draw-down runs and breakage take it
    first, so one at a time moves commitment balances (which only they lower) and a
    balance read under it stays true until the append."""
    assert transaction.get_connection().in_atomic_block, "lock the cursor in a transaction"
    DrawdownCursor.objects.get_or_create(
        name=DRAWDOWN_CURSOR, defaults={"through_sequence": 0, "updated_at": timezone.now()}
    )
    return DrawdownCursor.objects.select_for_update().get(name=DRAWDOWN_CURSOR)
