"""Tables of payments: Stripe top-ups, the Stripe events received, auto top-up and the
cards saved for it, low-balance alerts. Each belongs to a wallets Customer.

Money is not here: a top-up's money is the ledger event that booked it
(`paid_event_sequence`); these rows say what we asked Stripe for, what Stripe told us, and
what is still to do. Amounts in Stripe's minor unit end in `_stripe`, ledger amounts in
the currency's ledger scale end in `_minor`.
"""

import uuid

from django.db import models
from django.db.models import F, Q

from ledger.models import Asset
from wallets.models import Customer


class TopUp(models.Model):
    """One payment that credits a wallet: a Checkout session or an off-session charge.

    The customer pays amount + fee; the wallet is credited the amount. Refunds and disputes
    are tracked cumulatively (`refunded_stripe`, `disputed_stripe`) and what has been
    reversed in the ledger so far is kept beside them, so each Stripe event books only the
    difference (payments.topups.services.topup_reversal_apply).
    """

    class Source(models.TextChoices):
        CHECKOUT = "checkout"  # the customer pays on a Stripe Checkout page
        AUTO = "auto"  # auto top-up: a saved payment method charged off-session

    class State(models.TextChoices):
        CREATING = "creating"  # our row exists, Stripe has not answered yet
        OPEN = "open"  # a Checkout session is open, or a charge was submitted
        PAID = "paid"  # booked in the ledger
        EXPIRED = "expired"  # the Checkout session expired unpaid
        FAILED = "failed"  # Stripe refused to create the session

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="topups")
    source = models.CharField(max_length=16, choices=Source.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.CREATING)
    currency = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    amount_stripe = models.BigIntegerField()
    fee_stripe = models.BigIntegerField()
    amount_minor = models.BigIntegerField()
    fee_minor = models.BigIntegerField()
    fee_percent = models.CharField(max_length=16)  # the fee in force when it was created
    # "" until Stripe gives us the id; unique when set (Meta.constraints).
    stripe_checkout_session_id = models.CharField(max_length=255, blank=True)
    checkout_url = models.TextField(blank=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True)
    # The customer asked Stripe to keep the card it pays with, for auto top-up
    # (payments.auto_topup.saved_cards): the Checkout asks setup_future_usage=off_session.
    # (Its label must not read "Save…": the admin's read-only pages have no Save button.)
    save_card = models.BooleanField("card kept for auto top-up", default=False)
    error = models.CharField(max_length=500, blank=True)
    paid_event_sequence = models.BigIntegerField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    # Cumulative, as Stripe reports them: charge.amount_refunded, and the amount of an
    # open or lost dispute (0 once won).
    refunded_stripe = models.BigIntegerField(default=0)
    disputed_stripe = models.BigIntegerField(default=0)
    dispute_id = models.CharField(max_length=255, blank=True)
    dispute_status = models.CharField(max_length=64, blank=True)
    # What the ledger has taken back so far for refunds and disputes.
    wallet_reversed_minor = models.BigIntegerField(default=0)
    fee_reversed_minor = models.BigIntegerField(default=0)
    reversal_count = models.IntegerField(default=0)  # numbers the reversal events' keys
    # Stripe's fees on the dispute (its balance transactions' net `fee`, in Stripe minor
    # units) booked as expense:stripe_fees so far, and how many times (the events' keys).
    dispute_fees_stripe = models.BigIntegerField(default=0)
    dispute_fee_bookings = models.IntegerField(default=0)
    # Stripe's processing fee on the charge, as its balance transaction says (Stripe minor
    # units of processing_fee_currency); null until read (payments.stripe.fees).
    processing_fee_stripe = models.BigIntegerField(null=True, blank=True)
    processing_fee_currency = models.CharField(max_length=3, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_stripe__gt=0)
                & Q(fee_stripe__gte=0)
                & Q(amount_minor__gt=0)
                & Q(fee_minor__gte=0)
                & Q(refunded_stripe__gte=0)
                & Q(disputed_stripe__gte=0)
                & Q(wallet_reversed_minor__gte=0, wallet_reversed_minor__lte=F("amount_minor"))
                & Q(fee_reversed_minor__gte=0, fee_reversed_minor__lte=F("fee_minor")),
                name="topup_amounts_in_range",
            ),
            models.CheckConstraint(
                condition=Q(state="paid", paid_event_sequence__isnull=False)
                | (~Q(state="paid") & Q(paid_event_sequence__isnull=True)),
                name="topup_paid_iff_booked",
            ),
            models.UniqueConstraint(
                fields=["stripe_checkout_session_id"],
                condition=~Q(stripe_checkout_session_id=""),
                name="topup_checkout_session_unique",
            ),
            models.UniqueConstraint(
                fields=["stripe_payment_intent_id"],
                condition=~Q(stripe_payment_intent_id=""),
                name="topup_payment_intent_unique",
            ),
        ]
        indexes = [models.Index(fields=["customer", "-created_at"], name="topup_customer_time")]

    def __str__(self) -> str:
        return f"top-up {self.public_id} ({self.state})"

    @property
    def total_stripe(self) -> int:
        return self.amount_stripe + self.fee_stripe

    @property
    def ledger_units_per_stripe_unit(self) -> int:
        """As payments.topups.amounts.ledger_units_per_stripe_unit for this currency, read from the
        amounts stored (the amount was booked as amount_stripe times it): no query."""
        return self.amount_minor // self.amount_stripe


