"""Metering's tables: rated usage records, dead letters, consumer offsets.

Usage records are the per-request detail; the ledger gets one event per consumer batch
with postings aggregated per account (so hot accounts do not serialise ingestion).
Records and dead letters are append-only (triggers in migrations/sql/). Consumer offsets
are a projection updated in the same transaction as the records they account for.
"""

from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import Q

from ledger.models import Book, Event


class UsageRecord(models.Model):
    source = models.CharField(max_length=64)
    event_id = models.CharField(max_length=200)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField()
    customer = models.CharField(max_length=200)
    api_key = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=200)
    provider = models.CharField(max_length=64)
    upstream_request_id = models.CharField(max_length=200, blank=True)
    authorization_id = models.CharField(max_length=200, blank=True)
    input_tokens = models.BigIntegerField()
    output_tokens = models.BigIntegerField()
    cache_read_tokens = models.BigIntegerField()
    cache_write_tokens = models.BigIntegerField()
    reasoning_tokens = models.BigIntegerField()
    # Amounts in the currency asset's minor units (USD: nano-dollars), each rounded half-even
    # from the exact atto amount; the remainders are kept so rounding can be audited.
    currency = models.CharField(max_length=16)
    price_minor = models.BigIntegerField()  # what the customer pays its seller
    wholesale_minor = models.BigIntegerField(null=True)  # reseller's cost (distributor's price)
    cost_minor = models.BigIntegerField()  # upstream cost to the distributor
    margin_minor = models.BigIntegerField()  # price - cost (all books together)
    price_remainder_atto = models.BigIntegerField()
    cost_remainder_atto = models.BigIntegerField()
    # The price versions used, so any record can be re-rated and explained.
    upstream_price_id = models.BigIntegerField()
    retail_price_book_id = models.BigIntegerField(null=True)
    retail_override_id = models.BigIntegerField(null=True)
    wholesale_price_book_id = models.BigIntegerField(null=True)
    seller_book = models.ForeignKey(
        Book, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    ledger_event = models.ForeignKey(
        Event,
        on_delete=models.PROTECT,
        related_name="+",
        db_column="ledger_event_sequence",
        db_constraint=False,
        db_index=False,  # a BRIN index instead (Meta.indexes)
    )
    metadata = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "event_id"], name="usage_record_dedupe"),
            models.CheckConstraint(
                condition=Q(input_tokens__gte=0)
                & Q(output_tokens__gte=0)
                & Q(cache_read_tokens__gte=0)
                & Q(cache_write_tokens__gte=0)
                & Q(reasoning_tokens__gte=0)
                & Q(price_minor__gte=0)
                & Q(cost_minor__gte=0),
                name="usage_record_non_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "occurred_at"]),
            # Records are appended in ledger order, a batch's rows together, so a BRIN
            # index finds a batch's records as well as a b-tree would; a b-tree cost a
            # fifth of the records' COPY time.
            BrinIndex(fields=["ledger_event"], name="usage_record_event_brin"),
            # Settlement's per-request reconciliation: a statement's request ids (the
            # dedupe key leads with source, which a statement does not know; PostgreSQL
            # 17 cannot skip-scan it), and one model's records of one day a statement of
            # requests lacks. Partial: only OpenRouter's statements list requests (its
            # generations), and the same pair over every record made bulk inserts of the
            # others 50-90% slower; a provider whose statements come to list requests
            # gets its own.
            models.Index(
                fields=["event_id"],
                name="usage_record_openrouter_id",
                condition=Q(provider="openrouter"),
            ),
            models.Index(
                fields=["model", "occurred_at"],
                name="usage_record_openrouter_day",
                condition=Q(provider="openrouter"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.event_id}"


class DeadLetter(models.Model):
    """A message that could not be booked, with the reason; also sent to the DLQ topic."""

    topic = models.CharField(max_length=200)
    partition = models.IntegerField(null=True)
    offset = models.BigIntegerField(null=True)
    key = models.BinaryField(null=True)
    value = models.BinaryField()
    # The message's Kafka headers as [name, text] pairs: a native record's `kind` and its
    # arguments (the customer...), without which it could not be replayed.
    headers = models.JSONField(default=list, blank=True)
    reason_code = models.CharField(max_length=64)
    reason = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["reason_code", "created_at"])]

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}: {self.reason_code}"


class ConsumerOffset(models.Model):
    """The next offset to read per consumer group and partition, committed together with
    the records it accounts for: PostgreSQL, not Kafka, is the source of truth."""

    group = models.CharField(max_length=200)
    topic = models.CharField(max_length=200)
    partition = models.IntegerField()
    next_offset = models.BigIntegerField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["group", "topic", "partition"], name="consumer_offset_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.group} {self.topic}[{self.partition}] → {self.next_offset}"
