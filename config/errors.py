"""One error tree for the whole product, mapped once to HTTP.

Each app raises subclasses of DomainError with a stable `code`; the API answers
{"error": {"code": ..., "message": ..., "details": ...}} and never a stack trace.
"""

from typing import Any

from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler


class DomainError(Exception):
    """Bad input or a refused operation: the client's problem, not a bug."""

    code = "error"
    http_status = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, *, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class NotFound(DomainError):
    code = "not_found"
    http_status = status.HTTP_404_NOT_FOUND


class Conflict(DomainError):
    code = "conflict"
    http_status = status.HTTP_409_CONFLICT


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return {"error": body}


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.http_status)
    response = exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django's 500 handling (and logging) take it
    if isinstance(exc, ValidationError):
        response.data = error_body("invalid_input", "The request is not valid.", exc.detail)
    elif isinstance(exc, APIException):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "error"
        response.data = error_body(code, str(exc.detail))
    return response
