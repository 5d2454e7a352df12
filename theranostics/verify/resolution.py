"""Bring a planned and a delivered dose map to the same spatial resolution before comparing
them (like with like).

Why: a delivered dose map computed from SPECT carries the camera's resolution (a Gaussian
point-spread function of about 12 mm FWHM for 177Lu with a medium-energy collimator), while a
planned map computed from a segmentation or a Monte Carlo simulation is sharp. Compared voxel
by voxel, every edge of the sharp map fails: the comparison measures the camera, not the
treatment. The imaging chain is linear and shift invariant to a good approximation, and
Gaussian convolutions commute with the (shift-invariant) dose kernel, so blurring the planned
map with the delivered chain's PSF gives the map that a perfect delivery would have produced
through the same chain.

Modes (:data:`COMPARISON_MODES`):

* ``"matched"`` (default): both maps at the coarser of the two resolutions. With the
  delivered chain's FWHM ``f_d`` and the planned map's own FWHM ``f_p`` (0 for a map computed
  from segmented structures), the sharper map is convolved with a Gaussian of FWHM
  ``sqrt(|f_d² − f_p²|)`` (Gaussian widths add in quadrature). When the planned map lies on a
  finer grid than the delivered one, it is also smoothed by the extra variance of the coarser
  voxel, ``(Δ_d² − Δ_p²)/12`` per axis (a box of width Δ has variance Δ²/12), so that sampling
  it at the delivered voxel centres approximates the average over each delivered voxel, which
  is what the delivered voxel holds. The planned map is then interpolated (trilinear) onto the
  delivered grid.
* ``"raw"``: the maps as they are (the planned map interpolated onto the delivered grid):
  camera resolution and treatment differences mixed together. Kept for inspection, labelled as
  such in every output.

The Gaussian is SimpleITK's recursive Gaussian (Deriche's IIR approximation) with the sigma in
mm, per axis of the image grid. See docs/verification.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..progress import ProgressCallback
from ._grid import check_dose_image

#: Comparison modes: resolution-matched (default) or the maps as they are.
COMPARISON_MODES = ("matched", "raw")

#: FWHM / sigma of a Gaussian, 2·sqrt(2·ln 2).
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclass(frozen=True)
class MatchedMaps:
    """The two maps of a comparison on the delivered grid, and how they were made.

    Attributes:
        planned: the planned map on the delivered grid (Gy, float64), blurred in
            ``"matched"`` mode when it was the sharper one.
        delivered: the delivered map (Gy, float64), blurred only when the planned map was
            the coarser one.
        info: ``{"mode", "label", "delivered_fwhm_mm", "planned_fwhm_mm", "blurred",
            "blur_fwhm_mm", "grid_smoothing_sigma_mm", "resampled", "description"}``, the
            record written to results.json.
    """

    planned: sitk.Image
    delivered: sitk.Image
    info: dict = field(default_factory=dict)


def mode_label(mode: str) -> str:
    """How a mode is named in reports."""
    return {
        "matched": "like with like: maps at matched resolution",
        "raw": "RAW: maps as computed (resolution not matched)",
    }[mode]


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`COMPARISON_MODES`, else an InputError."""
    if mode not in COMPARISON_MODES:
        raise InputError(
            f"unknown comparison resolution {mode!r}",
            tag="comparison_resolution",
            fix=f"use one of {', '.join(COMPARISON_MODES)}",
        )
    return mode


def _check_fwhm(value, name: str) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{name}={value!r} is not a number", tag=name, fix="give a FWHM in mm")
    value = float(value)
    if not (math.isfinite(value) and value >= 0):
        raise InputError(f"{name}={value} mm", tag=name, fix="give a FWHM >= 0 mm")
    return value


