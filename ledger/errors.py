"""The ledger's errors: bad input or refused operations, each with a stable code."""

from rest_framework import status

from config.errors import Conflict, DomainError, NotFound


class LedgerError(DomainError):
    code = "ledger_error"


class InvalidEvent(LedgerError):
    code = "invalid_event"


class UnknownEventType(LedgerError):
    code = "unknown_event_type"


class UnbalancedEntry(LedgerError):
    code = "unbalanced_entry"


class UnknownAccount(LedgerError):
    """A posting (a request's body) names an account that does not exist: bad input."""

    code = "unknown_account"


class UnknownBook(LedgerError):
    """A request's body names a book that does not exist: bad input."""

    code = "unknown_book"


class AccountNotFound(NotFound):
    """The account a URL addresses does not exist."""

    code = "account_not_found"


class AccountMismatch(LedgerError):
    """A posting names an account of another book or asset than its entry."""

    code = "account_mismatch"


class IdempotencyConflict(Conflict):
    """The key was used before with different input: never a silent success."""

    code = "idempotency_conflict"


class InsufficientFunds(LedgerError):
    code = "insufficient_funds"
    http_status = status.HTTP_409_CONFLICT


class EntryNotFound(NotFound):
    code = "entry_not_found"


class AlreadyReversed(Conflict):
    code = "entry_already_reversed"


class HoldNotFound(NotFound):
    code = "hold_not_found"


class HoldAlreadyResolved(Conflict):
    code = "hold_already_resolved"


class HoldExpired(Conflict):
    code = "hold_expired"


class AppendOnlyViolation(LedgerError):
    code = "append_only"
