"""Outbound webhooks over HTTP, under /api/webhooks/ (finance staff on every book, a
reseller's staff on their own books' rows; webhooks.permissions):

  endpoints/                       GET list (?book=), POST create (the secret is shown)
  endpoints/{id}/                  GET one (no secret, its last 4 characters)
  endpoints/{id}/secret/           GET the signing secret (change permission)
  endpoints/{id}/rotate-secret/    POST a new secret (shown)
  endpoints/{id}/disable/, enable/ POST
  events/                          GET list (?book=, ?type=)
  deliveries/                      GET list with attempts (?book=, ?state=, ?endpoint=, ?event=)
  deliveries/{id}/                 GET one with attempts
  deliveries/{id}/resend/          POST a delivered or failed delivery again (202)

Views are thin: validate, call one selector or service, serialise.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ledger.errors import UnknownBook
from webhooks import permissions, selectors, services
from webhooks.errors import (
    InvalidWebhookUrl,
    WebhookDeliveryNotFound,
    WebhookDeliveryPending,
    WebhookEndpointDisabled,
    WebhookEndpointLimit,
    WebhookEndpointNotFound,
)
from webhooks.event_types import EVENT_TYPES
from webhooks.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.signing import SIGNATURE_HEADER


def _actor(request) -> str:
    return f"user:{request.user.get_username()}"


def _reach(request, perm: str):
    """The books this login may act on with `perm`'s operation (None: every book)."""
    return permissions.books_in_reach(request, perm)


# --- serializers -----------------------------------------------------------------------


class WebhookEndpointOutput(serializers.ModelSerializer):
    book = serializers.SlugRelatedField(slug_field="code", read_only=True)
    secret_hint = serializers.SerializerMethodField(
        help_text="the signing secret's last 4 characters"
    )
    audience = serializers.CharField(
        help_text="empty: the seller's own endpoint; else an app's (e.g. `customer:<id>`, a "
        "customer's low-balance alert URL, made through its alert settings), which receives "
        "only that audience's events"
    )
    event_types = serializers.ListField(
        child=serializers.CharField(), help_text="the types it receives; empty: all"
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "book",
            "url",
            "description",
            "event_types",
            "audience",
            "active",
            "secret_hint",
            "created_at",
            "created_by",
            "updated_at",
            "updated_by",
            "secret_rotated_at",
        ]

    def get_secret_hint(self, endpoint: WebhookEndpoint) -> str:
        return f"…{endpoint.secret[-4:]}"


class WebhookEndpointWithSecretOutput(WebhookEndpointOutput):
    secret = serializers.CharField(help_text="the signing secret (whsec_…)")

    class Meta(WebhookEndpointOutput.Meta):
        fields = [*WebhookEndpointOutput.Meta.fields, "secret"]


class WebhookEndpointInput(serializers.Serializer):
    book = serializers.CharField(max_length=64, help_text="the seller's book code")
    url = serializers.CharField(
        max_length=2000, help_text="http(s); a public address in production"
    )
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(EVENT_TYPES)),
        required=False,
        default=list,
        max_length=len(EVENT_TYPES),
        help_text="the types it receives; empty or absent: all",
    )
    description = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )


class WebhookSecretOutput(serializers.Serializer):
    id = serializers.IntegerField()
    secret = serializers.CharField()


class WebhookEventOutput(serializers.ModelSerializer):
    id = serializers.SerializerMethodField(help_text="evt_…, the body's `id`")
    book = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = WebhookEvent
        fields = ["id", "book", "type", "payload", "idempotency_key", "created_at"]

    def get_id(self, event: WebhookEvent) -> str:
        return f"evt_{event.public_id.hex}"


