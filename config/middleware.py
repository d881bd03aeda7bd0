"""Middleware of our own.

Machine APIs (the gateways' /v1/ endpoints, authenticated by Bearer keys) never show a
flash message, yet Django's MessageMiddleware builds cookie and session storage for every
request: a measurable share of an authorization's CPU. Browser pages keep it.

A NUL character (U+0000) in a request's path or query reaches the database as a filter
and fails there, a 500; it is refused first, as bad input.
"""

from django.contrib.messages.middleware import MessageMiddleware
from django.http import JsonResponse

from config.errors import error_body

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
