"""Electron kernel accuracy: fit of the penetration model and comparison with Monte Carlo.

Not a timing benchmark: a validation run whose JSON (``benchmarks/results/kernel_accuracy.json``)
backs the tables of ``docs/dose-engine.md``. It

1. refits the six constants of the electron penetration model
   (:data:`theranostics.dose.point_kernels.PENETRATION_FIT`) by least squares to the published
   ETRAN and EGSnrc scaled dose point kernels (:mod:`theranostics.dose.published_kernels`) and
   reports the residuals of the constants in use;
2. compares our soft-tissue voxel S-values with the Monte Carlo database of Lanconelli et al.
   2012 for 90Y, 177Lu and 131I at 2.21-6 mm, with the model in use and with the previous model
   (constant detour 0.80 and spread 0.20 of the path length, X90-calibrated), and for 177Lu
   and 131I both with all ICRP 107 electrons and with the beta spectrum alone (the database
   did not follow conversion and Auger electrons, see the module docstring of
   ``published_kernels``).

Run: ``.venv/bin/python -m benchmarks.run kernel_accuracy``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.optimize import least_squares

from theranostics.dose import point_kernels as pk
from theranostics.dose import published_kernels as pub
from theranostics.dose.kernels import compute_voxel_kernel
from theranostics.nuclide_data import get_emissions

#: The model before KERNEL_MODEL_VERSION 2: mean radial penetration 0.80 s, spread 0.20 s.
PREVIOUS_MODEL = {"a": 0.2, "a_log": 0.0, "b": 0.0, "c": 0.2, "c_log": 0.0, "d": 1.0}
_KEYS = ("a", "b", "c", "d", "a_log", "c_log")


def _datasets():
    out = [(f"ETRAN {e} MeV", e, d, pub.ETRAN_BIN_WIDTH) for e, d in pub.ETRAN_SCALED_DPK.items()]
    out += [
        (f"EGSnrc {e} MeV", e, d, pub.EGSNRC_BIN_WIDTH) for e, d in pub.EGSNRC_SCALED_DPK.items()
    ]
    return out


def dpk_residuals(params: dict) -> dict:
    """Per published kernel: rms and largest |J_ours - J_published| and mean x of both."""
    out = {}
    for name, energy, data, width in _datasets():
        ours = pk.scaled_point_kernel(data[:, 0], energy, width, params)
        diff = ours - data[:, 1]
        out[name] = {
            "rms": float(np.sqrt(np.mean(diff**2))),
            "max_abs": float(np.max(np.abs(diff))),
            "mean_x_ours": float(np.sum(ours * data[:, 0]) / np.sum(ours)),
            "mean_x_published": float(np.sum(data[:, 1] * data[:, 0]) / np.sum(data[:, 1])),
        }
    return out


def refit() -> dict:
    """Least-squares refit of the penetration constants to all published kernels."""

    def residual(v):
        params = dict(zip(_KEYS, v))
        return np.concatenate(
            [pk.scaled_point_kernel(d[:, 0], e, w, params) - d[:, 1] for _, e, d, w in _datasets()]
        )

    start = [pk.PENETRATION_FIT[k] for k in _KEYS]
    fit = least_squares(
        residual, start, bounds=([0, 0.1, 0.001, 0.2, -1, -1], [0.9, 5, 1, 5, 1, 1])
    )
    return {
        "params": {k: round(float(v), 4) for k, v in zip(_KEYS, fit.x)},
        "rms": float(np.sqrt(np.mean(fit.fun**2))),
    }


def _tissue_svalues(emissions, voxel_mm: float, params: dict | None) -> list[float]:
    """Soft-tissue S-values at the database offsets: S_ρ(h) = ρ² S_water(ρ h)."""
    rho = pub.LANCONELLI_SOFT_TISSUE_DENSITY_G_PER_ML
    saved = dict(pk.PENETRATION_FIT)
    try:
        if params is not None:
            pk.PENETRATION_FIT.update(params)
        kernel = compute_voxel_kernel(
            emissions, rho * voxel_mm, photons=True, photon_extent_mm=rho * voxel_mm * 5.5
        )
    finally:
        pk.PENETRATION_FIT.clear()
        pk.PENETRATION_FIT.update(saved)
    return [kernel.value_at(*o) * rho**2 for o in pub.LANCONELLI_OFFSETS]


def svalue_table() -> list[dict]:
    """Rows: nuclide, emissions variant, model, voxel size, ours/published per offset."""
    rows = []
    for nuclide, by_size in pub.LANCONELLI_SOFT_TISSUE_SVALUES.items():
        em = get_emissions(nuclide)
        variants = [("ICRP 107 all", em)]
        if nuclide != "Y-90":
            variants.append(
                ("beta + photons", dataclasses.replace(em, electron_lines=np.zeros((0, 2))))
            )
        for label, emissions in variants:
            for model, params in (("fitted", None), ("previous", PREVIOUS_MODEL)):
                for size, published in by_size.items():
                    ours = _tissue_svalues(emissions, size, params)
                    rows.append(
                        {
                            "nuclide": nuclide,
                            "emissions": label,
                            "model": model,
                            "voxel_mm": size,
                            "offsets": [list(o) for o in pub.LANCONELLI_OFFSETS],
                            "ours_mGy_per_MBq_s": ours,
                            "published_mGy_per_MBq_s": list(published),
                            "difference_percent": [
                                round(100.0 * (a / b - 1.0), 1) for a, b in zip(ours, published)
                            ],
                        }
                    )
    return rows


def y90_x90_mm() -> float:
    """Radius (mm of water) holding 90 % of the 90Y beta energy (Berger 1971: 5.3 mm)."""
    em = get_emissions("Y-90")
    ((e, n),) = em.beta_spectra
    r = np.linspace(0.0, 15.0, 3001)
    q = pk.beta_cumulative_MeV(r, e, n)
    return float(np.interp(0.9 * q[-1], q, r))


def run(quick: bool = False) -> dict:
    """All figures of this validation (``quick`` is accepted for the runner; same work)."""
    return {
        "penetration_fit_in_use": dict(pk.PENETRATION_FIT),
        "refit": refit(),
        "dpk_residuals_fitted": dpk_residuals(pk.PENETRATION_FIT),
        "dpk_residuals_previous": dpk_residuals(PREVIOUS_MODEL),
        "y90_x90_mm": y90_x90_mm(),
        "svalues_vs_lanconelli_2012": svalue_table(),
    }
