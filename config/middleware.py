"""Middleware of our own.

Machine APIs (the gateways' /v1/ endpoints, authenticated by Bearer keys) never show a
flash message, yet Django's MessageMiddleware builds cookie and session storage for every
request: a measurable share of an authorization's CPU. Browser pages keep it.
"""

from django.contrib.messages.middleware import MessageMiddleware

MACHINE_API_PREFIX = "/v1/"


class BrowserMessageMiddleware(MessageMiddleware):
    def process_request(self, request):
        if not request.path.startswith(MACHINE_API_PREFIX):
            super().process_request(request)

    def process_response(self, request, response):
        if not hasattr(request, "_messages"):
            return response
        return super().process_response(request, response)
