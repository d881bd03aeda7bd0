"""Reconciliation's tables: the daily usage rollup it reads instead of usage records,
the runs and the differences they found, and the true-ups finance accepted.

The rollup is a projection of metering's usage records (day x distributor book x
provider x model x currency), added to by the draw-down job for each usage batch it
draws, in the transaction that moves its watermark: it holds exactly the records of the
batches up to DrawdownCursor.through_sequence (ledger_verify checks it). Runs,
differences and true-ups are written once and never changed; a difference is accepted
by its TrueUp row.
"""

from django.db import models
from django.db.models import Q

from ledger.models import Book
from settlement.commitments.models import Contract


class DailyUsageRollup(models.Model):
    usage_day = models.DateField(help_text="the day (UTC) the usage occurred")
    book = models.ForeignKey(Book, on_delete=models.PROTECT, related_name="+")  # distributor's
    provider = models.CharField(max_length=64)
    model = models.CharField(max_length=200)
    currency = models.CharField(max_length=16)
    requests = models.BigIntegerField()
    input_tokens = models.BigIntegerField()
    output_tokens = models.BigIntegerField()
    cache_read_tokens = models.BigIntegerField()
    cache_write_tokens = models.BigIntegerField()
    reasoning_tokens = models.BigIntegerField()
    cost_minor = models.BigIntegerField()  # upstream cost at list price, as metered

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["book", "provider", "currency", "usage_day", "model"],
                name="settlement_rollup_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.usage_day} {self.provider}/{self.model}: {self.requests} requests"


class ReconciliationRun(models.Model):
    """Our metering against the contract's statements over [since, until) (UTC days)."""

    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="+")
    since = models.DateField()
    until = models.DateField()
    through_sequence = models.BigIntegerField(help_text="our usage: batches up to this event")
    keys_compared = models.PositiveIntegerField()
    keys_matched = models.PositiveIntegerField()
    ours_cost_minor = models.BigIntegerField(help_text="expected: our cost less the discount")
    theirs_cost_minor = models.BigIntegerField()
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=200)

    def __str__(self) -> str:
        return f"reconciliation {self.pk} of contract {self.contract_id}"


class Difference(models.Model):
    class Kind(models.TextChoices):
        MISSING_OURS = "missing_ours", "billed by the provider, not in our metering"
        MISSING_THEIRS = "missing_theirs", "in our metering, not on the statement"
        PRICE = "price", "same tokens, another cost"
        TOKENS = "tokens", "another token count"
        FX = "fx", "same tokens, another cost, from a converted currency"

    run = models.ForeignKey(ReconciliationRun, on_delete=models.PROTECT, related_name="differences")
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    usage_day = models.DateField()
    model = models.CharField(max_length=200)
    request_id = models.CharField(max_length=200, blank=True)
    ours_requests = models.BigIntegerField()
    theirs_requests = models.BigIntegerField(null=True)
    ours_tokens = models.BigIntegerField()
    theirs_tokens = models.BigIntegerField(null=True)
    ours_cost_minor = models.BigIntegerField(help_text="expected, after earlier true-ups")
    theirs_cost_minor = models.BigIntegerField(null=True)
    delta_minor = models.BigIntegerField(help_text="theirs less ours: what a true-up books")
    explanation = models.TextField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["missing_ours", "missing_theirs", "price", "tokens", "fx"]),
                name="settlement_difference_kind",
            ),
        ]
        indexes = [models.Index(fields=["contract", "usage_day", "model"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.usage_day} {self.model} {self.request_id}".strip()


class TrueUp(models.Model):
    """A difference finance accepted, booked once (one row per difference): Dr
    expense:upstream_true_up / Cr payable:<provider> for `amount_minor` > 0 (they bill
    more than we metered), the reverse for < 0."""

    difference = models.OneToOneField(Difference, on_delete=models.PROTECT, related_name="true_up")
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="+")
    usage_day = models.DateField()
    model = models.CharField(max_length=200)
    request_id = models.CharField(max_length=200, blank=True)
    amount_minor = models.BigIntegerField()
    ledger_sequence = models.BigIntegerField()
    note = models.TextField(blank=True)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(amount_minor=0), name="settlement_true_up_not_zero"
            ),
        ]
        indexes = [models.Index(fields=["contract", "usage_day", "model"])]

    def __str__(self) -> str:
        return f"true-up of difference {self.difference_id}: {self.amount_minor}"
