"""Upstream contracts and the capacity pre-bought under them, and how it was used.

A commitment's money lives in ONE ledger account, `prepaid_capacity:<provider>:<id>`
(an asset of the distributor's book that may not go below zero: the database refuses
an over-draw). These tables say what was bought and which metering batch drew what;
the ledger says how much is left. Rows are written by services only and never changed:
a commitment is closed by its Breakage row, a batch is drawn once (unique sequence).
"""

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q

from ledger.models import Account, Asset, Book

BPS_MAX = 10_000  # 100.00 %


class Contract(models.Model):
    """The terms with one upstream provider, in one currency, in the distributor's book."""

    book = models.ForeignKey(Book, on_delete=models.PROTECT, related_name="+")
    provider = models.CharField(max_length=64, help_text="as usage records name it: openai, …")
    name = models.CharField(max_length=200)
    currency = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    # What the provider takes off its list prices (the catalogue's), in basis points.
    discount_bps = models.PositiveIntegerField(default=0)
    # How far the provider's bill may differ from our metering before it is a discrepancy:
    # either bound suffices (reconciliation reads these).
    tolerance_bps = models.PositiveIntegerField(default=0)
    tolerance_minor = models.BigIntegerField(default=0)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["book", "provider", "name"], name="settlement_contract_name_unique"
            ),
            models.CheckConstraint(
                condition=Q(discount_bps__lte=BPS_MAX) & Q(tolerance_bps__lte=BPS_MAX),
                name="settlement_contract_bps_range",
            ),
            models.CheckConstraint(
                condition=Q(tolerance_minor__gte=0), name="settlement_contract_tolerance_minor"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}: {self.name}"


class Commitment(models.Model):
    """Capacity bought in advance: `amount_minor` of the contract's currency, usable from
    `starts_at` (inclusive) to `expires_at` (exclusive) on the covered models."""

    class FundedFrom(models.TextChoices):
        CASH = "cash", "paid from cash:bank"
        PAYABLE = "payable", "owed to the provider (payable:<provider>)"

    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="commitments")
    name = models.CharField(max_length=200, blank=True)
    amount_minor = models.BigIntegerField()
    starts_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    # The models as usage records name them; empty: every model of the provider.
    covered_models = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    # Lower draws first; ties go to the earliest expiry, then the oldest commitment.
    priority = models.SmallIntegerField(default=100)
    funded_from = models.CharField(max_length=16, choices=FundedFrom.choices)
    # prepaid_capacity:<provider>:<id>, made in the purchase's transaction.
    account = models.OneToOneField(
        Account, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    purchase_sequence = models.BigIntegerField(null=True, help_text="the ledger event")
    idempotency_key = models.CharField(max_length=200)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], name="settlement_commitment_key_unique"
            ),
            models.CheckConstraint(
                condition=Q(amount_minor__gt=0), name="settlement_commitment_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("starts_at")),
                name="settlement_commitment_expires_after_start",
            ),
        ]
        indexes = [models.Index(fields=["contract", "expires_at"])]

    def __str__(self) -> str:
        return f"commitment {self.pk} ({self.contract})"


class DrawdownCursor(models.Model):
    """How far the draw-down has read the ledger: every metering batch event up to
    `through_sequence` is drawn. One row (name "drawdown"), advanced in the transaction
    that books the batches' draw-down, and locked by it, so one run at a time draws."""

    name = models.CharField(max_length=32, unique=True)
    through_sequence = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} through #{self.through_sequence}"


class DrawdownBatch(models.Model):
    """One metering batch, drawn once (unique `metering_sequence`): what its usage cost
    per provider, what commitments covered (ledger event `ledger_sequence`, none when
    nothing was covered) and what stayed on payable:<provider>."""

    metering_sequence = models.BigIntegerField(unique=True)
    ledger_sequence = models.BigIntegerField(null=True)
    cost_minor = models.BigIntegerField()
    drawn_minor = models.BigIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(drawn_minor__gte=0) & Q(drawn_minor__lte=F("cost_minor")),
                name="settlement_drawdown_batch_drawn_range",
            ),
        ]

    def __str__(self) -> str:
        return f"draw-down of batch #{self.metering_sequence}"


class DrawdownLine(models.Model):
    """What one commitment covered of one batch's usage of one model on one day."""

    batch = models.ForeignKey(DrawdownBatch, on_delete=models.PROTECT, related_name="lines")
    commitment = models.ForeignKey(Commitment, on_delete=models.PROTECT, related_name="draws")
    model = models.CharField(max_length=200)
    usage_day = models.DateField(help_text="the day (UTC) the usage occurred")
    amount_minor = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_minor__gt=0), name="settlement_drawdown_line_positive"
            ),
        ]
        indexes = [models.Index(fields=["commitment", "usage_day"])]

    def __str__(self) -> str:
        return f"{self.amount_minor} of commitment {self.commitment_id} ({self.model})"


class Breakage(models.Model):
    """A commitment closed at expiry: its unused remainder written off once (one row per
    commitment), `ledger_sequence` none when nothing was left."""

    commitment = models.OneToOneField(Commitment, on_delete=models.PROTECT, related_name="breakage")
    amount_minor = models.BigIntegerField()
    ledger_sequence = models.BigIntegerField(null=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "breakage"
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_minor__gte=0), name="settlement_breakage_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"breakage of commitment {self.commitment_id}: {self.amount_minor}"
