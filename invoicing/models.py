"""Invoicing's tables: billing profiles, tax rates, buyers, documents and their numbers.

Every amount is an integer in the ledger asset's scale (USD: nano-dollars), so a
document ties out to its postings with no conversion; documents round to the currency's
minor unit (invoicing.currencies) and keep the exact sum beside the rounded one.
A finalized invoice's lines and amounts never change, and issued documents (credit
notes, payments, receipts, state history) are append-only: PostgreSQL triggers refuse
it (migrations/sql/). No logic lives in save() or signals.
"""

import uuid

from django.db import models
from django.db.models import Q

from ledger.models import Asset, Book
from wallets.models import Customer


class Language(models.TextChoices):
    EN = "en"
    ZH_HANS = "zh-hans"


class Series(models.TextChoices):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"
    RECEIPT = "receipt"


class BillingProfile(models.Model):
    """Who sells, as its documents name it: the distributor, or a reseller (white label)."""

    book = models.OneToOneField(Book, on_delete=models.PROTECT, related_name="billing_profile")
    legal_name = models.CharField(max_length=300)
    address = models.TextField(blank=True)
    tax_id = models.CharField(max_length=64, blank=True)
    # A local file under MEDIA_ROOT (var/media/): documents never fetch remote assets.
    logo = models.FileField(upload_to="invoicing/logos/", blank=True)
    invoice_prefix = models.CharField(max_length=16, default="INV-")
    credit_note_prefix = models.CharField(max_length=16, default="CN-")
    receipt_prefix = models.CharField(max_length=16, default="RC-")
    currency = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    payment_terms_days = models.PositiveIntegerField(default=30)
    language = models.CharField(max_length=8, choices=Language.choices, default=Language.EN)
    # A fee line on each of the seller's invoices (booked to revenue:fees, taxed like the
    # usage): basis points of the usage subtotal, plus a fixed amount per invoice (ledger
    # units of the currency, a whole number of its minor unit). Zero and zero: no fee line.
    fee_bps = models.PositiveIntegerField(default=0, help_text="basis points of the usage")
    fee_fixed_minor = models.BigIntegerField(default=0, help_text="per invoice, ledger units")
    fee_description = models.CharField(max_length=200, default="Platform fee", blank=True)
    updated_at = models.DateTimeField()
    updated_by = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(fee_bps__lte=10_000), name="billing_fee_bps_max"),
            models.CheckConstraint(condition=Q(fee_fixed_minor__gte=0), name="billing_fee_fixed"),
        ]

    def __str__(self) -> str:
        return f"{self.legal_name} ({self.book})"


class TaxRate(models.Model):
    """The tax a seller charges buyers of one region from `effective_from`; a change is a
    new row with a later date (append-only)."""

    class Kind(models.TextChoices):
        STANDARD = "standard"
        REVERSE_CHARGE = "reverse_charge"  # the buyer accounts for the tax: 0 here, a note
        EXEMPT = "exempt"

    profile = models.ForeignKey(BillingProfile, on_delete=models.PROTECT, related_name="tax_rates")
    region = models.CharField(max_length=16, help_text='"DE", "US-CA", "CN"')
    rate_bps = models.PositiveIntegerField(help_text="basis points: 1900 = 19%")
    inclusive = models.BooleanField(default=False, help_text="prices include the tax")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.STANDARD)
    effective_from = models.DateTimeField()
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "region", "effective_from"], name="tax_rate_version_unique"
            ),
            models.CheckConstraint(condition=Q(rate_bps__lte=10_000), name="tax_rate_bps_max"),
            models.CheckConstraint(
                condition=Q(kind="standard") | Q(rate_bps=0), name="tax_rate_zero_unless_standard"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.region} {self.rate_bps}bps {self.kind} from {self.effective_from:%Y-%m-%d}"


class BuyerDetails(models.Model):
    """Who buys, as documents name it: a customer on credit, or a reseller (its book) as
    the distributor's buyer."""

    customer = models.OneToOneField(
        Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="buyer_details"
    )
    book = models.OneToOneField(
        Book, on_delete=models.PROTECT, null=True, blank=True, related_name="buyer_details"
    )
    legal_name = models.CharField(max_length=300)
    address = models.TextField(blank=True)
    region = models.CharField(max_length=16)
    tax_id = models.CharField(max_length=64, blank=True)
    email = models.EmailField(blank=True)
    updated_at = models.DateTimeField()
    updated_by = models.CharField(max_length=200)

    class Meta:
        verbose_name_plural = "buyer details"
        constraints = [
            models.CheckConstraint(
                condition=Q(customer__isnull=False, book__isnull=True)
                | Q(customer__isnull=True, book__isnull=False),
                name="buyer_details_one_buyer",
            )
        ]

    def __str__(self) -> str:
        return self.legal_name


