"""Celery tasks of settlement: thin wrappers that call one service each."""

from decimal import Decimal
from pathlib import Path

from celery import shared_task

from settlement.commitments.drawdown import commitments_draw_down, commitments_expire
from settlement.statements import selectors as statement_selectors
from settlement.statements import services as statement_services


@shared_task(name="settlement.draw_down_commitments", acks_late=True)
def draw_down_commitments() -> int:
    """Draw commitments down by the usage batches booked since the last run (every
    minute, bounded per run; idempotent). Returns how many batches."""
    return commitments_draw_down().batches


@shared_task(name="settlement.expire_commitments", acks_late=True)
def expire_commitments() -> int:
    """Book the breakage of commitments past their expiry and grace, once each (every
    minute). Returns how many closed."""
    return commitments_expire().closed


@shared_task(name="settlement.import_statement", acks_late=True)
def import_statement(
    provider: str,
    path: str,
    format: str | None = None,
    contract_id: int | None = None,
    fx_rate: str | None = None,
) -> dict:
    """Import a statement file the worker can read (a provider's export dropped where
    the workers see it). Idempotent by content: a redelivery imports nothing twice."""
    contract = statement_selectors.statement_contract_get(
        provider=provider, contract_id=contract_id
    )
    result = statement_services.statement_import(
        contract=contract,
        content=Path(path).read_bytes(),
        format=format,
        filename=Path(path).name,
        fx_rate=Decimal(fx_rate) if fx_rate is not None else None,
        actor="task:settlement.import_statement",
    )
    statement = result.statement
    return {
        "statement": statement.pk,
        "replayed": result.replayed,
        "rows_imported": statement.rows_imported,
        "rows_refused": statement.rows_refused,
    }
