"""Provider statements as imported: one Statement per file (unique by its content hash
per contract, so a re-import changes nothing), one StatementLine per row imported, one
StatementRefusal per row refused with its reason. Written once by the import service,
never changed: a corrected bill is a new file whose rows that were already imported are
refused as duplicates."""

from django.db import models
from django.db.models import Q

from settlement.commitments.models import Contract


class Statement(models.Model):
    class Format(models.TextChoices):
        OPENAI_USAGE = "openai_usage", "OpenAI organization usage (completions) pages"
        OPENAI_COSTS = "openai_costs", "OpenAI organization costs pages"
        ANTHROPIC_USAGE = "anthropic_usage", "Anthropic usage_report (messages)"
        ANTHROPIC_COSTS = "anthropic_costs", "Anthropic cost_report"
        OPENROUTER_GENERATIONS = "openrouter_generations", "OpenRouter generation records"
        OPENROUTER_ACTIVITY = "openrouter_activity", "OpenRouter daily activity"
        FOCUS_CSV = "focus_csv", "FOCUS-style CSV"

    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="statements")
    format = models.CharField(max_length=32, choices=Format.choices)
    filename = models.CharField(max_length=255, blank=True)
    content_sha256 = models.CharField(max_length=64)
    # The days (UTC) the file speaks for, [period_start, period_end): a day in it without
    # a line of a model we metered is that model's usage missing on their side.
    period_start = models.DateField(null=True)
    period_end = models.DateField(null=True)
    rows_imported = models.PositiveIntegerField()
    rows_refused = models.PositiveIntegerField()
    # Contract currency per unit of the statement's own, when the file bills in another.
    fx_rate = models.DecimalField(max_digits=30, decimal_places=12, null=True)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "content_sha256"], name="settlement_statement_content_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"statement {self.pk} ({self.format}, {self.filename})"


class StatementLine(models.Model):
    """One imported row: what the provider says one model cost or used on one UTC day
    (or for one request, `request_id`), in the contract's currency. `row_key` names the
    row as the provider does (bucket, model, line item...): the same row in another file
    is refused, never counted twice. A usage row has tokens and no cost, a cost row the
    reverse; some rows have both."""

    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="lines")
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=8)  # "usage" or "cost": what the row_key is unique in
    row_key = models.CharField(max_length=500)
    usage_day = models.DateField()
    model = models.CharField(max_length=200)
    request_id = models.CharField(max_length=200, blank=True)
    requests = models.BigIntegerField(null=True)
    # Tokens as our usage records count them (disjoint kinds); output includes reasoning
    # where the provider does not split it. `tokens_split` false: only the total is known.
    tokens_split = models.BooleanField(default=True)
    input_tokens = models.BigIntegerField(null=True)
    output_tokens = models.BigIntegerField(null=True)
    cache_read_tokens = models.BigIntegerField(null=True)
    cache_write_tokens = models.BigIntegerField(null=True)
    total_tokens = models.BigIntegerField(null=True)
    cost_minor = models.BigIntegerField(null=True)  # in the contract's currency
    source_currency = models.CharField(max_length=16, blank=True)
    source_amount = models.CharField(max_length=64, blank=True, help_text="as the file says it")
    fx = models.BooleanField(default=False, help_text="converted from another currency")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "kind", "row_key"], name="settlement_statement_line_unique"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["usage", "cost"]), name="settlement_statement_line_kind"
            ),
        ]
        indexes = [models.Index(fields=["contract", "usage_day", "model"])]

    def __str__(self) -> str:
        return f"{self.usage_day} {self.model} ({self.kind})"


class StatementRefusal(models.Model):
    """A row not imported, with where it was in the file and why."""

    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="refusals")
    locator = models.CharField(max_length=200, help_text="data[3].results[1], line 7, …")
    reason_code = models.CharField(max_length=64)
    reason = models.TextField()
    row = models.TextField(help_text="the row as the file had it (first 2,000 characters)")

    def __str__(self) -> str:
        return f"{self.locator}: {self.reason_code}"
