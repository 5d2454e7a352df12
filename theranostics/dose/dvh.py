"""Cumulative dose-volume histograms (DVH) and dose metrics of a structure.

Definitions (ICRU Report 83, 2010):

* V(D): volume receiving at least D, ``V(D) = Σ w_i · [d_i ≥ D] · v`` with d_i the voxel
  dose, w_i ∈ [0, 1] the fraction of voxel i inside the structure and v the voxel volume.
  The curve is exact for a dose that is constant within each voxel (no binning: each curve
  point is computed from the sorted voxel doses).
* D_x: the dose received by at least x % of the volume. From the weighted voxel doses sorted
  in ascending order, each voxel's volume interval is represented by its midpoint
  (plotting position ``p_k = (W_{k-1} + w_k/2) / W``, Hyndman & Fan 1996 type 5, "Hazen")
  and D_x is interpolated linearly in p at ``1 − x/100`` (clamped to the extreme voxel doses).
  D50 is the median.
* mean: volume-weighted mean ``Σ w_i d_i / Σ w_i``; min/max over voxels with w_i > 0.

Boundary voxels:

* mask on the dose grid (same size, origin, spacing, direction): a voxel belongs to the
  structure when its label is non-zero (voxel-centre inclusion, w = 1); a floating-point mask
  with values in [0, 1] is read as fractional occupancy.
* mask on another grid (e.g. the CT grid): each dose voxel is divided into ``n³`` sub-voxels
  (``supersampling``, default 4) whose centres are looked up in the mask (nearest voxel,
  i.e. voxel-centre inclusion on the mask grid); w is the fraction of sub-voxels inside.
  The dose is taken as constant within each dose voxel.

Uncertainty: only a global relative uncertainty of the dose scale (e.g. from the TIA or
calibration) is propagated, to first order: dose metrics scale with it
(``u(D_x) = u_rel · D_x``), and ``u(V_x) = u_rel · x · |dV/dD|(x)`` with the slope of the
cumulative curve by central differences. Voxel-level noise and contour uncertainty are not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from ..errors import GeometryError, InputError
from ..progress import ProgressCallback, report

#: Default D_x levels (percent of the volume).
DEFAULT_D_PERCENTS = (98.0, 95.0, 50.0, 2.0)


@dataclass(frozen=True)
class DVH:
    """A cumulative DVH with its metrics.

    Attributes:
        dose_Gy: curve abscissa (Gy), evenly spaced by ``parameters["bin_width_Gy"]``.
        volume_percent: percentage of the structure volume receiving at least ``dose_Gy``.
        volume_mL: the same in mL.
        total_volume_mL: structure volume (Σ w · voxel volume).
        metrics: ``mean_Gy``, ``median_Gy``, ``min_Gy``, ``max_Gy``, ``D98_Gy`` ...,
            ``V20Gy_percent``, ``V20Gy_mL`` ... (names follow the requested levels).
        uncertainties: standard uncertainty of each metric (same keys, same units) from the
            global dose-scale uncertainty only.
        parameters: how it was computed.
    """

    dose_Gy: np.ndarray
    volume_percent: np.ndarray
    volume_mL: np.ndarray
    total_volume_mL: float
    metrics: dict
    uncertainties: dict
    parameters: dict
    _doses: np.ndarray = field(repr=False, default=None)
    _weights: np.ndarray = field(repr=False, default=None)

    def dose_at_volume_Gy(self, percent: float) -> float:
        """D_x: dose (Gy) received by at least ``percent`` % of the volume (module rule)."""
        if not 0.0 <= percent <= 100.0:
            raise InputError(
                f"volume percentage {percent} outside [0, 100]", tag="percent", fix="0..100"
            )
        w = self._weights
        position = (np.cumsum(w) - w / 2) / np.sum(w)
        return float(np.interp(1.0 - percent / 100.0, position, self._doses))

    def volume_at_dose(self, dose_Gy: float) -> tuple[float, float]:
        """V_x: (percent, mL) of the volume receiving at least ``dose_Gy``."""
        inside = float(np.sum(self._weights[self._doses >= dose_Gy]))
        fraction = inside / float(np.sum(self._weights))
        return 100.0 * fraction, fraction * self.total_volume_mL

    def volume_percent_at(self, doses_Gy) -> np.ndarray:
        """Percentage of the structure receiving at least each of ``doses_Gy`` (exact: the
        cumulative curve is a step function of the voxel doses), e.g. to tabulate several
        structures on one dose axis."""
        levels = np.asarray(doses_Gy, dtype=float)
        tail = np.concatenate((np.cumsum(self._weights[::-1])[::-1], [0.0]))
        return 100.0 * tail[np.searchsorted(self._doses, levels, side="left")] / tail[0]

    def to_json(self) -> dict:
        """Metrics, uncertainties, parameters and the curve, JSON-serialisable."""
        return {
            "total_volume_mL": self.total_volume_mL,
            "metrics": dict(self.metrics),
            "uncertainties": dict(self.uncertainties),
            "parameters": dict(self.parameters),
            "curve": {
                "dose_Gy": [float(v) for v in self.dose_Gy],
                "volume_percent": [float(v) for v in self.volume_percent],
            },
        }


def _nice_width(span_Gy: float) -> float:
    """A 1-2-5 bin width giving at most ~500 bins over ``span_Gy``."""
    if span_Gy <= 0:
        return 0.01
    raw = span_Gy / 500.0
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= raw)


def _same_grid(a: sitk.Image, b: sitk.Image) -> bool:
    return (
        a.GetSize() == b.GetSize()
        and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-3)
        and np.allclose(a.GetSpacing(), b.GetSpacing(), rtol=1e-6)
        and np.allclose(a.GetDirection(), b.GetDirection(), atol=1e-6)
    )


def _affine(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    direction = np.array(image.GetDirection(), dtype=float).reshape(3, 3)
    return direction @ np.diag(image.GetSpacing()), np.array(image.GetOrigin(), dtype=float)


def occupancy_on_grid(mask: sitk.Image, dose: sitk.Image, *, supersampling: int = 4) -> np.ndarray:
    """Fraction of each ``dose`` voxel inside ``mask`` (array ``[k, j, i]``, values in [0, 1]).

    Same grid: the mask itself (non-zero → 1, or its values when it is a float mask in
    [0, 1]). Another grid: ``supersampling³`` sub-voxel centres per dose voxel, each looked up
    in the mask at its nearest voxel. Only the dose voxels overlapping the mask's bounding box
    are sampled.
    """
    labels = sitk.GetArrayFromImage(mask)
    if _same_grid(mask, dose):
        if labels.dtype.kind == "f" and labels.min() >= 0 and labels.max() <= 1:
            return labels.astype(float)
        return (labels != 0).astype(float)
    if not (isinstance(supersampling, int) and 1 <= supersampling <= 16):
        raise InputError(
            f"supersampling={supersampling!r}", tag="supersampling", fix="an integer in 1..16"
        )
    inside = np.argwhere(labels != 0)  # (n, 3) k, j, i
    out = np.zeros(dose.GetSize()[::-1], dtype=float)
    if inside.size == 0:
        return out
    a_m, o_m = _affine(mask)
    a_d, o_d = _affine(dose)
    # mask bounding box (voxel edges) -> dose continuous indices -> dose voxel range
    lo, hi = inside.min(0)[::-1] - 0.5, inside.max(0)[::-1] + 0.5
    corners = np.array(
        [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
    )
    in_dose = np.linalg.solve(a_d, (corners @ a_m.T + o_m - o_d).T).T
    size = np.array(dose.GetSize())
    first = np.clip(np.floor(in_dose.min(0) - 0.5).astype(int), 0, size - 1)
    last = np.clip(np.ceil(in_dose.max(0) + 0.5).astype(int), 0, size - 1)
    if np.any(last < first):
        return out
    ii, jj, kk = np.meshgrid(
        *(np.arange(f, t + 1) for f, t in zip(first, last, strict=True)), indexing="ij"
    )
    base = np.stack([ii.ravel(), jj.ravel(), kk.ravel()]).astype(float)  # (3, n) i, j, k
    to_mask = np.linalg.solve(a_m, a_d)  # mask index per dose index
    shift = np.linalg.solve(a_m, o_d - o_m)
    mask_shape = np.array(labels.shape)[::-1][:, None]
    count = np.zeros(base.shape[1])
    subs = (np.arange(supersampling) + 0.5) / supersampling - 0.5
    for dz in subs:
        for dy in subs:
            for dx in subs:
                point = base + np.array([[dx], [dy], [dz]])
                m = np.rint(to_mask @ point + shift[:, None]).astype(np.intp)
                ok = np.all((m >= 0) & (m < mask_shape), axis=0)
                hit = np.zeros(base.shape[1], dtype=bool)
                hit[ok] = labels[m[2, ok], m[1, ok], m[0, ok]] != 0
                count += hit
    out[kk.ravel(), jj.ravel(), ii.ravel()] = count / supersampling**3
    return out


def _label(value: float) -> str:
    return f"{value:g}".replace(".", "p")


def dose_volume_histogram(
    dose: sitk.Image,
    mask: sitk.Image,
    *,
    bin_width_Gy: float | None = None,
    d_percents: tuple[float, ...] = DEFAULT_D_PERCENTS,
    v_doses_Gy: tuple[float, ...] = (),
    dose_relative_sd: float = 0.0,
    supersampling: int = 4,
    progress: ProgressCallback | None = None,
) -> DVH:
    """Cumulative DVH of ``dose`` (Gy) inside ``mask``, with metrics (module docstring).

    Args:
        dose: absorbed dose (or BED) in Gy, LPS.
        mask: structure mask, on the dose grid or another grid (non-zero = inside).
        bin_width_Gy: spacing of the curve's dose axis; default a 1-2-5 value giving at most
            ~500 points up to the maximum dose. Metrics do not depend on it.
        d_percents: the D_x levels to report (percent of volume).
        v_doses_Gy: the V_x levels to report (Gy), each as ``V{x}Gy_percent`` and ``_mL``.
        dose_relative_sd: relative standard uncertainty of the global dose scale (e.g. 0.08).
        supersampling: sub-voxels per axis for masks on another grid.
        progress: optional callback.

    Raises:
        InputError: NaN doses in the structure, bad levels or widths.
        GeometryError: the mask is empty on the dose grid (no overlap).
    """
    if dose.GetDimension() != 3 or mask.GetDimension() != 3:
        raise GeometryError("dose and mask must be 3D images", tag="dose/mask", fix="give 3D")
    if not (math.isfinite(dose_relative_sd) and dose_relative_sd >= 0):
        raise InputError(
            f"dose_relative_sd={dose_relative_sd}", tag="dose_relative_sd", fix="give >= 0"
        )
    if bin_width_Gy is not None and not (math.isfinite(bin_width_Gy) and bin_width_Gy > 0):
        raise InputError(f"bin_width_Gy={bin_width_Gy}", tag="bin_width_Gy", fix="give > 0")
    weights = occupancy_on_grid(mask, dose, supersampling=supersampling)
    report(progress, 0.5, "DVH: mask on the dose grid")
    selected = weights > 0
    if not np.any(selected):
        raise GeometryError(
            "the structure mask covers no voxel of the dose grid",
            tag="mask",
            fix="check the mask and the dose share the same patient coordinates",
        )
    values = sitk.GetArrayFromImage(dose)[selected].astype(float)
    same = _same_grid(mask, dose)
    dvh = dvh_from_samples(
        values,
        weights[selected],
        voxel_mL=float(np.prod(dose.GetSpacing())) / 1000.0,
        bin_width_Gy=bin_width_Gy,
        d_percents=d_percents,
        v_doses_Gy=v_doses_Gy,
        dose_relative_sd=dose_relative_sd,
        boundary="voxel-centre inclusion"
        if same
        else f"fractional occupancy ({supersampling}^3 sub-voxels)",
    )
    dvh.parameters.update(mask_on_dose_grid=same, supersampling=supersampling)
    report(progress, 1.0, "DVH done")
    return dvh


def dvh_from_samples(
    doses_Gy: np.ndarray,
    occupancy: np.ndarray,
    *,
    voxel_mL: float,
    density_g_per_mL: np.ndarray | None = None,
    bin_width_Gy: float | None = None,
    d_percents: tuple[float, ...] = DEFAULT_D_PERCENTS,
    v_doses_Gy: tuple[float, ...] = (),
    dose_relative_sd: float = 0.0,
    boundary: str = "fractional occupancy",
) -> DVH:
    """A DVH (module rules) from the voxels of one structure, already selected.

    Args:
        doses_Gy: dose of each voxel touching the structure (Gy), 1-D.
        occupancy: fraction of each voxel inside the structure, in (0, 1].
        voxel_mL: voxel volume (mL).
        density_g_per_mL: mass density of each voxel: the histogram is then **mass**-weighted
            (``w = occupancy · density``; fractions are of the structure's mass, as dose is
            energy per mass) and ``total_mass_g`` is reported; ``None``: volume-weighted.
        bin_width_Gy, d_percents, v_doses_Gy, dose_relative_sd: see
            :func:`dose_volume_histogram`.
        boundary: how the occupancy was obtained (recorded in ``parameters``).

    Raises:
        InputError: mismatched or negative weights, an empty structure, NaN doses.
    """
    values = np.asarray(doses_Gy, dtype=float).ravel()
    occ = np.asarray(occupancy, dtype=float).ravel()
    w = occ if density_g_per_mL is None else occ * np.asarray(density_g_per_mL, float).ravel()
    if values.shape != w.shape or values.size == 0 or not np.all(w >= 0) or w.sum() <= 0:
        raise InputError(
            "a DVH needs one non-negative weight per dose value and a positive total",
            tag="weights",
            fix="pass the structure's voxel doses with their occupancy (and density)",
        )
    if not np.all(np.isfinite(values)):
        raise InputError(
            f"{int(np.count_nonzero(~np.isfinite(values)))} NaN/infinite dose voxel(s) in the "
            "structure",
            tag="dose",
            fix="compute the dose over the whole structure",
        )
    order = np.argsort(values, kind="stable")
    values, w = values[order], w[order]
    total = float(np.sum(w))
    total_mL = float(np.sum(occ)) * voxel_mL
    width = bin_width_Gy or _nice_width(max(values[-1], 0.0) - min(values[0], 0.0))
    start = math.floor(min(values[0], 0.0) / width) * width
    axis = start + width * np.arange(math.ceil((values[-1] - start) / width) + 2)
    tail = np.concatenate((np.cumsum(w[::-1])[::-1], [0.0]))  # weight with dose ≥ values[k]
    at_least = tail[np.searchsorted(values, axis, side="left")]
    dvh = DVH(
        dose_Gy=axis,
        volume_percent=100.0 * at_least / total,
        volume_mL=at_least / total * total_mL,
        total_volume_mL=total_mL,
        metrics={},
        uncertainties={},
        parameters={
            "bin_width_Gy": width,
            "voxel_volume_mL": voxel_mL,
            "weighting": "volume" if density_g_per_mL is None else "mass (occupancy x density)",
            "boundary": boundary,
            "quantile_rule": "Hazen (midpoint plotting positions), linear",
            "dose_relative_sd": dose_relative_sd,
            "voxels": int(values.size),
        },
        _doses=values,
        _weights=w,
    )
    if density_g_per_mL is not None:
        dvh.parameters["total_mass_g"] = total * voxel_mL
    metrics = dvh.metrics
    metrics["mean_Gy"] = float(np.sum(w * values) / total)
    metrics["median_Gy"] = dvh.dose_at_volume_Gy(50.0)
    metrics["min_Gy"] = float(values[0])
    metrics["max_Gy"] = float(values[-1])
    for p in d_percents:
        metrics[f"D{_label(p)}_Gy"] = dvh.dose_at_volume_Gy(float(p))
    u = dvh.uncertainties
    for key, value in metrics.items():
        u[key] = abs(value) * dose_relative_sd
    for x in v_doses_Gy:
        percent, mL = dvh.volume_at_dose(float(x))
        name = f"V{_label(x)}Gy"
        metrics[f"{name}_percent"], metrics[f"{name}_mL"] = percent, mL
        h = max(width, dose_relative_sd * abs(x), 1e-9)
        slope = (dvh.volume_at_dose(x - h)[0] - dvh.volume_at_dose(x + h)[0]) / (2 * h)
        u[f"{name}_percent"] = abs(x) * slope * dose_relative_sd
        u[f"{name}_mL"] = u[f"{name}_percent"] / 100.0 * total_mL
    return dvh
