"""Low-balance alerts: one per crossing of the threshold, POSTed signed to a real HTTP
server on 127.0.0.1 that checks the signature, retried with a bound, every attempt
recorded; outbound URLs are validated."""

import json
import time
import uuid

import pytest

from config.celery import app as celery_app
from payments.alerts import low_balance as alerts
from payments.alerts.balance_watch import balances_watch
from payments.models import AlertDelivery, LowBalanceAlert
from payments.tasks import send_low_balance_alert, watch_balances
from tests.celery_worker import celery_worker_start, celery_worker_stop
from tests.payments.stripe_helpers import AlertReceiver
from tests.wallets.factories import member_client, wallet_spend, wallet_topup

pytestmark = pytest.mark.django_db

USD = 10**9


@pytest.fixture
def receiver():
    with AlertReceiver() as server:
        yield server


def _watching(customer, receiver: AlertReceiver, *, available=3 * USD, threshold=5 * USD):
    wallet_topup(customer, available)
    _alert, secret = alerts.low_balance_alert_set(
        customer=customer, url=receiver.url, threshold_minor=threshold, actor="test"
    )
    receiver.secret = secret
    [delivery_id] = balances_watch().delivery_ids
    return AlertDelivery.objects.get(pk=delivery_id)


def test_settings_through_the_api_show_the_secret_once(world, finance, receiver):
    url = "/api/wallets/customers/acme/low-balance-alert/"
    assert finance.get(url).json()["error"]["code"] == "low_balance_alert_not_configured"
    saved = finance.put(url, {"url": receiver.url, "threshold": "5"}, format="json")
    assert saved.status_code == 200, saved.content
    secret = saved.json()["signing_secret"]
    assert secret.startswith("whsec_") and saved.json()["threshold"] == "5.000000000"
    shown = finance.get(url).json()
    assert shown["signing_secret"] is None and shown["secret_hint"] == f"…{secret[-4:]}"
    kept = finance.put(url, {"url": receiver.url, "threshold": "6"}, format="json").json()
    assert kept["signing_secret"] is None
    assert LowBalanceAlert.objects.get().signing_secret == secret
    rotated = finance.put(
        url, {"url": receiver.url, "threshold": "6", "rotate_secret": True}, format="json"
    ).json()["signing_secret"]
    assert rotated.startswith("whsec_") and rotated != secret
    credit = finance.put(
        "/api/wallets/customers/globex/low-balance-alert/",
        {"url": receiver.url, "threshold": "5"},
        format="json",
    )
    assert credit.json()["error"]["code"] == "prepaid_only"


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/hook", "http://", "not a url", "http://user:pw@example.com/hook"],
)
def test_only_http_urls_are_accepted(world, finance, url):
    refused = finance.put(
        "/api/wallets/customers/acme/low-balance-alert/",
        {"url": url, "threshold": "5"},
        format="json",
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_webhook_url"


def test_private_addresses_are_refused_unless_allowed(world, settings):
    settings.WALLETS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    for url in (
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "https://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",  # a cloud's metadata service
        "http://[::1]/hook",
    ):
        with pytest.raises(alerts.InvalidWebhookUrl):
            alerts.outbound_url_check(url)
    assert alerts.outbound_url_check("https://93.184.216.34/hook")  # a public address


def test_one_alert_per_crossing_of_the_threshold(world, receiver):
    acme = world["acme"]
    delivery = _watching(acme, receiver)
    assert delivery.payload == {
        "id": str(delivery.public_id),
        "type": "wallet.balance_low",
        "created_at": delivery.created_at.isoformat(),
        "customer": "acme",
        "currency": "USD",
        "available": "3.000000000",
        "threshold": "5.000000000",
    }
    assert balances_watch().delivery_ids == []  # still below: not again
    wallet_topup(acme, 2 * USD)  # back at the threshold: re-armed
    assert balances_watch().delivery_ids == [] and LowBalanceAlert.objects.get().armed
    wallet_spend(acme, 1)
    assert len(balances_watch().delivery_ids) == 1


def test_a_failing_endpoint_gets_retried_until_it_answers(world):
    with AlertReceiver(fail_first=2) as receiver:
        delivery = _watching(world["acme"], receiver)
        # Eagerly, in this process: Celery's retries run inline (without their countdown).
        assert send_low_balance_alert.apply(args=[delivery.pk]).get() == "delivered"
    delivery.refresh_from_db()
    assert delivery.state == AlertDelivery.State.DELIVERED and delivery.attempts == 3
    log = list(delivery.attempt_log.order_by("number"))
    assert [(a.number, a.status_code) for a in log] == [(1, 500), (2, 500), (3, 204)]
    assert log[0].error == "HTTP 500 Internal Server Error" and log[2].error == ""
    assert all(a.duration_ms >= 0 for a in log)
    # The same signed body every time; the server verified each signature.
    bodies = {r["body"] for r in receiver.received}
    assert len(bodies) == 1 and json.loads(bodies.pop()) == delivery.payload
    assert all(r["signature_valid"] for r in receiver.received)
    headers = receiver.received[-1]["headers"]
    assert headers["X-Tokenledger-Delivery"] == str(delivery.public_id)
    assert headers["X-Tokenledger-Signature"].startswith("t=")
    # Delivered: a duplicate task delivery sends nothing.
    assert send_low_balance_alert.apply(args=[delivery.pk]).get() == "delivered"
    assert len(receiver.received) == 3


def test_attempts_are_bounded_then_the_delivery_fails(world, settings):
    settings.WALLETS_ALERT_ATTEMPTS_MAX = 3
    with AlertReceiver(fail_first=100, fail_status=503) as receiver:
        delivery = _watching(world["acme"], receiver)
        assert send_low_balance_alert.apply(args=[delivery.pk]).get() == "failed"
    delivery.refresh_from_db()
    assert delivery.state == AlertDelivery.State.FAILED and delivery.resolved_at
    assert list(delivery.attempt_log.values_list("status_code", flat=True)) == [503, 503, 503]
    assert len(receiver.received) == 3


def test_redirects_and_bad_signatures_are_failures(world):
    with AlertReceiver(fail_first=1, fail_status=302) as receiver:
        delivery = _watching(world["acme"], receiver)
        receiver.secret = "whsec_not_the_customers"  # the server refuses our signature
        for _attempt in range(2):
            with pytest.raises(alerts.AlertDeliveryRetry):
                alerts.alert_delivery_send(delivery_id=delivery.pk)
    codes = list(delivery.attempt_log.order_by("number").values_list("status_code", "error"))
    assert codes == [(302, "HTTP 302 Found"), (401, "HTTP 401 Unauthorized")]
    assert len(receiver.received) == 2  # the redirect was not followed


def test_an_address_refused_at_send_time_is_a_recorded_failure(world, receiver, settings):
    delivery = _watching(world["acme"], receiver)
    settings.WALLETS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False  # e.g. the DNS name moved
    with pytest.raises(alerts.AlertDeliveryRetry):
        alerts.alert_delivery_send(delivery_id=delivery.pk)
    [attempt] = delivery.attempt_log.all()
    assert attempt.status_code is None and attempt.error.startswith("refused: ")
    assert receiver.received == []


def test_the_watch_task_sends_alerts(world, receiver, celery_eager):
    acme = world["acme"]
    wallet_topup(acme, 3 * USD)
    _alert, receiver.secret = alerts.low_balance_alert_set(
        customer=acme, url=receiver.url, threshold_minor=5 * USD, actor="test"
    )
    assert watch_balances.delay().get()["alerts"] == 1
    assert AlertDelivery.objects.get().state == AlertDelivery.State.DELIVERED
    assert [r["signature_valid"] for r in receiver.received] == [True]


def test_tenants_see_only_their_own_deliveries(world, receiver):
    _watching(world["acme"], receiver)
    bob = member_client(world["initech"], "bob")
    refused = bob.get("/api/wallets/customers/acme/low-balance-alert/deliveries/")
    assert refused.status_code == 404
    own = bob.get("/api/wallets/customers/initech/low-balance-alert/deliveries/")
    assert own.json()["results"] == []
    alice = member_client(world["acme"], "alice")
    [listed] = alice.get("/api/wallets/customers/acme/low-balance-alert/deliveries/").json()[
        "results"
    ]
    assert listed["kind"] == "wallet.balance_low" and listed["state"] == "pending"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_retries_with_exponential_backoff(world, redis_url):
    """A Celery worker process, through Redis, against this test's committed database:
    the endpoint fails twice; the retries come 1 s and then 2 s later."""
    receiver = AlertReceiver(fail_first=2)
    queue = f"alerts-{uuid.uuid4().hex[:8]}"
    worker = celery_worker_start(
        queue=queue, redis_url=redis_url, WALLETS_ALERT_RETRY_BACKOFF_S="1"
    )
    try:
        delivery = _watching(world["acme"], receiver)
        celery_app.conf.broker_url = redis_url
        send_low_balance_alert.apply_async(args=[delivery.pk], queue=queue)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            delivery.refresh_from_db()
            if delivery.state != AlertDelivery.State.PENDING:
                break
            time.sleep(0.3)
    finally:
        output = celery_worker_stop(worker)
        receiver.close()
    assert delivery.state == AlertDelivery.State.DELIVERED, output
    assert [a.status_code for a in delivery.attempt_log.order_by("number")] == [500, 500, 204]
    times = [r["at"] for r in receiver.received]
    first_gap, second_gap = times[1] - times[0], times[2] - times[1]
    assert first_gap >= 1.0 and second_gap >= 2.0, times  # 1 s · 2^0, then 1 s · 2^1
    assert second_gap - first_gap >= 0.5 and second_gap < 10, times
    assert all(r["signature_valid"] for r in receiver.received)


def test_a_usage_batch_that_crosses_the_threshold_alerts_at_once(
    world, receiver, celery_eager, django_capture_on_commit_callbacks
):
    """Not a minute later at beat's scan: the batch's commit enqueues the watch of the
    customers it charged that have an alert or auto top-up."""
    from metering.pipeline import Pipeline
    from tests.metering.conftest import raw, usage

    acme = world["acme"]
    wallet_topup(acme, 6 * USD)
    _alert, receiver.secret = alerts.low_balance_alert_set(
        customer=acme, url=receiver.url, threshold_minor=5 * USD, actor="test"
    )
    assert balances_watch().delivery_ids == []  # $6 is above the $5 threshold

    expensive = usage("acme", "claude-sonnet-4-5", "anthropic", input=500_000, output=50_000)
    cheap_for_globex = usage("globex")  # billed on credit: never watched
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = Pipeline().process([raw(expensive), raw(cheap_for_globex)])

    assert result.processed == 2 and len(_enqueues(callbacks)) == 1
    delivery = AlertDelivery.objects.get()
    assert delivery.state == AlertDelivery.State.DELIVERED
    assert [r["signature_valid"] for r in receiver.received] == [True]
    sent = json.loads(receiver.received[0]["body"])
    assert sent["customer"] == "acme" and sent["type"] == alerts.BALANCE_LOW


def test_a_usage_batch_of_customers_nobody_watches_enqueues_nothing(
    world, django_capture_on_commit_callbacks
):
    from metering.pipeline import Pipeline
    from tests.metering.conftest import raw, usage

    wallet_topup(world["acme"], 6 * USD)
    with django_capture_on_commit_callbacks() as callbacks:
        Pipeline().process([raw(usage("acme")), raw(usage("initech"))])
    assert _enqueues(callbacks) == []


def _enqueues(callbacks) -> list:
    """The on-commit callbacks that enqueue a task (the ledger's account cache also
    learns the accounts a transaction made when it commits)."""
    return [c for c in callbacks if "delay_after_commit" in c.__qualname__]
