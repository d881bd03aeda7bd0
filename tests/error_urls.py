"""The product's URLs plus views that fail the way bugs do (for tests/test_errors.py)."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from config.urls import urlpatterns as product_urlpatterns


class Bug(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("a bug the tests planted")


def plain_bug(request):
    raise RuntimeError("a bug the tests planted, outside DRF")


class AlwaysRefuse(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        return False

    def wait(self) -> float:
        return 7.0


class Throttled(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [AlwaysRefuse]

    def get(self, request):  # pragma: no cover - the throttle refuses first
        raise AssertionError("not reached")


urlpatterns = [
    path("api/test-bug/", Bug.as_view()),
    path("api/test-plain-bug/", plain_bug),
    path("v1/test-throttled/", Throttled.as_view()),
    *product_urlpatterns,
]
