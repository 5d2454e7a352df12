"""3D gamma index (Low et al. 1998) of an evaluated dose distribution against a reference.

For a reference point x with dose R(x), the gamma index is

    γ(x) = min over r of sqrt(|r|² / δ² + (E(x + r) − R(x))² / Δ(x)²)

with δ the distance-to-agreement criterion (mm), Δ the dose criterion (Gy): a percentage of a
fixed normalisation dose (*global*) or of R(x) itself (*local*, Low & Dempsey 2003), and E
the evaluated distribution, interpolated trilinearly between its voxel centres. A point
passes when γ ≤ 1.

Search (Wendling et al. 2007, with a local refinement in the spirit of Ju et al. 2008):

1. Offsets r on an isotropic cubic lattice of step ``h = step_fraction · δ`` inside the
   search ball ``|r| ≤ search_radius_mm``, sorted by |r| and grouped in shells of width h.
   For each shell only the points whose current minimum still exceeds the shell's smallest
   |r|/δ are evaluated (every further offset has Γ ≥ |r|/δ, so they cannot improve), and all
   of them at once: the loop runs over offsets, never over points.
2. From each point's best lattice offset, a few Gauss-Newton steps: the dose surface is
   replaced by its tangent plane (exact for a linear dose; trilinear within a cell) and the
   offset moves to the foot of the perpendicular from (0, R) in the normalised
   (r/δ, dose/Δ) space, inside a trust region; a step is kept only if it lowers Γ.

Exactness: every reported value is Γ evaluated at an actual offset, so it is never below the
exact gamma of the interpolated distribution within the search ball (it errs on the strict
side). After the lattice stage it exceeds the exact value by at most
``(√3/2)(h/δ)·sqrt(1 + (G·δ/Δ)²)`` where G is the largest dose gradient (Gy/mm) near the exact
minimiser; the refinement removes that error where the dose is linear over the step and
reduces it to second order elsewhere. Values below ``search_radius_mm / δ`` are exact minima
over the whole space (beyond the ball Γ ≥ |r|/δ); values are clipped at ``max_gamma``.
See docs/verification.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk
from scipy.ndimage import map_coordinates, maximum_filter, minimum_filter

from ..errors import GeometryError, InputError
from ..progress import ProgressCallback, report
from ._grid import array_index_map, check_dose_image, trilinear_with_gradient

#: Gauss-Newton iterations of the refinement stage.
_REFINE_ITERATIONS = 6


@dataclass(frozen=True)
class GammaResult:
    """Outcome of :func:`gamma_index`.

    Attributes:
        gamma: gamma values on the reference grid (float32); NaN where no point was evaluated
            (reference dose below the cutoff, or outside the evaluated grid).
        pass_rate_percent: percentage of evaluated points with γ ≤ 1.
        gamma_mean: mean γ over evaluated points (clipped values count as ``max_gamma``).
        gamma_max: largest γ (at most ``max_gamma``).
        gamma_p95: 95th percentile of γ over evaluated points.
        evaluated_points: number of reference points evaluated.
        parameters: criteria and settings used (doses in Gy, lengths in mm).
    """

    gamma: sitk.Image
    pass_rate_percent: float
    gamma_mean: float
    gamma_max: float
    gamma_p95: float
    evaluated_points: int
    parameters: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """Summary figures and parameters (no voxel data), JSON-serialisable."""
        return {
            "pass_rate_percent": self.pass_rate_percent,
            "gamma_mean": self.gamma_mean,
            "gamma_max": self.gamma_max,
            "gamma_p95": self.gamma_p95,
            "evaluated_points": self.evaluated_points,
            "parameters": dict(self.parameters),
        }


def _lattice_offsets(radius_mm: float, step_mm: float) -> np.ndarray:
    """Offsets (n, 3) in LPS mm on a cubic lattice inside the ball, sorted by length."""
    m = math.floor(radius_mm / step_mm + 1e-9)
    axis = np.arange(-m, m + 1, dtype=float) * step_mm
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    length = np.linalg.norm(grid, axis=1)
    grid = grid[length <= radius_mm * (1 + 1e-12)]
    length = np.linalg.norm(grid, axis=1)
    order = np.lexsort((grid[:, 2], grid[:, 1], grid[:, 0], np.round(length, 9)))
    return grid[order]


def _validate_criteria(dose_percent, dta_mm, cutoff_percent, radius_mm, step_fraction, max_gamma):
    def bad(name, value, rule):
        return InputError(
            f"{name}={value!r} is not valid: {rule}", tag=name, fix=f"give {name} {rule}"
        )

    for name, value in (("dose_percent", dose_percent), ("dta_mm", dta_mm)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise bad(name, value, "as a finite number > 0")
    if not (math.isfinite(cutoff_percent) and 0.0 <= cutoff_percent < 100.0):
        raise bad("cutoff_percent", cutoff_percent, "in [0, 100)")
    if not (math.isfinite(max_gamma) and max_gamma >= 1.0):
        raise bad("max_gamma", max_gamma, ">= 1 (pass/fail needs gamma up to 1)")
    if not (math.isfinite(radius_mm) and radius_mm >= dta_mm):
        raise bad("search_radius_mm", radius_mm, f">= dta_mm ({dta_mm} mm) so γ ≤ 1 is exact")
    if not (math.isfinite(step_fraction) and 0.0 < step_fraction <= 1.0):
        raise bad("step_fraction", step_fraction, "in (0, 1] (lattice step / dta)")


def gamma_index(
    reference: sitk.Image,
    evaluated: sitk.Image,
    *,
    dose_percent: float = 3.0,
    dta_mm: float = 3.0,
    local: bool = False,
    cutoff_percent: float = 10.0,
    normalisation_Gy: float | None = None,
    search_radius_mm: float | None = None,
    step_fraction: float = 0.2,
    max_gamma: float = 2.0,
    refine: bool = True,
    progress: ProgressCallback | None = None,
) -> GammaResult:
    """Gamma index of ``evaluated`` against ``reference`` (both dose images in Gy, LPS).

    The grids may differ (spacing, origin, size, direction): ``evaluated`` is interpolated
    trilinearly at the physical positions of the reference voxel centres plus the offsets.

    Args:
        reference: reference dose (Gy); gamma is reported on its grid.
        evaluated: evaluated dose (Gy).
        dose_percent: dose criterion in percent (of ``normalisation_Gy`` when global, of the
            local reference dose when ``local``).
        dta_mm: distance-to-agreement criterion δ in mm.
        local: local gamma (Low & Dempsey 2003) instead of global.
        cutoff_percent: reference points below this percentage of ``normalisation_Gy`` are
            not evaluated (low-dose cutoff).
        normalisation_Gy: global normalisation dose; default the maximum of ``reference``.
        search_radius_mm: radius of the search ball; default ``max_gamma · dta_mm``, the
            smallest radius for which every γ below ``max_gamma`` is an exact minimum.
        step_fraction: lattice step of the search as a fraction of ``dta_mm`` (default 0.2;
            the refinement makes the result much finer than the step, see module docstring).
        max_gamma: γ values are clipped here (≥ 1).
        refine: run the Gauss-Newton refinement (on by default).
        progress: optional callback (fraction, message).

    Returns:
        :class:`GammaResult`.

    Raises:
        InputError: non-finite doses, invalid criteria, nothing above the cutoff.
        GeometryError: not 3D, or no evaluated reference point inside the evaluated grid.
    """
    ref = check_dose_image(reference, "reference")
    ev = check_dose_image(evaluated, "evaluated")
    if search_radius_mm is None:
        search_radius_mm = max_gamma * dta_mm
    _validate_criteria(
        dose_percent, dta_mm, cutoff_percent, search_radius_mm, step_fraction, max_gamma
    )
    norm = float(np.max(ref)) if normalisation_Gy is None else float(normalisation_Gy)
    if not (math.isfinite(norm) and norm > 0):
        raise InputError(
            f"normalisation dose {norm} Gy is not > 0 (reference maximum when not given)",
            tag="normalisation_Gy",
            fix="check the reference dose holds positive values, or give normalisation_Gy",
        )
    cutoff_Gy = cutoff_percent / 100.0 * norm
    selected = ref >= cutoff_Gy
    if local:  # a local criterion of 0 Gy has no meaning
        selected &= ref > 0
    n_selected = int(np.count_nonzero(selected))
    if n_selected == 0:
        raise InputError(
            f"no reference voxel reaches the cutoff {cutoff_Gy:.4g} Gy "
            f"({cutoff_percent} % of {norm:.4g} Gy)",
            tag="cutoff_percent",
            fix="lower cutoff_percent or check the normalisation dose",
        )
    kji = np.nonzero(selected)
    to_eval = array_index_map(reference, evaluated)
    coords = to_eval.points(kji)  # (3, n) continuous [k, j, i] indices in the evaluated array
    shape = np.array(ev.shape, dtype=float)[:, None]
    tol = 1e-6
    inside = np.all((coords >= -tol) & (coords <= shape - 1 + tol), axis=0)
    if not np.any(inside):
        raise GeometryError(
            "no reference point above the cutoff lies inside the evaluated dose grid",
            tag="evaluated",
            fix="check both doses are in the same patient coordinates (frame of reference)",
        )
    kji = tuple(a[inside] for a in kji)
    coords = np.clip(coords[:, inside], 0.0, shape - 1)
    r_dose = ref[kji].astype(float)
    delta = dose_percent / 100.0 * (r_dose if local else np.full_like(r_dose, norm))
    inv_delta2 = 1.0 / delta**2
    step_mm = step_fraction * dta_mm
    offsets = _lattice_offsets(search_radius_mm, step_mm)
    g2, best = _lattice_search(
        ev, coords, r_dose, inv_delta2, offsets, to_eval, dta_mm, step_mm, max_gamma, progress
    )
    if refine:
        _refine(
            ev,
            coords,
            r_dose,
            delta,
            offsets[best],
            g2,
            to_eval,
            dta_mm,
            step_mm,
            search_radius_mm,
            progress,
        )
    gamma = np.minimum(np.sqrt(g2), max_gamma)
    out = np.full(ref.shape, np.nan, dtype=np.float32)
    out[kji] = gamma
    image = sitk.GetImageFromArray(out)
    image.CopyInformation(reference)
    report(progress, 1.0, "gamma done")
    parameters = {
        "dose_percent": float(dose_percent),
        "dta_mm": float(dta_mm),
        "local": bool(local),
        "cutoff_percent": float(cutoff_percent),
        "cutoff_Gy": cutoff_Gy,
        "normalisation_Gy": norm,
        "search_radius_mm": float(search_radius_mm),
        "step_mm": step_mm,
        "lattice_offsets": len(offsets),
        "refine": bool(refine),
        "max_gamma": float(max_gamma),
        "exact_below": float(min(max_gamma, search_radius_mm / dta_mm)),
        "interpolation": "trilinear (evaluated dose)",
        "points_above_cutoff": n_selected,
        "points_outside_evaluated_grid": int(n_selected - gamma.size),
    }
    return GammaResult(
        gamma=image,
        pass_rate_percent=float(100.0 * np.count_nonzero(gamma <= 1.0) / gamma.size),
        gamma_mean=float(np.mean(gamma)),
        gamma_max=float(np.max(gamma)),
        gamma_p95=float(np.percentile(gamma, 95)),
        evaluated_points=int(gamma.size),
        parameters=parameters,
    )


def _lattice_search(
    ev, coords, r_dose, inv_delta2, offsets, to_eval, dta_mm, step_mm, max_gamma, progress
):
    """Minimum of Γ² over the lattice offsets, shell by shell with early stopping.

    A point is skipped in a shell when a lower bound of Γ² over the shell cannot beat its
    current minimum: ``d_min²/δ² + gap²/Δ²``, with ``gap`` the distance of R from the range
    of evaluated voxel values around the point (every trilinear value in the shell's ball
    lies in that range), or when that bound is already ≥ ``max_gamma²`` (the reported,
    clipped value cannot change). Returns (Γ² per point, index of the best offset per
    point); Γ² stays ``inf`` for points whose every offset was pruned by ``max_gamma``.
    """
    n = r_dose.size
    g2 = np.full(n, np.inf)
    best = np.zeros(n, dtype=np.int64)
    disp = to_eval.displacements(offsets)  # (3, m) index displacement of each offset
    dist2 = np.sum(offsets**2, axis=1) / dta_mm**2
    shell = np.floor(np.sqrt(dist2) * dta_mm / step_mm + 1e-9).astype(int)
    bounds = np.flatnonzero(np.diff(shell)) + 1
    starts = np.concatenate(([0], bounds))
    stops = np.concatenate((bounds, [len(offsets)]))
    nearest = tuple(np.rint(coords).astype(np.intp))  # voxel holding each point (in grid)
    ranges = _BallRanges(ev, to_eval)
    cap2 = max_gamma**2
    active = np.arange(n)
    for s, (lo, hi) in enumerate(zip(starts, stops, strict=True)):
        active = active[g2[active] > dist2[lo]]
        if active.size == 0:
            break
        if s > 0:  # prune with the dose-range bound of the ball holding this shell
            e_min, e_max = ranges.at(np.sqrt(dist2[hi - 1]) * dta_mm, nearest, active)
            rd = r_dose[active]
            gap = np.maximum(np.maximum(e_min - rd, rd - e_max), 0.0)
            bound = dist2[lo] + gap**2 * inv_delta2[active]
            keep = (bound < g2[active]) & (bound < cap2)
            subset = active[keep]
        else:
            subset = active
        if subset.size:
            c = coords[:, subset]
            rd = r_dose[subset]
            w = inv_delta2[subset]
            g2s = g2[subset]
            bs = best[subset]
            for k in range(lo, hi):
                values = map_coordinates(
                    ev, c + disp[:, k : k + 1], order=1, mode="constant", cval=np.nan
                )
                f2 = dist2[k] + (values - rd) ** 2 * w
                better = f2 < g2s  # NaN (outside the evaluated grid) never wins
                g2s[better] = f2[better]
                bs[better] = k
            g2[subset] = g2s
            best[subset] = bs
        report(progress, 0.8 * (s + 1) / len(starts), f"gamma search shell {s + 1}")
    return g2, best


class _BallRanges:
    """Minimum and maximum of the evaluated voxels in a box around each voxel that holds
    every voxel a trilinear interpolation within a ball of radius ρ (mm) can touch."""

    def __init__(self, ev: np.ndarray, to_eval) -> None:
        self.ev = ev
        # index extent per mm along each array axis (k, j, i): norm of that row of M
        self.per_mm = np.linalg.norm(to_eval.inverse, axis=1)[::-1]
        self.cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def at(self, radius_mm: float, nearest, points: np.ndarray):
        # the ball spans ±ρ·|M_a| indices; nearest voxel is ≤ 0.5 away; trilinear corners ≤ 1
        half = tuple(math.ceil(radius_mm * p + 1.5) for p in self.per_mm)
        if half not in self.cache:
            size = tuple(2 * h + 1 for h in half)
            self.cache[half] = (
                minimum_filter(self.ev, size=size, mode="nearest"),
                maximum_filter(self.ev, size=size, mode="nearest"),
            )
        lo, hi = self.cache[half]
        index = tuple(a[points] for a in nearest)
        return lo[index], hi[index]


def _refine(ev, coords, r_dose, delta, r0, g2, to_eval, dta_mm, step_mm, radius_mm, progress):
    """Gauss-Newton refinement of each point's best offset (updates ``g2`` in place)."""
    active = np.flatnonzero((g2 > 0) & np.isfinite(g2))
    r = r0[active].copy()
    trust = np.full(active.size, step_mm)
    value, grad = _dose_and_gradient(ev, coords[:, active], r, to_eval)
    for it in range(_REFINE_ITERATIONS):
        if active.size == 0:
            break
        d = delta[active][:, None]
        a = grad * dta_mm / d  # dose slope in normalised units, per unit r/δ
        u0 = r / dta_mm
        c0 = (value - r_dose[active]) / d[:, 0] - np.sum(a * u0, axis=1)
        u = -c0[:, None] * a / (1.0 + np.sum(a * a, axis=1))[:, None]
        step = u * dta_mm - r
        norm = np.linalg.norm(step, axis=1)
        scale = np.minimum(1.0, trust / np.maximum(norm, 1e-300))
        cand = r + step * scale[:, None]
        length = np.linalg.norm(cand, axis=1)
        cand *= np.minimum(1.0, radius_mm / np.maximum(length, 1e-300))[:, None]
        v_new, g_new = _dose_and_gradient(ev, coords[:, active], cand, to_eval)
        f2 = np.sum(cand**2, axis=1) / dta_mm**2 + ((v_new - r_dose[active]) / d[:, 0]) ** 2
        better = f2 < g2[active]
        g2[active[better]] = f2[better]
        r[better], value[better], grad[better] = cand[better], v_new[better], g_new[better]
        trust[~better] *= 0.5
        moving = (norm * scale > 1e-4 * step_mm) & (trust > 1e-3 * step_mm)
        active, r, trust = active[moving], r[moving], trust[moving]
        value, grad = value[moving], grad[moving]
        report(progress, 0.8 + 0.2 * (it + 1) / _REFINE_ITERATIONS, "gamma refinement")


def _dose_and_gradient(ev, coords, r, to_eval):
    """Trilinear evaluated dose (Gy) and its LPS gradient (Gy/mm) at points + offsets r.

    Outside the evaluated grid the dose is NaN (so Γ is NaN and never accepted)."""
    c = coords + to_eval.displacements(r)
    value, grad_index = trilinear_with_gradient(ev, c)
    return value, to_eval.gradient_to_physical(grad_index)
