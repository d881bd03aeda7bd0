"""Settlement's errors, each with a stable code (mapped to HTTP by config.errors)."""

from rest_framework import status

from config.errors import Conflict, DomainError, NotFound


class SettlementError(DomainError):
    code = "settlement_error"


class UnknownProvider(SettlementError):
    """No upstream price of the catalogue names this provider."""

    code = "unknown_provider"


class InvalidContract(SettlementError):
    """A contract's terms are out of range (details name the field)."""

    code = "invalid_contract"


class InvalidCommitment(SettlementError):
    """A commitment's dates, models, priority or funding are wrong (details name them)."""

    code = "invalid_commitment"


class CurrencyMismatch(SettlementError):
    """A commitment is bought in its contract's currency only."""

    code = "currency_mismatch"


class IdempotencyKeyRequired(SettlementError):
    """Buying a commitment books money: it needs an Idempotency-Key."""

    code = "idempotency_key_required"


class IdempotencyConflict(Conflict):
    """The Idempotency-Key bought another commitment before."""

    code = "idempotency_conflict"


class ContractConflict(Conflict):
    """The book already has a contract of this name with this provider."""

    code = "contract_conflict"


class ContractNotFound(NotFound):
    code = "contract_not_found"


class CommitmentNotFound(NotFound):
    code = "commitment_not_found"


class UnknownContract(SettlementError):
    """A request's body names a contract that does not exist."""

    code = "unknown_contract"


class UnknownCurrency(SettlementError):
    """A contract's currency is not a ledger asset."""

    code = "unknown_currency"


# --- statements and reconciliation -----------------------------------------------------


class StatementMalformed(SettlementError):
    """The file is not a statement of the format (not JSON, not the documented shape, a
    CSV without the required columns): nothing of it is imported."""

    code = "statement_malformed"


class StatementNotFound(NotFound):
    code = "statement_not_found"


class InvalidReconciliation(SettlementError):
    """A reconciliation's period is wrong (details name the field)."""

    code = "invalid_reconciliation"


class ReconciliationNotFound(NotFound):
    code = "reconciliation_not_found"


class DifferenceNotFound(NotFound):
    code = "difference_not_found"


class DifferenceStale(Conflict):
    """The difference is no longer what the books and statements say (usage, a statement
    or a true-up arrived since the run): reconcile again and accept the new one."""

    code = "difference_stale"


class NothingToTrueUp(SettlementError):
    """The difference is in tokens only (the statement names no cost for it): there is
    no amount to book."""

    code = "nothing_to_true_up"
    http_status = status.HTTP_422_UNPROCESSABLE_ENTITY