class WebhookDeliveryAttemptOutput(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = [
            "number",
            "attempted_at",
            "status_code",
            "error",
            "duration_ms",
            "response_excerpt",
        ]


class WebhookDeliveryOutput(serializers.ModelSerializer):
    event = serializers.SerializerMethodField(help_text="evt_…")
    event_type = serializers.CharField(source="event.type")
    book = serializers.CharField(source="event.book.code")
    url = serializers.CharField(source="endpoint.url")
    attempt_log = WebhookDeliveryAttemptOutput(many=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "event_type",
            "book",
            "endpoint",
            "url",
            "state",
            "attempts",
            "attempts_in_round",
            "next_attempt_at",
            "resends",
            "created_at",
            "resolved_at",
            "attempt_log",
        ]

    def get_event(self, delivery: WebhookDelivery) -> str:
        return f"evt_{delivery.event.public_id.hex}"


# --- endpoints -------------------------------------------------------------------------


class EndpointListApi(generics.ListAPIView):
    permission_classes = [
        permissions.needs(GET=permissions.VIEW_ENDPOINTS, POST=permissions.ADD_ENDPOINTS)
    ]
    serializer_class = WebhookEndpointOutput
    api_errors = {"POST": (UnknownBook, InvalidWebhookUrl, WebhookEndpointLimit)}

    @extend_schema(parameters=[OpenApiParameter("book", str, description="book code")])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.endpoints_list(
            book_code=self.request.query_params.get("book"),
            books=_reach(self.request, permissions.VIEW_ENDPOINTS),
        )

    @extend_schema(
        request=WebhookEndpointInput,
        responses={201: WebhookEndpointWithSecretOutput},
        description="A new endpoint of a seller's book; the answer shows its signing secret. "
        f"Events are POSTed with `{SIGNATURE_HEADER}: t=<unix>,v1=<hex HMAC-SHA256(secret, "
        '"<t>.<body>")>` (Stripe\'s scheme).',
    )
    def post(self, request):
        data = WebhookEndpointInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        endpoint = services.webhook_endpoint_create(
            book=selectors.book_by_code(
                values["book"], books=_reach(request, permissions.ADD_ENDPOINTS)
            ),
            url=values["url"],
            event_types=values["event_types"],
            description=values["description"],
            actor=_actor(request),
        )
        return Response(
            WebhookEndpointWithSecretOutput(endpoint).data, status=status.HTTP_201_CREATED
        )


class EndpointDetailApi(APIView):
    permission_classes = [permissions.needs(GET=permissions.VIEW_ENDPOINTS)]
    api_errors = (WebhookEndpointNotFound,)

    @extend_schema(responses=WebhookEndpointOutput)
    def get(self, request, endpoint_id: int):
        endpoint = selectors.endpoint_get(
            endpoint_id=endpoint_id, books=_reach(request, permissions.VIEW_ENDPOINTS)
        )
        return Response(WebhookEndpointOutput(endpoint).data)


class EndpointSecretApi(APIView):
    permission_classes = [permissions.needs(GET=permissions.CHANGE_ENDPOINTS)]
    api_errors = (WebhookEndpointNotFound,)

    @extend_schema(responses=WebhookSecretOutput, description="The endpoint's signing secret.")
    def get(self, request, endpoint_id: int):
        endpoint = selectors.endpoint_get(
            endpoint_id=endpoint_id, books=_reach(request, permissions.CHANGE_ENDPOINTS)
        )
        return Response({"id": endpoint.pk, "secret": endpoint.secret})


class EndpointSecretRotateApi(APIView):
    permission_classes = [permissions.needs(POST=permissions.CHANGE_ENDPOINTS)]
    api_errors = (WebhookEndpointNotFound,)

    @extend_schema(
        request=None,
        responses=WebhookEndpointWithSecretOutput,
        description="A new signing secret, used from the next attempt on; the old one "
        "stops at once.",
    )
    def post(self, request, endpoint_id: int):
        # Out of reach is not found; the book of an endpoint never changes.
        selectors.endpoint_get(
            endpoint_id=endpoint_id, books=_reach(request, permissions.CHANGE_ENDPOINTS)
        )
        endpoint = services.webhook_endpoint_secret_rotate(
            endpoint_id=endpoint_id, actor=_actor(request)
        )
        return Response(WebhookEndpointWithSecretOutput(endpoint).data)


class _EndpointActivateApi(APIView):
    permission_classes = [permissions.needs(POST=permissions.CHANGE_ENDPOINTS)]
    api_errors = (WebhookEndpointNotFound,)
    active = True

    def post(self, request, endpoint_id: int):
        selectors.endpoint_get(
            endpoint_id=endpoint_id, books=_reach(request, permissions.CHANGE_ENDPOINTS)
        )
        endpoint = services.webhook_endpoint_activate(
            endpoint_id=endpoint_id, active=self.active, actor=_actor(request)
        )
        return Response(WebhookEndpointOutput(endpoint).data)


@extend_schema(
    request=None,
    responses=WebhookEndpointOutput,
    description="Stop sending to it; its pending deliveries wait until it is enabled.",
)
class EndpointDisableApi(_EndpointActivateApi):
    active = False


@extend_schema(request=None, responses=WebhookEndpointOutput, description="Send to it again.")
class EndpointEnableApi(_EndpointActivateApi):
    active = True


# --- events and deliveries -------------------------------------------------------------


class EventListApi(generics.ListAPIView):
    permission_classes = [permissions.needs(GET=permissions.VIEW_EVENTS)]
    serializer_class = WebhookEventOutput

    @extend_schema(
        parameters=[
            OpenApiParameter("book", str, description="book code"),
            OpenApiParameter("type", str, description="event type", enum=sorted(EVENT_TYPES)),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = self.request.query_params
        return selectors.events_list(
            book_code=params.get("book"),
            event_type=params.get("type"),
            books=_reach(self.request, permissions.VIEW_EVENTS),
        )


class _WebhookDeliveryQuery(serializers.Serializer):
    book = serializers.CharField(required=False, max_length=64)
    state = serializers.ChoiceField(choices=WebhookDelivery.State.choices, required=False)
    endpoint = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    event = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)


class DeliveryListApi(generics.ListAPIView):
    permission_classes = [permissions.needs(GET=permissions.VIEW_DELIVERIES)]
    serializer_class = WebhookDeliveryOutput

    @extend_schema(parameters=[_WebhookDeliveryQuery])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = _WebhookDeliveryQuery(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        return selectors.deliveries_list(
            book_code=values.get("book"),
            state=values.get("state"),
            endpoint_id=values.get("endpoint"),
            event_id=values.get("event"),
            books=_reach(self.request, permissions.VIEW_DELIVERIES),
        )


class DeliveryDetailApi(APIView):
    permission_classes = [permissions.needs(GET=permissions.VIEW_DELIVERIES)]
    api_errors = (WebhookDeliveryNotFound,)

    @extend_schema(responses=WebhookDeliveryOutput)
    def get(self, request, delivery_id: int):
        delivery = selectors.delivery_get(
            delivery_id=delivery_id, books=_reach(request, permissions.VIEW_DELIVERIES)
        )
        return Response(WebhookDeliveryOutput(delivery).data)


class DeliveryResendApi(APIView):
    permission_classes = [permissions.needs(POST=permissions.CHANGE_DELIVERIES)]
    api_errors = (WebhookDeliveryNotFound, WebhookDeliveryPending, WebhookEndpointDisabled)

    @extend_schema(
        request=None,
        responses={202: WebhookDeliveryOutput},
        description="Send a delivered or failed delivery again: a new round of attempts "
        "(the history stays). A pending one is refused (webhook_delivery_pending).",
    )
    def post(self, request, delivery_id: int):
        books = _reach(request, permissions.CHANGE_DELIVERIES)
        selectors.delivery_get(delivery_id=delivery_id, books=books)
        services.webhook_delivery_resend(delivery_id=delivery_id, actor=_actor(request))
        delivery = selectors.delivery_get(delivery_id=delivery_id, books=books)
        return Response(WebhookDeliveryOutput(delivery).data, status=status.HTTP_202_ACCEPTED)
