"""Trapezoid integration of a time-activity curve with an explicit tail.

Convention (documented in ``docs/kinetics.md``): the curve starts at ``A(0) = 0`` at
administration and is linear between the measured points, so the area before the first
point is the triangle ``A_1 t_1 / 2``. This suits organs that take the radiopharmaceutical up
over hours (kidneys, tumours); for a region that holds its activity from t = 0 (blood) it
under-estimates that first segment. After the last point the curve decays as
``A_last exp(-lam (t - t_last))`` with

* ``trapezoid-physical``: ``lam = lam_phys`` (no biological clearance assumed: an upper
  bound of the tail), tail = ``A_last / lam_phys``;
* ``trapezoid-fitted-tail``: ``lam`` from a weighted log-linear mono-exponential fit of the
  last 2 (3 or 2 when fewer than 4 points) points, refused when slower than physical decay
  (then ``lam = lam_phys`` with a note), tail = ``A_last / lam``.

Trapezoids are biased against the true curve (linear segments over a convex decay
over-estimate the area; the triangle from t = 0 misses early uptake curvature); they are
exact for their own definition, which is what the tests check.

The TIA is linear in the activities for ``trapezoid-physical`` and nearly so for the fitted
tail: the functions return the gradient d TIA / d A_i for first-order uncertainty propagation.

Reference: Sjögreen Gleisner K et al., Eur J Nucl Med Mol Imaging 2022;49:1778-1809 (section
on time-integration: trapezoid with an extrapolated tail); Siegel JA et al., MIRD Pamphlet 16,
J Nucl Med 1999;40:37S-61S (integration of measured data, tail by physical decay).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TrapezoidResult:
    """Area, tail and their gradients with respect to the activities (one per time point)."""

    area_MBq_h: float
    tail_MBq_h: float
    tail_rate_per_h: float
    fitted_rate_per_h: float | None
    clamped: bool
    gradient: np.ndarray  # d TIA / d A_i (h)
    tail_points: int

    @property
    def tia_MBq_h(self) -> float:
        return self.area_MBq_h + self.tail_MBq_h


def area_weights(times_h: np.ndarray) -> np.ndarray:
    """Weights ``w_i`` (h) with area = sum w_i A_i for the trapezoid from (0, 0) through the
    points (t_i, A_i)."""
    t = np.concatenate([[0.0], np.asarray(times_h, dtype=float)])
    dt = np.diff(t)
    w = np.zeros(len(t))
    w[:-1] += dt / 2.0
    w[1:] += dt / 2.0
    return w[1:]  # the (0, 0) point contributes nothing


def tail_point_count(n_points: int) -> int:
    """How many of the last points the fitted tail uses: 3 when there are 4 or more, else 2."""
    return 3 if n_points >= 4 else 2


def log_linear_coefficients(times_h: np.ndarray) -> np.ndarray:
    """Coefficients ``c_i`` with slope = sum c_i ln A_i for an unweighted regression of
    ln A on t (equal weights in log space = equal relative SDs)."""
    t = np.asarray(times_h, dtype=float)
    dt = t - t.mean()
    return dt / np.sum(dt * dt)


def trapezoid_tia(
    times_h: np.ndarray,
    activities_MBq: np.ndarray,
    lam_phys: float,
    *,
    fitted_tail: bool,
) -> TrapezoidResult:
    """Trapezoid TIA (MBq·h) with a physical (``fitted_tail=False``) or fitted tail."""
    t = np.asarray(times_h, dtype=float)
    a = np.asarray(activities_MBq, dtype=float)
    w = area_weights(t)
    area = float(w @ a)
    grad = w.copy()
    lam, fitted, clamped, k = lam_phys, None, False, 0
    if fitted_tail:
        k = tail_point_count(len(t))
        tt, aa = t[-k:], a[-k:]
        if np.all(aa > 0):
            c = log_linear_coefficients(tt)
            fitted = float(-(c @ np.log(aa)))
            if fitted >= lam_phys:
                lam = fitted
                grad[-k:] += a[-1] / lam**2 * (c / aa)  # d(A_last/lam)/dA_i via lam
            else:
                clamped = True
        else:
            clamped = True
    tail = float(a[-1] / lam)
    grad[-1] += 1.0 / lam
    return TrapezoidResult(area, tail, lam, fitted, clamped, grad, k)


def trapezoid_curve(
    t_eval: np.ndarray, times_h: np.ndarray, activities_MBq: np.ndarray, tail_rate: float
) -> np.ndarray:
    """The trapezoid model's curve (MBq): linear from (0, 0) through the points, then the
    exponential tail ``A_last exp(-rate (t - t_last))``."""
    t = np.asarray(t_eval, dtype=float)
    tp = np.concatenate([[0.0], times_h])
    ap = np.concatenate([[0.0], activities_MBq])
    out = np.interp(t, tp, ap)
    late = t > tp[-1]
    out[late] = ap[-1] * np.exp(-tail_rate * (t[late] - tp[-1]))
    return out
