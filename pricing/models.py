"""Price books: the upstream cost catalogue and the retail price books, effective-dated.

Every table here is append-only (PostgreSQL triggers refuse UPDATE and DELETE, see
migrations/sql/): a price change is a new version with a later effective_from, so the
price in force at any past moment can always be found again, and usage records can name
the versions they were rated with.

Prices are integers in atto-units (10**-18 of the currency unit) per token, stored as
BIGINT: the dearest per-token price in the LiteLLM catalogue is about 1e-3 USD, and a
BIGINT holds up to 9.22 units per token (9,000x headroom), while being half the size of
NUMERIC(38,0), faster to compare and read, and a plain Python int through psycopg.
Amounts (tokens x price) can exceed a BIGINT and are never stored in this app.
"""

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower, Upper

from ledger.models import Book
from pricing.rating import (
    ABOVE_TIER_PRICE_FIELDS,
    MARKUP_BPS_MAX,
    PRICE_FIELDS,
    OverrideTerms,
    PriceVersion,
)


def _price_field(help_text: str = "") -> models.BigIntegerField:
    return models.BigIntegerField(null=True, blank=True, help_text=help_text)


def _prices_non_negative(prefix: str) -> models.CheckConstraint:
    condition = Q()
    for name in PRICE_FIELDS:
        condition &= Q(**{f"{name}__isnull": True}) | Q(**{f"{name}__gte": 0})
    return models.CheckConstraint(condition=condition, name=f"{prefix}_prices_non_negative")


class CatalogImport(models.Model):
    """One import of an upstream price catalogue, with every entry accounted for."""

    source_name = models.CharField(max_length=100)
    file_sha256 = models.CharField(max_length=64)
    # One catalogue per moment: a second file at the same effective_from is refused.
    effective_from = models.DateTimeField(unique=True)
    imported_at = models.DateTimeField()
    actor = models.CharField(max_length=200)
    entries_total = models.PositiveIntegerField()
    imported_count = models.PositiveIntegerField()
    skipped_count = models.PositiveIntegerField()
    # Imported entries whose prices differ from the version in force (new versions made).
    versions_created_count = models.PositiveIntegerField()
    skipped = models.JSONField(default=list, blank=True)  # [{"key", "code", "reason"}]

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(entries_total=models.F("imported_count") + models.F("skipped_count")),
                name="catalog_import_every_entry_counted",
            ),
            models.CheckConstraint(
                condition=Q(versions_created_count__lte=models.F("imported_count")),
                name="catalog_import_versions_le_imported",
            ),
        ]

    def __str__(self) -> str:
        moment = f"{self.effective_from:%Y-%m-%d %H:%M}"
        return f"{self.source_name} from {moment} ({self.file_sha256[:12]})"


class UpstreamPrice(models.Model):
    """The cost of one (provider, model) from effective_from until the next version."""

    provider = models.CharField(max_length=64, help_text="LiteLLM's litellm_provider")
    model = models.CharField(max_length=200, help_text="the catalogue key")
    mode = models.CharField(max_length=32, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    effective_from = models.DateTimeField()
    catalog_import = models.ForeignKey(
        CatalogImport, on_delete=models.PROTECT, related_name="upstream_prices"
    )
    input_per_token_atto = _price_field()
    output_per_token_atto = _price_field()
    cache_read_per_token_atto = _price_field("null: billed as input")
    cache_write_per_token_atto = _price_field("null: billed as input")
    reasoning_per_token_atto = _price_field("null: billed as output")
    tier_threshold_tokens = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="above this many prompt tokens a request uses above-tier prices",
    )
    input_above_tier_per_token_atto = _price_field()
    output_above_tier_per_token_atto = _price_field()
    cache_read_above_tier_per_token_atto = _price_field()
    cache_write_above_tier_per_token_atto = _price_field()
    # Every price field of the catalogue entry as an exact decimal string (all tiers,
    # batch/priority/flex prices, per-image and per-second prices, ...).
    raw_prices = models.JSONField(default=dict)
    service_tiers = models.JSONField(default=list, help_text="e.g. batches, priority, flex")
    prices_sha256 = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "model", "effective_from"], name="upstream_price_version_unique"
            ),
            _prices_non_negative("upstream"),
            models.CheckConstraint(
                condition=Q(input_per_token_atto__isnull=False)
                | Q(output_per_token_atto__isnull=False),
                name="upstream_price_token_priced",
            ),
            models.CheckConstraint(
                condition=Q(tier_threshold_tokens__isnull=False)
                | Q(**{f"{name}__isnull": True for name in ABOVE_TIER_PRICE_FIELDS}),
                name="upstream_price_tier_has_threshold",
            ),
            models.CheckConstraint(
                condition=Q(provider=Lower("provider")), name="upstream_price_provider_lower"
            ),
            models.CheckConstraint(
                condition=Q(currency=Upper("currency")), name="upstream_price_currency_upper"
            ),
        ]
        indexes = [models.Index(fields=["model", "effective_from"])]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model} from {self.effective_from:%Y-%m-%d %H:%M}"

    def price_version(self) -> PriceVersion:
        return PriceVersion(
            provider=self.provider,
            model=self.model,
            currency=self.currency,
            effective_from=self.effective_from,
            tier_threshold_tokens=self.tier_threshold_tokens,
            id=self.id,
            **{name: getattr(self, name) for name in PRICE_FIELDS},
        )


