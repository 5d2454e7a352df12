"""Report figures drawn with matplotlib, returned as inline SVG text: time-activity curves as
small multiples, cumulative DVHs, dose/BED slices and projections with a colour bar and
isodose lines.

matplotlib is imported inside the functions (a core dependency, but not needed to import the
package) and used through its object API (``matplotlib.figure.Figure`` with the Agg canvas),
so nothing touches pyplot's global state or the backend of a host application such as
Slicer. The SVG is deterministic: no date in its metadata and a fixed hash salt for the
element ids, so the same data give a byte-identical report.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Colour cycle (Okabe & Ito 2008 colour-blind safe palette, without yellow).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00", "#000000")
#: Colour map of dose images (perceptually uniform, readable in grey).
DOSE_CMAP = "inferno"


def _figure(width_in: float, height_in: float, layout: str | None = "constrained"):
    """A matplotlib Figure on the Agg canvas (no pyplot); ``layout=None`` for figures that
    place their axes themselves (constrained layout measures every tick label, which is
    most of the drawing time of a grid of small panels)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=100, layout=layout)
    FigureCanvasAgg(fig)
    return fig


#: Figures drawn while :func:`collect_png_twins` is active: ``[svg text, figure]`` pairs.
_TWINS: contextvars.ContextVar[list | None] = contextvars.ContextVar("_TWINS", default=None)
#: Resolution of the PNG copies of the figures for the PDF (print quality).
PNG_DPI = 150


@contextlib.contextmanager
def collect_png_twins():
    """Keep every figure drawn by :func:`figure_svg` inside the ``with`` block, so that
    :func:`png_twins` can render a PNG copy of each for the PDF. Yields the list of
    ``[svg text, figure]`` pairs."""
    pairs: list = []
    token = _TWINS.set(pairs)
    try:
        yield pairs
    finally:
        _TWINS.reset(token)


def png_twins(pairs, dpi: int = PNG_DPI, progress=None) -> dict[str, str]:
    """``{svg text: <img> element}``: each collected figure as an inline PNG of the same
    printed width, scaled down to the page like the SVG (a PDF converter draws a PNG in a
    fraction of the time it needs for the SVG's thousands of elements; the HTML report
    keeps the SVG)."""
    from .images import png_data_uri

    out: dict[str, str] = {}
    for number, (svg, fig) in enumerate(pairs):
        if progress is not None:
            progress(
                number / max(len(pairs), 1), f"figure {number + 1} of {len(pairs)} for the PDF"
            )
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
        width_in = fig.get_size_inches()[0]
        out[svg] = (  # scaled down to the page width as the SVG is (svg{max-width:100%})
            f"<img src='{png_data_uri(buf.getvalue())}' alt='figure' "
            f"style='width:{width_in * 72:.1f}pt;max-width:100%;height:auto'>"
        )
    return out


def figure_svg(fig) -> str:
    """The ``<svg>`` element of a figure (no XML prolog, no date, stable ids)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "theranostics", "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    start = text.find("<svg")
    text = text[start:] if start >= 0 else text
    pairs = _TWINS.get()
    if pairs is not None:
        pairs.append([text, fig])
    return text


@dataclass(frozen=True)
class TacPanel:
    """One structure's time-activity data for :func:`tac_small_multiples_svg`.

    Attributes:
        name: structure name (panel title).
        times_h: acquisition times (h after administration).
        activities_MBq: measured (partial-volume corrected) activities.
        errors_MBq: standard uncertainty of each measurement (error bars) or ``None``.
        fit_times_h, fit_MBq: the fitted model sampled on a time grid (or ``None``).
        band_low_MBq, band_high_MBq: uncertainty band of the fit (or ``None``).
        model: name of the fitted model (legend).
    """

    name: str
    times_h: Sequence[float]
    activities_MBq: Sequence[float]
    errors_MBq: Sequence[float] | None = None
    fit_times_h: Sequence[float] | None = None
    fit_MBq: Sequence[float] | None = None
    band_low_MBq: Sequence[float] | None = None
    band_high_MBq: Sequence[float] | None = None
    model: str = ""


def use_log_scale(values, min_span: float = 10.0) -> bool:
    """A logarithmic axis helps when the positive values span at least ``min_span`` (a
    decade by default): an exponential washout is then a straight line."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    return bool(v.size >= 2 and v.max() / v.min() >= min_span)


