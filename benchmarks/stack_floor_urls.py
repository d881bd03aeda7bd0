"""The product's URLs plus two bench-only endpoints that do no wallet work, so that the
wallets bench can print what the same servers, clients and requests cost without it:

  /bench/floor/django  a plain Django view: reads the JSON body, answers a small JSON
                       object (gunicorn, WSGI, Django's middleware);
  /bench/floor/gateway the same through DRF with the authorization endpoint's gateway-key
                       authentication, permission and parser (the request path an
                       authorization takes before its decision).

Only the bench's servers load this module (benchmarks/stack_floor_settings.py); the
product's URLs are config/urls.py.
"""

import json

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.response import Response

from config.urls import urlpatterns as product_urlpatterns
from wallets.api import _GatewayApi

FLOOR_ANSWER = {"decision": "approved", "reason": None}


@csrf_exempt
def django_floor(request):
    body = json.loads(request.body)
    return JsonResponse({**FLOOR_ANSWER, "model": body.get("model")})


class GatewayFloorApi(_GatewayApi):
    def post(self, request):
        return Response({**FLOOR_ANSWER, "model": request.data.get("model")})


urlpatterns = [
    *product_urlpatterns,
    path("bench/floor/django", django_floor),
    path("bench/floor/gateway", GatewayFloorApi.as_view()),
]