class StripeEvent(models.Model):
    """Every Stripe event whose signature verified, recorded once by its id (a redelivery
    is answered 200 and changes nothing), with what processing it did."""

    class Outcome(models.TextChoices):
        BOOKED = "booked"  # a top-up was booked
        ALREADY_BOOKED = "already_booked"  # the payment was booked by an earlier event
        REVERSED = "reversed"  # a refund or dispute moved money
        RECORDED = "recorded"  # state changed, no money moved
        CARD_SAVED = "card_saved"  # a card was stored for auto top-up
        UNMATCHED = "unmatched"  # names no top-up of ours
        MISMATCH = "mismatch"  # Stripe's amount or currency differs from our row
        IGNORED = "ignored"  # a type we do not handle
        MALFORMED = "malformed"  # verified, but its object lacks what we need

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    livemode = models.BooleanField(default=False)
    stripe_created_at = models.DateTimeField(null=True, blank=True)
    object_id = models.CharField(max_length=255, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    detail = models.CharField(max_length=500, blank=True)
    topup = models.ForeignKey(
        TopUp, on_delete=models.PROTECT, related_name="stripe_events", null=True, blank=True
    )
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["type", "received_at"], name="stripe_event_type_time")]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type} ({self.outcome})"


class StripeCustomer(models.Model):
    """Our customer's Customer object on Stripe, created once on demand
    (payments.stripe.checkout.stripe_customer_ensure) and reused by every Checkout session, so
    the cards it saves belong to it and can be charged off-session."""

    customer = models.OneToOneField(
        Customer, on_delete=models.PROTECT, related_name="stripe_customer"
    )
    stripe_customer_id = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200)

    def __str__(self) -> str:
        return f"{self.stripe_customer_id} ({self.customer})"


class CardSetup(models.Model):
    """One Stripe Checkout session in setup mode: the customer saves a card for auto
    top-up without paying. Found again by its session id (stripe-mock echoes no metadata),
    or by the SetupIntent id once the completed session told us."""

    class State(models.TextChoices):
        CREATING = "creating"  # our row exists, Stripe has not answered yet
        OPEN = "open"  # the customer may enter a card on `checkout_url`
        COMPLETED = "completed"  # Stripe saved the card; it is on the auto top-up settings
        FAILED = "failed"  # Stripe refused to create the session

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="card_setups")
    state = models.CharField(max_length=16, choices=State.choices, default=State.CREATING)
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    # "" until Stripe gives us the ids; unique when set (Meta.constraints).
    stripe_checkout_session_id = models.CharField(max_length=255, blank=True)
    checkout_url = models.TextField(blank=True)
    stripe_setup_intent_id = models.CharField(max_length=255, blank=True)
    stripe_payment_method_id = models.CharField(max_length=255, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_checkout_session_id"],
                condition=~Q(stripe_checkout_session_id=""),
                name="card_setup_checkout_session_unique",
            ),
            models.UniqueConstraint(
                fields=["stripe_setup_intent_id"],
                condition=~Q(stripe_setup_intent_id=""),
                name="card_setup_setup_intent_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="card_setup_customer_time")
        ]

    def __str__(self) -> str:
        return f"card setup {self.public_id} ({self.state})"


