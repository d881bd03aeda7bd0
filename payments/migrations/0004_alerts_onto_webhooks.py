"""Low-balance alerts move onto webhooks/: each alert's URL and signing secret become a
webhooks endpoint of the customer's seller book (audience `customer:<pk>`, type
`wallet.balance_low`), so the customer's receiver keeps its URL and its secret; every
alert sent so far becomes a webhooks event (same public id: `evt_<hex>`) with its
delivery and every attempt, and a pending one is due at once, sent by webhooks' beat.
Nothing is deleted here; 0005 drops the old columns and tables.

Reverse: the alerts get their URL and secret back from their endpoints; what was copied
into webhooks stays there (its events and attempts are append-only), and the old tables
still hold their rows.
"""

from django.db import migrations
from django.utils import timezone

EVENT_TYPE = "wallet.balance_low"
ACTOR = "migration:payments.0004"
DATA_KEYS = ("customer", "currency", "available", "threshold")


def audience_of(customer_id: int) -> str:
    return f"customer:{customer_id}"


def alerts_onto_webhooks(apps, schema_editor):
    LowBalanceAlert = apps.get_model("payments", "LowBalanceAlert")
    AlertDelivery = apps.get_model("payments", "AlertDelivery")
    WebhookEndpoint = apps.get_model("webhooks", "WebhookEndpoint")
    WebhookEvent = apps.get_model("webhooks", "WebhookEvent")
    WebhookDelivery = apps.get_model("webhooks", "WebhookDelivery")
    DeliveryAttempt = apps.get_model("webhooks", "DeliveryAttempt")
    endpoint_of_customer = {}
    for alert in LowBalanceAlert.objects.select_related("customer").order_by("pk"):
        audience = audience_of(alert.customer_id)
        if alert.endpoint_id is None:
            # An earlier run's endpoint (migrated, reversed, migrated again) is reused.
            found = WebhookEndpoint.objects.filter(
                book_id=alert.customer.book_id, audience=audience
            ).first()
            if found is not None:
                found.url, found.secret, found.updated_by = alert.url, alert.signing_secret, ACTOR
                found.save(update_fields=["url", "secret", "updated_by", "updated_at"])
                alert.endpoint = found
                alert.save(update_fields=["endpoint"])
                endpoint_of_customer[alert.customer_id] = found.pk
                continue
            alert.endpoint = WebhookEndpoint.objects.create(
                book_id=alert.customer.book_id,
                url=alert.url,
                description=f"low-balance alert of {alert.customer.external_id}",
                secret=alert.signing_secret,
                event_types=[EVENT_TYPE],
                audience=audience,
                active=True,
                created_by=ACTOR,
                updated_by=ACTOR,
            )
            alert.save(update_fields=["endpoint"])
        endpoint_of_customer[alert.customer_id] = alert.endpoint_id
    now = timezone.now()
    deliveries = AlertDelivery.objects.select_related("customer").order_by("pk")
    for old in deliveries.prefetch_related("attempt_log"):
        if WebhookEvent.objects.filter(public_id=old.public_id).exists():
            continue  # copied by an earlier run (migrated, reversed, migrated again)
        event = WebhookEvent.objects.create(
            public_id=old.public_id,
            book_id=old.customer.book_id,
            type=EVENT_TYPE,
            payload={key: old.payload[key] for key in DATA_KEYS if key in old.payload},
            idempotency_key=f"payments.low_balance:{old.public_id}",
            created_at=old.created_at,
            audience=audience_of(old.customer_id),
        )
        endpoint_id = endpoint_of_customer.get(old.customer_id)
        if endpoint_id is None:
            continue  # its alert is gone: the event is history, nowhere to send it
        pending = old.state == "pending"
        delivery = WebhookDelivery.objects.create(
            event=event,
            endpoint_id=endpoint_id,
            state=old.state,
            attempts=old.attempts,
            attempts_in_round=old.attempts,
            next_attempt_at=now if pending else None,
            created_at=old.created_at,
            resolved_at=None if pending else (old.resolved_at or now),
        )
        DeliveryAttempt.objects.bulk_create(
            DeliveryAttempt(
                delivery=delivery,
                number=attempt.number,
                attempted_at=attempt.attempted_at,
                status_code=attempt.status_code,
                error=attempt.error,
                duration_ms=max(attempt.duration_ms, 0),
            )
            for attempt in old.attempt_log.order_by("number")
        )


def alerts_back(apps, schema_editor):
    LowBalanceAlert = apps.get_model("payments", "LowBalanceAlert")
    for alert in LowBalanceAlert.objects.select_related("endpoint").exclude(endpoint=None):
        alert.url, alert.signing_secret = alert.endpoint.url, alert.endpoint.secret
        alert.endpoint = None
        alert.save(update_fields=["url", "signing_secret", "endpoint"])


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0003_alert_endpoint"),
        ("webhooks", "0004_endpoint_audience"),
    ]

    operations = [migrations.RunPython(alerts_onto_webhooks, alerts_back)]
