"""POST /v1/usage: a gateway reports one event or a bounded batch.

With Kafka configured the events are produced to `usage.events` (idempotent producer,
keyed by customer so one customer's events stay in order on one partition) and the
answer is 202 as soon as Kafka has them. In the embedded default, without Kafka, the
same pipeline books them directly and the answer is 200 with the counts.
"""

import json

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import DomainError
from ledger.amounts import from_minor_units
from ledger.models import Asset
from ledger.permissions import CanReadLedger
from metering.gateway_keys import GatewayKeyAuthentication
from metering.ingest import ingest_events
from metering.selectors import GROUPINGS, usage_summary_list

USAGE_BATCH_MAX = 1_000


class UsageBatchTooLarge(DomainError):
    code = "batch_too_large"
    http_status = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


class InvalidUsageRequest(DomainError):
    code = "invalid_usage_request"


UsageResult = inline_serializer(
    "UsageIngestResult",
    {
        "accepted": serializers.IntegerField(),
        "mode": serializers.ChoiceField(choices=["kafka", "direct"]),
        "processed": serializers.IntegerField(required=False),
        "duplicates": serializers.IntegerField(required=False),
        "rejected": serializers.ListField(child=serializers.DictField(), required=False),
    },
)


class UsageIngestApi(APIView):
    authentication_classes = [GatewayKeyAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(
        request=inline_serializer(
            "UsageEvents",
            {
                "events": serializers.ListField(
                    child=serializers.DictField(), max_length=USAGE_BATCH_MAX
                )
            },
        ),
        responses={202: UsageResult, 200: UsageResult},
        description='One usage event (an object) or {"events": [...]} of at most '
        f"{USAGE_BATCH_MAX}. Events follow metering.schema.UsageEvent.",
    )
    def post(self, request):
        body = request.data
        events = body.get("events") if isinstance(body, dict) and "events" in body else [body]
        if not isinstance(events, list) or not events:
            raise InvalidUsageRequest('send one event object or {"events": [event, ...]}')
        if len(events) > USAGE_BATCH_MAX:
            raise UsageBatchTooLarge(f"at most {USAGE_BATCH_MAX} events per request")
        source = request.auth.source
        for index, event in enumerate(events):
            if not isinstance(event, dict):
                raise InvalidUsageRequest(f"events[{index}] is not an object")
            if event.get("source", source) != source:
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
                "requests": serializers.IntegerField(),
                "tokens": serializers.IntegerField(),
                "price": serializers.CharField(),
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
