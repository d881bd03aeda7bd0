"""Customers, their API keys, gateways' keys and the authorizations gateways ask for.

Money itself lives in the ledger: a wallet's balance is the balance of the account
`wallet:<customer>` in the seller's book, and an authorization's reservation is a
two-phase ledger hold. The rows here say who may spend and what was decided; no logic
lives in save() or signals.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from ledger.models import Account, Asset, Book, Hold
from wallets.lots.allocation import KINDS as ALLOCATION_KINDS
from wallets.lots.allocation import PRIORITY_MAX, PRIORITY_MIN, remaining_minor


class Customer(models.Model):
    class Billing(models.TextChoices):
        PREPAID = "prepaid"  # spends a wallet funded by top-ups
        CREDIT = "credit"  # usage accrues as unbilled receivable, invoiced later

    external_id = models.SlugField(max_length=200, unique=True)
    name = models.CharField(max_length=200, blank=True)
    # The book that sells to this customer: the distributor's, or a reseller's.
    book = models.ForeignKey(Book, on_delete=models.PROTECT, related_name="customers")
    plan = models.CharField(max_length=64, blank=True)
    billing = models.CharField(max_length=16, choices=Billing.choices, default=Billing.PREPAID)
    currency = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    # A suspended customer's authorizations are declined (customer_suspended). Usage the
    # gateways already served still books.
    suspended = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.external_id


class ApiKey(models.Model):
    """A customer's key: `sk_live_<prefix>_<secret>`, shown once; only a hash is kept.

    Limits are integer minor units of the customer's currency; null means unlimited.
    An empty allow-list allows every model.
    """

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=200, blank=True)
    prefix = models.CharField(max_length=32, unique=True)
    secret_hash = models.CharField(max_length=64)
    daily_limit_minor = models.BigIntegerField(null=True, blank=True)
    monthly_limit_minor = models.BigIntegerField(null=True, blank=True)
    total_limit_minor = models.BigIntegerField(null=True, blank=True)
    # ["model", "provider/model", ...]; a bare model matches it under any provider.
    allowed_models = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(daily_limit_minor__isnull=True) | Q(daily_limit_minor__gte=0))
                & (Q(monthly_limit_minor__isnull=True) | Q(monthly_limit_minor__gte=0))
                & (Q(total_limit_minor__isnull=True) | Q(total_limit_minor__gte=0)),
                name="api_key_limits_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"sk_live_{self.prefix}_…"


class GatewayKey(models.Model):
    """A gateway's credential (wallets.gateways.keys) for reporting usage (POST /v1/usage)
    and asking for authorizations; only a hash of the secret is stored."""

    class LiteLLMCustomerField(models.TextChoices):
        """Which field of LiteLLM's StandardLoggingPayload names the customer. Declared
        here, not imported from metering's LiteLLM adapter (wallets must not import
        metering); tests/metering/test_gateway_customer_from.py checks the two agree."""

        TEAM_ID = "user_api_key_team_id", "metadata.user_api_key_team_id (the key's team)"
        USER_ID = "user_api_key_user_id", "metadata.user_api_key_user_id (the key's user)"
        ORG_ID = "user_api_key_org_id", "metadata.user_api_key_org_id (the key's organisation)"
        END_USER = "end_user", "end_user (or metadata.user_api_key_end_user_id)"

    name = models.CharField(max_length=200)
    source = models.CharField(max_length=64, help_text="the source id its events carry")
    litellm_customer_from = models.CharField(
        max_length=32,
        choices=LiteLLMCustomerField.choices,
        default=LiteLLMCustomerField.TEAM_ID,
        help_text="POST /v1/usage/litellm: the payload field naming the customer, unless "
        "the request's X-Customer-Id header or ?customer_from= says otherwise",
    )
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Authorization(models.Model):
    """A gateway's question "may this key spend up to `amount`?" and the answer.

    Declines are stored too (the audit trail, and idempotent replays of them). An
    approved authorization owns one ledger hold; `state` moves open -> captured | voided
    | captured_by_usage | expired, always in the same transaction as the ledger event.
    """

    class Decision(models.TextChoices):
        APPROVED = "approved"
        DECLINED = "declined"

    class State(models.TextChoices):
        OPEN = "open"  # approved, hold pending
        CAPTURED = "captured"  # explicit capture: the hold was posted
        CAPTURED_BY_USAGE = "captured_by_usage"  # the usage batch booked the price
        VOIDED = "voided"
        EXPIRED = "expired"
        DECLINED = "declined"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # No single-column indexes on gateway_key, api_key and currency: every authorization
    # inserts into each index, and nothing reads by these alone (the Idempotency-Key
    # lookup uses the unique (gateway_key, idempotency_key) index, spend per key the
    # (api_key, created_at) one; gateway keys and assets are never deleted).
    gateway_key = models.ForeignKey(
        GatewayKey,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        db_index=False,
    )
    idempotency_key = models.CharField(max_length=200, blank=True)  # "" when none was sent
    request_hash = models.CharField(max_length=64)
    api_key = models.ForeignKey(
        ApiKey, on_delete=models.PROTECT, related_name="authorizations", null=True, db_index=False
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="authorizations", null=True
    )
    provider = models.CharField(max_length=64)
    model = models.CharField(max_length=200)
    max_input_tokens = models.BigIntegerField()
    max_output_tokens = models.BigIntegerField()
    decision = models.CharField(max_length=16, choices=Decision.choices)
    reason = models.CharField(max_length=32, blank=True)
    state = models.CharField(max_length=20, choices=State.choices)
    amount_minor = models.BigIntegerField(default=0)  # the estimate held
    captured_minor = models.BigIntegerField(null=True, blank=True)
    currency = models.ForeignKey(
        Asset, on_delete=models.PROTECT, related_name="+", null=True, db_index=False
    )
    hold = models.OneToOneField(
        Hold, on_delete=models.PROTECT, related_name="authorization", null=True, blank=True
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    actor = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["gateway_key", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="authorization_idempotency_key_unique",
            ),
            models.CheckConstraint(
                condition=Q(amount_minor__gte=0)
                & (Q(captured_minor__isnull=True) | Q(captured_minor__gte=0)),
                name="authorization_amounts_non_negative",
            ),
            models.CheckConstraint(
                condition=(Q(decision="approved") & Q(hold__isnull=False))
                | (Q(decision="declined") & Q(hold__isnull=True) & Q(state="declined")),
                name="authorization_hold_iff_approved",
            ),
        ]
        indexes = [
            models.Index(fields=["api_key", "created_at"], name="authorization_key_time"),
            models.Index(fields=["state", "expires_at"], name="authorization_state_expiry"),
        ]

    def __str__(self) -> str:
        return f"authorization {self.public_id} ({self.state})"


class CustomerMembership(models.Model):
    """A login that acts for a customer (a tenant): it sees and manages that customer's
    wallet, keys and authorizations only. Finance staff see every customer through Django
    permissions instead (wallets.access)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="customer_memberships"
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "customer"], name="customer_membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.customer}"