def _fixed_grid(fig, rows, columns, used, margins_in, gaps_in, cell_in):
    """A rows x columns grid of axes on fixed margins and gaps (inches), without matplotlib's
    constrained layout (whose solver is most of a small-multiples figure's drawing time);
    axes beyond the ``used`` ones are hidden. Returns the 2-D array of axes."""
    width_in, height_in = fig.get_size_inches()
    left, right, bottom, top = margins_in
    axes = fig.subplots(
        rows,
        columns,
        squeeze=False,
        gridspec_kw=dict(
            left=left / width_in,
            right=1.0 - right / width_in,
            bottom=bottom / height_in,
            top=1.0 - top / height_in,
            wspace=gaps_in[0] / cell_in[0],
            hspace=gaps_in[1] / cell_in[1],
        ),
    )
    for ax in axes.ravel()[used:]:
        ax.set_visible(False)
    return axes


def tac_small_multiples_svg(
    panels: Sequence[TacPanel], *, columns: int = 4, title: str = ""
) -> str:
    """Time-activity curves, one small panel per structure: measured points with error
    bars, the fitted model and its band. Each panel's activity axis is logarithmic when its
    data span a decade or more (:func:`use_log_scale`), linear otherwise.

    Raises:
        ValueError: no panels.
    """
    if not panels:
        raise ValueError("no time-activity curves to draw")
    columns = max(1, min(columns, len(panels)))
    rows = math.ceil(len(panels) / columns)
    width_in, height_in = 3.1 * columns, 2.4 * rows + (0.4 if title else 0.0)
    fig = _figure(width_in, height_in, layout=None)
    # fixed margins (inches) instead of constrained layout: room for the tick labels and the
    # axis labels left and below, for each panel's title above, and between the panels
    left, right, bottom, top = 0.62, 0.12, 0.5, 0.28 + (0.4 if title else 0.0)
    gap_w, gap_h = 0.5, 0.62
    axis_w = (width_in - left - right - (columns - 1) * gap_w) / columns
    axis_h = (height_in - bottom - top - (rows - 1) * gap_h) / rows
    axes = _fixed_grid(
        fig,
        rows,
        columns,
        len(panels),
        (left, right, bottom, top),
        (gap_w, gap_h),
        (axis_w, axis_h),
    )
    for n, (ax, p) in enumerate(zip(axes.ravel(), panels)):
        t = np.asarray(p.times_h, float)
        a = np.asarray(p.activities_MBq, float)
        err = None if p.errors_MBq is None else np.asarray(p.errors_MBq, float)
        everything = [a]
        if p.fit_MBq is not None:
            ft, fy = np.asarray(p.fit_times_h, float), np.asarray(p.fit_MBq, float)
            if p.band_low_MBq is not None and p.band_high_MBq is not None:
                lo = np.asarray(p.band_low_MBq, float)
                hi = np.asarray(p.band_high_MBq, float)
                ax.fill_between(ft, lo, hi, color=PALETTE[0], alpha=0.18, lw=0, label="95 % band")
            ax.plot(ft, fy, color=PALETTE[0], lw=1.6, label=p.model or "fit")
            everything.append(fy[ft >= t.min()] if t.size else fy)
        ax.errorbar(
            t,
            a,
            yerr=err,
            fmt="o",
            ms=4,
            color=PALETTE[1],
            ecolor=PALETTE[1],
            capsize=2.5,
            lw=1.0,
            label="measured ± u",
        )
        if use_log_scale(np.concatenate(everything)):
            ax.set_yscale("log")
            positive = a[a > 0]
            if positive.size:  # keep the points readable when a fit decays far below them
                ax.set_ylim(bottom=max(ax.get_ylim()[0], positive.min() / 30.0))
            _log_axis(ax)
        else:
            ax.set_ylim(bottom=0.0)
        ax.set_title(p.name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="major", lw=0.4, alpha=0.5)
        if n % columns == 0:
            ax.set_ylabel("activity (MBq)", fontsize=8)
        if n >= len(panels) - columns:
            ax.set_xlabel("time after administration (h)", fontsize=8)
        if n == 0:
            ax.legend(fontsize=6.5, loc="best", frameon=False)
    if title:
        fig.suptitle(title, fontsize=11, y=1.0 - 0.1 / height_in, va="top")
    return figure_svg(fig)