def gaussian_blur(image: sitk.Image, sigma_mm) -> sitk.Image:
    """``image`` (float64) convolved with a Gaussian of standard deviation ``sigma_mm``
    (one value or one per axis x, y, z; 0 leaves that axis alone)."""
    sigma = np.broadcast_to(np.asarray(sigma_mm, dtype=float), (3,))
    out = sitk.Cast(image, sitk.sitkFloat64)
    if not np.any(sigma > 0):
        return out
    # the recursive Gaussian needs a positive sigma on every axis: a tiny one is a no-op
    spacing = np.asarray(image.GetSpacing(), dtype=float)
    sigma = np.where(sigma > 0, sigma, 1e-3 * spacing)
    return sitk.SmoothingRecursiveGaussian(out, sigma.tolist())


def match_resolution(
    planned: sitk.Image,
    delivered: sitk.Image,
    *,
    delivered_fwhm_mm: float | None,
    planned_fwhm_mm: float | None = 0.0,
    mode: str = "matched",
) -> MatchedMaps:
    """The planned and delivered maps on the delivered grid, at matched resolution.

    Args:
        planned: planned dose (Gy), any grid in the same patient coordinates.
        delivered: delivered dose (Gy); its grid is the comparison grid.
        delivered_fwhm_mm: resolution (Gaussian FWHM, mm) of the delivered imaging chain,
            e.g. the PSF of the partial-volume correction. ``None`` in ``"matched"`` mode: no
            resolution is known, the comparison falls back to ``"raw"`` and ``info`` says so.
        planned_fwhm_mm: resolution already in the planned map (0: sharp).
        mode: ``"matched"`` or ``"raw"`` (module docstring).

    Returns:
        :class:`MatchedMaps`.

    Raises:
        InputError: unknown mode, negative FWHM, NaN doses; GeometryError: not 3D images.
    """
    check_mode(mode)
    check_dose_image(planned, "planned")
    check_dose_image(delivered, "delivered")
    f_p = _check_fwhm(planned_fwhm_mm, "planned_fwhm_mm")
    requested = mode
    f_d = None if delivered_fwhm_mm is None else _check_fwhm(delivered_fwhm_mm, "psf_fwhm_mm")
    note = ""
    if mode == "matched" and f_d is None:
        mode = "raw"
        note = (
            "matched resolution requested but no resolution of the delivered imaging chain "
            "is known (give psf_fwhm_mm or comparison_psf_fwhm_mm): compared RAW"
        )
    info = {
        "mode": mode,
        "requested_mode": requested,
        "label": mode_label(mode),
        "delivered_fwhm_mm": f_d,
        "planned_fwhm_mm": f_p,
        "blurred": None,
        "blur_fwhm_mm": 0.0,
        "grid_smoothing_sigma_mm": [0.0, 0.0, 0.0],
        "resampled": not _same_grid(planned, delivered),
        "note": note,
    }
    p = sitk.Cast(planned, sitk.sitkFloat64)
    d = sitk.Cast(delivered, sitk.sitkFloat64)
    if mode == "matched":
        extra = math.sqrt(abs(f_d**2 - f_p**2))
        sigma_p = np.zeros(3)
        if f_d > f_p:
            info["blurred"] = "planned"
            sigma_p[:] = extra / FWHM_PER_SIGMA
        elif f_p > f_d:
            info["blurred"] = "delivered"
            d = gaussian_blur(d, extra / FWHM_PER_SIGMA)
        info["blur_fwhm_mm"] = extra if info["blurred"] else 0.0
        if info["resampled"]:
            grid_var = _grid_variance_mm2(planned, delivered)
            info["grid_smoothing_sigma_mm"] = np.sqrt(grid_var).tolist()
            sigma_p = np.sqrt(sigma_p**2 + grid_var)
        p = gaussian_blur(p, sigma_p)
    if info["resampled"]:
        p = sitk.Resample(p, d, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat64)
    info["description"] = describe(info)
    return MatchedMaps(planned=p, delivered=d, info=info)


