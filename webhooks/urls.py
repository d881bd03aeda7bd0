from django.urls import path

from webhooks import api

urlpatterns = [
    path("endpoints/", api.EndpointListApi.as_view(), name="webhooks-endpoints"),
    path("endpoints/<int:endpoint_id>/", api.EndpointDetailApi.as_view(), name="webhooks-endpoint"),
    path(
        "endpoints/<int:endpoint_id>/secret/",
        api.EndpointSecretApi.as_view(),
        name="webhooks-endpoint-secret",
    ),
    path(
        "endpoints/<int:endpoint_id>/rotate-secret/",
        api.EndpointSecretRotateApi.as_view(),
        name="webhooks-endpoint-rotate-secret",
    ),
    path(
        "endpoints/<int:endpoint_id>/disable/",
        api.EndpointDisableApi.as_view(),
        name="webhooks-endpoint-disable",
    ),
    path(
        "endpoints/<int:endpoint_id>/enable/",
        api.EndpointEnableApi.as_view(),
        name="webhooks-endpoint-enable",
    ),
    path("events/", api.EventListApi.as_view(), name="webhooks-events"),
    path("deliveries/", api.DeliveryListApi.as_view(), name="webhooks-deliveries"),
    path(
        "deliveries/<int:delivery_id>/", api.DeliveryDetailApi.as_view(), name="webhooks-delivery"
    ),
    path(
        "deliveries/<int:delivery_id>/resend/",
        api.DeliveryResendApi.as_view(),
        name="webhooks-delivery-resend",
    ),
]