def _log_axis(ax) -> None:
    """A logarithmic y axis labelled with plain numbers at 1, 2 and 5 × 10^k (at 10^k only
    when the axis spans more than three decades, so that the labels do not crowd)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

    ax.set_yscale("log")
    low, high = ax.get_ylim()
    decades = math.log10(high / low) if low > 0 and high > low else 1.0
    subs = (1.0, 2.0, 5.0) if decades <= 3.0 else (1.0,)
    ax.yaxis.set_major_locator(LogLocator(base=10.0, subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_minor_locator(NullLocator())  # the labelled 1-2-5 ticks suffice


@dataclass(frozen=True)
class DvhCurve:
    """One cumulative DVH for :func:`dvh_chart_svg`: dose axis (Gy) and the percentage of
    the structure receiving at least that dose."""

    label: str
    dose_Gy: Sequence[float]
    volume_percent: Sequence[float]
    dashed: bool = False
    colour: str | None = None


def dvh_x_limit(curves: Sequence[DvhCurve], floor_percent: float = 0.5) -> float:
    """The dose axis end fitted to the data: 5 % past the dose at which the last curve comes
    down to ``floor_percent`` of its structure (a few hot voxels do not stretch the axis)."""
    top = 0.0
    for c in curves:
        d, v = np.asarray(c.dose_Gy, float), np.asarray(c.volume_percent, float)
        covered = np.nonzero(v > floor_percent)[0]
        if covered.size:  # the sample where the curve has come down past the floor
            last = min(int(covered.max()) + 1, d.size - 1)
            top = max(top, float(d[last]))
    return 1.05 * top if top > 0 else 1.0


def dvh_chart_svg(
    curves: Sequence[DvhCurve],
    *,
    title: str,
    x_label: str = "absorbed dose (Gy)",
    y_label: str = "structure mass receiving at least this dose (%)",
    width_in: float = 7.2,
    height_in: float = 4.2,
    legend_inside: bool = False,
) -> str:
    """Cumulative DVHs on one axis, the dose axis fitted to the data
    (:func:`dvh_x_limit`), the legend outside the plot (inside with ``legend_inside``).

    Raises:
        ValueError: no curves.
    """
    if not curves:
        raise ValueError("no DVH curves to draw")
    fig = _figure(width_in, height_in)
    ax = fig.subplots()
    colours: dict[str, str] = {}
    bases = list(dict.fromkeys(c.label.split(" (")[0] for c in curves))
    if len(bases) > len(PALETTE):  # many structures: 20 distinguishable colours
        from matplotlib import colormaps

        tab = colormaps["tab20"]
        cycle = [tab(i) for i in range(tab.N)]
    else:
        cycle = list(PALETTE)
    for c in curves:
        base = c.label.split(" (")[0]
        colour = c.colour or colours.setdefault(base, cycle[len(colours) % len(cycle)])
        ax.plot(
            np.asarray(c.dose_Gy, float),
            np.asarray(c.volume_percent, float),
            color=colour,
            lw=1.6,
            ls="--" if c.dashed else "-",
            label=c.label,
        )
    ax.set_xlim(0.0, dvh_x_limit(curves))
    ax.set_ylim(0.0, 101.0)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.grid(True, lw=0.4, alpha=0.5)
    if legend_inside:
        ax.legend(fontsize=7, loc="upper right", frameon=False)
    else:
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return figure_svg(fig)


def isodose_levels_Gy(dose_max_Gy: float, percents=(10, 25, 50, 75, 90)) -> list[float]:
    """Isodose levels at ``percents`` of ``dose_max_Gy`` (Gy)."""
    if not dose_max_Gy > 0:
        raise ValueError("the isodose reference dose must be positive")
    return [dose_max_Gy * p / 100.0 for p in percents]


@dataclass(frozen=True)
class ImagePanel:
    """One image of :func:`dose_panels_svg`.

    Attributes:
        title: panel title.
        dose_Gy: 2D dose (or BED) in Gy, rows top to bottom as displayed.
        extent_mm: ``(left, right, bottom, top)`` in mm (square physical pixels).
        background: optional 2D grey image on the same pixels (CT in HU) or ``None``.
        isodose: draw isodose lines on this panel.
    """

    title: str
    dose_Gy: np.ndarray
    extent_mm: tuple[float, float, float, float]
    background: np.ndarray | None = None
    isodose: bool = True


def dose_panels_svg(
    panels: Sequence[ImagePanel],
    *,
    dose_max_Gy: float | None = None,
    quantity: str = "absorbed dose",
    ct_window_HU: tuple[float, float] = (-160.0, 240.0),
    columns: int = 3,
    panel_in: float = 3.3,
) -> str:
    """Dose (or BED) images side by side on one colour scale, with a colour bar in Gy and,
    on panels with ``isodose``, isodose lines at 10/25/50/75/90 % of ``dose_max_Gy`` (default:
    the 99.9th percentile of the positive doses shown) with their legend.

    Below the lowest isodose level the dose is transparent over the CT, when one is given.
    """
    if not panels:
        raise ValueError("no images to draw")
    from matplotlib.lines import Line2D

    if dose_max_Gy is None:
        positive = np.concatenate([np.ravel(p.dose_Gy)[np.ravel(p.dose_Gy) > 0] for p in panels])
        dose_max_Gy = float(np.percentile(positive, 99.9)) if positive.size else 1.0
    levels = isodose_levels_Gy(dose_max_Gy)
    columns = max(1, min(columns, len(panels)))
    rows = math.ceil(len(panels) / columns)
    legend = any(p.isodose for p in panels)
    # fixed margins (inches): panel titles above, the colour bar and its label on the right,
    # the isodose legend (its title and one or more rows of five entries) below
    m_left, m_right, m_top, gap_w, gap_h = 0.08, 1.15, 0.28, 0.08, 0.3
    width_in = m_left + columns * panel_in + (columns - 1) * gap_w + m_right
    legend_columns = max(1, min(5, int((width_in - 0.2) / 1.3)))
    m_bottom = 0.42 + 0.2 * math.ceil(5 / legend_columns) if legend else 0.08
    # cells as tall as the tallest image needs at the panel width (no empty bands)
    aspect = max(
        abs(p.extent_mm[3] - p.extent_mm[2]) / abs(p.extent_mm[1] - p.extent_mm[0]) for p in panels
    )
    cell_h = panel_in * min(max(aspect, 0.3), 3.0)
    height_in = m_top + rows * cell_h + (rows - 1) * gap_h + m_bottom
    fig = _figure(width_in, height_in, layout=None)
    axes = _fixed_grid(
        fig,
        rows,
        columns,
        len(panels),
        (m_left, m_right, m_bottom, m_top),
        (gap_w, gap_h),
        (panel_in, cell_h),
    )
    from matplotlib import colormaps

    cmap = colormaps[DOSE_CMAP]
    line_colours = [cmap(0.25 + 0.7 * i / max(len(levels) - 1, 1)) for i in range(len(levels))]
    for ax, p in zip(axes.ravel(), panels):
        dose = np.asarray(p.dose_Gy, float)
        if p.background is not None:
            lo, hi = ct_window_HU
            ax.imshow(p.background, cmap="gray", vmin=lo, vmax=hi, extent=p.extent_mm)
            shown = np.ma.masked_less(dose, levels[0])
            ax.imshow(shown, cmap=cmap, vmin=0.0, vmax=dose_max_Gy, alpha=0.6, extent=p.extent_mm)
        else:
            ax.imshow(dose, cmap=cmap, vmin=0.0, vmax=dose_max_Gy, extent=p.extent_mm)
        if p.isodose and np.nanmax(dose) >= levels[0]:
            ny, nx = dose.shape
            left, right, bottom, top = p.extent_mm
            xs = np.linspace(left, right, nx, endpoint=False) + (right - left) / (2 * nx)
            ys = np.linspace(top, bottom, ny, endpoint=False) + (bottom - top) / (2 * ny)
            ax.contour(xs, ys, dose, levels=levels, colors=line_colours, linewidths=0.9)
        ax.set_title(p.title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    # the bar of the colour map itself (the overlay's transparency would grey it)
    scale = ScalarMappable(norm=Normalize(0.0, dose_max_Gy), cmap=cmap)
    panels_h = rows * cell_h + (rows - 1) * gap_h
    bar_h = 0.85 * panels_h  # centred on the panels, as tall as before (shrink 0.85)
    cax = fig.add_axes(
        (
            (width_in - m_right + 0.12) / width_in,
            (m_bottom + (panels_h - bar_h) / 2) / height_in,
            0.16 / width_in,
            bar_h / height_in,
        )
    )
    cbar = fig.colorbar(scale, cax=cax)
    cbar.set_label(f"{quantity} (Gy)")
    if legend:
        handles = [
            Line2D([], [], color=c, lw=1.5, label=f"{lv:.3g} Gy ({pc} %)")
            for c, lv, pc in zip(line_colours, levels, (10, 25, 50, 75, 90))
        ]
        fig.legend(
            handles=handles,
            loc="lower center",
            bbox_to_anchor=(0.5 * (1.0 - (m_right - m_left) / width_in), 0.02),
            ncol=legend_columns,
            fontsize=7.5,
            frameon=False,
            title=f"isodose lines (% of {dose_max_Gy:.3g} Gy)",
            title_fontsize=8,
        )
    return figure_svg(fig)
