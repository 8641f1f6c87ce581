"""Small server-side SVG charts for the reports dashboard: lines over time and bars (grouped or stacked).

Pure: labels and numbers in, SVG markup out (no script, no external file, no CDN). Every chart is an
accessible image (role="img" with a <title> and a <desc> summarising the data, and a <title> tooltip on every
mark); the page shows the same numbers in a table next to it. Text is escaped; the colours are the
Okabe-Ito palette, which stays distinguishable with the common colour-vision deficiencies, and series also
differ by marker shape or dash so colour is never the only cue. The SVG scales to its container (viewBox).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
DASHES = ("", "6 3", "2 3", "8 3 2 3")
# About the width a dashboard panel has, so 13-unit text reads as 11-13 px; phones scroll a wider figure.
WIDTH, HEIGHT = 560, 300
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 52, 12, 14, 70
FONT = 13
_ids = itertools.count(1)

Number = float | int | None


@dataclass(frozen=True)
class Series:
    """A named line or bar series; None values are gaps."""

    name: str
    values: Sequence[Number]


def _fmt(value: float, percent: bool = False) -> str:
    if percent:
        return f"{value * 100:.0f}%"
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.1f}"


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `top` (1, 2, 2.5 or 5 times a power of ten apart)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    ticks = [0.0]
    while ticks[-1] < top - 1e-12:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _label_every(n: int, width: float) -> int:
    # About 44 units per x label so they never overlap.
    return max(1, math.ceil(n * 44 / max(width, 1)))


NO_DATA = "No data in this range."


def _no_data() -> str:
    # Said inside the chart: an empty frame looked like a chart that failed to load.
    return (
        f'<text x="{WIDTH / 2:.0f}" y="{HEIGHT / 2:.0f}" text-anchor="middle" font-size="{FONT + 3}" '
        f'fill="#4a5561">{NO_DATA}</text>'
    )


def _frame(title: str, desc: str, body: list[str]) -> str:
    uid = next(_ids)
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-t{uid} chart-d{uid}" xmlns="http://www.w3.org/2000/svg" '
        f'preserveAspectRatio="xMidYMid meet">'
        f'<title id="chart-t{uid}">{escape(title)}</title><desc id="chart-d{uid}">{escape(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def _axes(ticks: list[float], top: float, percent: bool, y_label: str) -> tuple[list[str], Callable]:
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def y(value: float) -> float:
        return MARGIN_TOP + plot_h * (1 - value / top) if top else MARGIN_TOP + plot_h

    out = []
    for tick in ticks:
        ty = y(tick)
        out.append(
            f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" '
            f'stroke="#d0d7de" stroke-width="1"/>'
            f'<text x="{MARGIN_LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end" font-size="{FONT}" '
            f'fill="#4a5561">{_fmt(tick, percent)}</text>'
        )
    if y_label:
        middle = MARGIN_TOP + plot_h / 2
        out.append(
            f'<text x="12" y="{middle:.1f}" font-size="{FONT}" fill="#4a5561" text-anchor="middle" '
            f'transform="rotate(-90 12 {middle:.1f})">{escape(y_label)}</text>'
        )
    return out, y


def _x_labels(categories: Sequence[str], xs: Sequence[float], step: float) -> list[str]:
    every = _label_every(len(categories), WIDTH - MARGIN_LEFT - MARGIN_RIGHT)
    base = HEIGHT - MARGIN_BOTTOM + 16
    out = []
    for i, (name, x) in enumerate(zip(categories, xs, strict=True)):
        if i % every:
            continue
        text = escape(name if len(name) <= 18 else name[:17] + "…")
        out.append(
            f'<text x="{x:.1f}" y="{base}" font-size="{FONT}" fill="#4a5561" text-anchor="end" '
            f'transform="rotate(-30 {x:.1f} {base})">{text}</text>'
        )
    return out


def _legend(series: Sequence[Series], kind: str) -> list[str]:
    out, x = [], MARGIN_LEFT
    y = HEIGHT - 10
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        if kind == "line":
            dash = DASHES[i % len(DASHES)]
            out.append(
                f'<line x1="{x}" x2="{x + 18}" y1="{y - 4}" y2="{y - 4}" stroke="{color}" stroke-width="3" '
                f'stroke-dasharray="{dash}"/>'
            )
        else:
            out.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{color}"/>')
        label = escape(s.name)
        out.append(f'<text x="{x + 22}" y="{y}" font-size="{FONT}" fill="#1b1f24">{label}</text>')
        x += 30 + 7.5 * len(s.name)
    return out


def _top(series: Sequence[Series], stacked: bool, categories: int) -> float:
    if stacked:
        totals = [sum(s.values[i] or 0 for s in series) for i in range(categories)]
        return max(totals, default=0)
    return max((v for s in series for v in s.values if v is not None), default=0)


def _summary(series: Sequence[Series], categories: Sequence[str], percent: bool) -> str:
    parts = []
    for s in series:
        known = [(c, v) for c, v in zip(categories, s.values, strict=True) if v is not None]
        if not known:
            parts.append(f"{s.name}: no data")
            continue
        low = min(known, key=lambda cv: cv[1])
        high = max(known, key=lambda cv: cv[1])
        parts.append(
            f"{s.name}: from {_fmt(known[0][1], percent)} ({known[0][0]}) to {_fmt(known[-1][1], percent)} "
            f"({known[-1][0]}); lowest {_fmt(low[1], percent)} ({low[0]}), highest {_fmt(high[1], percent)} "
            f"({high[0]})"
        )
    return ". ".join(parts) + "."


def line_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    y_label: str = "",
    percent: bool = False,
) -> str:
    """Lines over ordered categories (periods); markers on every point, gaps where a value is None."""
    if not categories:
        return _frame(title, NO_DATA, [_no_data()])
    top = 1.0 if percent else _top(series, False, len(categories))
    ticks = nice_ticks(top) if not percent else [0, 0.25, 0.5, 0.75, 1.0]
    top = ticks[-1]
    body, y = _axes(ticks, top, percent, y_label)
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    step = plot_w / max(len(categories) - 1, 1)
    xs = [MARGIN_LEFT + (i * step if len(categories) > 1 else plot_w / 2) for i in range(len(categories))]
    markers = len(categories) <= 60
    for i, s in enumerate(series):
        color, dash = PALETTE[i % len(PALETTE)], DASHES[i % len(DASHES)]
        segments, current = [], []
        for x, v in zip(xs, s.values, strict=True):
            if v is None:
                if current:
                    segments.append(current)
                current = []
            else:
                current.append((x, y(v)))
        if current:
            segments.append(current)
        for seg in segments:
            points = " ".join(f"{px:.1f},{py:.1f}" for px, py in seg)
            body.append(
                f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2.5" '
                f'stroke-dasharray="{dash}" stroke-linejoin="round"/>'
            )
        if markers:
            for cat, x, v in zip(categories, xs, s.values, strict=True):
                if v is None:
                    continue
                tip = escape(f"{s.name}, {cat}: {_fmt(v, percent)}")
                mark = f'<circle cx="{x:.1f}" cy="{y(v):.1f}" r="3.5" fill="{color}">'
                body.append(f"{mark}<title>{tip}</title></circle>")
    body += _x_labels(categories, xs, step)
    body += _legend(series, "line")
    return _frame(title, _summary(series, categories, percent), body)


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    stacked: bool = False,
    y_label: str = "",
    percent: bool = False,
) -> str:
    """Vertical bars per category: side by side per series, or stacked."""
    if not categories:
        return _frame(title, NO_DATA, [_no_data()])
    top = 1.0 if percent else _top(series, stacked, len(categories))
    ticks = nice_ticks(top) if not percent else [0, 0.25, 0.5, 0.75, 1.0]
    top = ticks[-1]
    body, y = _axes(ticks, top, percent, y_label)
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    slot = plot_w / len(categories)
    width = slot * 0.7 / (1 if stacked else max(len(series), 1))
    xs = [MARGIN_LEFT + slot * (i + 0.5) for i in range(len(categories))]
    for c, (cat, centre) in enumerate(zip(categories, xs, strict=True)):
        base = 0.0
        for i, s in enumerate(series):
            v = s.values[c]
            if v is None:
                continue
            color = PALETTE[i % len(PALETTE)]
            lo, hi = (base, base + v) if stacked else (0.0, v)
            x = centre - slot * 0.35 + (0 if stacked else i * width)
            tip = escape(f"{s.name}, {cat}: {_fmt(v, percent)}")
            body.append(
                f'<rect x="{x:.1f}" y="{y(hi):.1f}" width="{max(width - 1, 1):.1f}" '
                f'height="{max(y(lo) - y(hi), 0):.1f}" fill="{color}"><title>{tip}</title></rect>'
            )
            if stacked:
                base = hi
    body += _x_labels(categories, xs, slot)
    if len(series) > 1:
        body += _legend(series, "bar")
    return _frame(title, _summary(series, categories, percent), body)