class BookMembership(models.Model):
    """A login that acts for a seller book, a reseller's staff: in invoicing it sees the
    documents the book issued to its own customers and the invoices billed to the book
    (wallets.access.books_visible). It gives no finance permission and no other book."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="book_memberships"
    )
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "book"], name="book_membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.book}"


# --- credit lots (a sub-ledger of the wallet account; see wallets.lots.allocation) -----------


class LotCursor(models.Model):
    """Where the allocation of one wallet's movements to its lots stands.

    Created with the wallet's first lot: the wallet's posted balance just before that
    lot's event opens an `unattributed` lot (or, when negative, starts as unfunded), so
    history before lots is never walked. Only the allocator changes it, under its lock.
    """

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="lot_cursor")
    start_sequence = models.BigIntegerField()
    opening_balance_minor = models.BigIntegerField()
    allocated_through_sequence = models.BigIntegerField()
    # Consumption no lot paid for (the wallet went negative): the next lot covers it.
    unfunded_minor = models.BigIntegerField(default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(unfunded_minor__gte=0)
                & Q(allocated_through_sequence__gte=models.F("start_sequence")),
                name="lot_cursor_consistent",
            ),
        ]

    def __str__(self) -> str:
        return f"lots of {self.customer_id} through #{self.allocated_through_sequence}"


class Lot(models.Model):
    """A credit in the wallet with its own priority and expiry: paid (a top-up),
    promotional (a grant), or unattributed (any other credit, see wallets.lots.allocation).

    `opened_sequence` is the ledger event that booked the credit. The counters are the
    allocator's projection of the LotAllocation rows; `closed_sequence` is set once, by
    the expiry, with the breakage booked (`breakage_minor`, maybe 0).
    """

    class Kind(models.TextChoices):
        PAID = "paid"
        PROMOTIONAL = "promotional"
        UNATTRIBUTED = "unattributed"

    class State(models.TextChoices):
        OPEN = "open"
        EXPIRED = "expired"

    cursor = models.ForeignKey(LotCursor, on_delete=models.PROTECT, related_name="lots")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="lots")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount_minor = models.BigIntegerField()
    priority = models.SmallIntegerField()
    expires_at = models.DateTimeField(null=True, blank=True)
    opened_sequence = models.BigIntegerField()
    source = models.CharField(max_length=200, blank=True)
    memo = models.CharField(max_length=500, blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    request_hash = models.CharField(max_length=64)
    consumed_minor = models.BigIntegerField(default=0)
    reversed_minor = models.BigIntegerField(default=0)
    expired_minor = models.BigIntegerField(default=0)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    breakage_minor = models.BigIntegerField(null=True, blank=True)
    closed_sequence = models.BigIntegerField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_minor__gt=0)
                & Q(consumed_minor__gte=0)
                & Q(reversed_minor__gte=0)
                & Q(expired_minor__gte=0)
                & Q(
                    amount_minor__gte=models.F("consumed_minor")
                    + models.F("reversed_minor")
                    + models.F("expired_minor")
                ),
                name="lot_amounts_consistent",
            ),
            models.CheckConstraint(
                condition=Q(priority__gte=PRIORITY_MIN) & Q(priority__lte=PRIORITY_MAX),
                name="lot_priority_range",
            ),
            models.CheckConstraint(
                condition=(
                    Q(state="open")
                    & Q(closed_sequence__isnull=True)
                    & Q(breakage_minor__isnull=True)
                )
                | (
                    Q(state="expired") & Q(closed_sequence__isnull=False) & Q(breakage_minor__gte=0)
                ),
                name="lot_closed_iff_expired",
            ),
            models.CheckConstraint(
                condition=~Q(kind="unattributed") | Q(expires_at__isnull=True),
                name="lot_unattributed_never_expires",
            ),
        ]
        indexes = [
            models.Index(fields=["cursor", "state"], name="lot_cursor_state"),
            models.Index(fields=["state", "expires_at"], name="lot_state_expiry"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} lot {self.pk} of {self.customer_id}"

    @property
    def remaining_minor(self) -> int:
        return remaining_minor(self)


class LotReversal(models.Model):
    """A debit of the wallet booked against one lot: the refund or dispute of the payment
    that funded it (recorded by the code that booked the debit, in its transaction)."""

    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="reversals")
    sequence = models.BigIntegerField()
    amount_minor = models.BigIntegerField()
    idempotency_key = models.CharField(max_length=200, unique=True)
    request_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_minor__gt=0), name="lot_reversal_amount_positive"
            ),
        ]
        indexes = [models.Index(fields=["sequence"], name="lot_reversal_sequence")]

    def __str__(self) -> str:
        return f"reversal of {self.amount_minor} on lot {self.lot_id}"


class LotAllocation(models.Model):
    """Append-only: one part of a wallet movement attributed to a lot (null: unfunded).
    The kinds are wallets.lots.allocation's CONSUMPTION, COVER, RESTORATION, BREAKAGE and
    REVERSAL."""

    cursor = models.ForeignKey(LotCursor, on_delete=models.PROTECT, related_name="allocations")
    lot = models.ForeignKey(
        Lot, on_delete=models.PROTECT, related_name="allocations", null=True, blank=True
    )
    sequence = models.BigIntegerField()
    kind = models.CharField(max_length=16)
    amount_minor = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_minor__gt=0), name="lot_allocation_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=list(ALLOCATION_KINDS)),
                name="lot_allocation_kind_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["cursor", "sequence"], name="lot_allocation_cursor_seq"),
            models.Index(fields=["lot", "sequence"], name="lot_allocation_lot_seq"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.kind} {self.amount_minor} -> lot {self.lot_id}"
