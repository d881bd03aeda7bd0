"""Prometheus metrics: every metric of the product, declared once here, and GET /metrics.

Names start with `tokenledger_` and carry their unit (`_seconds`, `_messages`, `_total`).
Labels are bounded: reason and error codes, decisions, statuses, partition numbers; never
a customer, key or event id. The hot paths record once per batch or per request, with
counts (the consumer books ~100k events/s: nothing here runs per event).

One process (`manage.py runserver`, tests) keeps its metrics in memory and /metrics shows
the default registry. Under gunicorn (several workers) and beside the usage consumers
(`manage.py metering_consume`, separate processes), every process is started with the
same PROMETHEUS_MULTIPROC_DIR: prometheus_client then keeps each process's values in a
file there, and /metrics sums them (MultiProcessCollector). The variable must be in the
environment before prometheus_client is imported, that is, when the process starts;
config/gunicorn.conf.py clears what dead processes left there.

Access (settings METRICS_TOKEN, METRICS_OPEN): with a token, a scrape must send
`Authorization: Bearer <token>` (401 otherwise); without one, /metrics answers only where
METRICS_OPEN is on (local and test settings), and 403 elsewhere (production).
"""

import functools
import hmac
import os
import time
from collections import Counter as Tally
from collections.abc import Iterable, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
if os.environ.get(MULTIPROC_DIR_VARIABLE):
    # The declarations below open this process's files there: a consumer started before
    # gunicorn (which prepares the directory) must not fail for want of it.
    os.makedirs(os.environ[MULTIPROC_DIR_VARIABLE], exist_ok=True)

# --- the metering consumer (metering/consumer.py) --------------------------------------

METERING_BATCHES = Counter(
    "tokenledger_metering_batches_total", "Batches the usage consumer booked and committed."
)
METERING_EVENTS_PROCESSED = Counter(
    "tokenledger_metering_events_processed_total",
    "Usage events the consumer booked (a usage record each).",
)
METERING_EVENTS_DUPLICATE = Counter(
    "tokenledger_metering_events_duplicate_total",
    "Usage events the consumer found booked before (or twice in one batch): not booked again.",
)
METERING_EVENTS_REJECTED = Counter(
    "tokenledger_metering_events_rejected_total",
    "Usage events the consumer dead-lettered, by reason code.",
    ["reason"],
)
METERING_CONSUMER_LAG = Gauge(
    "tokenledger_metering_consumer_lag_messages",
    "Messages behind on a partition after the consumer's last batch on it: the partition's "
    "high watermark less the committed next offset.",
    ["partition"],
    # The value the latest batch on the partition measured, whichever process booked it:
    # after a rebalance the partition's new owner writes the newer value.
    multiprocess_mode="mostrecent",
)
METERING_BATCH_DURATION = Histogram(
    "tokenledger_metering_batch_duration_seconds",
    "Seconds from a batch read from Kafka to its PostgreSQL commit.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)

# --- authorizations (POST /v1/authorizations, wallets/api.py) ---------------------------

AUTHORIZATION_DECISIONS = Counter(
    "tokenledger_authorization_decisions_total",
    "New authorization answers: decision approved, or declined with its reason; error with "
    "the error code when the request was refused. Idempotent replays are not counted again.",
    ["decision", "reason"],
)
AUTHORIZATION_DURATION = Histogram(
    "tokenledger_authorization_duration_seconds",
    "Seconds the authorization view took, from the authenticated request to its answer.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
# The child per (decision, reason), found once: labels() validates and locks on each call
# (a few microseconds of a request's budget). The codes are few, so the cache stays small.
_authorization_decision = functools.cache(AUTHORIZATION_DECISIONS.labels)

# --- usage reported over HTTP (/v1/usage, /v1/usage/<kind>; metering/ingest.py) --------

USAGE_HTTP_ITEMS = Counter(
    "tokenledger_usage_http_items_total",
    "Usage items reported over HTTP, by answer: accepted, duplicate (direct mode only), or "
    "refused with its code. With Kafka, rating refusals are the consumer's (rejected_total).",
    ["status", "code"],
)


# --- recording: what the instrumented modules call ---------------------------------------


def metering_batch_booked(result, seconds: float) -> None:
    """One committed consumer batch: `result` is the pipeline's BatchResult."""
    METERING_BATCHES.inc()
    if result.processed:
        METERING_EVENTS_PROCESSED.inc(result.processed)
    if result.duplicates:
        METERING_EVENTS_DUPLICATE.inc(result.duplicates)
    if result.dead_letters:  # the rare path: a tally over the dead letters only
        for reason, count in Tally(row.reason_code for row in result.dead_letters).items():
            METERING_EVENTS_REJECTED.labels(reason).inc(count)
    METERING_BATCH_DURATION.observe(seconds)


def metering_lag_set(lag_by_partition: Mapping[int, int]) -> None:
    for partition, lag in lag_by_partition.items():
        METERING_CONSUMER_LAG.labels(str(partition)).set(lag)


def metering_lag_forget(partitions: Iterable[int]) -> None:
    """Partitions this process no longer reads: their lag is their new owner's to tell."""
    for partition in partitions:
        try:
            METERING_CONSUMER_LAG.remove(str(partition))
        except KeyError:
            pass


def usage_http_items_count(items: Iterable[Mapping]) -> None:
    for (status, code), count in Tally(
        (item["status"], item.get("code", "")) for item in items
    ).items():
        USAGE_HTTP_ITEMS.labels(status, code).inc(count)


def authorization_observed(post):
    """Decorates the authorization view's `post`: one observe and one increment a request."""

    @functools.wraps(post)
    def observed(view, request, *args, **kwargs):
        started = time.perf_counter()
        try:
            response = post(view, request, *args, **kwargs)
        except Exception as exc:
            from config.errors import api_error_for  # Django's and DRF's, loaded by now

            _authorization_decision("error", api_error_for(exc).code).inc()
            raise
        finally:
            AUTHORIZATION_DURATION.observe(time.perf_counter() - started)
        if response.status_code == 201:  # 200 is a replay of an answer already counted
            _authorization_decision(response.data["decision"], response.data["reason"] or "").inc()
        return response

    return observed


# --- GET /metrics ------------------------------------------------------------------------


def exposition() -> bytes:
    """The text exposition format: the sum over PROMETHEUS_MULTIPROC_DIR when it is set,
    else this process's default registry."""
    path = os.environ.get(MULTIPROC_DIR_VARIABLE)
    if not path:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)
    return generate_latest(registry)


def _refusal(request):
    """None if the request may scrape, else the answer that refuses it."""
    from django.conf import settings
    from django.http import HttpResponse

    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return None
        response = HttpResponse(
            "not_authenticated: send Authorization: Bearer <METRICS_TOKEN>\n",
            status=401,
            content_type="text/plain; charset=utf-8",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if settings.METRICS_OPEN:
        return None
    return HttpResponse(
        "permission_denied: /metrics is closed until METRICS_TOKEN is set\n",
        status=403,
        content_type="text/plain; charset=utf-8",
    )


def metrics_view(request):
    from django.http import HttpResponse, HttpResponseNotAllowed

    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    response = HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
