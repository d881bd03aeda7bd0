"""The credit app's errors, each with a stable code (mapped to HTTP by config.errors)."""

from config.errors import DomainError


class CreditError(DomainError):
    code = "credit_error"


class InvalidCreditLimit(CreditError):
    code = "invalid_credit_limit"
