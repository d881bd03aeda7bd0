"""The ledger's tables.

Journal data (events, entries, postings, holds and their resolutions) is append-only:
PostgreSQL triggers refuse UPDATE and DELETE (see migrations/sql/). Balances are a
projection that PostgreSQL itself maintains from postings, in the same statement, so a
posting inserted by any path (service, COPY, raw SQL) moves its balance and is checked
against the account's overdraft flag. No logic lives in save() or signals.
"""

from django.db import models
from django.db.models import F, Q


class Book(models.Model):
    """A set of accounts that balances on its own: the distributor's, or one reseller's."""

    class Kind(models.TextChoices):
        DISTRIBUTOR = "distributor"
        RESELLER = "reseller"

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # A reseller's book buys wholesale from this book (the distributor's): one usage event
    # of a reseller's customer posts in both.
    wholesale_from = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="resellers"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.code


class Asset(models.Model):
    """A currency or a token unit. Amounts are integers in units of 10**-scale."""

    code = models.CharField(max_length=16, unique=True)
    scale = models.PositiveSmallIntegerField()
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(scale__lte=18), name="asset_scale_max")]

    def __str__(self) -> str:
        return self.code


class Account(models.Model):
    class Type(models.TextChoices):
        ASSET = "asset"
        LIABILITY = "liability"
        EQUITY = "equity"
        REVENUE = "revenue"
        EXPENSE = "expense"

    book = models.ForeignKey(Book, on_delete=models.PROTECT, related_name="accounts")
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="accounts")
    code = models.CharField(max_length=200)
    type = models.CharField(max_length=16, choices=Type.choices)
    name = models.CharField(max_length=200, blank=True)
    # TigerBeetle's flags: the database refuses any posting that would break them.
    debits_must_not_exceed_credits = models.BooleanField(default=False)
    credits_must_not_exceed_debits = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["book", "asset", "code"], name="account_code_unique"),
            models.CheckConstraint(
                condition=~(
                    Q(debits_must_not_exceed_credits=True) & Q(credits_must_not_exceed_debits=True)
                ),
                name="account_flags_exclusive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.book_id}:{self.code}:{self.asset_id}"


class Balance(models.Model):
    """Projection of an account's postings, maintained by a trigger on ledger_posting.

    Sums are NUMERIC so that a busy account never overflows, although each posting's
    amount is a BIGINT. Overdraft flags are copied here so a CHECK can enforce them.
    """

    account = models.OneToOneField(
        Account, on_delete=models.PROTECT, primary_key=True, related_name="balance"
    )
    debits_posted = models.DecimalField(max_digits=38, decimal_places=0, default=0)
    credits_posted = models.DecimalField(max_digits=38, decimal_places=0, default=0)
    debits_pending = models.DecimalField(max_digits=38, decimal_places=0, default=0)
    credits_pending = models.DecimalField(max_digits=38, decimal_places=0, default=0)
    last_sequence = models.BigIntegerField(default=0)
    debits_must_not_exceed_credits = models.BooleanField(default=False)
    credits_must_not_exceed_debits = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(debits_pending__gte=0) & Q(credits_pending__gte=0),
                name="balance_pending_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(debits_must_not_exceed_credits=False)
                | Q(credits_posted__gte=F("debits_posted") + F("debits_pending")),
                name="balance_debits_must_not_exceed_credits",
            ),
            models.CheckConstraint(
                condition=Q(credits_must_not_exceed_debits=False)
                | Q(debits_posted__gte=F("credits_posted") + F("credits_pending")),
                name="balance_credits_must_not_exceed_debits",
            ),
        ]

    def __str__(self) -> str:
        return f"balance of account {self.account_id}"


class Event(models.Model):
    """One domain event in the hash-chained, append-only log (Formance's model)."""

    sequence = models.BigIntegerField(primary_key=True)
    type = models.CharField(max_length=64)
    payload = models.JSONField()
    # Unique through Meta.constraints, which (unlike unique=True) adds no second
    # pattern-matching index to the hot insert path.
    idempotency_key = models.CharField(max_length=200)
    input_hash = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField()
    actor = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(sequence__gte=1), name="event_sequence_positive"),
            models.UniqueConstraint(
                fields=["idempotency_key"], name="event_idempotency_key_unique"
            ),
        ]
        indexes = [models.Index(fields=["type", "sequence"])]
        permissions = [("post_adjustment", "Can post manual ledger adjustments")]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.type}"


