from decimal import Decimal

from django.core.management.base import BaseCommand
from django.utils import timezone

from pricing.management.commands._options import aware_datetime
from pricing.rating import ATTO_SCALE
from pricing.selectors import NegativeMargin, negative_margin_report

COLUMNS = (
    "price book",
    "scope",
    "provider/model",
    "service tier",
    "context",
    "token",
    "retail $/M",
    "cost $/M",
    "shortfall $/M",
)


def per_million(atto_per_token: int) -> str:
    """Atto-units per token as currency units per million tokens, exactly."""
    value = Decimal(atto_per_token).scaleb(6 - ATTO_SCALE)
    return format(value.normalize(), "f")


def scope_label(margin: NegativeMargin) -> str:
    if margin.customer:
        scope = f"customer {margin.customer}"
    elif margin.plan:
        scope = f"plan {margin.plan}"
    else:
        scope = "default"
    return f"book {margin.seller_book_id} {scope}"


class Command(BaseCommand):
    help = (
        "Report every retail price (explicit override) below the upstream cost in force, "
        "per price book, model, service tier and token type. A report: always exits 0."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--at", type=aware_datetime, default=None, help="ISO 8601 moment (default: now)"
        )

    def handle(self, *args, **options):
        at = options["at"] or timezone.now()
        found = negative_margin_report(at=at)
        if not found:
            self.stdout.write(f"no negative margins at {at.isoformat()}")
            return
        rows = [
            (
                f"#{m.retail_price_book_id} {m.price_book_name}",
                scope_label(m),
                f"{m.provider}/{m.model}",
                m.service_tier or "standard",
                "above tier" if m.above_tier else "base",
                m.token_type,
                per_million(m.retail_per_token_atto),
                per_million(m.cost_per_token_atto),
                per_million(m.shortfall_per_token_atto),
            )
            for m in found
        ]
        widths = [max(len(str(row[i])) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
        self.stdout.write(f"{len(found)} negative margin(s) at {at.isoformat()}")
        for row in [COLUMNS, tuple("-" * w for w in widths), *rows]:
            self.stdout.write(
                "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True))
            )
