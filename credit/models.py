"""Credit limits of customers billed on credit, and their audit trail.

A credit customer's exposure (unbilled usage + open holds, on `unbilled:<customer>` in
the ledger) may reach its limit; authorizations ask through wallets.funding
(credit/funding.py). Rows change only through credit.services.credit_limit_set.
"""

from django.db import models
from django.db.models import Q


class CreditLimit(models.Model):
    """A customer's own credit limit, in minor units of its currency. No row, or a null
    limit, means the default (setting CREDIT_LIMIT_DEFAULT)."""

    customer = models.OneToOneField(
        "wallets.Customer", on_delete=models.PROTECT, related_name="credit_limit"
    )
    credit_limit_minor = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(credit_limit_minor__isnull=True) | Q(credit_limit_minor__gte=0),
                name="credit_limit_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer}: {self.credit_limit_minor}"


class CreditLimitChange(models.Model):
    """The audit trail of a customer's credit limit: who set what, when."""

    customer = models.ForeignKey(
        "wallets.Customer", on_delete=models.PROTECT, related_name="credit_limit_changes"
    )
    previous_minor = models.BigIntegerField(null=True, blank=True)
    credit_limit_minor = models.BigIntegerField(null=True, blank=True)
    changed_at = models.DateTimeField()
    changed_by = models.CharField(max_length=200)

    def __str__(self) -> str:
        return f"{self.customer}: {self.previous_minor} -> {self.credit_limit_minor}"


# --- expected credit loss (IFRS 9 simplified approach) ------------------------------------

BUCKETS = ("current", "d1_30", "d31_60", "d61_90", "over_90")


class ProvisionMatrix(models.Model):
    """A book's loss rates per aging bucket, in basis points of the open receivable, in
    force from `effective_from` until the next version. Finance edits it by adding a
    version (credit.losses.services.provision_matrix_set); a version never changes, so
    every past allowance can be recomputed from the rates it used."""

    book = models.ForeignKey("ledger.Book", on_delete=models.PROTECT, related_name="+")
    effective_from = models.DateField()
    current_bps = models.PositiveIntegerField()
    d1_30_bps = models.PositiveIntegerField()
    d31_60_bps = models.PositiveIntegerField()
    d61_90_bps = models.PositiveIntegerField()
    over_90_bps = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["book", "effective_from"], name="provision_matrix_one_per_day"
            ),
            models.CheckConstraint(
                condition=Q(current_bps__lte=10000)
                & Q(d1_30_bps__lte=10000)
                & Q(d31_60_bps__lte=10000)
                & Q(d61_90_bps__lte=10000)
                & Q(over_90_bps__lte=10000),
                name="provision_matrix_rates_at_most_100_percent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.book} from {self.effective_from}"


class AllowanceBooking(models.Model):
    """The allowance of a book and currency measured at a period end, and the change
    booked to reach it (Dr expense:bad_debt / Cr allowance:doubtful, or back). One per
    book, currency and period end: the job run twice books once."""

    book = models.ForeignKey("ledger.Book", on_delete=models.PROTECT, related_name="+")
    currency = models.ForeignKey("ledger.Asset", on_delete=models.PROTECT, related_name="+")
    period_end = models.DateField()
    matrix = models.ForeignKey(ProvisionMatrix, on_delete=models.PROTECT, related_name="+")
    receivable_minor = models.BigIntegerField()  # the aging's open total
    allowance_minor = models.BigIntegerField()  # the matrix applied to the aging
    previous_minor = models.BigIntegerField()  # allowance:doubtful before the change
    change_minor = models.BigIntegerField()  # > 0 more expense, < 0 released
    buckets = models.JSONField()  # {bucket: {"open": n, "rate_bps": r, "allowance": a}}
    ledger_event_sequence = models.BigIntegerField(null=True, blank=True)  # null: no change
    booked_at = models.DateTimeField()
    booked_by = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["book", "currency", "period_end"], name="allowance_once_per_period"
            ),
            models.CheckConstraint(
                condition=Q(change_minor=models.F("allowance_minor") - models.F("previous_minor")),
                name="allowance_change_adds_up",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.book} {self.currency} {self.period_end}: {self.allowance_minor}"


class WriteOff(models.Model):
    """Finance gives up on (part of) an invoice's receivable: Dr allowance:doubtful /
    Cr receivable:<buyer>. Never deleted; a later recovery books back (Recovery)."""

    invoice = models.ForeignKey(
        "invoicing.Invoice", on_delete=models.PROTECT, related_name="write_offs"
    )
    amount_minor = models.BigIntegerField()
    reason = models.CharField(max_length=500)
    approved_by = models.CharField(max_length=200)
    written_off_at = models.DateTimeField()
    written_off_by = models.CharField(max_length=200)
    ledger_event_sequence = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="write_off_positive"),
        ]

    def __str__(self) -> str:
        return f"write-off {self.amount_minor} of invoice {self.invoice_id}"


