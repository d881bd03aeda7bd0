"""Gateways' authorization API, mounted at /v1/."""

from django.urls import path

from wallets import api

urlpatterns = [
    path("authorizations", api.AuthorizationCreateApi.as_view(), name="authorization-create"),
    path(
        "authorizations/<str:public_id>",
        api.AuthorizationDetailApi.as_view(),
        name="authorization-detail",
    ),
    path(
        "authorizations/<str:public_id>/capture",
        api.AuthorizationCaptureApi.as_view(),
        name="authorization-capture",
    ),
    path(
        "authorizations/<str:public_id>/void",
        api.AuthorizationVoidApi.as_view(),
        name="authorization-void",
    ),
]
