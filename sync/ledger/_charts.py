"""Charts as inline SVG, drawn on the server (the report page's only graphics).

Why SVG written here rather than a vendored JavaScript library: the page
must open offline from a file, from an e-mail or an archive, years later,
with nothing to fetch and nothing to execute; a chart library would add
200 KB–1 MB of vendored code to keep patched for a handful of line and
bar charts. An SVG is text the browser draws itself, prints and zooms
cleanly, and is testable as markup. Every mark carries its figure
(``data-value``) and a ``<title>`` tooltip, so the numbers behind a bar are
a hover away, and the tables beside each chart give them exactly.

Values are ints (points, kopecks, seconds, counts); coordinates are the
only floats, and they never flow back into a figure.
"""
from __future__ import annotations

from collections.abc import Sequence
from html import escape

#: colour-blind-safe palette (Okabe–Ito), cycled over series
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000")
W, H = 720, 260
_L, _R, _T, _B = 64, 150, 16, 40  # margins: axis labels left and below, legend right


def _nice(top: int) -> int:
    """A round axis maximum at or above ``top``."""
    if top <= 0:
        return 1
    step = 1
    while step * 10 <= top:
        step *= 10
    for m in (1, 2, 5, 10):
        if m * step >= top:
            return m * step
    return 10 * step


def _frame(title: str, low: int, high: int, labels: Sequence[str], kind: str) -> list[str]:
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{kind}" '
           f'viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>"]
    plot_h = H - _T - _B
    for i in range(5):
        value = low + (high - low) * i // 4
        y = _T + plot_h - plot_h * i / 4
        out.append(f'<line class="grid" x1="{_L}" x2="{W - _R}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="axis" x="{_L - 6}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{value:,}</text>')
    n = len(labels)
    every = max(1, n // 8)
    for i, label in enumerate(labels):
        if i % every == 0:
            x = _x(i, n)
            out.append(f'<text class="axis" x="{x:.1f}" y="{H - _B + 16}" '
                       f'text-anchor="middle">{escape(label)}</text>')
    return out


def _x(i: int, n: int) -> float:
    width = W - _L - _R
    return _L + (width * (i + 0.5) / n if n else 0)


def _y(value: int, low: int, high: int) -> float:
    plot_h = H - _T - _B
    return _T + plot_h - plot_h * (value - low) / ((high - low) or 1)


def _legend(names: Sequence[str]) -> list[str]:
    out = []
    for i, name in enumerate(names):
        y = _T + 14 * i + 8
        out.append(f'<rect x="{W - _R + 10}" y="{y - 8}" width="10" height="10" '
                   f'fill="{PALETTE[i % len(PALETTE)]}"/>')
        out.append(f'<text class="legend" x="{W - _R + 24}" y="{y + 1}">{escape(name)}</text>')
    return out


def _bounds(values: Sequence[int]) -> tuple[int, int]:
    """An axis from a multiple of a round step to four steps above it, 0 and every value in."""
    lo, hi = min([0, *values]), max([0, *values])
    step = _nice(-(-(hi - lo) // 4))
    while True:
        low = lo // step * step
        if low + 4 * step >= hi:
            return low, low + 4 * step
        step = _nice(step + 1)


def _start(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]],
           kind: str) -> tuple[list[str], int, int]:
    """The frame of an x/y chart and its value range (0 always inside it)."""
    low, high = _bounds([v for _, vals in series for v in vals])
    return _frame(title, low, high, labels, kind), low, high


def empty(title: str) -> str:
    """The placeholder of a chart with nothing to draw (a period without data)."""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="empty" '
            f'viewBox="0 0 {W} 60" role="img" aria-label="{escape(title)}">'
            f'<text class="axis" x="{W // 2}" y="34" text-anchor="middle">'
            f'{escape(title)}: no data in this period</text></svg>')


def lines(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]],
          unit: str = "") -> str:
    """One polyline per series over the x ``labels``; a dot per point with its value."""
    if not labels or not series:
        return empty(title)
    out, low, high = _start(title, labels, series, "line")
    for i, (name, vals) in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        pts = [(_x(j, len(labels)), _y(v, low, high)) for j, v in enumerate(vals)]
        out.append(f'<polyline class="series" data-series="{escape(name)}" fill="none" '
                   f'stroke="{colour}" stroke-width="2" points="'
                   + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts) + '"/>')
        for (x, y), v, label in zip(pts, vals, labels, strict=True):
            out.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}" '
                       f'data-value="{v}"><title>{escape(name)} {escape(label)}: {v:,}{unit}'
                       f"</title></circle>")
    out += _legend([n for n, _ in series])
    return "\n".join(out + ["</svg>"])


def bars(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]],
         unit: str = "") -> str:
    """Grouped vertical bars: one group per label, one bar per series."""
    if not labels or not series:
        return empty(title)
    out, low, high = _start(title, labels, series, "bar")
    slot = (W - _L - _R) / len(labels)
    bar_w = max(1.0, slot * 0.8 / len(series))
    zero = _y(0, low, high)
    for i, (name, vals) in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        for j, (v, label) in enumerate(zip(vals, labels, strict=True)):
            x = _L + slot * j + slot * 0.1 + bar_w * i
            y = _y(v, low, high)
            out.append(f'<rect class="bar" data-series="{escape(name)}" data-value="{v}" '
                       f'x="{x:.1f}" y="{min(y, zero):.1f}" width="{bar_w:.1f}" '
                       f'height="{abs(zero - y):.1f}" fill="{colour}"><title>{escape(name)} '
                       f"{escape(label)}: {v:,}{unit}</title></rect>")
    out += _legend([n for n, _ in series])
    return "\n".join(out + ["</svg>"])


def hbars(title: str, items: Sequence[tuple[str, int]], unit: str = "") -> str:
    """A ranking: one horizontal bar per item, its label left and its value right."""
    if not items:
        return empty(title)
    row, left, right = 22, 170, 110
    height = _T + row * len(items) + 8
    top = _nice(max(v for _, v in items))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="hbar" '
           f'viewBox="0 0 {W} {height}" role="img" aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>"]
    for i, (label, v) in enumerate(items):
        y = _T + row * i
        width = (W - left - right) * max(v, 0) / top
        out.append(f'<text class="axis" x="{left - 6}" y="{y + 14}" '
                   f'text-anchor="end">{escape(label)}</text>')
        out.append(f'<rect class="bar" data-value="{v}" x="{left}" y="{y + 3}" '
                   f'width="{width:.1f}" height="{row - 6}" fill="{PALETTE[0]}">'
                   f"<title>{escape(label)}: {v:,}{unit}</title></rect>")
        out.append(f'<text class="axis" x="{left + width + 6:.1f}" y="{y + 14}">'
                   f"{v:,}{unit}</text>")
    return "\n".join(out + ["</svg>"])
