"""Report charts (SVG) and dose overlays (PNG): geometry of what is drawn, not pixels."""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
import zlib

import numpy as np
import pytest

from theranostics.report.charts import Series, line_chart_svg, nice_ticks
from theranostics.report.overlay import dose_overlay_png, hottest_slice, isodose_levels


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


def test_nice_ticks_cover_the_range_with_round_steps():
    ticks = nice_ticks(0.0, 168.0)
    assert ticks[0] <= 0.0 and ticks[-1] >= 168.0
    steps = np.diff(ticks)
    assert np.allclose(steps, steps[0])
    mantissa = steps[0] / 10 ** np.floor(np.log10(steps[0]))
    assert round(mantissa, 6) in (1, 2, 2.5, 5, 10)


def test_chart_is_valid_svg_and_places_points_on_the_axes():
    t = [0.0, 50.0, 100.0]
    svg = line_chart_svg(
        [Series("kidney", t, [0.0, 50.0, 100.0], kind="points")],
        title="TAC",
        x_label="time (h)",
        y_label="activity (MBq)",
        x_range=(0.0, 100.0),
        y_range=(0.0, 100.0),
    )
    root = ET.fromstring(svg)
    circles = [e for e in root.iter() if e.tag.endswith("circle")]
    cx = [float(c.get("cx")) for c in circles]
    cy = [float(c.get("cy")) for c in circles]
    # equal steps in data are equal steps on screen; y grows downwards on screen
    assert cx[1] - cx[0] == pytest.approx(cx[2] - cx[1], abs=0.2)
    assert cy[0] > cy[1] > cy[2]
    assert "time (h)" in svg and "activity (MBq)" in svg


def test_log_axis_drops_non_positive_values_and_draws_bands():
    svg = line_chart_svg(
        [
            Series(
                "fit", [0, 10, 20], [100, 10, 1], band_low=[90, 9, 0.9], band_high=[110, 11, 1.1]
            ),
            Series("data", [0, 10, 20], [0.0, 10, 1], kind="points"),
        ],
        title="log",
        x_label="t",
        y_label="A",
        y_log=True,
    )
    root = ET.fromstring(svg)
    assert len([e for e in root.iter() if e.tag.endswith("circle")]) == 2
    assert len([e for e in root.iter() if e.tag.endswith("polygon")]) == 1


def test_chart_refuses_empty_and_mismatched_series():
    with pytest.raises(ValueError, match="no finite data"):
        line_chart_svg([Series("x", [np.nan], [np.nan])], title="t", x_label="", y_label="")
    with pytest.raises(ValueError, match="differ in length"):
        line_chart_svg([Series("x", [1, 2], [1])], title="t", x_label="", y_label="")


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
