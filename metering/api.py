"""POST /v1/usage: a gateway reports one event or a bounded batch.

With Kafka configured the events are produced to `usage.events` (idempotent producer,
keyed by customer so one customer's events stay in order on one partition) and the
answer is 202 as soon as Kafka has them. In the embedded default, without Kafka, the
same pipeline books them directly and the answer is 200 with the counts.
"""

import datetime as dt
import json
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from pydantic import BaseModel, Field, RootModel
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.csv_export import EXPORT_RENDERERS, csv_response, text_cell
from config.errors import DomainError
from config.parsers import JSONParser
from ledger.amounts import from_minor_units
from ledger.models import Asset
from ledger.permissions import CanReadLedger
from metering.adapters.litellm import CUSTOMER_FIELDS
from metering.ingest import ACCEPTED, DUPLICATE, REFUSED, ingest_events, ingest_native
from metering.schema import GatewayId, UsageEvent
from metering.selectors import (
    GROUPINGS,
    USAGE_FINANCE_FIELDS,
    USAGE_TENANT_FIELDS,
    usage_records_iter,
    usage_summary_list,
)
from wallets import access
from wallets.errors import CustomerNotFound
from wallets.gateways.keys import GatewayKeyAuthentication

USAGE_BATCH_MAX = 1_000


class UsageBatchTooLarge(DomainError):
    code = "batch_too_large"
    http_status = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


class InvalidUsageRequest(DomainError):
    code = "invalid_usage_request"


class NoUsageEvents(DomainError):
    code = "no_usage_events"


class ReportedUsageEvent(UsageEvent):
    """Documentation only: a usage event as a gateway reports it over HTTP (schema v1);
    `source` may be left out and is then the gateway key's, which it must match."""

    source: GatewayId | None = None


class UsageEventBatch(BaseModel):
    """Documentation only: the batch form of the request body."""

    events: list[ReportedUsageEvent] = Field(min_length=1, max_length=USAGE_BATCH_MAX)


class UsageRequest(RootModel[ReportedUsageEvent | UsageEventBatch]):
    """Documentation only: one event object, or {"events": [...]}."""


UsageItemResult = inline_serializer(
    "UsageItemResult",
    {
        "index": serializers.IntegerField(help_text="the event's index in the request"),
        "status": serializers.ChoiceField(choices=[ACCEPTED, DUPLICATE, REFUSED]),
        "code": serializers.CharField(
            required=False, help_text="why it was refused, e.g. schema_violation, not_billable"
        ),
        "reason": serializers.CharField(required=False),
    },
    many=True,
)

UsageResult = inline_serializer(
    "UsageIngestResult",
    {
        "mode": serializers.ChoiceField(choices=["kafka", "direct"]),
        "accepted": serializers.IntegerField(help_text="events accepted for booking"),
        "duplicates": serializers.IntegerField(help_text="events booked before (direct mode)"),
        "refused": serializers.IntegerField(help_text="events refused, each with a code"),
        "items": UsageItemResult,
    },
)


