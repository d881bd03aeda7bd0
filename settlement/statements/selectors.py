"""Reads of statements: which contract a provider's statement is for, statements, their
lines and refusals."""

from django.db.models import QuerySet

from settlement.commitments.models import Contract
from settlement.errors import StatementNotFound, UnknownContract
from settlement.statements.models import Statement, StatementLine, StatementRefusal


def statement_contract_get(*, provider: str, contract_id: int | None = None) -> Contract:
    """The contract a statement of `provider` is for: the one named, or the provider's
    only contract."""
    contracts = Contract.objects.select_related("currency", "book").filter(provider=provider)
    if contract_id is not None:
        contract = contracts.filter(pk=contract_id).first()
        if contract is None:
            raise UnknownContract(
                f"{provider} has no contract {contract_id}",
                details={"provider": provider, "contract": contract_id},
            )
        return contract
    found = list(contracts[:2])
    if len(found) != 1:
        raise UnknownContract(
            f"{provider} has {'no contract' if not found else 'several contracts'}: name one",
            details={"provider": provider},
        )
    return found[0]


def statement_list(*, contract_id: int | None = None) -> QuerySet[Statement]:
    statements = Statement.objects.select_related("contract").order_by("-pk")
    if contract_id is not None:
        statements = statements.filter(contract_id=contract_id)
    return statements


def statement_get(*, statement_id: int) -> Statement:
    statement = statement_list().filter(pk=statement_id).first()
    if statement is None:
        raise StatementNotFound(f"statement {statement_id} does not exist")
    return statement


def statement_lines_list(*, statement: Statement) -> QuerySet[StatementLine]:
    return StatementLine.objects.filter(statement=statement).order_by("usage_day", "model", "pk")


def statement_refusals_list(*, statement: Statement) -> QuerySet[StatementRefusal]:
    return StatementRefusal.objects.filter(statement=statement).order_by("pk")