class Entry(models.Model):
    """A journal entry: two or more postings that balance per asset, in one book."""

    # The journal's hot foreign keys carry no database constraint: Django's would be
    # checked row by row at commit (a third of a batch's time). The posting and entry
    # triggers check the same references once per statement instead, and books, assets
    # and accounts can never be deleted (see migrations/sql/0002_ledger_rules.sql).
    event = models.ForeignKey(
        Event,
        on_delete=models.PROTECT,
        related_name="entries",
        db_column="event_sequence",
        db_constraint=False,
    )
    # Indexed by the (book, recorded_at) index below.
    book = models.ForeignKey(
        Book, on_delete=models.PROTECT, related_name="entries", db_index=False, db_constraint=False
    )
    memo = models.CharField(max_length=500, blank=True)
    # At most one reversal per entry: a partial unique index, which also serves lookups.
    reverses = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversals",
        db_index=False,
    )
    recorded_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "entries"
        indexes = [models.Index(fields=["book", "recorded_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["reverses"],
                condition=Q(reverses__isnull=False),
                name="entry_reversed_once",
            ),
        ]

    def __str__(self) -> str:
        return f"entry {self.pk} (event #{self.event_id})"


class Posting(models.Model):
    class Side(models.TextChoices):
        DEBIT = "D"
        CREDIT = "C"

    class Phase(models.TextChoices):
        # A hold reserves funds as pending; its resolution releases the pending amount
        # with "released" postings and books the captured part as "posted".
        POSTED = "P", "posted"
        PENDING = "H", "pending"
        RELEASED = "R", "released"

    # No database constraints on these three, see Entry: the posting trigger checks them.
    entry = models.ForeignKey(
        Entry, on_delete=models.PROTECT, related_name="postings", db_constraint=False
    )
    # Fewer indexes make the hot insert path cheaper: (account, sequence) below serves
    # account lookups, and postings are never searched by asset alone.
    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="postings",
        db_index=False,
        db_constraint=False,
    )
    asset = models.ForeignKey(
        Asset, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    side = models.CharField(max_length=1, choices=Side.choices)
    phase = models.CharField(max_length=1, choices=Phase.choices, default=Phase.POSTED)
    amount = models.BigIntegerField()
    # The event's sequence, denormalised so that statements and as-of balances read
    # one index instead of joining entries and events.
    sequence = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="posting_amount_positive"),
            models.CheckConstraint(condition=Q(side__in=["D", "C"]), name="posting_side_valid"),
            models.CheckConstraint(
                condition=Q(phase__in=["P", "H", "R"]), name="posting_phase_valid"
            ),
        ]
        indexes = [models.Index(fields=["account", "sequence"])]

    def __str__(self) -> str:
        return f"{self.side} {self.amount} on account {self.account_id} ({self.phase})"


class Hold(models.Model):
    """A two-phase transfer (TigerBeetle's pending transfer) reserving `amount`."""

    event = models.OneToOneField(
        Event, on_delete=models.PROTECT, related_name="hold", db_column="event_sequence"
    )
    entry = models.OneToOneField(Entry, on_delete=models.PROTECT, related_name="hold")
    debit_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    # No index: a book's holds all credit one clearing account, so an index on it is one
    # hot key that every hold inserts into and no query reads (accounts are never deleted).
    credit_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    amount = models.BigIntegerField()
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="hold_amount_positive"),
        ]
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"hold {self.pk} of {self.amount}"


class HoldResolution(models.Model):
    """How a hold ended. One per hold (unique), so two racing captures cannot both win."""

    class Kind(models.TextChoices):
        POSTED = "posted"
        VOIDED = "voided"
        EXPIRED = "expired"

    hold = models.OneToOneField(Hold, on_delete=models.PROTECT, related_name="resolution")
    event = models.OneToOneField(
        Event, on_delete=models.PROTECT, related_name="+", db_column="event_sequence"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    posted_amount = models.BigIntegerField()
    resolved_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(posted_amount__gte=0), name="hold_resolution_amount_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"hold {self.hold_id} {self.kind}"
