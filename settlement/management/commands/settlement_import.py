"""Import a provider's statement file: every row imported or listed as refused."""

from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from settlement.statements import selectors, services
from settlement.statements.parsers import PARSERS

REFUSALS_PRINTED_MAX = 50


class Command(BaseCommand):
    help = (
        "Import a statement (OpenAI usage or costs pages, Anthropic usage_report or "
        "cost_report, OpenRouter generations or daily activity, FOCUS-style CSV)."
    )

    def add_arguments(self, parser):
        parser.add_argument("provider", help="as the contract names it: openai, anthropic, …")
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=sorted(PARSERS), default=None)
        parser.add_argument("--contract", type=int, default=None, help="when several")
        parser.add_argument("--fx-rate", default=None, help="contract currency per file's unit")

    def handle(self, *args, provider, file, format, contract, fx_rate, **options):
        try:
            content = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        try:
            rate = Decimal(fx_rate) if fx_rate is not None else None
        except InvalidOperation as exc:
            raise CommandError(f"--fx-rate {fx_rate!r} is not a decimal") from exc
        try:
            chosen = selectors.statement_contract_get(provider=provider, contract_id=contract)
            result = services.statement_import(
                contract=chosen,
                content=content,
                format=format,
                filename=file.name,
                fx_rate=rate,
                actor="command:settlement_import",
            )
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc}") from exc
        statement = result.statement
        if result.replayed:
            self.stdout.write(
                f"statement {statement.pk}: this file was imported before; nothing changed"
            )
            return
        for refusal in selectors.statement_refusals_list(statement=statement)[
            :REFUSALS_PRINTED_MAX
        ]:
            self.stdout.write(f"refused {refusal.locator}: {refusal.reason_code}: {refusal.reason}")
        self.stdout.write(
            self.style.SUCCESS(
                f"statement {statement.pk} ({statement.format}): {statement.rows_imported} rows "
                f"imported, {statement.rows_refused} refused"
            )
        )