class UsageIngestApi(APIView):
    api_errors = (InvalidUsageRequest, NoUsageEvents, UsageBatchTooLarge)
    authentication_classes = [GatewayKeyAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(
        request=UsageRequest,
        responses={202: UsageResult, 200: UsageResult},
        description='One usage event (an object) or {"events": [...]} of 1 to '
        f"{USAGE_BATCH_MAX}. The answer is per item, by index: `accepted`, `duplicate` "
        "(booked before; direct mode) or `refused` with a code and reason; refused events "
        "are kept as dead letters, never booked. An event whose token counts are all zero "
        "is refused as `not_billable` (void its authorization, if it named one). With "
        "Kafka (202) the items give the edge checks; rating happens in the consumer.",
    )
    def post(self, request):
        body = request.data
        if isinstance(body, dict) and "events" in body:
            events = body["events"]
            if not isinstance(events, list):
                raise InvalidUsageRequest("'events' must be a list of event objects")
        elif isinstance(body, dict) and body:
            events = [body]
        elif isinstance(body, dict):
            events = []
        else:
            raise InvalidUsageRequest('send one event object or {"events": [event, ...]}')
        if not events:
            raise NoUsageEvents(
                'no usage events: send one event object or {"events": [event, ...]} '
                "with at least one event"
            )
        if len(events) > USAGE_BATCH_MAX:
            raise UsageBatchTooLarge(f"at most {USAGE_BATCH_MAX} events per request")
        source = request.auth.source
        for index, event in enumerate(events):
            if not isinstance(event, dict):
                raise InvalidUsageRequest(f"events[{index}] is not an object")
            if event.get("source") not in (None, source):  # absent or null: the key's
                raise InvalidUsageRequest(
                    f"events[{index}].source is {event.get('source')!r}; this key may only "
                    f"report source {source!r}"
                )
        payloads = [json.dumps({**event, "source": source}).encode() for event in events]
        outcome = ingest_events(
            payloads,
            keys=[str(e.get("customer", "")) for e in events],
            kafka_servers=settings.KAFKA_BOOTSTRAP_SERVERS,
        )
        code = status.HTTP_202_ACCEPTED if outcome["mode"] == "kafka" else status.HTTP_200_OK
        return Response(outcome, status=code)


class NativeUsageRequest(RootModel[dict[str, Any] | list[dict[str, Any]]]):
    """Documentation only: one provider record (an object) or a JSON list of them."""


# Header -> adapter argument, for providers whose record does not say whom it is for.
_NATIVE_HEADERS = {
    "X-Customer-Id": "customer",
    "X-Api-Key-Id": "api_key",
    "X-Authorization-Id": "authorization_id",
    "X-Occurred-At": "occurred_at",
}
_HEADER_HELP = {
    "customer": "the customer's external id, for every record of the request",
    "api_key": "the customer's API key id the calls were made with",
    "authorization_id": "the wallet hold the calls settle (one record per request)",
    "occurred_at": "ISO 8601 with an offset; default: the record's own time, or for "
    "Anthropic (whose Message carries none) the time of receipt",
}


class _NativeUsageIngestApi(APIView):
    """A gateway reports usage in its provider's own format; `kind` names the adapter."""

    api_errors = (InvalidUsageRequest, NoUsageEvents, UsageBatchTooLarge)
    authentication_classes = [GatewayKeyAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    kind: str = ""
    takes_headers: tuple[str, ...] = ()  # the _NATIVE_HEADERS this provider takes

    def post(self, request):
        body = request.data
        records = body if isinstance(body, list) else [body]
        if not records or records == [{}]:
            raise NoUsageEvents("no usage records: send one record object or a list of them")
        if len(records) > USAGE_BATCH_MAX:
            raise UsageBatchTooLarge(f"at most {USAGE_BATCH_MAX} records per request")
        args = {"source": request.auth.source}
        for header in self.takes_headers:
            value = request.headers.get(header)
            if value:
                args[_NATIVE_HEADERS[header]] = value
        if "occurred_at" in args:
            try:
                moment = dt.datetime.fromisoformat(args["occurred_at"])
            except ValueError:
                moment = None
            if moment is None or moment.tzinfo is None:
                raise InvalidUsageRequest("X-Occurred-At: an ISO 8601 timestamp with an offset")
        elif self.kind == "anthropic":
            args["occurred_at"] = timezone.now().isoformat()
        if self.kind == "litellm":
            # X-Customer-Id (above) > ?customer_from= > the gateway key's setting. Always
            # in the args, so with Kafka the header makes the consumer adapt the record
            # exactly as the direct path does, whatever the key says by then.
            customer_from = request.query_params.get("customer_from")
            if customer_from and customer_from not in CUSTOMER_FIELDS:
                raise InvalidUsageRequest(f"customer_from: one of {', '.join(CUSTOMER_FIELDS)}")
            args["customer_from"] = customer_from or request.auth.litellm_customer_from
        outcome = ingest_native(
            self.kind, records, args=args, kafka_servers=settings.KAFKA_BOOTSTRAP_SERVERS
        )
        code = status.HTTP_202_ACCEPTED if outcome["mode"] == "kafka" else status.HTTP_200_OK
        return Response(outcome, status=code)


def _native_view(kind: str, headers: tuple[str, ...], what: str, extra=()) -> type[APIView]:
    parameters = [
        OpenApiParameter(
            header, str, OpenApiParameter.HEADER, description=_HEADER_HELP[_NATIVE_HEADERS[header]]
        )
        for header in headers
    ]

    def post(self, request):
        return _NativeUsageIngestApi.post(self, request)

    post = extend_schema(
        request=NativeUsageRequest,
        parameters=[*parameters, *extra],
        responses={202: UsageResult, 200: UsageResult},
        description=f"{what}: one record or a JSON list of 1 to {USAGE_BATCH_MAX}, answered "
        "per item as POST /v1/usage is. A record the adapter refuses is `refused` with its "
        "reason and kept as a dead letter; the others still book. Each event's metadata "
        f'says `"adapter": "{kind}"`.',
    )(post)
    name = f"{kind.capitalize()}UsageIngestApi"
    view = type(
        name, (_NativeUsageIngestApi,), {"kind": kind, "takes_headers": headers, "post": post}
    )
    return view


_ALL_HEADERS = tuple(_NATIVE_HEADERS)
OpenAIUsageIngestApi = _native_view(
    "openai", _ALL_HEADERS, "OpenAI-shaped response bodies (chat.completion or response)"
)
AnthropicUsageIngestApi = _native_view(
    "anthropic", _ALL_HEADERS, "Anthropic Message bodies (type: message)"
)
OpenRouterUsageIngestApi = _native_view(
    "openrouter",
    ("X-Customer-Id", "X-Api-Key-Id", "X-Authorization-Id"),
    "OpenRouter generation records (GET /api/v1/generation, whole or its data object)",
)
LiteLLMUsageIngestApi = _native_view(
    "litellm",
    ("X-Customer-Id",),
    "LiteLLM StandardLoggingPayload records, as its generic_api callback sends them; the "
    "customer is the field `customer_from` (else the gateway key's `litellm_customer_from`) "
    "names, unless X-Customer-Id says it",
    extra=[
        OpenApiParameter(
            "customer_from",
            str,
            enum=list(CUSTOMER_FIELDS),
            description="which payload field names the customer; default: the gateway "
            "key's `litellm_customer_from` (user_api_key_team_id unless set otherwise)",
        )
    ],
)


class _SummaryQuery(serializers.Serializer):
    group_by = serializers.ChoiceField(choices=sorted(GROUPINGS), default="model")
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100)


class UsageSummaryApi(APIView):
    """Requests, tokens, price, cost and margin per model, customer or seller book."""

    permission_classes = [CanReadLedger]

    @extend_schema(
        parameters=[_SummaryQuery],
        responses=inline_serializer(
            "UsageSummaryRow",
            {
                "provider": serializers.CharField(required=False, help_text="group_by=model"),
                "model": serializers.CharField(required=False, help_text="group_by=model"),
                "customer": serializers.CharField(
                    required=False, help_text="group_by=customer: its external id"
                ),
                "book": serializers.CharField(
                    required=False, help_text="group_by=book: the seller book's code"
                ),
                "currency": serializers.CharField(help_text="the amounts' asset code"),
                "requests": serializers.IntegerField(),
                "tokens": serializers.IntegerField(),
                "price_minor": serializers.IntegerField(help_text="in the currency's minor units"),
                "cost_minor": serializers.IntegerField(),
                "margin_minor": serializers.IntegerField(),
                "price": serializers.CharField(help_text="exact decimal, e.g. '0.000588000'"),
                "cost": serializers.CharField(),
                "margin": serializers.CharField(),
            },
            many=True,
        ),
    )
    def get(self, request):
        query = _SummaryQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = usage_summary_list(**query.validated_data)
        scales = dict(Asset.objects.values_list("code", "scale"))
        for row in rows:
            scale = scales.get(row["currency"], 0)
            for name in ("price", "cost", "margin"):
                row[name] = from_minor_units(row[f"{name}_minor"], scale)
        return Response(rows)


# --- usage export ---------------------------------------------------------------------

VIEW_USAGE = "metering.view_usagerecord"  # finance: every customer, with cost and margin


class _PeriodQuery(serializers.Serializer):
    since = serializers.DateTimeField(required=False, help_text="occurred at or after")
    until = serializers.DateTimeField(required=False, help_text="occurred before")


class CustomerUsageCsvApi(APIView):
    """Every usage record of a customer in a period, as CSV: the customer's members see
    their own (price only); finance sees any customer's, with wholesale, cost and margin."""

    api_errors = (CustomerNotFound,)
    permission_classes = [IsAuthenticated]
    renderer_classes = EXPORT_RENDERERS

    @extend_schema(parameters=[_PeriodQuery], responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request, external_id: str):
        customer = access.customer_for_user(
            user=request.user, external_id=external_id, perm=VIEW_USAGE
        )
        query = _PeriodQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        finance = access.is_staff_for(request.user, VIEW_USAGE)
        scale = customer.currency.scale

        fields = USAGE_TENANT_FIELDS + (USAGE_FINANCE_FIELDS if finance else ())
        # Each *_minor amount also as a decimal string in the currency's unit.
        amounts = [name for name in fields if name.endswith("_minor")]

        def cell(value):
            if isinstance(value, str):
                return text_cell(value)
            return value.isoformat() if hasattr(value, "isoformat") else value

        def row(record) -> list:
            line = [cell(getattr(record, name)) for name in fields]
            for name in amounts:
                amount = getattr(record, name)
                line.append("" if amount is None else from_minor_units(amount, scale))
            return line

        records = usage_records_iter(customer=customer.external_id, **query.validated_data)
        return csv_response(
            f"usage-{customer.external_id}.csv",
            [*fields, *(name.removesuffix("_minor") for name in amounts)],
            (row(record) for record in records),
        )
