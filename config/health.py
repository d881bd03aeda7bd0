"""/healthz: every dependency's state, 503 naming the ones that are down.

A dependency the running configuration does not use (Kafka in the embedded default,
Redis while Celery runs eager, Stripe without a key) is reported as "disabled" and
does not fail the probe. Probes run in parallel, each bounded by HEALTHZ_TIMEOUT_S.
"""

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from urllib.parse import urlparse

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET


def _check_database() -> str:
    # A fresh connection per probe thread; closed so probes do not leak connections.
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()
    return "ok"


def _check_kafka() -> str:
    if not settings.KAFKA_BOOTSTRAP_SERVERS:
        return "disabled"
    from kafka import KafkaAdminClient

    timeout_ms = settings.HEALTHZ_TIMEOUT_S * 1000
    admin = KafkaAdminClient(
        bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS,
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
        client_id="healthz",
    )
    try:
        admin.list_topics()
    finally:
        admin.close()
    return "ok"


def _check_redis() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "disabled"
    import redis

    client = redis.Redis.from_url(
        settings.CELERY_BROKER_URL,
        socket_timeout=settings.HEALTHZ_TIMEOUT_S,
        socket_connect_timeout=settings.HEALTHZ_TIMEOUT_S,
    )
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def _check_stripe() -> str:
    if not settings.STRIPE_API_KEY:
        return "disabled"
    # Reachability only: a TCP connect to the API host, no request that costs or mutates.
    url = urlparse(settings.STRIPE_API_BASE)
    port = url.port or (443 if url.scheme == "https" else 80)
    with socket.create_connection((url.hostname, port), timeout=settings.HEALTHZ_TIMEOUT_S):
        pass
    return "ok"


CHECKS = {
    "database": _check_database,
    "kafka": _check_kafka,
    "redis": _check_redis,
    "stripe": _check_stripe,
}


def run_checks() -> dict[str, dict]:
    results: dict[str, dict] = {}
    # Slack over the per-probe timeout, so a client library's own retry cannot hang us.
    deadline_s = settings.HEALTHZ_TIMEOUT_S + 1
    with ThreadPoolExecutor(max_workers=len(CHECKS), thread_name_prefix="healthz") as pool:
        started = time.monotonic()
        futures = {name: pool.submit(check) for name, check in CHECKS.items()}
        for name, future in futures.items():
            remaining_s = max(0.0, deadline_s - (time.monotonic() - started))
            try:
                results[name] = {"status": future.result(timeout=remaining_s)}
            except FutureTimeout:
                results[name] = {"status": "down", "error": "timed out"}
            except Exception as exc:  # noqa: BLE001 - any failure means "down", say why
                results[name] = {"status": "down", "error": f"{type(exc).__name__}: {exc}"}
        pool.shutdown(wait=False, cancel_futures=True)
    return results


@require_GET
def healthz(request):
    checks = run_checks()
    down = sorted(name for name, result in checks.items() if result["status"] == "down")
    body = {"status": "down" if down else "ok", "down": down, "checks": checks}
    return JsonResponse(body, status=503 if down else 200)
