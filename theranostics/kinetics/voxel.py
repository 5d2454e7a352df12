"""Voxel-wise time-integrated activity (TIA) maps, vectorised over voxels.

Input: a stack ``activity`` of shape ``(T, ...)`` (one frame per time point, registered on one
grid; any activity unit per voxel, e.g. MBq or Bq/mL) and ``times_h`` (h after
administration). Output: the TIA per voxel in (activity unit) x h. No Python loop runs per
voxel: voxels are processed in chunks of ``chunk_voxels`` columns of a ``(T, N)`` array, so
memory stays bounded (about 15 arrays of ``T x chunk_voxels`` float64).

Models (the structure-level definitions of :mod:`.models` and :mod:`.trapezoid`):

* ``"mono-exp"``: ``A0 exp(-lam t)`` fitted to minimise ``sum ((f_i - y_i) / y_i)^2`` (the
  relative weighting of :func:`.fit.fit_tac`, with the same 1 % floor). Start: closed-form
  least squares of ``ln y`` on ``t`` (equal weights in log space are the first-order
  equivalent of equal relative SDs); then ``gauss_newton_iterations`` vectorised Gauss-Newton
  steps on the non-linear problem (2x2 normal equations solved in closed form per voxel,
  step halving when the cost rises). TIA = A0 / lam.
* ``"trapezoid-physical"``: trapezoid from (0, 0) through the points + ``y_T / lam_phys``.
  Linear in the activities, so the sum of the map over a region equals the trapezoid TIA
  of the region's summed curve.
* ``"trapezoid-fitted-tail"``: trapezoid + ``y_T / lam`` with lam from a log-linear fit of
  the last 3 (2 when T < 4) points; lam < lam_phys is clamped to lam_phys (counted).

Fallback (``fallback_mask``): a mono-exp voxel with a value at any time that is not above
``RELATIVE_FLOOR`` times its own maximum (zero, negative, or an interpolation residue such as
1e-19 MBq whose logarithm would wreck the log-linear start), a rate
below physical decay (including rising curves, lam < 0), or a non-finite result; a
fitted-tail voxel whose last points are not all above that floor. These voxels get the
trapezoid-physical TIA. Voxels that are zero at every time get TIA 0 (not a fallback);
voxels with a non-finite input value get NaN (counted in the summary); voxels outside
``mask`` get 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from theranostics.errors import InputError
from theranostics.progress import ProgressCallback, report

from . import inputs
from .trapezoid import area_weights, log_linear_coefficients, tail_point_count

VOXEL_MODELS = ("mono-exp", "trapezoid-physical", "trapezoid-fitted-tail")
#: A voxel value not above this fraction of the voxel's own maximum counts as non-positive
#: for the exponential fits (its logarithm would dominate the log-linear start).
RELATIVE_FLOOR = 1e-6


@dataclass(frozen=True, eq=False)
class VoxelTiaResult:
    """A TIA map and how it was made.

    ``tia`` has the shape of one frame (unit: activity unit x h); ``fallback_mask`` marks the
    voxels that fell back to trapezoid-physical; ``effective_half_life_h`` is ln2/lam where a
    rate was fitted (NaN elsewhere); ``summary`` counts voxels per outcome.
    """

    tia: np.ndarray
    fallback_mask: np.ndarray
    model: str
    summary: dict
    effective_half_life_h: np.ndarray | None = None


def _trapezoid_physical(y: np.ndarray, w: np.ndarray, lam_phys: float) -> np.ndarray:
    return w @ y + y[-1] / lam_phys


def _mono_exp(y, t, c, lam_phys, iterations):
    """Vectorised weighted mono-exp fit of the columns of ``y`` (all > 0). Returns A0, lam."""
    z = np.log(y)
    lam = -(c @ z)
    amp = np.exp(z.mean(axis=0) + lam * t.mean())
    sig = np.maximum(y, 0.01 * y.max(axis=0))  # relative SD per point, 1 % floor (fit_tac)
    tt = t[:, None]

    def cost(a, lm):
        # A trial step can overshoot to a large negative rate, where exp() overflows: its
        # cost is then inf (or NaN), which `trial <= current` rejects, so the voxel keeps its
        # last good parameters and tries a halved step. The overflow is expected, not an error.
        with np.errstate(over="ignore", invalid="ignore"):
            return np.sum(((a * np.exp(-lm * tt) - y) / sig) ** 2, axis=0)

    current = cost(amp, lam)
    for _ in range(iterations):
        e = np.exp(-lam * tt)
        r = (amp * e - y) / sig
        j1 = e / sig
        j2 = -amp * tt * e / sig
        h11, h12, h22 = np.sum(j1 * j1, 0), np.sum(j1 * j2, 0), np.sum(j2 * j2, 0)
        g1, g2 = np.sum(j1 * r, 0), np.sum(j2 * r, 0)
        det = h11 * h22 - h12 * h12
        with np.errstate(divide="ignore", invalid="ignore"):
            d_amp = -(h22 * g1 - h12 * g2) / det
            d_lam = -(h11 * g2 - h12 * g1) / det
        ok = np.isfinite(d_amp) & np.isfinite(d_lam)
        d_amp, d_lam = np.where(ok, d_amp, 0.0), np.where(ok, d_lam, 0.0)
        step = np.ones_like(amp)
        accepted = np.zeros(amp.shape, dtype=bool)
        for _ in range(5):  # step halving, vectorised: each voxel keeps its first better step
            trial = cost(amp + step * d_amp, lam + step * d_lam)
            better = ~accepted & (trial <= current)
            amp = np.where(better, amp + step * d_amp, amp)
            lam = np.where(better, lam + step * d_lam, lam)
            current = np.where(better, trial, current)
            accepted |= better
            step = np.where(accepted, step, step / 2.0)
    return amp, lam


def voxel_tia(
    activity: np.ndarray,
    times_h,
    *,
    physical_half_life_h: float,
    model: str = "mono-exp",
    mask: np.ndarray | None = None,
    gauss_newton_iterations: int = 5,
    chunk_voxels: int = 1 << 18,
    progress: ProgressCallback | None = None,
) -> VoxelTiaResult:
    """TIA per voxel of a ``(T, ...)`` activity stack (see the module docstring).

    Args:
        activity: activity per voxel at each time (any unit), shape ``(T, ...)``; not
            modified.
        times_h: the T acquisition times, hours after administration, increasing.
        physical_half_life_h: physical half-life of the nuclide (h).
        model: one of :data:`VOXEL_MODELS`.
        mask: boolean array of one frame's shape; only these voxels are computed.
        gauss_newton_iterations: refinement steps after the log-linear start (mono-exp).
        chunk_voxels: voxels per chunk (memory bound).
        progress: callback(fraction, message).
    """
    lam_phys = inputs.physical_rate_per_h(physical_half_life_h)
    t = inputs.validate_times(times_h)
    data = np.asarray(activity)
    if data.ndim < 2 or data.shape[0] != len(t):
        raise InputError(
            f"activity must have shape (T, ...) with T = {len(t)} time points, got {data.shape}",
            tag="activity",
            fix="stack the registered frames along the first axis, in time order",
        )
    if model not in VOXEL_MODELS:
        raise InputError(
            f"unknown voxel model {model!r}", tag="model", fix=f"choose one of {VOXEL_MODELS}"
        )
    if model == "mono-exp" and len(t) < 2:
        raise InputError(
            "mono-exp needs at least 2 time points",
            tag="times_h",
            fix="use model='trapezoid-physical' for a single time point",
        )
    frame_shape = data.shape[1:]
    flat = data.reshape(len(t), -1)
    if mask is None:
        index = np.arange(flat.shape[1])
    else:
        m = np.asarray(mask)
        if m.shape != frame_shape:
            raise InputError(
                f"mask shape {m.shape} differs from the frame shape {frame_shape}",
                tag="mask",
                fix="resample the mask onto the grid of the activity stack",
            )
        index = np.flatnonzero(m.astype(bool).reshape(-1))
    tia = np.zeros(flat.shape[1])
    fallback = np.zeros(flat.shape[1], dtype=bool)
    t_half = np.full(flat.shape[1], np.nan) if model != "trapezoid-physical" else None
    w = area_weights(t)
    k = tail_point_count(len(t))
    c_all, c_tail = log_linear_coefficients(t), log_linear_coefficients(t[-k:])
    counts = dict.fromkeys(
        (
            "zero",
            "non_finite_input",
            "non_positive",
            "rate_below_physical",
            "non_finite_fit",
            "tail_clamped",
            "fitted",
        ),
        0,
    )
    n_chunks = max(1, math.ceil(len(index) / chunk_voxels))
    for ci in range(n_chunks):
        sel = index[ci * chunk_voxels : (ci + 1) * chunk_voxels]
        y = flat[:, sel].astype(np.float64)
        finite = np.all(np.isfinite(y), axis=0)
        zero = finite & np.all(y == 0, axis=0)
        live = finite & ~zero
        out = np.where(finite, 0.0, np.nan)
        fb = np.zeros(len(sel), dtype=bool)
        th = np.full(len(sel), np.nan)
        yl = y[:, live]
        floor = RELATIVE_FLOOR * np.max(np.abs(yl), axis=0) if yl.size else 0.0
        if model == "trapezoid-physical":
            out[live] = _trapezoid_physical(yl, w, lam_phys)
        elif model == "trapezoid-fitted-tail":
            pos = np.all(yl[-k:] > floor, axis=0)
            lam = np.full(yl.shape[1], lam_phys)
            with np.errstate(divide="ignore", invalid="ignore"):
                fitted = -(c_tail @ np.log(np.where(yl[-k:] > 0, yl[-k:], 1.0)))
            clamped = pos & (fitted < lam_phys)
            lam = np.where(pos & ~clamped, fitted, lam)
            out[live] = w @ yl + yl[-1] / lam
            fb[live] = ~pos
            th[live] = np.where(pos, math.log(2.0) / lam, np.nan)
            counts["non_positive"] += int(np.sum(~pos))
            counts["tail_clamped"] += int(np.sum(clamped))
            counts["fitted"] += int(np.sum(pos))
        else:
            pos = np.all(yl > floor, axis=0)
            amp = np.full(yl.shape[1], np.nan)
            lam = np.full(yl.shape[1], np.nan)
            if np.any(pos):
                amp[pos], lam[pos] = _mono_exp(
                    yl[:, pos], t, c_all, lam_phys, gauss_newton_iterations
                )
            with np.errstate(divide="ignore", invalid="ignore"):
                value = amp / lam
            bad_fit = pos & ~(np.isfinite(value) & (amp > 0) & np.isfinite(lam))
            slow = pos & ~bad_fit & (lam < lam_phys)
            failed = ~pos | bad_fit | slow
            value = np.where(failed, _trapezoid_physical(yl, w, lam_phys), value)
            out[live] = value
            fb[live] = failed
            th[live] = np.where(failed, np.nan, math.log(2.0) / lam)
            counts["non_positive"] += int(np.sum(~pos))
            counts["non_finite_fit"] += int(np.sum(bad_fit))
            counts["rate_below_physical"] += int(np.sum(slow))
            counts["fitted"] += int(np.sum(~failed))
        counts["zero"] += int(np.sum(zero))
        counts["non_finite_input"] += int(np.sum(~finite))
        tia[sel], fallback[sel] = out, fb
        if t_half is not None:
            t_half[sel] = th
        report(progress, (ci + 1) / n_chunks, f"voxel TIA ({model}): chunk {ci + 1}/{n_chunks}")
    n_fb = int(np.sum(fallback))
    summary = {
        "model": model,
        "unit": "activity unit x h",
        "times_h": t.tolist(),
        "physical_half_life_h": math.log(2.0) / lam_phys,
        "voxels_total": int(flat.shape[1]),
        "voxels_in_mask": len(index),
        "voxels_fitted": counts["fitted"],
        "voxels_fallback": n_fb,
        "fallback_fraction": n_fb / max(1, len(index)),
        "voxels_zero": counts["zero"],
        "voxels_non_finite_input": counts["non_finite_input"],
        "voxels_tail_clamped": counts["tail_clamped"],
        "fallback_reasons": {
            "non_positive_value": counts["non_positive"],
            "rate_below_physical": counts["rate_below_physical"],
            "non_finite_fit": counts["non_finite_fit"],
        },
        "gauss_newton_iterations": gauss_newton_iterations if model == "mono-exp" else 0,
        "chunk_voxels": int(chunk_voxels),
        "tia_sum": float(np.nansum(tia)),
    }
    return VoxelTiaResult(
        tia=tia.reshape(frame_shape),
        fallback_mask=fallback.reshape(frame_shape),
        model=model,
        summary=summary,
        effective_half_life_h=None if t_half is None else t_half.reshape(frame_shape),
    )