class RetailPriceBook(models.Model):
    """One version of a seller's price list: the seller's default, a plan's or a customer's.

    The scope is (book, plan, customer): plan and customer empty for the book's default,
    a plan code for a plan's list, a customer id for one customer's list. A version is a
    complete list (markup plus overrides); a change is a new version, never an edit.
    """

    book = models.ForeignKey(Book, on_delete=models.PROTECT, related_name="retail_price_books")
    name = models.CharField(max_length=200)
    plan = models.CharField(max_length=64, blank=True)
    customer = models.CharField(max_length=200, blank=True)
    markup_bps = models.PositiveIntegerField(help_text="basis points over cost: 550 = 5.5%")
    currency = models.CharField(max_length=3, default="USD")
    effective_from = models.DateTimeField()
    created_at = models.DateTimeField()
    actor = models.CharField(max_length=200)
    terms_sha256 = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["book", "plan", "customer", "effective_from"],
                name="retail_price_book_version_unique",
            ),
            models.CheckConstraint(
                condition=Q(markup_bps__lte=MARKUP_BPS_MAX), name="retail_price_book_markup_max"
            ),
            models.CheckConstraint(
                condition=Q(plan="") | Q(customer=""), name="retail_price_book_one_scope"
            ),
            models.CheckConstraint(
                condition=Q(currency=Upper("currency")), name="retail_price_book_currency_upper"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.scope_label}) from {self.effective_from:%Y-%m-%d %H:%M}"

    @property
    def scope_label(self) -> str:
        if self.customer:
            return f"{self.book_id}/customer {self.customer}"
        if self.plan:
            return f"{self.book_id}/plan {self.plan}"
        return f"{self.book_id}/default"


class RetailPriceOverride(models.Model):
    """One model's terms in a price book version: explicit prices and/or its own markup."""

    price_book = models.ForeignKey(
        RetailPriceBook, on_delete=models.PROTECT, related_name="overrides"
    )
    provider = models.CharField(max_length=64, blank=True, help_text="empty: any provider")
    model = models.CharField(max_length=200)
    markup_bps = models.PositiveIntegerField(null=True, blank=True)
    input_per_token_atto = _price_field()
    output_per_token_atto = _price_field()
    cache_read_per_token_atto = _price_field()
    cache_write_per_token_atto = _price_field()
    reasoning_per_token_atto = _price_field()
    input_above_tier_per_token_atto = _price_field()
    output_above_tier_per_token_atto = _price_field()
    cache_read_above_tier_per_token_atto = _price_field()
    cache_write_above_tier_per_token_atto = _price_field()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["price_book", "provider", "model"], name="retail_override_unique"
            ),
            _prices_non_negative("retail_override"),
            models.CheckConstraint(
                condition=Q(markup_bps__isnull=True) | Q(markup_bps__lte=MARKUP_BPS_MAX),
                name="retail_override_markup_max",
            ),
            models.CheckConstraint(
                condition=~Q(
                    markup_bps__isnull=True, **{f"{name}__isnull": True for name in PRICE_FIELDS}
                ),
                name="retail_override_has_terms",
            ),
            models.CheckConstraint(
                condition=Q(provider=Lower("provider")), name="retail_override_provider_lower"
            ),
        ]

    def __str__(self) -> str:
        target = f"{self.provider}/{self.model}" if self.provider else self.model
        return f"override {target} in price book {self.price_book_id}"

    def terms(self) -> OverrideTerms:
        return OverrideTerms(
            markup_bps=self.markup_bps, **{name: getattr(self, name) for name in PRICE_FIELDS}
        )
