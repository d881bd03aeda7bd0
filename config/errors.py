"""One error tree for the whole product, mapped once to HTTP.

Each app raises subclasses of DomainError with a stable `code`; the API answers
{"error": {"code": ..., "message": ..., "details": ...}} and never a stack trace.

Errors that are not the apps' own (DRF's validation, authentication, 404, 405, 415,
throttling; Django's 404 and 403; a database that does not answer; a bug) are turned
into the DomainError subclasses below by `api_error_for`, the one mapping. Two places
call it: `api_exception_handler` (DRF's EXCEPTION_HANDLER, for what DRF views raise on
purpose) and `config.middleware.ApiErrorMiddleware` (everything else under /api/ and
/v1/: unhandled exceptions, a database that is down, Django's own error pages). The
README's "Errors" table lists every code with its status (`error_code_rows`).
"""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import SuspiciousOperation
from django.db import InterfaceError as DbInterfaceError
from django.db import OperationalError as DbOperationalError
from django.http import Http404, JsonResponse
from django.utils.log import log_response
from rest_framework import exceptions as drf
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import set_rollback

# Paths whose errors are always JSON (the API); other paths (admin, docs) keep HTML.
API_PATH_PREFIXES = ("/api/", "/v1/")


class DomainError(Exception):
    """Bad input or a refused operation: the client's problem, not a bug."""

    code = "error"
    http_status = status.HTTP_400_BAD_REQUEST
    headers: dict[str, str] = {}

    def __init__(self, message: str, *, details: Any = None, headers: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if headers:
            self.headers = headers


class InvalidInput(DomainError):
    """A field or parameter is missing or wrong; `details` names each one."""

    code = "invalid_input"


class MalformedRequest(DomainError):
    """The body cannot be parsed (not JSON, not valid Unicode, nested too deeply)."""

    code = "parse_error"


class BadRequest(DomainError):
    """A request Django refuses before any view (a bad Host header, a body too large)."""

    code = "bad_request"


class NotAuthenticated(DomainError):
    """No credentials, or credentials that are wrong: always 401 with WWW-Authenticate."""

    code = "not_authenticated"
    http_status = status.HTTP_401_UNAUTHORIZED


class PermissionDenied(DomainError):
    """Authenticated, but this login or key may not do this."""

    code = "permission_denied"
    http_status = status.HTTP_403_FORBIDDEN


class NotFound(DomainError):
    code = "not_found"
    http_status = status.HTTP_404_NOT_FOUND


class MethodNotAllowed(DomainError):
    code = "method_not_allowed"
    http_status = status.HTTP_405_METHOD_NOT_ALLOWED


class NotAcceptable(DomainError):
    """The Accept header names no format this endpoint renders."""

    code = "not_acceptable"
    http_status = status.HTTP_406_NOT_ACCEPTABLE


class Conflict(DomainError):
    code = "conflict"
    http_status = status.HTTP_409_CONFLICT


class UnsupportedMediaType(DomainError):
    """The body's Content-Type is not one this endpoint parses (send application/json)."""

    code = "unsupported_media_type"
    http_status = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE


class Throttled(DomainError):
    """Too many requests; Retry-After says when to try again."""

    code = "throttled"
    http_status = status.HTTP_429_TOO_MANY_REQUESTS


class InternalError(DomainError):
    """A bug: logged with its traceback, answered without one."""

    code = "internal_error"
    http_status = status.HTTP_500_INTERNAL_SERVER_ERROR


class DatabaseUnavailable(DomainError):
    """The database does not answer; nothing was written. Retry later."""

    code = "database_unavailable"
    http_status = status.HTTP_503_SERVICE_UNAVAILABLE


# DRF's own exceptions, by class (most specific first is not needed: no subclassing).
_DRF_ERRORS: dict[type[drf.APIException], type[DomainError]] = {
    drf.ParseError: MalformedRequest,
    drf.AuthenticationFailed: NotAuthenticated,
    drf.NotAuthenticated: NotAuthenticated,
    drf.PermissionDenied: PermissionDenied,
    drf.NotFound: NotFound,
    drf.MethodNotAllowed: MethodNotAllowed,
    drf.NotAcceptable: NotAcceptable,
    drf.UnsupportedMediaType: UnsupportedMediaType,
    drf.Throttled: Throttled,
}

# What an Authorization-less 401 advertises when the view names no scheme of its own.
DEFAULT_AUTHENTICATE_HEADER = 'Basic realm="api"'


def _authenticate_header(context: dict | None) -> str:
    """The view's first authentication scheme that names itself (RFC 9110 wants one)."""
    request = (context or {}).get("request")
    for authenticator in getattr(request, "authenticators", None) or ():
        if header := authenticator.authenticate_header(request):
            return header
    return DEFAULT_AUTHENTICATE_HEADER


def _drf_error(exc: drf.APIException, context: dict | None) -> DomainError:
    if isinstance(exc, drf.ValidationError):
        return InvalidInput("The request is not valid.", details=exc.detail)
    kind = next((v for k, v in _DRF_ERRORS.items() if isinstance(exc, k)), None)
    message = str(exc.detail)
    if kind is NotAuthenticated:
        return NotAuthenticated(
            message, headers={"WWW-Authenticate": _authenticate_header(context)}
        )
    if kind is Throttled:
        wait = exc.wait
        headers = {"Retry-After": str(int(wait))} if wait is not None else None
        return Throttled(message, details={"retry_after_seconds": wait}, headers=headers)
    if kind is not None:
        return kind(message)
    # An APIException of our own making with its own status: keep status and code.
    error = DomainError(message)
    error.code = exc.get_codes() if isinstance(exc.get_codes(), str) else "error"
    error.http_status = exc.status_code
    return error


def api_error_for(exc: Exception, context: dict | None = None) -> DomainError:
    """The one mapping from any exception to the error the API answers."""
    if isinstance(exc, DomainError):
        return exc
    if isinstance(exc, Http404):
        return NotFound("Not found.")
    if isinstance(exc, DjangoPermissionDenied):
        return PermissionDenied(str(exc) or "You do not have permission to perform this action.")
    if isinstance(exc, drf.APIException):
        return _drf_error(exc, context)
    if isinstance(exc, (DbOperationalError, DbInterfaceError)):
        return DatabaseUnavailable("The database is unavailable; nothing was written. Retry.")
    if isinstance(exc, SuspiciousOperation):
        return BadRequest("The request was refused.")
    return InternalError("Internal error; it has been logged.")


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return {"error": body}


def _body(error: DomainError) -> dict[str, Any]:
    return error_body(error.code, error.message, error.details)


def error_json_response(error: DomainError) -> JsonResponse:
    """The error as a plain Django response (outside DRF: middleware)."""
    response = JsonResponse(_body(error), status=error.http_status)
    for name, value in error.headers.items():
        response[name] = value
    return response


def log_api_error(error: DomainError, exc: Exception, request, response) -> None:
    """Log once, on django.request as Django would: a bug with its traceback, a database
    that does not answer in one line, a client's error (4xx) in one line."""
    if isinstance(error, DatabaseUnavailable):
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log_response(
            "Database unavailable: %s (%s)",
            request.path,
            reason,
            response=response,
            request=request,
        )
    else:
        log_response(
            "%s: %s",
            response.reason_phrase,
            request.path,
            response=response,
            request=request,
            exception=exc if error.http_status >= 500 else None,
        )


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: what views raise on purpose, in the one envelope.

    Anything else (a bug, a database that is down) is left to propagate, so that an
    atomic block rolls back on the way out; ApiErrorMiddleware answers it.
    """
    if not isinstance(exc, (DomainError, drf.APIException, Http404, DjangoPermissionDenied)):
        return None
    error = api_error_for(exc, context)
    set_rollback()
    return Response(_body(error), status=error.http_status, headers=error.headers or None)


class ClientErrorsInOneLine(logging.Filter):
    """On django.request: a 4xx (the admin's PermissionDenied, a 404) keeps its one line
    ("Forbidden (Permission denied): /admin/...") and loses the traceback Django adds."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", 500) < 500:
            record.exc_info = None
            record.exc_text = None
        return True


# --- the README's table ----------------------------------------------------------------


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def error_code_rows(extra: dict[str, int] | None = None) -> list[tuple[str, int]]:
    """Every (code, HTTP status) a DomainError subclass declares (imported ones),
    plus `extra` codes that one class raises under several names; sorted by status.

    A code means one status wherever it is raised: two classes that disagree fail.
    """
    statuses: dict[str, int] = dict(extra or {})
    for cls in _subclasses(DomainError):
        if cls.__module__.startswith("tests."):
            continue
        code, http_status = cls.code, cls.http_status
        if statuses.setdefault(code, http_status) != http_status:
            raise AssertionError(f"error code {code!r} has two statuses")
    return sorted(statuses.items(), key=lambda row: (row[1], row[0]))


def error_code_table(extra: dict[str, int] | None = None) -> str:
    lines = ["| HTTP status | code |", "|---|---|"]
    lines += [f"| {status_} | `{code}` |" for code, status_ in error_code_rows(extra)]
    return "\n".join(lines)