class DocumentCounter(models.Model):
    """The next number of a seller's series, taken under a row lock (invoicing.locks) in
    the transaction that issues the document: a rollback gives the number back, so the
    series has no gap (a sequence would leak it)."""

    seller_book = models.ForeignKey(Book, on_delete=models.PROTECT, related_name="+")
    series = models.CharField(max_length=16, choices=Series.choices)
    next_number = models.BigIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["seller_book", "series"], name="document_counter_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.seller_book} {self.series} next {self.next_number}"


class Invoice(models.Model):
    """An invoice of one buyer's usage.

    Coverage: the usage records of the buyer in the seller book with occurred_at <
    period_end and ledger event sequence <= usage_watermark (the ledger head when the
    draft was made), less those of the previous finalized invoice's span (after_*).
    Spans are nested, so usage that arrives late for an invoiced period lands on the next
    invoice, never twice and never lost.
    """

    class State(models.TextChoices):
        DRAFT = "draft"
        FINALIZED = "finalized"
        PAID = "paid"  # nothing due any more
        VOID = "void"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    seller_book = models.ForeignKey(Book, on_delete=models.PROTECT, related_name="invoices_sold")
    buyer_customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="invoices"
    )
    buyer_book = models.ForeignKey(
        Book, on_delete=models.PROTECT, null=True, blank=True, related_name="invoices_bought"
    )
    # What names the buyer in account codes: the customer's external id, or
    # "reseller:<book code>" (receivable:<key>, unbilled:<key>, wallet:<key>).
    buyer_key = models.CharField(max_length=200)
    currency = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT)
    number = models.BigIntegerField(null=True, blank=True)
    number_text = models.CharField(max_length=64, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    usage_watermark = models.BigIntegerField()
    after_period_end = models.DateTimeField(null=True, blank=True)
    after_watermark = models.BigIntegerField(null=True, blank=True)
    after_invoice = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    exact_subtotal = models.BigIntegerField(default=0)  # the records' amounts, unrounded
    # The fee lines' sum (part of exact_subtotal and subtotal): revenue:fees, not usage.
    fees = models.BigIntegerField(default=0)
    # The part of an inclusive tax carved out of revenue:fees, the rest out of
    # revenue:usage, in proportion to the fee and usage lines (services.tax_carve_out);
    # 0 under an exclusive tax (and on invoices finalized before the split, as booked).
    fees_tax = models.BigIntegerField(default=0)
    subtotal = models.BigIntegerField(default=0)  # the sum of the rounded lines
    tax = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    tax_region = models.CharField(max_length=16, blank=True)
    tax_rate_bps = models.PositiveIntegerField(default=0)
    tax_inclusive = models.BooleanField(default=False)
    tax_kind = models.CharField(max_length=16, blank=True)
    legal_note = models.CharField(max_length=300, blank=True)
    ledger_event_sequence = models.BigIntegerField(null=True, blank=True)
    void_event_sequence = models.BigIntegerField(null=True, blank=True)
    # When the overdue mark (and its invoice.overdue webhook) was made: once per invoice.
    overdue_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=200)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(buyer_customer__isnull=False, buyer_book__isnull=True)
                | Q(buyer_customer__isnull=True, buyer_book__isnull=False),
                name="invoice_one_buyer",
            ),
            models.UniqueConstraint(
                fields=["seller_book", "number"],
                condition=Q(number__isnull=False),
                name="invoice_number_unique",
            ),
            models.UniqueConstraint(
                fields=["seller_book", "buyer_key", "period_start", "period_end"],
                condition=Q(state="draft"),
                name="invoice_one_draft_per_period",
            ),
            models.CheckConstraint(
                condition=Q(state="draft")
                | Q(number__isnull=False, ledger_event_sequence__isnull=False),
                name="invoice_issued_has_number_and_booking",
            ),
            models.CheckConstraint(
                condition=Q(period_start__lt=models.F("period_end")), name="invoice_period_order"
            ),
            models.CheckConstraint(
                condition=Q(fees_tax__gte=0, fees_tax__lte=models.F("fees")),
                name="invoice_fees_tax",
            ),
        ]
        indexes = [
            models.Index(fields=["seller_book", "buyer_key", "state"]),
            models.Index(fields=["state", "created_at"]),
            models.Index(
                fields=["due_at"],
                condition=Q(state="finalized", overdue_at__isnull=True),
                name="invoice_overdue_pending",
            ),
        ]

    def __str__(self) -> str:
        return self.number_text or f"draft {self.public_id}"


