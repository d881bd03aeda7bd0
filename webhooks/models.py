"""Outbound webhooks to sellers (the distributor and resellers): their endpoints, the
events other apps emit (append-only), one delivery per event and endpoint, and every
attempt (append-only). No logic here: webhooks.services writes, webhooks.selectors reads.
"""

import uuid

from django.db import models
from django.db.models import Q


class WebhookEndpoint(models.Model):
    """A seller's URL that receives its book's events, signed with `secret`."""

    book = models.ForeignKey(
        "ledger.Book", on_delete=models.PROTECT, related_name="webhook_endpoints"
    )
    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # `whsec_…`: shown when made or rotated, and to the book's staff on request (as Stripe
    # does). Kept in clear: signing needs it, a hash would not do.
    secret = models.CharField(max_length=100)
    # The event types it receives; empty: every type.
    event_types = models.JSONField(default=list, blank=True)
    # Empty: the seller's own endpoint, for every event of its book. Else a key the
    # emitting app chose (opaque here, e.g. payments' "customer:<pk>" for a customer's
    # low-balance alert URL): it receives only the book's events of that audience.
    audience = models.CharField(max_length=100, blank=True, default="")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=200)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["book", "active"], name="webhooks_endpoint_book")]
        constraints = [
            # One endpoint per audience (a customer's alert URL); a seller has several.
            models.UniqueConstraint(
                fields=["book", "audience"],
                condition=~Q(audience=""),
                name="webhooks_endpoint_audience_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.book_id}: {self.url}"


class WebhookEvent(models.Model):
    """Something a seller is told about. Append-only (a trigger refuses UPDATE and DELETE):
    the body every delivery sends is built from this row, so it is the same on each try."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    book = models.ForeignKey("ledger.Book", on_delete=models.PROTECT, related_name="+")
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    idempotency_key = models.CharField(max_length=200)
    created_at = models.DateTimeField()
    # Empty: for the seller's endpoints only; else also for its endpoints of this audience.
    audience = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["book", "idempotency_key"], name="webhooks_event_idempotency_key"
            )
        ]
        indexes = [models.Index(fields=["book", "-created_at"], name="webhooks_event_book")]

    def __str__(self) -> str:
        return f"evt_{self.public_id.hex} {self.type}"


class WebhookDelivery(models.Model):
    """One event to one endpoint: its state and when it is next tried."""

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    event = models.ForeignKey(WebhookEvent, on_delete=models.PROTECT, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    # Every attempt ever made (the last DeliveryAttempt's number), and those since the
    # delivery was last (re)sent: the backoff and WEBHOOK_MAX_ATTEMPTS count the latter.
    attempts = models.PositiveIntegerField(default=0)
    attempts_in_round = models.PositiveIntegerField(default=0)
    # Due at this time while pending (a claim moves it forward by a lease); null once
    # delivered or failed.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resends = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="webhooks_delivery_once"),
            models.CheckConstraint(
                condition=Q(state="pending", next_attempt_at__isnull=False)
                | (~Q(state="pending") & Q(next_attempt_at__isnull=True)),
                name="webhooks_delivery_due_iff_pending",
            ),
        ]
        indexes = [
            # The beat's scan: pending rows by due time, and nothing else.
            models.Index(
                fields=["next_attempt_at"],
                name="webhooks_delivery_due",
                condition=Q(state="pending"),
            ),
            models.Index(fields=["endpoint", "-created_at"], name="webhooks_delivery_endpoint"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.state})"


class DeliveryAttempt(models.Model):
    """One POST of a delivery, append-only: when, the HTTP status or the error, how long,
    and the start of the answer."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.PROTECT, related_name="attempt_log"
    )
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField()
    response_excerpt = models.CharField(max_length=1000, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "number"], name="webhooks_attempt_number_once"
            )
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"
