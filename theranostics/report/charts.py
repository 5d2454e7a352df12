"""Line charts for reports as inline SVG: time-activity curves with their fitted model and
uncertainty band, dose-volume histograms, anything with numeric x and y.

SVG keeps the report one self-contained file, scales without blurring and needs no plotting
library. Axis ticks follow the usual "nice numbers" rule (steps of 1, 2 or 5 × 10^k, as in
Heckbert, "Nice numbers for graph labels", Graphics Gems, 1990); a logarithmic y axis has
one tick per decade.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .html import esc

#: Colour cycle (Okabe & Ito 2008 colour-blind safe palette, without yellow).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00", "#000000")


@dataclass(frozen=True)
class Series:
    """One data series of a chart.

    Attributes:
        label: legend text.
        x, y: coordinates (same length).
        kind: ``"line"`` (polyline) or ``"points"`` (circles, for measurements).
        colour: CSS colour; ``None`` takes the next colour of :data:`PALETTE` by label order.
        band_low, band_high: optional lower and upper edge of a shaded band along ``x``
            (for example the 95 % interval of a fitted curve).
        dashed: draw a line dashed (for example a reference or a planned curve).
    """

    label: str
    x: Sequence[float]
    y: Sequence[float]
    kind: str = "line"
    colour: str | None = None
    band_low: Sequence[float] | None = None
    band_high: Sequence[float] | None = None
    dashed: bool = False


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` evenly spaced round tick values covering ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError("axis limits must be finite")
    if hi <= lo:
        hi = lo + (abs(lo) if lo else 1.0)
    raw = (hi - lo) / max(count - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(lo / step) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 12))
    return ticks


def _decade_ticks(lo: float, hi: float) -> list[float]:
    return [10.0**e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)]


def _label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.0e}"
    return f"{value:g}"


def line_chart_svg(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    width: int = 560,
    height: int = 340,
    y_log: bool = False,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
) -> str:
    """An ``<svg>`` element drawing ``series`` with axes, ticks, labels and a legend.

    With ``y_log`` non-positive values are left out (a log axis cannot show them) and the
    axis spans whole decades. Raises ``ValueError`` when there is nothing finite to draw.
    """
    xs, ys = [], []
    for s in series:
        if len(s.x) != len(s.y):
            raise ValueError(f"series {s.label!r}: x and y differ in length")
        for values in (s.y, s.band_low, s.band_high):
            if values is not None:
                ys.append(np.asarray(values, dtype=float))
        xs.append(np.asarray(s.x, dtype=float))
    x_all = np.concatenate(xs) if xs else np.array([])
    y_all = np.concatenate(ys) if ys else np.array([])
    x_all = x_all[np.isfinite(x_all)]
    y_all = y_all[np.isfinite(y_all) & ((y_all > 0) if y_log else True)]
    if x_all.size == 0 or y_all.size == 0:
        raise ValueError(f"chart {title!r}: no finite data to draw")

    x_ticks = nice_ticks(*(x_range or (float(x_all.min()), float(x_all.max()))))
    if y_log:
        y_ticks = _decade_ticks(*(y_range or (float(y_all.min()), float(y_all.max()))))
    else:
        lo, hi = y_range or (min(0.0, float(y_all.min())), float(y_all.max()))
        y_ticks = nice_ticks(lo, hi)
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]

    left, right, top, bottom = 70, 150, 30, 48
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x):
        return left + (np.asarray(x, dtype=float) - x0) / (x1 - x0) * plot_w

    def py(y):
        y = np.asarray(y, dtype=float)
        if y_log:
            with np.errstate(divide="ignore", invalid="ignore"):
                frac = (np.log10(y) - math.log10(y0)) / (math.log10(y1) - math.log10(y0))
        else:
            frac = (y - y0) / (y1 - y0)
        return top + (1.0 - frac) * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11" role="img" '
        f'aria-label="{esc(title)}">',
        f'<text x="{left + plot_w / 2:.1f}" y="16" text-anchor="middle" font-size="13">'
        f"{esc(title)}</text>",
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#999"/>',
    ]
    for t in x_ticks:
        x = float(px(t))
        out.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="#eee"/>'
        )
        out.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle">{_label(t)}</text>'
        )
    for t in y_ticks:
        y = float(py(t))
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#eee"/>'
        )
        out.append(f'<text x="{left - 5}" y="{y + 4:.1f}" text-anchor="end">{_label(t)}</text>')
    out.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle">'
        f"{esc(x_label)}</text>"
    )
    out.append(
        f'<text transform="translate(14,{top + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle">{esc(y_label)}</text>'
    )

    colours = {}
    for s in series:
        colours.setdefault(s.label, s.colour or PALETTE[len(colours) % len(PALETTE)])
    out.append(
        f'<clipPath id="plot"><rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}"/>'
        "</clipPath><g clip-path='url(#plot)'>"
    )
    for s in series:
        colour = s.colour or colours[s.label]
        if s.band_low is not None and s.band_high is not None:
            keep = _finite(s.x, s.band_low, s.band_high, y_log)
            bx = px(np.asarray(s.x, float)[keep])
            lo = py(np.asarray(s.band_low, float)[keep])
            hi = py(np.asarray(s.band_high, float)[keep])
            pts = list(zip(bx, hi)) + list(zip(bx[::-1], lo[::-1]))
            out.append(
                f'<polygon points="{_points(pts)}" fill="{colour}" fill-opacity="0.18" '
                'stroke="none"/>'
            )
        keep = _finite(s.x, s.y, None, y_log)
        sx = px(np.asarray(s.x, float)[keep])
        sy = py(np.asarray(s.y, float)[keep])
        if s.kind == "points":
            out.extend(
                f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3.5" fill="{colour}"/>'
                for a, b in zip(sx, sy)
            )
        else:
            dash = ' stroke-dasharray="5,4"' if s.dashed else ""
            out.append(
                f'<polyline points="{_points(zip(sx, sy))}" fill="none" stroke="{colour}" '
                f'stroke-width="1.8"{dash}/>'
            )
    out.append("</g>")
    for row, (label, colour) in enumerate(colours.items()):
        y = top + 8 + row * 16
        out.append(
            f'<rect x="{left + plot_w + 10}" y="{y - 7}" width="12" height="8" fill="{colour}"/>'
            f'<text x="{left + plot_w + 27}" y="{y}">{esc(label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _finite(x, y, z, y_log: bool) -> np.ndarray:
    keep = np.isfinite(np.asarray(x, float)) & np.isfinite(np.asarray(y, float))
    if z is not None:
        keep &= np.isfinite(np.asarray(z, float))
    if y_log:
        keep &= np.asarray(y, float) > 0
        if z is not None:
            keep &= np.asarray(z, float) > 0
    return keep


def _points(pairs) -> str:
    return " ".join(f"{a:.1f},{b:.1f}" for a, b in pairs)
