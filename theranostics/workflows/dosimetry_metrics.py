"""Per-structure settings of the dosimetry workflow: which DVH levels are reported, tissue
(linear-quadratic) parameters per structure, and the planned-versus-delivered mean-dose
comparison against an RLT plan.

The DVHs themselves are :func:`theranostics.dose.dvh.dvh_from_samples`, mass-weighted on
fractional occupancy: every voxel of the dose grid contributes its occupancy ``w`` (fraction
of the voxel inside the structure, :mod:`theranostics.io.masks`) times its density, so a
boundary voxel counts by the part of it that lies inside; nothing is thresholded.
"""

from __future__ import annotations

import math

#: V_x thresholds reported by default (Gy).
DEFAULT_V_THRESHOLDS_GY = (5.0, 10.0, 20.0, 23.0, 30.0)
#: D_x levels reported by default (percent of the structure's mass).
DVH_D_PERCENTS = (98.0, 50.0, 2.0)

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


def compare_with_plan(
    delivered: dict[str, dict],
    planned: dict[str, dict],
    *,
    administered_GBq: float,
    tolerance_percent: float | None = None,
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
    its tolerance and is not within uncertainty. The tolerance is ``tolerance_percent`` for
    every structure when given, otherwise by category (``delivered[name]["category"]``):
    the organ and lesion mean-dose tolerances of
    :data:`theranostics.verify.compare.DEFAULT_TOLERANCES` (10 % and 20 %, with their
    sources).
    """
    from ..verify.compare import DEFAULT_TOLERANCES

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
        category = delivered[name].get("category", "organ")
        limit = tolerance_percent
        if limit is None:
            limit = DEFAULT_TOLERANCES[
                "lesion_mean_dose_percent" if category == "lesion" else "organ_mean_dose_percent"
            ]
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
                "tolerance_percent": float(limit),
                "within_tolerance": bool(abs(rel) <= limit),
                "flag": bool(not within and abs(rel) > limit),
            }
        )
    return rows
