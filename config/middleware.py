"""Middleware of our own.

Machine APIs (the gateways' /v1/ endpoints, authenticated by Bearer keys) never show a
flash message, yet Django's MessageMiddleware builds cookie and session storage for every
request: a measurable share of an authorization's CPU. Browser pages keep it.

A NUL character (U+0000) in a request's path or query reaches the database as a filter
and fails there, a 500; it is refused first, as bad input.

Every error under /api/ and /v1/ is JSON in the one envelope (config.errors), also with
DEBUG on: an exception no DRF handler answered (a bug, a database that is down) and the
pages Django makes itself (an unknown URL's 404, a 500 in a middleware).
"""

from django.contrib.messages.middleware import MessageMiddleware
from django.http import JsonResponse
from rest_framework.response import Response

from config.errors import (
    API_PATH_PREFIXES,
    BadRequest,
    DomainError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PermissionDenied,
    api_error_for,
    error_body,
    error_json_response,
    log_api_error,
)

MACHINE_API_PREFIX = "/v1/"


class BrowserMessageMiddleware(MessageMiddleware):
    def process_request(self, request):
        if not request.path.startswith(MACHINE_API_PREFIX):
            super().process_request(request)

    def process_response(self, request, response):
        if not hasattr(request, "_messages"):
            return response
        return super().process_response(request, response)


class RefuseNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # "%00" in the raw query is the cheap test; most requests have no query at all.
        if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", ""):
            return JsonResponse(
                error_body(
                    "invalid_input",
                    "The request's path or query holds the NUL character (U+0000).",
                ),
                status=400,
            )
        return self.get_response(request)


# Django's own error pages, by status, as the API's errors.
_PAGE_ERRORS: dict[int, tuple[type[DomainError], str]] = {
    400: (BadRequest, "The request was refused."),
    403: (PermissionDenied, "You do not have permission to perform this action."),
    404: (NotFound, "Not found."),
    405: (MethodNotAllowed, "Method not allowed."),
}


def _is_api(request) -> bool:
    return request.path.startswith(API_PATH_PREFIXES)


class ApiErrorMiddleware:
    """Outermost: the API's errors are JSON whatever raised them (see the module doc)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and not isinstance(response, (Response, JsonResponse))
            and _is_api(request)
        ):
            # A page Django rendered (an unknown URL, an exception in a middleware, which
            # Django logged already): the same answer in the API's envelope.
            fallback = (
                (InternalError, "Internal error; it has been logged.")
                if response.status_code >= 500
                else (BadRequest, "The request was refused.")
            )
            kind, message = _PAGE_ERRORS.get(response.status_code, fallback)
            error = kind(message)
            error.http_status = response.status_code
            return error_json_response(error)
        return response

    def process_exception(self, request, exception):
        if not _is_api(request):
            return None  # the admin and the docs keep Django's pages
        error = api_error_for(exception)
        response = error_json_response(error)
        log_api_error(error, exception, request, response)
        return response