class Recovery(models.Model):
    """Money later received on a written-off receivable: the write-off booked back
    (Dr receivable:<buyer> / Cr allowance:doubtful), so the payment applies as usual."""

    write_off = models.ForeignKey(WriteOff, on_delete=models.PROTECT, related_name="recoveries")
    amount_minor = models.BigIntegerField()
    note = models.CharField(max_length=500, blank=True)
    recovered_at = models.DateTimeField()
    recovered_by = models.CharField(max_length=200)
    ledger_event_sequence = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="recovery_positive"),
        ]

    def __str__(self) -> str:
        return f"recovery {self.amount_minor} of write-off {self.write_off_id}"


# --- dunning ------------------------------------------------------------------------------


class DunningStep(models.Model):
    """One rung of a book's dunning ladder: once a customer's oldest overdue invoice is
    `days_past_due` days past due and its overdue amount at least `amount_overdue_minor`,
    the action is taken (once per episode). Steps are taken in `position` order."""

    class Action(models.TextChoices):
        REMINDER = "reminder"  # a webhook to the seller (customer.reminder) + a record
        CARD_RETRY = "card_retry"  # charge the saved card for the overdue amount
        RESTRICT = "restrict"  # only requests costing at most restrict_request_max_minor
        SUSPEND = "suspend"  # authorizations declined customer_suspended

    book = models.ForeignKey("ledger.Book", on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField()
    days_past_due = models.PositiveIntegerField()
    amount_overdue_minor = models.BigIntegerField(default=0)
    action = models.CharField(max_length=16, choices=Action.choices)
    # restrict: the most one request may reserve (cheap models and short requests pass).
    restrict_request_max_minor = models.BigIntegerField(null=True, blank=True)
    card_tries_max = models.PositiveSmallIntegerField(default=3)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["book", "position"], name="dunning_step_position"),
            models.CheckConstraint(
                condition=~Q(action="restrict") | Q(restrict_request_max_minor__gte=0),
                name="dunning_restrict_has_a_cap",
            ),
            models.CheckConstraint(
                condition=Q(amount_overdue_minor__gte=0) & Q(card_tries_max__lte=10),
                name="dunning_step_bounds",
            ),
        ]
        ordering = ["book", "position"]

    def __str__(self) -> str:
        return f"{self.book} #{self.position}: {self.action} at {self.days_past_due}d"


class DunningStanding(models.Model):
    """A customer's standing in its book's ladder. `level` is the strongest action in
    force (good < restricted < suspended); `episode` counts the times it fell behind.

    A payment lifts it at once without a write: authorizations ask whether an invoice
    past due at `evaluated_at` is still open (credit.selectors.standing_of); the next
    evaluation records the reinstatement. `overdue_minor` and `receivable_credits_minor`
    (the credits posted to receivable:<customer> then) are the evaluation's record."""

    class Level(models.TextChoices):
        GOOD = "good"
        REMINDED = "reminded"
        RESTRICTED = "restricted"
        SUSPENDED = "suspended"

    customer = models.OneToOneField(
        "wallets.Customer", on_delete=models.PROTECT, related_name="dunning_standing"
    )
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.GOOD)
    episode = models.PositiveIntegerField(default=0)
    last_position = models.PositiveIntegerField(default=0)  # the last step taken this episode
    restrict_request_max_minor = models.BigIntegerField(null=True, blank=True)
    overdue_minor = models.BigIntegerField(default=0)
    receivable_credits_minor = models.BigIntegerField(default=0)
    evaluated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.customer}: {self.level}"


class DunningCard(models.Model):
    """The card a credit customer's dunning may charge (a Stripe customer and payment
    method, saved through Stripe; payments' auto top-up cards are prepaid customers')."""

    customer = models.OneToOneField(
        "wallets.Customer", on_delete=models.PROTECT, related_name="dunning_card"
    )
    stripe_customer_id = models.CharField(max_length=255)
    stripe_payment_method_id = models.CharField(max_length=255)
    updated_at = models.DateTimeField()
    updated_by = models.CharField(max_length=200)

    def __str__(self) -> str:
        return f"dunning card of {self.customer}"


class DunningAction(models.Model):
    """Every step taken, and every reinstatement, with its reason: the audit trail."""

    class Outcome(models.TextChoices):
        DONE = "done"
        PENDING = "pending"  # a card charge enqueued
        CARD_CHARGED = "card_charged"
        CARD_DECLINED = "card_declined"  # a hard decline: not retried
        CARD_FAILED = "card_failed"  # retried up to the step's tries
        NO_CARD = "no_card"

    customer = models.ForeignKey(
        "wallets.Customer", on_delete=models.PROTECT, related_name="dunning_actions"
    )
    episode = models.PositiveIntegerField()
    step = models.ForeignKey(
        DunningStep, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=16)  # a DunningStep.Action, or "reinstate"
    reason = models.CharField(max_length=500)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.DONE)
    days_past_due = models.IntegerField()
    overdue_minor = models.BigIntegerField()
    details = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField()
    actor = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "episode", "step"],
                condition=Q(step__isnull=False),
                name="dunning_step_once_per_episode",
            ),
        ]
        indexes = [models.Index(fields=["customer", "at"])]

    def __str__(self) -> str:
        return f"{self.customer} {self.action} ({self.reason})"
