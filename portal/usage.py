"""The usage page's figures, from metering's per-day rows (pure: rows in, totals out).

A row is one UTC day and model, already filtered by model and API key in the database
(metering.selectors.usage_daily_list). The page adds them up per day (every day of the
period, empty ones too, so the chart's time axis is even) and per model (dearest first).
Plain integers throughout: a year of a busy customer is a few thousand rows.
"""

from dataclasses import dataclass
from datetime import date, timedelta

TOKEN_KINDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
FIGURES = ("requests", *TOKEN_KINDS, "price_minor")


@dataclass
class Totals:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    price_minor: int = 0

    @classmethod
    def of(cls, figures: list[int]) -> "Totals":
        return cls(*figures)

    @property
    def tokens(self) -> int:
        return sum(getattr(self, name) for name in TOKEN_KINDS)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in FIGURES}


@dataclass
class UsageFigures:
    days: list[tuple[date, Totals]]
    models: list[tuple[str, Totals]]  # "provider/model", dearest first
    total: Totals


def _add(into: list[int], row: dict) -> None:
    for index, name in enumerate(FIGURES):
        into[index] += row[name] or 0


def usage_figures(rows: list[dict], *, since: date, until: date) -> UsageFigures:
    width = len(FIGURES)
    per_day: dict[date, list[int]] = {}
    per_model: dict[str, list[int]] = {}
    total = [0] * width
    for row in rows:
        _add(per_day.setdefault(row["day"], [0] * width), row)
        _add(per_model.setdefault(f"{row['provider']}/{row['model']}", [0] * width), row)
        _add(total, row)
    empty = [0] * width
    days = []
    for offset in range((until - since).days + 1):
        day = since + timedelta(days=offset)
        days.append((day, Totals.of(per_day.get(day, empty))))
    price = FIGURES.index("price_minor")
    models = sorted(per_model.items(), key=lambda item: (-item[1][price], item[0]))
    return UsageFigures(
        days, [(name, Totals.of(figures)) for name, figures in models], Totals.of(total)
    )
