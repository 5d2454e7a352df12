"""Report figures (matplotlib SVG) and dose overlays (PNG): what is drawn, read back from the
SVG and the figure data, not pixels."""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
import zlib

import numpy as np
import pytest

from theranostics.report.charts import (
    DvhCurve,
    ImagePanel,
    TacPanel,
    dose_panels_svg,
    dvh_chart_svg,
    dvh_x_limit,
    figure_svg,
    isodose_levels_Gy,
    tac_small_multiples_svg,
    use_log_scale,
)
from theranostics.report.overlay import dose_overlay_png, hottest_slice, isodose_levels

SVG = "{http://www.w3.org/2000/svg}"


def _decode_png(data: bytes) -> np.ndarray:
    """Decode the 8-bit RGB, filter-0 PNGs our encoder writes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    rows = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, -1)
    assert np.all(rows[:, 0] == 0)
    return rows[:, 1:].reshape(height, width, 3)


def _texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)  # well-formed XML
    assert root.tag == f"{SVG}svg"
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def _tac(name, scale=1.0):
    t = np.array([4.0, 24.0, 96.0, 168.0])
    a = scale * 100.0 * np.exp(-np.log(2) / 50.0 * t)
    grid = np.linspace(0, 190, 50)
    y = scale * 100.0 * np.exp(-np.log(2) / 50.0 * grid)
    return TacPanel(name, t, a, 0.05 * a, grid, y, 0.9 * y, 1.1 * y, "mono-exponential")


def test_tac_small_multiples_one_panel_per_structure_with_labels():
    svg = tac_small_multiples_svg([_tac("kidney_left"), _tac("liver", 3.0), _tac("spleen")])
    texts = _texts(svg)
    for name in ("kidney_left", "liver", "spleen"):
        assert name in texts
    assert "activity (MBq)" in texts and "time after administration (h)" in texts
    assert "measured ± u" in texts and "mono-exponential" in texts
    # deterministic: the same data give the same SVG (no date, fixed ids)
    assert svg == tac_small_multiples_svg([_tac("kidney_left"), _tac("liver", 3.0), _tac("spleen")])
    with pytest.raises(ValueError, match="no time-activity"):
        tac_small_multiples_svg([])


def test_log_scale_only_where_the_data_span_a_decade():
    assert use_log_scale([100.0, 50.0, 8.0])
    assert not use_log_scale([100.0, 60.0, 30.0])
    assert not use_log_scale([0.0, -1.0, 5.0])


def test_dvh_chart_axis_fitted_to_the_data():
    dose = np.linspace(0, 100, 201)
    low = DvhCurve("kidney", dose, np.clip(100 * (1 - (dose - 3) / 2), 0, 100))  # 3-5 Gy
    high = DvhCurve("lesion", dose, np.clip(100 * (1 - (dose - 10) / 4), 0, 100))  # 10-14 Gy
    assert dvh_x_limit([low]) == pytest.approx(1.05 * 5.0, abs=0.5)
    assert dvh_x_limit([low, high]) == pytest.approx(1.05 * 14.0, abs=0.5)
    svg = dvh_chart_svg([low, high], title="Cumulative DVH")
    texts = _texts(svg)
    assert "Cumulative DVH" in texts and "kidney" in texts and "lesion" in texts
    assert "absorbed dose (Gy)" in texts
    with pytest.raises(ValueError, match="no DVH"):
        dvh_chart_svg([], title="x")


def test_dose_panels_have_a_colour_bar_in_Gy_and_an_isodose_legend():
    y, x = np.mgrid[0:40, 0:40]
    dose = np.clip(10.0 * (1 - np.hypot(x - 20, y - 20) / 15.0), 0, None)
    ct = np.zeros_like(dose)
    svg = dose_panels_svg(
        [
            ImagePanel("axial", dose, (0, 80, 80, 0), background=ct),
            ImagePanel("MIP", dose, (0, 80, 0, 80), isodose=False),
        ],
        dose_max_Gy=10.0,
    )
    texts = _texts(svg)
    assert "absorbed dose (Gy)" in texts  # colour-bar label
    for level, pct in zip(isodose_levels_Gy(10.0), (10, 25, 50, 75, 90)):
        assert f"{level:.3g} Gy ({pct} %)" in texts
    assert "axial" in texts and "MIP" in texts
    assert "<image" in svg  # the dose raster is embedded
    with pytest.raises(ValueError, match="positive"):
        isodose_levels_Gy(0.0)


def test_figure_svg_has_no_prolog_and_no_date():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure()
    FigureCanvasAgg(fig)
    fig.subplots().plot([0, 1], [0, 1])
    svg = figure_svg(fig)
    assert svg.startswith("<svg") and "<dc:date>" not in svg


def test_dose_overlay_draws_isodose_rings_around_a_spherical_dose():
    shape = (9, 40, 40)
    k, j, i = np.indices(shape)
    r = np.sqrt((i - 20) ** 2 + (j - 20) ** 2 + (k - 4) ** 2)
    dose = np.clip(10.0 * (1.0 - r / 15.0), 0.0, None)
    ct = np.zeros(shape)
    assert hottest_slice(dose) == 4
    levels = isodose_levels(10.0, percents=(50,))
    png, used = dose_overlay_png(ct, dose, (2.0, 2.0, 2.0), levels=levels, min_width_px=40)
    rgb = _decode_png(png)
    ring = np.all(rgb == np.array(levels[0].rgb, dtype=np.uint8), axis=2)
    rows, cols = np.nonzero(ring)
    radius = np.hypot(rows - 19.5, cols - 19.5)
    # the 50 % line of D = 10 (1 - r/15) lies at r = 7.5 voxels
    assert np.median(radius) == pytest.approx(7.5, abs=1.0)
    assert used == levels
    assert re.match(rb"\x89PNG", png)


def test_dose_overlay_refuses_different_grids():
    with pytest.raises(ValueError, match="grids differ"):
        dose_overlay_png(np.zeros((2, 3, 3)), np.ones((2, 3, 4)), (1.0, 1.0, 1.0))


def _y_tick_labels(svg: str) -> list[float]:
    """Numbers written on the y axis of a one-panel figure (matplotlib's ``axis_2`` group)."""
    root = ET.fromstring(svg)
    axis = next(g for g in root.iter(f"{SVG}g") if g.get("id") == "matplotlib.axis_2")
    texts = ["".join(t.itertext()) for t in axis.iter(f"{SVG}text")]
    return [float(t) for t in texts if re.fullmatch(r"[0-9.e+-]+", t)]


def test_tac_log_axes_label_only_decades_past_three_decades():
    """A TAC spanning six decades (a bladder emptying) is labelled at 10^k only, one
    spanning one to three decades at 1-2-5 x 10^k; no unlabelled minor ticks are drawn."""
    t = np.array([4.0, 24.0, 96.0, 168.0])
    wide = _y_tick_labels(tac_small_multiples_svg([TacPanel("bladder", t, [200, 20, 0.02, 0.004])]))
    narrow_svg = tac_small_multiples_svg([TacPanel("kidney", t, 100 * np.exp(-0.025 * t))])
    narrow = _y_tick_labels(narrow_svg)

    def mantissa(v):
        return round(v / 10 ** np.floor(np.log10(v)), 6)

    assert len(wide) >= 4 and {mantissa(v) for v in wide} == {1.0}
    assert {mantissa(v) for v in narrow} == {1.0, 2.0, 5.0}
    root = ET.fromstring(narrow_svg)
    axis = next(g for g in root.iter(f"{SVG}g") if g.get("id") == "matplotlib.axis_2")
    ticks = [g for g in axis.iter(f"{SVG}g") if (g.get("id") or "").startswith("ytick_")]
    assert len(ticks) == len(narrow)  # every tick drawn carries a label
