"""The usage page's figures, from metering's per-day rows (pure: rows in, totals out).

A row is one UTC day, model and API key (metering.selectors.usage_daily_list). The page
filters them by model and key, then adds them up per day (every day of the period, empty
ones too, so the chart's time axis is even) and per model (dearest first).
"""

from collections import defaultdict
from dataclasses import dataclass, field
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

    def add(self, row: dict) -> None:
        for name in FIGURES:
            setattr(self, name, getattr(self, name) + int(row[name]))

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
    model_names: list[str] = field(default_factory=list)  # every model of the period
    api_keys: list[str] = field(default_factory=list)


def usage_figures(
    rows: list[dict], *, since: date, until: date, model: str = "", api_key: str = ""
) -> UsageFigures:
    per_day: dict[date, Totals] = defaultdict(Totals)
    per_model: dict[str, Totals] = defaultdict(Totals)
    total = Totals()
    model_names, api_keys = set(), set()
    for row in rows:
        model_names.add(row["model"])
        api_keys.add(row["api_key"])
        if (model and row["model"] != model) or (api_key and row["api_key"] != api_key):
            continue
        per_day[row["day"]].add(row)
        per_model[f"{row['provider']}/{row['model']}"].add(row)
        total.add(row)
    days = [
        (since + timedelta(days=offset), per_day.get(since + timedelta(days=offset), Totals()))
        for offset in range((until - since).days + 1)
    ]
    models = sorted(per_model.items(), key=lambda item: (-item[1].price_minor, item[0]))
    return UsageFigures(days, models, total, sorted(model_names), sorted(api_keys))
