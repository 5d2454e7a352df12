"""Axial slices with a dose overlay and isodose lines, as PNG for reports.

The CT is shown in a soft-tissue window, the dose in a colour map blended over it where it
exceeds the lowest isodose level, and each isodose level as a one-pixel line in its own
colour. Lines are the boundary of ``dose >= level`` on a bilinearly upsampled slice, which
follows the true isodose contour to within one display pixel.

Display convention (radiological): anterior at the top, patient left on the viewer's right,
which is the natural order of a ``[k, j, i]`` LPS array (j grows posterior, i grows left).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .images import encode_png

#: Colour map anchors (fraction, RGB): dark blue → cyan → green → yellow → red, a rainbow
#: kept for familiarity with treatment-planning displays.
_DOSE_COLOURS = np.array(
    [
        (0.00, 0, 0, 160),
        (0.25, 0, 160, 255),
        (0.50, 0, 200, 60),
        (0.75, 255, 220, 0),
        (1.00, 220, 0, 0),
    ],
    dtype=float,
)


@dataclass(frozen=True)
class IsodoseLevel:
    """One isodose line: its dose (Gy) and display colour (RGB 0–255)."""

    dose_Gy: float
    rgb: tuple[int, int, int]


def dose_colour(fraction: np.ndarray) -> np.ndarray:
    """RGB (float 0–255, last axis) of dose fractions in [0, 1] of the display maximum."""
    f = np.clip(np.asarray(fraction, dtype=float), 0.0, 1.0)
    return np.stack(
        [np.interp(f, _DOSE_COLOURS[:, 0], _DOSE_COLOURS[:, c]) for c in (1, 2, 3)], axis=-1
    )


def isodose_levels(dose_max_Gy: float, percents=(10, 25, 50, 75, 90)) -> list[IsodoseLevel]:
    """Isodose levels at ``percents`` of ``dose_max_Gy``, coloured along the colour map."""
    if not dose_max_Gy > 0:
        raise ValueError("the isodose reference dose must be positive")
    return [
        IsodoseLevel(dose_max_Gy * p / 100.0, tuple(int(c) for c in dose_colour(p / 100.0)))
        for p in percents
    ]


def hottest_slice(dose_kji: np.ndarray) -> int:
    """Index k of the axial slice holding the maximum dose."""
    return int(np.unravel_index(int(np.nanargmax(dose_kji)), dose_kji.shape)[0])


def dose_overlay_png(
    ct_kji: np.ndarray,
    dose_kji: np.ndarray,
    spacing_mm: tuple[float, float, float],
    *,
    slice_index: int | None = None,
    ct_window_HU: tuple[float, float] = (-160.0, 240.0),
    dose_max_Gy: float | None = None,
    levels: list[IsodoseLevel] | None = None,
    alpha: float = 0.45,
    min_width_px: int = 360,
) -> tuple[bytes, list[IsodoseLevel]]:
    """PNG of one axial slice (CT grey + dose colour + isodose lines) and its levels.

    ``ct_kji`` and ``dose_kji`` must share one grid (resample first); ``spacing_mm`` is the
    (x, y, z) spacing. ``slice_index`` defaults to the hottest slice and ``dose_max_Gy`` to
    the 99.9th percentile of the dose (one hot voxel does not wash the colours out).
    """
    if ct_kji.shape != dose_kji.shape:
        raise ValueError(f"CT {ct_kji.shape} and dose {dose_kji.shape} grids differ")
    k = hottest_slice(dose_kji) if slice_index is None else int(slice_index)
    if not 0 <= k < dose_kji.shape[0]:
        raise ValueError(f"slice {k} outside 0..{dose_kji.shape[0] - 1}")
    dose_all = np.nan_to_num(np.asarray(dose_kji, dtype=float))
    if dose_max_Gy is None:
        dose_max_Gy = float(np.percentile(dose_all[dose_all > 0], 99.9)) if dose_all.any() else 1.0
    levels = levels if levels is not None else isodose_levels(dose_max_Gy)

    sx, sy, _ = spacing_mm
    zoom = max(1.0, min_width_px / ct_kji.shape[2])
    zoom_yx = (zoom * sy / sx, zoom)
    ct = ndimage.zoom(np.asarray(ct_kji[k], dtype=float), zoom_yx, order=1)
    dose = ndimage.zoom(dose_all[k], zoom_yx, order=1)

    lo, hi = ct_window_HU
    grey = np.clip((ct - lo) / (hi - lo), 0.0, 1.0) * 255.0
    rgb = np.repeat(grey[..., None], 3, axis=2)
    floor = min(level.dose_Gy for level in levels) if levels else 0.0
    shown = dose >= floor
    colour = dose_colour(dose / dose_max_Gy)
    rgb[shown] = (1.0 - alpha) * rgb[shown] + alpha * colour[shown]
    for level in levels:
        inside = dose >= level.dose_Gy
        edge = inside & ~ndimage.binary_erosion(inside)
        rgb[edge] = level.rgb
    return encode_png(np.clip(rgb, 0, 255).round().astype(np.uint8)), levels


def legend_html(levels: list[IsodoseLevel]) -> str:
    """A one-line HTML legend of isodose levels (coloured swatches with the dose in Gy)."""
    items = "".join(
        f"<span style='display:inline-block;width:.9em;height:.9em;margin:0 .2em 0 .8em;"
        f"background:rgb{level.rgb}'></span>{level.dose_Gy:.3g} Gy"
        for level in levels
    )
    return f"<div class='note'>Isodose lines:{items}</div>"
