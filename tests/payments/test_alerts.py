"""Low-balance alerts are webhooks events (`wallet.balance_low`): one per crossing of the
threshold, enqueued in the watch's transaction, POSTed by webhooks/ signed to a real HTTP
server on 127.0.0.1 that verifies the signature, retried on webhooks' schedule, every
attempt recorded; the URL is held to webhooks' one policy (WEBHOOK_ALLOW_PRIVATE, its old
name read for one release)."""

import json
from datetime import timedelta

import pytest

from config.settings.env import env_bool_alias
from payments.alerts import low_balance as alerts
from payments.alerts.balance_watch import balances_watch
from payments.models import LowBalanceAlert
from payments.tasks import watch_balances
from tests.wallets.factories import member_client, wallet_spend, wallet_topup
from tests.webhooks.conftest import Receiver
from webhooks import services as webhooks
from webhooks.errors import InvalidWebhookUrl
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.signing import EVENT_ID_HEADER, SIGNATURE_HEADER

pytestmark = pytest.mark.django_db

USD = 10**9
ALERT_URL = "/api/wallets/customers/{}/low-balance-alert/"


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


def _watching(customer, receiver: Receiver, *, available=3 * USD, threshold=5 * USD):
    """The customer's alert set to `receiver`, then the watch: its one alert event."""
    wallet_topup(customer, available)
    _alert, secret = alerts.low_balance_alert_set(
        customer=customer, url=receiver.url, threshold_minor=threshold, actor="test"
    )
    receiver.secret = secret
    [event_id] = balances_watch().alert_event_ids
    return WebhookEvent.objects.get(pk=event_id)


