"""The portal's language, and only the portal's.

Django's LocaleMiddleware would also translate the API's and the admin's answers after a
client's Accept-Language (DRF's validation messages come in Chinese then), which API
clients never asked for. The portal's pages take the language a visitor chose with the
switcher (Django's language cookie), else the browser's Accept-Language, else English.
"""

from django.middleware.locale import LocaleMiddleware
from django.utils import translation

PORTAL_PREFIX = "/portal/"


class PortalLocaleMiddleware(LocaleMiddleware):
    def process_request(self, request):
        if request.path.startswith(PORTAL_PREFIX):
            super().process_request(request)
        else:
            # The activation is per thread: a threaded server's next request in this
            # thread must not inherit the language a portal page chose.
            translation.deactivate()

    def process_response(self, request, response):
        if not request.path.startswith(PORTAL_PREFIX):
            return response
        return super().process_response(request, response)
