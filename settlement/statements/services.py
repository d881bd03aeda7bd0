"""Importing a provider statement: every row imported or refused with its reason, once.

A file is known by its SHA-256 per contract: importing the same bytes again returns the
first import and writes nothing. A row is known by its `row_key` (the provider's own
identity of the row: bucket day, model, line item, generation id...): a row another file
imported already is refused as `already_imported`, so overlapping pages never count
twice. Amounts become integers in the contract currency's scale, rounded once half-even
from the exact Decimal; a row in another currency needs the statement's `fx_rate`.
"""

import hashlib
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from django.db import IntegrityError, transaction
from django.utils import timezone

from config.fast_insert import insert_rows
from ledger.posting_rules import AMOUNT_MAX
from pricing.selectors import PriceResolver
from settlement.commitments.models import Contract
from settlement.errors import StatementMalformed
from settlement.statements import parsers
from settlement.statements.locks import contract_lock
from settlement.statements.models import Statement, StatementLine, StatementRefusal

FILENAME_LENGTH_MAX = 255
FX_RATE_MAX = Decimal(10) ** 12


@dataclass(frozen=True, slots=True)
class ImportResult:
    statement: Statement
    replayed: bool  # the same file was imported before: nothing written


def statement_format_detect(*, content: bytes) -> str:
    return parsers.detect_format(content)


def _minor(amount: Decimal, scale: int) -> int:
    with localcontext() as context:
        context.prec = 80
        return int(amount.scaleb(scale).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def statement_import(
    *,
    contract: Contract,
    content: bytes,
    actor: str,
    format: str | None = None,
    filename: str = "",
    fx_rate: Decimal | None = None,
) -> ImportResult:
    """Import one statement file of the contract's provider (format detected from the
    file when not given), in one transaction."""
    if format is not None and format not in parsers.PARSERS:
        raise StatementMalformed(
            f"format is one of {', '.join(parsers.PARSERS)}", details={"format": format}
        )
    if fx_rate is not None and not (
        isinstance(fx_rate, Decimal) and fx_rate.is_finite() and 0 < fx_rate < FX_RATE_MAX
    ):
        raise StatementMalformed("fx_rate is a positive decimal", details={"fx_rate": str(fx_rate)})
    digest = hashlib.sha256(content).hexdigest()
    existing = Statement.objects.filter(contract=contract, content_sha256=digest).first()
    if existing is not None:
        return ImportResult(existing, True)
    format = format or parsers.detect_format(content)
    currency = contract.currency
    if format == "focus_csv":
        parsed = parsers.parse_focus_csv(content, default_currency=currency.code)
    else:
        parsed = parsers.PARSERS[format](content)
    resolver = PriceResolver.load()
    known = {model for provider, model in resolver.models() if provider == contract.provider}
    try:
        with transaction.atomic():
            contract_lock(contract_id=contract.pk)
            statement = Statement.objects.create(
                contract=contract,
                format=format,
                filename=filename[:FILENAME_LENGTH_MAX],
                content_sha256=digest,
                period_start=parsed.period_start,
                period_end=parsed.period_end,
                rows_imported=0,
                rows_refused=0,
                fx_rate=fx_rate,
                created_at=timezone.now(),
                created_by=actor,
            )
            lines, refusals = _judge(contract, statement, parsed, known, resolver, fx_rate)
            # COPY of plain tuples: a month of per-request lines (OpenRouter generations)
            # is hundreds of thousands of rows, which bulk_create's per-value preparation
            # and model instances made most of an import's time. The contract's lock
            # above keeps two imports from writing the same row (the unique key is the
            # last guard).
            insert_rows(StatementLine._meta.db_table, _LINE_COLUMNS, lines)
            StatementRefusal.objects.bulk_create(refusals, batch_size=5000)
            statement.rows_imported, statement.rows_refused = len(lines), len(refusals)
            # Set once, in the transaction that made the row.
            statement.save(update_fields=["rows_imported", "rows_refused"])
    except IntegrityError:
        # The same file imported concurrently won the unique key: that is this import.
        existing = Statement.objects.filter(contract=contract, content_sha256=digest).first()
        if existing is None:
            raise
        return ImportResult(existing, True)
    return ImportResult(statement, False)


# StatementLine's columns, in the order _judge writes a line's tuple.
_LINE_COLUMNS = (
    "statement_id",
    "contract_id",
    "kind",
    "row_key",
    "usage_day",
    "model",
    "request_id",
    "requests",
    "tokens_split",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "total_tokens",
    "cost_minor",
    "source_currency",
    "source_amount",
    "fx",
)


def _judge(contract, statement, parsed, known, resolver, fx_rate):
    scale, code = contract.currency.scale, contract.currency.code
    refusals = [
        StatementRefusal(
            statement=statement,
            locator=r.locator[:200],
            reason_code=r.reason_code,
            reason=r.reason,
            row=r.raw,
        )
        for r in parsed.refusals
    ]

    def refuse(row, reason_code: str, reason: str) -> None:
        refusals.append(
            StatementRefusal(
                statement=statement,
                locator=row.locator[:200],
                reason_code=reason_code,
                reason=reason,
                row=row.raw,
            )
        )

    taken = {
        (kind, key): statement_id
        for kind, key, statement_id in StatementLine.objects.filter(
            contract=contract, row_key__in=[row.row_key[:500] for row in parsed.rows]
        ).values_list("kind", "row_key", "statement_id")
    }
    seen: set[tuple[str, str]] = set()
    lines = []
    for row in parsed.rows:
        model = resolver.catalogue_model(contract.provider, row.model)
        if model not in known:
            refuse(
                row,
                "unknown_model",
                f"{contract.provider} has no model {row.model!r} in the price catalogue",
            )
            continue
        identity = (row.kind, row.row_key[:500])
        if identity in taken:
            refuse(row, "already_imported", f"statement {taken[identity]} imported this row")
            continue
        if identity in seen:
            refuse(row, "duplicate_row", "the file has this row twice")
            continue
        cost_minor, fx = None, False
        if row.amount is not None:
            if row.currency == code:
                cost_minor = _minor(row.amount, scale)
            elif fx_rate is not None:
                cost_minor, fx = _minor(row.amount * fx_rate, scale), True
            else:
                refuse(
                    row,
                    "currency_not_converted",
                    f"the row is in {row.currency or 'no currency'}, the contract in {code}: "
                    "import the statement with its fx_rate",
                )
                continue
            if cost_minor > AMOUNT_MAX:
                refuse(row, "invalid_amount", "the amount is out of range")
                continue
        seen.add(identity)
        lines.append(
            (
                statement.pk,
                contract.pk,
                row.kind,
                row.row_key[:500],
                row.usage_day,
                model,
                row.request_id[:200],
                row.requests,
                row.tokens_split,
                row.input_tokens,
                row.output_tokens,
                row.cache_read_tokens,
                row.cache_write_tokens,
                row.total_tokens,
                cost_minor,
                row.currency[:16],
                row.source_amount[:64],
                fx,
            )
        )
    return lines, refusals
