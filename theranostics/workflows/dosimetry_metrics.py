"""Per-structure dose figures for the dosimetry workflow: DVH metrics on fractional masks,
tissue parameters per structure, and the planned-versus-delivered comparison.

DVH on fractional occupancy: every voxel of the dose grid contributes its occupancy ``w``
(fraction of the voxel inside the structure, :mod:`theranostics.io.masks`) times its mass
(``w · rho · V``) to the structure, so a boundary voxel counts by the part of it that lies
inside; nothing is thresholded. ``D_x`` is the minimum dose received by the hottest ``x`` %
of the structure's mass (ICRU Report 83, 2010, section 3.4), read from the cumulative
mass-weighted histogram by linear interpolation between sorted voxel doses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import InputError

#: V_x thresholds reported by default (Gy).
DEFAULT_V_THRESHOLDS_GY = (5.0, 10.0, 20.0, 23.0, 30.0)

#: α/β (Gy) and repair half-time (h) for structures with no entry in the tissue table:
#: α/β = 3 Gy, the generic late-responding normal-tissue value (Fowler JF, The
#: linear-quadratic formula and progress in fractionated radiotherapy, Br J Radiol
#: 1989;62:679-694), and a repair half-time of 1.5 h (the liver/tumour value of the table).
DEFAULT_ALPHA_BETA_GY = 3.0
DEFAULT_REPAIR_HALF_TIME_H = 1.5

#: Structure-name prefixes -> tissue of ``theranostics/data/tissue_radiobiology.json``.
TISSUE_PREFIXES = (
    ("kidney", "kidney"),
    ("liver", "liver"),
    ("parotid", "salivary_glands"),
    ("submandibular", "salivary_glands"),
    ("salivary", "salivary_glands"),
    ("red_marrow", "red_marrow"),
    ("marrow", "red_marrow"),
    ("lesion", "tumour"),
    ("tumour", "tumour"),
    ("tumor", "tumour"),
)


def tissue_for(name: str) -> str | None:
    """The radiobiology tissue of a structure name (``"kidney_left"`` -> ``"kidney"``), or
    ``None`` when the table has none (the defaults above apply)."""
    key = name.strip().lower().replace(" ", "_")
    for prefix, tissue in TISSUE_PREFIXES:
        if key.startswith(prefix):
            return tissue
    return None


def lq_parameters(name: str) -> tuple[float, float, str]:
    """``(alpha_beta_Gy, repair_half_time_h, source)`` for a structure."""
    from ..radiobiology import tissue_parameters

    tissue = tissue_for(name)
    if tissue is None:
        return DEFAULT_ALPHA_BETA_GY, DEFAULT_REPAIR_HALF_TIME_H, "default (Fowler 1989)"
    p = tissue_parameters(tissue)
    return p.alpha_beta_Gy, p.repair_half_time_h, f"tissue table: {tissue}"


def dvh_metrics(
    dose_Gy: np.ndarray,
    weights: np.ndarray,
    *,
    v_thresholds_Gy: Sequence[float] = DEFAULT_V_THRESHOLDS_GY,
) -> dict:
    """Mass-weighted DVH metrics of one structure.

    Args:
        dose_Gy: dose of the voxels touching the structure (Gy), 1-D.
        weights: their mass inside the structure (g; occupancy x density x voxel volume), 1-D.
        v_thresholds_Gy: thresholds for ``V_x`` (percent of the structure's mass receiving at
            least ``x`` Gy).

    Returns:
        ``{"mean_Gy", "median_Gy", "D98_Gy", "D50_Gy", "D2_Gy", "min_Gy", "max_Gy",
        "V{x}Gy_percent"...}`` (the mean is mass-weighted; D50 = median).
    """
    d = np.asarray(dose_Gy, dtype=np.float64).ravel()
    w = np.asarray(weights, dtype=np.float64).ravel()
    if d.shape != w.shape or d.size == 0 or not np.all(w >= 0) or w.sum() <= 0:
        raise InputError(
            "DVH needs one non-negative weight per dose value and a positive total",
            tag="weights",
            fix="pass the structure's voxel doses and masses",
        )
    order = np.argsort(d, kind="stable")[::-1]  # hottest first
    d_sorted, w_sorted = d[order], w[order]
    cum = np.cumsum(w_sorted) / w.sum()  # fraction of mass at or above d_sorted

    def dose_at(fraction: float) -> float:
        return float(np.interp(fraction, cum, d_sorted))

    out = {
        "mean_Gy": float(np.dot(d, w) / w.sum()),
        "median_Gy": dose_at(0.5),
        "D98_Gy": dose_at(0.98),
        "D50_Gy": dose_at(0.5),
        "D2_Gy": dose_at(0.02),
        "min_Gy": float(d.min()),
        "max_Gy": float(d.max()),
    }
    for x in v_thresholds_Gy:
        out[f"V{x:g}Gy_percent"] = float(100.0 * w[d >= x].sum() / w.sum())
    return out


def cumulative_dvh(
    dose_Gy: np.ndarray, weights: np.ndarray, *, bins: int = 200, max_Gy: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative DVH ``(dose_Gy, volume_percent)``: percent of the structure's mass receiving
    at least each dose, on ``bins`` + 1 equally spaced doses from 0 to ``max_Gy``."""
    d = np.asarray(dose_Gy, dtype=np.float64).ravel()
    w = np.asarray(weights, dtype=np.float64).ravel()
    top = float(max_Gy if max_Gy is not None else max(d.max(initial=0.0), 1e-9))
    edges = np.linspace(0.0, top, bins + 1)
    hist, _ = np.histogram(np.clip(d, 0.0, top), bins=edges, weights=w)
    above = np.concatenate([np.cumsum(hist[::-1])[::-1], [0.0]])
    return edges, 100.0 * above / max(w.sum(), 1e-30)


