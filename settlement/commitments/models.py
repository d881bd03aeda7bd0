"""Upstream contracts and the capacity pre-bought under them, and how it was used.

A commitment's money lives in ONE ledger account, `prepaid_capacity:<provider>:<id>`
(an asset of the distributor's book that may not go below zero: the database refuses
an over-draw). A commitment bought in tokens also holds its tokens in the ledger, in
`prepaid_tokens:<provider>:<id>` of the TOKENS asset (likewise never below zero).
These tables say what was bought and which metering batch drew what;
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
    """Capacity bought in advance for `amount_minor` of the contract's currency, usable
    from `starts_at` (inclusive) to `expires_at` (exclusive) on the covered models.

    In money (`tokens` empty): it pays for usage at list price less the contract's
    discount until the money is gone. In tokens: it covers `tokens` tokens of usage
    (every kind counted), whatever their list price, and each token drawn is worth its
    share of the price (settlement.terms.token_value)."""

    class FundedFrom(models.TextChoices):
        CASH = "cash", "paid from cash:bank"
        PAYABLE = "payable", "owed to the provider (payable:<provider>)"

    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="commitments")
    name = models.CharField(max_length=200, blank=True)
    amount_minor = models.BigIntegerField(help_text="the price paid, in minor units")
    tokens = models.BigIntegerField(null=True, blank=True, help_text="tokens bought, if any")
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
    # prepaid_tokens:<provider>:<id> in the TOKENS asset, for a commitment in tokens.
    token_account = models.OneToOneField(
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
            models.CheckConstraint(
                condition=Q(tokens__isnull=True) | Q(tokens__gt=0),
                name="settlement_commitment_tokens_positive",
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
    """One metering batch, drawn once (unique `metering_sequence`): its usage's list
    cost, the part commitments covered (their lines) and what that drew from them, and
    the contract discount on the rest, taken off payable:<provider> (its discount rows).
    `ledger_sequence` is the event that booked it, none when there was nothing to book.
    Batches drawn before discounts were booked have `covered_minor` = `drawn_minor`."""

    metering_sequence = models.BigIntegerField(unique=True)
    ledger_sequence = models.BigIntegerField(null=True)
    cost_minor = models.BigIntegerField(help_text="list cost of the batch's usage")
    covered_minor = models.BigIntegerField(default=0, help_text="list cost commitments covered")
    drawn_minor = models.BigIntegerField(help_text="money drawn from commitments for it")
    tokens = models.BigIntegerField(default=0, help_text="tokens drawn from token commitments")
    discount_minor = models.BigIntegerField(default=0, help_text="discount on uncovered usage")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(drawn_minor__gte=0)
                & Q(tokens__gte=0)
                & Q(covered_minor__gte=0)
                & Q(discount_minor__gte=0)
                & Q(cost_minor__gte=F("covered_minor") + F("discount_minor")),
                name="settlement_drawdown_batch_ranges",
            ),
        ]

    def __str__(self) -> str:
        return f"draw-down of batch #{self.metering_sequence}"


class DrawdownLine(models.Model):
    """What one commitment covered of one batch's usage of one model on one day: the
    list cost of it (taken off payable:<provider>), the money it drew and, for a
    commitment in tokens, the tokens. Metering booked the usage at list, so cogs moves
    by list less drawn (the discount, or what a token price differs from list)."""

    batch = models.ForeignKey(DrawdownBatch, on_delete=models.PROTECT, related_name="lines")
    commitment = models.ForeignKey(Commitment, on_delete=models.PROTECT, related_name="draws")
    model = models.CharField(max_length=200)
    usage_day = models.DateField(help_text="the day (UTC) the usage occurred")
    list_minor = models.BigIntegerField(default=0, help_text="list cost covered")
    amount_minor = models.BigIntegerField(help_text="money drawn from the commitment")
    tokens = models.BigIntegerField(default=0, help_text="tokens drawn (a token commitment)")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_minor__gte=0)
                & Q(list_minor__gte=0)
                & Q(tokens__gte=0)
                & (Q(amount_minor__gt=0) | Q(list_minor__gt=0) | Q(tokens__gt=0)),
                name="settlement_drawdown_line_ranges",
            ),
        ]
        # by day alone too: finance's upstream savings of a period read every commitment's
        indexes = [
            models.Index(fields=["commitment", "usage_day"]),
            models.Index(fields=["usage_day"], name="settlement_line_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.amount_minor} of commitment {self.commitment_id} ({self.model})"


class DrawdownDiscount(models.Model):
    """The contract's discount on one batch's usage of one model on one day that no
    commitment covered: metering booked it at list on payable:<provider>, the provider
    bills it less the discount, so the draw-down moves the discount to cogs."""

    batch = models.ForeignKey(DrawdownBatch, on_delete=models.PROTECT, related_name="discounts")
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="discounts")
    model = models.CharField(max_length=200)
    usage_day = models.DateField(help_text="the day (UTC) the usage occurred")
    list_minor = models.BigIntegerField(help_text="list cost of the uncovered usage")
    amount_minor = models.BigIntegerField(help_text="the discount on it")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_minor__gt=0) & Q(list_minor__gte=F("amount_minor")),
                name="settlement_drawdown_discount_ranges",
            ),
        ]
        indexes = [
            models.Index(fields=["contract", "usage_day"]),
            models.Index(fields=["usage_day"], name="settlement_discount_day_idx"),
        ]

    def __str__(self) -> str:
        return f"discount {self.amount_minor} of contract {self.contract_id} ({self.model})"


class Breakage(models.Model):
    """A commitment closed at expiry: its unused remainder written off once (one row per
    commitment), `ledger_sequence` none when nothing was left."""

    commitment = models.OneToOneField(Commitment, on_delete=models.PROTECT, related_name="breakage")
    amount_minor = models.BigIntegerField()
    tokens = models.BigIntegerField(null=True, blank=True, help_text="tokens left (in tokens)")
    ledger_sequence = models.BigIntegerField(null=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "breakage"
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_minor__gte=0) & (Q(tokens__isnull=True) | Q(tokens__gte=0)),
                name="settlement_breakage_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"breakage of commitment {self.commitment_id}: {self.amount_minor}"
