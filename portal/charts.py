"""Server-rendered SVG charts: pure functions from integers to markup, no JavaScript.

Bars are sized with integer arithmetic (a value's share of the largest, in whole pixels):
the figures are money and token counts, and nothing here turns them into floats. Each
column (a day) and each bar of a model carries a <title>, which browsers show on hover
and screen readers read out, so the figures behind every bar are on the page; the tables
below the charts repeat them.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

# Columns a chart draws at most: a year of days, or the dearest models.
COLUMNS_MAX = 400
ROWS_MAX = 30


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    color: str


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (axis top)."""
    if value <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    raise AssertionError("unreachable")


def _scaled(value: int, top: int, pixels: int) -> int:
    return value * pixels // top


def stacked_columns(
    *,
    title: str,
    columns: Sequence[tuple[str, dict[str, int]]],
    series: Sequence[Series],
    value_text: Callable[[int], str],
    every_nth_label: int = 1,
    width: int = 960,
    height: int = 260,
) -> SafeString:
    """Vertical bars, one per column (a day), stacked by series (token kinds)."""
    assert len(columns) <= COLUMNS_MAX, "too many columns for one chart"
    left, bottom, top_pad = 90, 40, 10
    plot_w, plot_h = width - left - 10, height - bottom - top_pad
    totals = [sum(values.get(s.key, 0) for s in series) for _label, values in columns]
    top = _nice_ceiling(max(totals, default=0))
    slot = max(plot_w // max(len(columns), 1), 1)
    bar = max(slot - max(slot // 5, 1), 1)
    parts = [_axis(left, top_pad, plot_w, plot_h, top, value_text)]
    # A year of days is thousands of bars: each series is one <path> of all its bars, and
    # each column one transparent <rect> whose <title> gives the day's figures (what a
    # pointer on the column shows). Text is escaped once per label (escape); numbers are ints.
    names = [(item.key, escape(item.label)) for item in series]
    paths: list[list[str]] = [[] for _ in series]
    titles, labels = [], []
    for index, (label, values) in enumerate(columns):
        x = left + index * slot
        y = top_pad + plot_h
        safe_label = escape(label)
        said = []
        for position, (key, name) in enumerate(names):
            value = values.get(key, 0)
            if value <= 0:
                continue
            h = max(_scaled(value, top, plot_h), 1)
            y -= h
            paths[position].append(f"M{x},{y}h{bar}v{h}h-{bar}z")
            said.append(f"{name}: {escape(value_text(value))}")
        if said:
            titles.append(
                f'<rect x="{x}" y="{top_pad}" width="{bar}" height="{plot_h}" fill="transparent">'
                f"<title>{safe_label}: {'; '.join(said)}</title></rect>"
            )
        if index % every_nth_label == 0:
            labels.append(
                f'<text x="{x + bar // 2}" y="{top_pad + plot_h + 16}" font-size="11" '
                f'text-anchor="middle">{safe_label}</text>'
            )
    for item, segments in zip(series, paths, strict=True):
        if segments:
            parts.append(
                f'<path fill="{escape(item.color)}" d="{"".join(segments)}">'
                f"<title>{escape(item.label)}</title></path>"
            )
    parts += titles + labels
    return _svg(title, width, height, parts)


def horizontal_bars(
    *,
    title: str,
    rows: Sequence[tuple[str, dict[str, int]]],
    series: Sequence[Series],
    value_text: Callable[[int], str],
    width: int = 960,
) -> SafeString:
    """One bar per row (a model), stacked by series, longest first as given."""
    assert len(rows) <= ROWS_MAX, "too many rows for one chart"
    left, row_h, pad = 260, 24, 6
    plot_w = width - left - 140
    height = max(len(rows), 1) * row_h + 2 * pad
    totals = [sum(values.get(s.key, 0) for s in series) for _label, values in rows]
    top = max(max(totals, default=0), 1)
    parts = []
    for index, ((label, values), total) in enumerate(zip(rows, totals, strict=True)):
        y = pad + index * row_h
        parts.append(
            format_html(
                '<text x="{}" y="{}" font-size="12" text-anchor="end">{}</text>',
                left - 8,
                y + 16,
                label,
            )
        )
        x = left
        for item in series:
            value = values.get(item.key, 0)
            if value <= 0:
                continue
            w = max(_scaled(value, top, plot_w), 1)
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>{}: {}: {}</title></rect>",
                    x,
                    y + 3,
                    w,
                    row_h - 6,
                    item.color,
                    label,
                    item.label,
                    value_text(value),
                )
            )
            x += w
        parts.append(
            format_html(
                '<text x="{}" y="{}" font-size="12">{}</text>', x + 6, y + 16, value_text(total)
            )
        )
    return _svg(title, width, height, parts)


def _axis(left, top_pad, plot_w, plot_h, top, value_text) -> SafeString:
    lines = []
    for step in range(5):
        value = top * step // 4
        y = top_pad + plot_h - _scaled(value, top, plot_h)
        lines.append(
            format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#e3e7ee"/>'
                '<text x="{}" y="{}" font-size="11" text-anchor="end">{}</text>',
                left,
                left + plot_w,
                y,
                y,
                left - 6,
                y + 4,
                value_text(value),
            )
        )
    return mark_safe("".join(lines))  # noqa: S308 - every part is format_html's


def _svg(title: str, width: int, height: int, parts: list) -> SafeString:
    # Every part is escaped markup of this module (format_html, or text built with escape).
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" role="img" '
        'aria-label="{}" font-family="system-ui, sans-serif" fill="#1d2330">'
        "<title>{}</title>{}</svg>",
        width,
        height,
        title,
        title,
        mark_safe("".join(str(part) for part in parts)),  # noqa: S308
    )