def describe(info: dict) -> str:
    """One sentence saying which map was brought to which resolution."""
    if info["mode"] == "raw":
        base = "RAW comparison: the maps as computed, resolution not matched"
        return f"{base} ({info['note']})" if info.get("note") else base
    f_d, f_p = info["delivered_fwhm_mm"], info["planned_fwhm_mm"]
    if info["blurred"] == "planned":
        what = (
            f"the planned map blurred to the delivered imaging chain's resolution "
            f"({f_d:g} mm FWHM; Gaussian of {info['blur_fwhm_mm']:.3g} mm FWHM added to its "
            f"own {f_p:g} mm)"
        )
    elif info["blurred"] == "delivered":
        what = (
            f"the delivered map blurred to the planned map's coarser resolution ({f_p:g} mm "
            f"FWHM; Gaussian of {info['blur_fwhm_mm']:.3g} mm FWHM added to its {f_d:g} mm)"
        )
    else:
        what = f"both maps already at {f_d:g} mm FWHM"
    if info["resampled"]:
        what += "; planned map averaged onto the delivered grid"
    return "Matched resolution: " + what


def _grid_variance_mm2(planned: sitk.Image, delivered: sitk.Image) -> np.ndarray:
    """Per axis of the planned grid, the variance (mm²) that turns a planned voxel into a
    delivered one: ``max(Δ_d² − Δ_p², 0)/12`` (axis-aligned grids; the delivered spacing is
    projected onto the planned axes for rotated ones)."""
    dp = np.asarray(planned.GetSpacing(), dtype=float)
    dir_p = np.asarray(planned.GetDirection(), dtype=float).reshape(3, 3)
    dir_d = np.asarray(delivered.GetDirection(), dtype=float).reshape(3, 3)
    dd = np.asarray(delivered.GetSpacing(), dtype=float)
    # extent of a delivered voxel along each planned axis
    dd_on_p = np.abs(dir_p.T @ dir_d) @ dd
    return np.maximum(dd_on_p**2 - dp**2, 0.0) / 12.0


def _same_grid(a: sitk.Image, b: sitk.Image) -> bool:
    return (
        a.GetSize() == b.GetSize()
        and np.allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-6)
        and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-4)
        and np.allclose(a.GetDirection(), b.GetDirection(), atol=1e-6)
    )


def structure_rescale(
    sharp_planned: np.ndarray,
    matched_planned: np.ndarray,
    weight: np.ndarray,
    density_g_per_mL: np.ndarray,
) -> float:
    """The factor that gives the matched planned map, inside one structure, the
    mass-weighted mean of the planned map at its own resolution (all arrays on one grid):
    the counterpart, for the plan, of the partial-volume rescaling of the delivered
    structure dose. 1 when the matched mean is 0."""
    wr = np.asarray(weight, float) * np.asarray(density_g_per_mL, float)
    m = float(np.sum(wr * matched_planned))
    s = float(np.sum(wr * sharp_planned))
    return s / m if m > 0 else 1.0


def gtm_structure_scales(
    dose: sitk.Image,
    weights: dict[str, sitk.Image],
    psf_fwhm_mm: float,
    *,
    progress: ProgressCallback | None = None,
) -> dict[str, float]:
    """Per structure, the factor by which the geometric transfer matrix (GTM, Rousset et al.
    1998) partial-volume correction with a Gaussian PSF of ``psf_fwhm_mm`` changes the
    structure mean of ``dose`` (corrected / observed; 1 where the observed mean is not
    positive).

    This is the correction the dosimetry workflow applies to the delivered structure TIA
    (:func:`theranostics.kinetics.tac.structure_tacs`), applied here to a planned map at the
    same resolution, so that the planned and the delivered structure doses go through the
    same chain. ``weights`` (fractional occupancy) share the grid of ``dose``. ``progress``
    is called per structure blurred for the transfer matrix (a raised
    :class:`~theranostics.progress.Cancelled` stops there).
    """
    from ..kinetics.tac import structure_tacs

    image = sitk.Cast(dose, sitk.sitkFloat64)
    # structure_tacs reads concentrations; the ratio it gives is unit-free
    tacs = structure_tacs([image], [1.0], weights, psf_fwhm_mm=psf_fwhm_mm, progress=progress)
    out = {}
    for name, tac in tacs.items():
        raw, corrected = float(tac.raw_activities_MBq[0]), float(tac.activities_MBq[0])
        out[name] = corrected / raw if raw > 0 and corrected > 0 else 1.0
    return out
