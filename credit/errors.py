"""The credit app's errors, each with a stable code (mapped to HTTP by config.errors)."""

from config.errors import DomainError, NotFound


class CreditError(DomainError):
    code = "credit_error"


class InvalidCreditLimit(CreditError):
    code = "invalid_credit_limit"


class InvalidCreditInput(CreditError):
    """A provision matrix, write-off, recovery or dunning step that cannot be."""

    code = "invalid_credit_input"


class WriteOffExceedsOpen(CreditError):
    """More than the invoice's open receivable (or a recovery above what was written off)."""

    code = "write_off_exceeds_open"
    http_status = 409


class ProvisionMatrixMissing(CreditError):
    """No provision matrix is in force for the book on that date."""

    code = "provision_matrix_missing"
    http_status = 422


class WriteOffNotFound(NotFound):
    code = "write_off_not_found"