def test_settings_through_the_api_show_the_secret_once(world, finance, receiver):
    url = ALERT_URL.format("acme")
    assert finance.get(url).json()["error"]["code"] == "low_balance_alert_not_configured"
    saved = finance.put(url, {"url": receiver.url, "threshold": "5"}, format="json")
    assert saved.status_code == 200, saved.content
    secret = saved.json()["signing_secret"]
    assert secret.startswith("whsec_") and saved.json()["threshold"] == "5.000000000"
    # The URL and secret are a webhooks endpoint of acme's seller, for acme's alerts only.
    endpoint = LowBalanceAlert.objects.get().endpoint
    assert (endpoint.book, endpoint.url, endpoint.secret) == (
        world["distributor"],
        receiver.url,
        secret,
    )
    assert endpoint.event_types == ["wallet.balance_low"] and endpoint.active
    assert endpoint.audience == f"customer:{world['acme'].pk}"
    shown = finance.get(url).json()
    assert shown["signing_secret"] is None and shown["secret_hint"] == f"…{secret[-4:]}"
    moved = f"{receiver.url}/v2"
    kept = finance.put(url, {"url": moved, "threshold": "6"}, format="json").json()
    assert kept["signing_secret"] is None and kept["url"] == moved
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.secret) == (moved, secret)
    assert WebhookEndpoint.objects.count() == 1  # the same endpoint, not another
    rotated = finance.put(
        url, {"url": moved, "threshold": "6", "rotate_secret": True}, format="json"
    ).json()["signing_secret"]
    assert rotated.startswith("whsec_") and rotated != secret
    endpoint.refresh_from_db()
    assert endpoint.secret == rotated and endpoint.secret_rotated_at
    credit = finance.put(
        ALERT_URL.format("globex"), {"url": receiver.url, "threshold": "5"}, format="json"
    )
    assert credit.json()["error"]["code"] == "prepaid_only"


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/hook", "http://", "not a url", "http://user:pw@example.com/hook"],
)
def test_only_http_urls_are_accepted(world, finance, url):
    refused = finance.put(ALERT_URL.format("acme"), {"url": url, "threshold": "5"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_webhook_url"
    assert not LowBalanceAlert.objects.exists() and not WebhookEndpoint.objects.exists()


def test_private_addresses_are_refused_by_webhooks_one_policy(world, finance, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    for url in (
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "https://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",  # a cloud's metadata service
        "http://[::1]/hook",
    ):
        refused = finance.put(
            ALERT_URL.format("acme"), {"url": url, "threshold": "5"}, format="json"
        )
        assert refused.status_code == 400, url
        assert refused.json()["error"]["code"] == "invalid_webhook_url"
        with pytest.raises(InvalidWebhookUrl):
            alerts.low_balance_alert_set(
                customer=world["acme"], url=url, threshold_minor=USD, actor="test"
            )
    assert not WebhookEndpoint.objects.exists()
    alert, _secret = alerts.low_balance_alert_set(
        customer=world["acme"],
        url="https://93.184.216.34/hook",  # a public address
        threshold_minor=USD,
        actor="test",
    )
    assert alert.endpoint.url == "https://93.184.216.34/hook"


def test_the_old_setting_name_is_read_for_one_release(monkeypatch):
    old = "WALLETS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES"
    monkeypatch.delenv("WEBHOOK_ALLOW_PRIVATE", raising=False)
    monkeypatch.setenv(old, "true")
    with pytest.warns(DeprecationWarning, match=old):
        assert env_bool_alias("WEBHOOK_ALLOW_PRIVATE", old=old, default=False) is True
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "false")  # the new name wins
    assert env_bool_alias("WEBHOOK_ALLOW_PRIVATE", old=old, default=True) is False
    monkeypatch.delenv(old)
    monkeypatch.delenv("WEBHOOK_ALLOW_PRIVATE")
    assert env_bool_alias("WEBHOOK_ALLOW_PRIVATE", old=old, default=False) is False


def test_one_alert_per_crossing_of_the_threshold(world, receiver):
    acme = world["acme"]
    event = _watching(acme, receiver)
    assert (event.type, event.book, event.audience) == (
        "wallet.balance_low",
        world["distributor"],
        f"customer:{acme.pk}",
    )
    assert event.payload == {
        "customer": "acme",
        "currency": "USD",
        "available": "3.000000000",
        "threshold": "5.000000000",
    }
    assert WebhookDelivery.objects.get().endpoint == acme.low_balance_alert.endpoint
    assert balances_watch().alert_event_ids == []  # still below: not again
    wallet_topup(acme, 2 * USD)  # back at the threshold: re-armed
    assert balances_watch().alert_event_ids == [] and LowBalanceAlert.objects.get().armed
    wallet_spend(acme, 1)
    assert len(balances_watch().alert_event_ids) == 1
    assert WebhookEvent.objects.filter(type="wallet.balance_low").count() == 2


def test_a_signed_alert_is_retried_after_a_failure_until_it_is_delivered(world):
    with Receiver(500, 200) as receiver:
        event = _watching(world["acme"], receiver)
        first = webhooks.deliveries_send(now=event.created_at)
        assert (first.retrying, first.delivered) == (1, 0)
        # Not due again before webhooks' first retry gap (1 min).
        assert webhooks.deliveries_send(now=event.created_at + timedelta(seconds=59)).attempts == 0
        later = webhooks.deliveries_send(now=event.created_at + timedelta(seconds=61))
        assert later.delivered == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "delivered" and delivery.attempts == 2
    log = list(delivery.attempt_log.order_by("number"))
    assert [(a.number, a.status_code) for a in log] == [(1, 500), (2, 200)]
    assert log[0].error.startswith("HTTP 500") and log[1].error == ""
    # The same signed body both times; the receiver verified each signature.
    assert len({r["body"] for r in receiver.received}) == 1
    assert all(r["signature_valid"] for r in receiver.received)
    sent = receiver.received[-1]
    assert sent["json"]["id"] == f"evt_{event.public_id.hex}"
    assert sent["json"]["type"] == "wallet.balance_low"
    assert sent["json"]["data"] == event.payload
    assert sent["headers"][EVENT_ID_HEADER] == f"evt_{event.public_id.hex}"
    assert sent["headers"][SIGNATURE_HEADER].startswith("t=")
    # The customer's API shows the alert with both attempts.
    alice = member_client(world["acme"], "alice")
    [listed] = alice.get(f"{ALERT_URL.format('acme')}deliveries/").json()["results"]
    assert listed["alert_id"] == str(event.public_id) and listed["state"] == "delivered"
    assert [a["status_code"] for a in listed["attempts"]] == [500, 200]
    assert listed["payload"] == event.payload and listed["url"] == receiver.url


def test_an_address_refused_at_send_time_is_a_recorded_failure(world, receiver, settings):
    event = _watching(world["acme"], receiver)
    settings.WEBHOOK_ALLOW_PRIVATE = False  # e.g. the DNS name moved
    assert webhooks.deliveries_send(now=event.created_at).retrying == 1
    [attempt] = WebhookDelivery.objects.get().attempt_log.all()
    assert attempt.status_code is None and attempt.error.startswith("refused: ")
    assert receiver.received == []


def test_the_sellers_own_endpoints_that_subscribe_receive_it_too(world, receiver):
    distributor = world["distributor"]
    everything = webhooks.webhook_endpoint_create(
        book=distributor, url=receiver.url, event_types=[], actor="test"
    )
    alerts_only = webhooks.webhook_endpoint_create(
        book=distributor, url=receiver.url, event_types=["wallet.balance_low"], actor="test"
    )
    webhooks.webhook_endpoint_create(
        book=distributor, url=receiver.url, event_types=["invoice.overdue"], actor="test"
    )
    # Another customer's alert endpoint (same book) is not acme's audience.
    wallet_topup(world["initech"], 10 * USD)
    other_customer = WebhookEndpoint.objects.create(
        book=distributor,
        url=receiver.url,
        secret="whsec_x",
        event_types=["wallet.balance_low"],
        audience="customer:999999",
        created_by="t",
        updated_by="t",
    )
    event = _watching(world["acme"], receiver)
    got = set(WebhookDelivery.objects.filter(event=event).values_list("endpoint_id", flat=True))
    assert got == {everything.pk, alerts_only.pk, world["acme"].low_balance_alert.endpoint_id}
    assert other_customer.pk not in got


def test_the_watch_task_enqueues_the_alert_which_webhooks_sends_on_commit(
    world, receiver, celery_eager, django_capture_on_commit_callbacks
):
    acme = world["acme"]
    wallet_topup(acme, 3 * USD)
    _alert, receiver.secret = alerts.low_balance_alert_set(
        customer=acme, url=receiver.url, threshold_minor=5 * USD, actor="test"
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert watch_balances.delay().get()["alerts"] == 1
    assert WebhookDelivery.objects.get().state == "delivered"
    assert [r["signature_valid"] for r in receiver.received] == [True]


def test_tenants_see_only_their_own_deliveries(world, receiver):
    _watching(world["acme"], receiver)
    bob = member_client(world["initech"], "bob")
    refused = bob.get(f"{ALERT_URL.format('acme')}deliveries/")
    assert refused.status_code == 404
    own = bob.get(f"{ALERT_URL.format('initech')}deliveries/")
    assert own.json()["results"] == []
    alice = member_client(world["acme"], "alice")
    [listed] = alice.get(f"{ALERT_URL.format('acme')}deliveries/").json()["results"]
    assert listed["kind"] == "wallet.balance_low" and listed["state"] == "pending"


def test_a_usage_batch_that_crosses_the_threshold_alerts_at_once(
    world, receiver, celery_eager, django_capture_on_commit_callbacks
):
    """Not a minute later at beat's scan: the batch's commit enqueues the watch of the
    customers it charged that have an alert or auto top-up, and the watch's commit the
    alert's delivery."""
    from metering.pipeline import Pipeline
    from tests.metering.conftest import raw, usage

    acme = world["acme"]
    wallet_topup(acme, 6 * USD)
    _alert, receiver.secret = alerts.low_balance_alert_set(
        customer=acme, url=receiver.url, threshold_minor=5 * USD, actor="test"
    )
    assert balances_watch().alert_event_ids == []  # $6 is above the $5 threshold

    expensive = usage("acme", "claude-sonnet-4-5", "anthropic", input=500_000, output=50_000)
    cheap_for_globex = usage("globex")  # billed on credit: never watched
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = Pipeline().process([raw(expensive), raw(cheap_for_globex)])

    assert result.processed == 2 and len(_enqueues(callbacks)) >= 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "delivered"
    assert [r["signature_valid"] for r in receiver.received] == [True]
    sent = json.loads(receiver.received[0]["body"])
    assert sent["data"]["customer"] == "acme" and sent["type"] == alerts.BALANCE_LOW


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
