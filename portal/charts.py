"""Server-rendered SVG charts: pure functions from integers to markup, no JavaScript.

Bars are sized with integer arithmetic (a value's share of the largest, in whole pixels):
the figures are money and token counts, and nothing here turns them into floats. Every
bar carries a <title>, which browsers show on hover and screen readers read out, so the
exact value of each bar is on the page; the table below each chart repeats them.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
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
    for index, (label, values) in enumerate(columns):
        x = left + index * slot
        y = top_pad + plot_h
        for item in series:
            value = values.get(item.key, 0)
            if value <= 0:
                continue
            h = max(_scaled(value, top, plot_h), 1)
            y -= h
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>{}: {}: {}</title></rect>",
                    x,
                    y,
                    bar,
                    h,
                    item.color,
                    label,
                    item.label,
                    value_text(value),
                )
            )
        if index % every_nth_label == 0:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text>',
                    x + bar // 2,
                    top_pad + plot_h + 16,
                    label,
                )
            )
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
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" role="img" '
        'aria-label="{}" font-family="system-ui, sans-serif" fill="#1d2330">'
        "<title>{}</title>{}</svg>",
        width,
        height,
        title,
        title,
        format_html_join("", "{}", ((part,) for part in parts)),
    )