class AutoTopUpSettings(models.Model):
    """Below `threshold_minor` available, charge the saved card up to `target_minor`.

    `armed` is False from a trigger until the available balance is back at or above the
    threshold, so one crossing makes one attempt. The card is typed in as Stripe ids
    (`manual`) or saved through Stripe (payments.auto_topup.saved_cards): then
    `payment_method_source` and `payment_method_reference` say which card setup or top-up
    saved it, and when.
    """

    class PaymentMethodSource(models.TextChoices):
        MANUAL = "manual"  # Stripe ids given in the API
        CARD_SETUP = "card_setup"  # a Checkout session in setup mode (CardSetup)
        TOPUP = "topup"  # the card a Checkout top-up paid with (TopUp.save_card)

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="auto_topup")
    enabled = models.BooleanField(default=False)
    threshold_minor = models.BigIntegerField()
    target_minor = models.BigIntegerField()
    stripe_customer_id = models.CharField(max_length=255)
    stripe_payment_method_id = models.CharField(max_length=255)
    payment_method_source = models.CharField(
        max_length=16, choices=PaymentMethodSource.choices, default=PaymentMethodSource.MANUAL
    )
    # The public id of the CardSetup or TopUp that saved the card ("" when manual).
    payment_method_reference = models.CharField(max_length=64, blank=True)
    payment_method_saved_at = models.DateTimeField(null=True, blank=True)
    # As Stripe reports the card; "" when it did not say (or the method is not a card).
    card_brand = models.CharField(max_length=32, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    armed = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=200)

    class Meta:
        verbose_name = verbose_name_plural = "auto top-up settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(threshold_minor__gte=0) & Q(target_minor__gt=F("threshold_minor")),
                name="auto_topup_target_above_threshold",
            )
        ]

    def __str__(self) -> str:
        return f"auto top-up of {self.customer}"


class AutoTopUpAttempt(models.Model):
    """One trigger of auto top-up: a top-up charged off-session, tried at most
    WALLETS_AUTO_TOPUP_TRIES_MAX times. `failures` lists each failed try."""

    class State(models.TextChoices):
        PENDING = "pending"  # a try is due now
        SUBMITTED = "submitted"  # Stripe accepted the charge; the webhook tells the outcome
        RETRYING = "retrying"  # a try failed; the next is due at next_try_at
        SUCCEEDED = "succeeded"  # the top-up is booked
        FAILED = "failed"  # gave up: every try failed, or auto top-up was disabled

    OPEN_STATES = (State.PENDING, State.SUBMITTED, State.RETRYING)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="auto_topup_attempts"
    )
    topup = models.OneToOneField(TopUp, on_delete=models.PROTECT, related_name="auto_attempt")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    available_minor = models.BigIntegerField()  # what triggered it
    threshold_minor = models.BigIntegerField()
    target_minor = models.BigIntegerField()
    tries = models.IntegerField(default=0)
    # Bumped after a definitive refusal, so the next try is a new charge; a try after a
    # network error reuses the key and Stripe answers as it did (no double charge).
    charge_sequence = models.IntegerField(default=0)
    idempotency_key = models.CharField(max_length=255, blank=True)
    failures = models.JSONField(default=list, blank=True)
    next_try_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(state__in=["pending", "submitted", "retrying"]),
                name="auto_topup_one_open_attempt",
            )
        ]
        indexes = [models.Index(fields=["state", "next_try_at"], name="auto_topup_due")]

    def __str__(self) -> str:
        return f"auto top-up {self.public_id} ({self.state})"


class LowBalanceAlert(models.Model):
    """Tell the customer when its available balance falls below the threshold: a
    `wallet.balance_low` webhooks event to `endpoint` (the customer's URL and signing
    secret, a webhooks endpoint of its seller's book, audience `customer:<pk>`), which
    webhooks delivers, signs and retries; `armed` as for auto top-up (one alert per
    crossing)."""

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, related_name="low_balance_alert"
    )
    enabled = models.BooleanField(default=True)
    threshold_minor = models.BigIntegerField()
    endpoint = models.OneToOneField(
        "webhooks.WebhookEndpoint", on_delete=models.PROTECT, related_name="low_balance_alert"
    )
    armed = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=200)

    class Meta:
        verbose_name = "low-balance alert"
        constraints = [
            models.CheckConstraint(
                condition=Q(threshold_minor__gte=0), name="low_balance_alert_threshold_positive"
            )
        ]

    def __str__(self) -> str:
        return f"low-balance alert of {self.customer}"