def compare_with_plan(
    delivered: dict[str, dict],
    planned: dict[str, dict],
    *,
    administered_GBq: float,
    tolerance_percent: float = 20.0,
    coverage_k: float = 2.0,
) -> list[dict]:
    """Planned versus delivered mean dose per structure (the tolerance table).

    ``planned[name]`` holds ``absorbed_dose_per_cycle_Gy`` (and its ``_sd_Gy``) and
    ``dose_per_activity_Gy_per_GBq`` from the plan; ``delivered[name]`` holds
    ``mean_dose_Gy`` and ``mean_dose_uncertainty_Gy``. The planned dose is compared as
    planned and rescaled to the activity actually given (``dose_per_activity x GBq``), which
    separates a different activity from a different biodistribution. A structure is
    ``within_uncertainty`` when ``|delivered - planned_at_given_activity| <= k · sqrt(u_d^2 +
    u_p^2)`` (k = ``coverage_k``, GUM coverage), and ``flag`` when it deviates by more than
    ``tolerance_percent`` and is not within uncertainty.
    """
    rows = []
    for name, plan in planned.items():
        if name not in delivered:
            continue
        d = float(delivered[name]["mean_dose_Gy"])
        u_d = float(delivered[name].get("mean_dose_uncertainty_Gy") or 0.0)
        p = float(plan["absorbed_dose_per_cycle_Gy"])
        u_p = float(plan.get("absorbed_dose_per_cycle_sd_Gy") or 0.0)
        per_gbq = plan.get("dose_per_activity_Gy_per_GBq")
        at_given = p if per_gbq is None else float(per_gbq) * administered_GBq
        if per_gbq is not None and p > 0:
            u_p = u_p * at_given / p
        diff = d - at_given
        rel = 100.0 * diff / at_given if at_given > 0 else math.nan
        within = abs(diff) <= coverage_k * math.hypot(u_d, u_p)
        rows.append(
            {
                "structure": name,
                "planned_Gy": p,
                "planned_at_given_activity_Gy": at_given,
                "planned_uncertainty_Gy": u_p,
                "delivered_Gy": d,
                "delivered_uncertainty_Gy": u_d,
                "difference_Gy": diff,
                "difference_percent": rel,
                "within_uncertainty": bool(within),
                "flag": bool(not within and abs(rel) > tolerance_percent),
            }
        )
    return rows
