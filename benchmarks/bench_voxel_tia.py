"""Voxel TIA benchmark: our vectorised mono-exp fit vs scipy.optimize.curve_fit per voxel.

Figures (one run, same machine, side by side):

* 2 million voxels x 4 time points (4, 24, 96, 168 h; 177Lu): synthetic mono-exponential
  curves (A0 uniform 5-500, T_eff uniform 20-150 h) with 10 % relative Gaussian noise;
* our ``voxel_tia(model="mono-exp")`` on all voxels (wall time, voxels per second), and the
  trapezoid models for reference;
* ``curve_fit`` (same weighting as ours: sigma = 0.1 max(y, 0.01 max y), log-linear start)
  timed on a random sample of voxels and scaled to 2 million; the speed ratio;
* agreement on the sample: median and maximum relative TIA difference on the voxels both
  methods fitted (ours did not fall back), and how many fell back.
"""

from __future__ import annotations

import math
import time

import numpy as np

T_LU = 159.5
TIMES = np.array([4.0, 24.0, 96.0, 168.0])


def _stack(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a0 = rng.uniform(5, 500, n)
    lam = math.log(2) / rng.uniform(20, 150, n)
    clean = a0 * np.exp(-np.outer(TIMES, lam))
    return clean * (1 + 0.1 * rng.standard_normal(clean.shape))


def _curve_fit_tia(y: np.ndarray) -> float:
    from scipy.optimize import curve_fit

    slope, intercept = np.polyfit(TIMES, np.log(np.clip(y, 1e-9, None)), 1)
    p, _ = curve_fit(
        lambda t, a, lam: a * np.exp(-lam * t),
        TIMES,
        y,
        p0=(math.exp(intercept), max(-slope, 1e-4)),
        sigma=0.1 * np.maximum(y, 0.01 * y.max()),  # fit_tac's weights (1 % floor)
        absolute_sigma=True,
        maxfev=2000,
    )
    return p[0] / p[1]


def run(quick: bool) -> dict:
    """Run the benchmark; ``quick`` uses 200 000 voxels and a 300-voxel sample."""
    from theranostics.kinetics import voxel_tia

    n = 200_000 if quick else 2_000_000
    n_sample = 300 if quick else 2000
    stack = _stack(n)
    results: dict = {"voxels": n, "time_points_h": TIMES.tolist(), "noise_relative_sd": 0.1}
    timings = {}
    for model in ("mono-exp", "trapezoid-physical", "trapezoid-fitted-tail"):
        t0 = time.perf_counter()
        res = voxel_tia(stack, TIMES, physical_half_life_h=T_LU, model=model)
        timings[model] = time.perf_counter() - t0
        if model == "mono-exp":
            ours = res
    results["ours_wall_s"] = {k: round(v, 3) for k, v in timings.items()}
    results["ours_voxels_per_s_mono_exp"] = round(n / timings["mono-exp"])
    results["ours_fallback_fraction"] = ours.summary["fallback_fraction"]

    rng = np.random.default_rng(1)
    sample = rng.choice(n, n_sample, replace=False)
    ref = np.full(n_sample, np.nan)
    failures = 0
    t0 = time.perf_counter()
    for j, i in enumerate(sample):
        try:
            ref[j] = _curve_fit_tia(stack[:, i])
        except (RuntimeError, ValueError):
            failures += 1
    cf_wall = time.perf_counter() - t0
    scaled = cf_wall / n_sample * n
    results["curve_fit_sample_voxels"] = n_sample
    results["curve_fit_sample_wall_s"] = round(cf_wall, 3)
    results["curve_fit_scaled_wall_s"] = round(scaled, 1)
    results["curve_fit_failures"] = failures
    results["speedup_vs_curve_fit"] = round(scaled / timings["mono-exp"], 1)

    ours_tia = ours.tia.reshape(-1)[sample]
    fb = ours.fallback_mask.reshape(-1)[sample]
    both = ~fb & np.isfinite(ref)
    rel = np.abs(ours_tia[both] / ref[both] - 1)
    results["agreement"] = {
        "voxels_compared": int(both.sum()),
        "voxels_fallback_ours": int(fb.sum()),
        "median_rel_diff": float(np.median(rel)),
        "p99_rel_diff": float(np.percentile(rel, 99)),
        "max_rel_diff": float(np.max(rel)),
    }
    return results