class InvoiceLine(models.Model):
    """One model at one retail (or wholesale) price version, or a fee."""

    class Kind(models.TextChoices):
        USAGE = "usage"
        FEE = "fee"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.USAGE)
    description = models.CharField(max_length=300)
    provider = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=200, blank=True)
    upstream_price_id = models.BigIntegerField(null=True, blank=True)
    price_book_id = models.BigIntegerField(null=True, blank=True)  # retail or wholesale
    price_override_id = models.BigIntegerField(null=True, blank=True)
    requests = models.BigIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    # The price version's base prices per token, in atto-units (10**-18) of the currency;
    # documents show them per million tokens. Null: the version has no price for the kind.
    input_price_atto = models.BigIntegerField(null=True, blank=True)
    output_price_atto = models.BigIntegerField(null=True, blank=True)
    cache_read_price_atto = models.BigIntegerField(null=True, blank=True)
    cache_write_price_atto = models.BigIntegerField(null=True, blank=True)
    reasoning_price_atto = models.BigIntegerField(null=True, blank=True)
    exact_amount = models.BigIntegerField()  # the records' price_minor (or wholesale) summed
    amount = models.BigIntegerField()  # rounded once, half-even, to the document's unit

    class Meta:
        ordering = ["invoice", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="invoice_line_position")
        ]

    def __str__(self) -> str:
        return self.description


class InvoiceStateChange(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="state_changes")
    from_state = models.CharField(max_length=16, blank=True)
    to_state = models.CharField(max_length=16)
    at = models.DateTimeField()
    actor = models.CharField(max_length=200)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["invoice", "at", "id"]

    def __str__(self) -> str:
        return f"{self.invoice_id}: {self.from_state or '-'} -> {self.to_state}"


class CreditNote(models.Model):
    class Reason(models.TextChoices):
        DUPLICATE = "duplicate"
        FRAUDULENT = "fraudulent"
        ORDER_CHANGE = "order_change"
        PRODUCT_UNSATISFACTORY = "product_unsatisfactory"
        OTHER = "other"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    seller_book = models.ForeignKey(Book, on_delete=models.PROTECT, related_name="+")
    number = models.BigIntegerField()
    number_text = models.CharField(max_length=64)
    reason = models.CharField(max_length=32, choices=Reason.choices)
    memo = models.CharField(max_length=500, blank=True)
    issued_at = models.DateTimeField()
    net = models.BigIntegerField()  # revenue given back
    fees = models.BigIntegerField(default=0)  # the part of `net` given back from revenue:fees
    tax = models.BigIntegerField()  # tax given back, in proportion to the invoice's
    total = models.BigIntegerField()
    to_receivable = models.BigIntegerField()  # what it takes off the open receivable
    to_wallet = models.BigIntegerField()  # the rest: credit in the buyer's wallet
    ledger_event_sequence = models.BigIntegerField()
    created_by = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["seller_book", "number"], name="credit_note_number"),
            models.CheckConstraint(
                condition=Q(total=models.F("net") + models.F("tax"))
                & Q(total=models.F("to_receivable") + models.F("to_wallet"))
                & Q(total__gt=0, net__gte=0, tax__gte=0, to_receivable__gte=0, to_wallet__gte=0),
                name="credit_note_amounts_add_up",
            ),
            models.CheckConstraint(
                condition=Q(fees__gte=0, fees__lte=models.F("net")), name="credit_note_fees"
            ),
        ]

    def __str__(self) -> str:
        return self.number_text


class CreditNoteLine(models.Model):
    credit_note = models.ForeignKey(CreditNote, on_delete=models.PROTECT, related_name="lines")
    invoice_line = models.ForeignKey(
        InvoiceLine, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    description = models.CharField(max_length=300)
    amount = models.BigIntegerField()  # gross, as the invoice line shows it

    def __str__(self) -> str:
        return self.description


class InvoicePayment(models.Model):
    class Method(models.TextChoices):
        WALLET = "wallet"
        STRIPE = "stripe"
        BANK_TRANSFER = "bank_transfer"

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    method = models.CharField(max_length=16, choices=Method.choices)
    amount = models.BigIntegerField()  # received
    applied = models.BigIntegerField()  # taken off the receivable
    to_wallet = models.BigIntegerField()  # overpayment, credited to the buyer's wallet
    reference = models.CharField(max_length=200, blank=True)
    recorded_by = models.CharField(max_length=200)
    recorded_at = models.DateTimeField()
    ledger_event_sequence = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount=models.F("applied") + models.F("to_wallet"))
                & Q(amount__gt=0, applied__gte=0, to_wallet__gte=0),
                name="invoice_payment_amounts_add_up",
            ),
            models.UniqueConstraint(
                fields=["invoice", "method", "reference"],
                condition=~Q(reference=""),
                name="invoice_payment_reference_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.amount} on invoice {self.invoice_id}"


class Receipt(models.Model):
    """The document of a paid top-up (the ledger booked it when Stripe said it was paid)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    topup = models.OneToOneField("payments.TopUp", on_delete=models.PROTECT, related_name="receipt")
    seller_book = models.ForeignKey(Book, on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="receipts")
    number = models.BigIntegerField()
    number_text = models.CharField(max_length=64)
    currency = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField()  # credited to the wallet
    fee = models.BigIntegerField()  # the platform fee
    total = models.BigIntegerField()  # what the customer paid
    issued_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["seller_book", "number"], name="receipt_number")
        ]

    def __str__(self) -> str:
        return self.number_text
