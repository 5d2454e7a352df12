"""Absorbed dose per GBq of 177Lu predicted from a pre-therapy PET (e.g. 68Ga-PSMA-11).

Model (per structure s, linear through the origin):

    d_s [Gy/GBq] = k_s · M_s,

where M_s is a PET uptake metric of the structure (``SUVmean`` or ``percent_IA``, the
percentage of the injected PET activity in the structure) and k_s a coefficient in Gy/GBq per
unit of M. Standard uncertainty, in quadrature of relative terms:
u(d)/d = √((u(k)/k)² + (u(M)/M)²).

What is published does not give transferable coefficients: Violet et al. (J Nucl Med
2019;60:517-523) found that whole-body tumour SUVmean on 68Ga-PSMA-11 PET correlates with the
whole-body tumour absorbed dose of 177Lu-PSMA-617, and reports per-patient scatter, not a
calibration usable for another scanner and protocol; organ correlations are weaker. So this
module ships NO coefficient: the user supplies k_s with its uncertainty (``PetScalingCoefficient``),
or derives a patient-specific k_s from an earlier cycle where both the PET and a post-therapy
dosimetry exist (:func:`calibrate_from_previous_cycle`). The effective half-life cannot be
measured on a single early PET; it must be given (e.g. from that earlier cycle or a
population value) with its uncertainty.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import InputError
from .rlt_inputs import StructureInput, normalise_name

METRICS = ("SUVmean", "percent_IA")

#: Default relative uncertainty of a coefficient calibrated on a previous cycle: an
#: assumption (cycle-to-cycle change of per-GBq doses and of the PET metric), not a
#: published figure. Replace it with your own data.
CALIBRATION_RELATIVE_SD = 0.3


@dataclass(frozen=True)
class PetScalingCoefficient:
    """k_s of d_s = k_s · M_s for one structure.

    Attributes:
        structure: structure name.
        gy_per_gbq_per_unit: k_s, Gy/GBq per unit of the metric.
        relative_sd: relative standard uncertainty of k_s (e.g. 0.5 for 50 %).
        metric: ``"SUVmean"`` or ``"percent_IA"``.
        source: citation, or the calibration it comes from.
    """

    structure: str
    gy_per_gbq_per_unit: float
    relative_sd: float
    metric: str
    source: str


def _check(value: float, tag: str, *, positive: bool = True) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise InputError(f"{tag} = {value!r} must be positive and finite", tag=tag, fix="fix it")
    return v


def predict_from_pet(
    pet_metrics: Mapping[str, float],
    coefficients: Mapping[str, PetScalingCoefficient],
    effective_half_lives_h: Mapping[str, tuple[float, float]],
    categories: Mapping[str, str],
    *,
    metric_relative_sd: float = 0.0,
) -> tuple[StructureInput, ...]:
    """Structure inputs of the planner from PET metrics.

    Args:
        pet_metrics: structure → PET metric M_s (in the coefficient's metric).
        coefficients: structure → :class:`PetScalingCoefficient`; every structure needs one
            (nothing is guessed).
        effective_half_lives_h: structure → (T_eff, standard uncertainty), h.
        categories: structure → ``"oar"`` or ``"lesion"``.
        metric_relative_sd: relative standard uncertainty of the PET metric (quantification,
            recovery, segmentation).

    Raises:
        InputError: a structure without coefficient, half-life or category; negative values.
    """
    coef = {normalise_name(k): v for k, v in coefficients.items()}
    halves = {normalise_name(k): v for k, v in effective_half_lives_h.items()}
    cats = {normalise_name(k): v for k, v in categories.items()}
    u_m = _check(metric_relative_sd, "metric_relative_sd", positive=False)
    out = []
    for name, value in pet_metrics.items():
        key = normalise_name(name)
        for what, table in (
            ("scaling coefficient", coef),
            ("effective half-life", halves),
            ("category", cats),
        ):
            if key not in table:
                raise InputError(
                    f"PET structure {name!r} has no {what}",
                    tag=name,
                    fix="no published coefficient is built in: supply k (Gy/GBq per unit) "
                    "with its uncertainty, the effective half-life and the category",
                )
        c = coef[key]
        if c.metric not in METRICS:
            raise InputError(f"{name}: unknown metric {c.metric!r}", tag=name, fix=str(METRICS))
        m_value = _check(value, f"{name}.{c.metric}")
        k = _check(c.gy_per_gbq_per_unit, f"{name}.gy_per_gbq_per_unit")
        rel = math.hypot(_check(c.relative_sd, f"{name}.relative_sd", positive=False), u_m)
        t_eff, u_t = halves[key]
        d = k * m_value
        out.append(
            StructureInput(
                name=name,
                category=cats[key],
                dose_per_activity_Gy_per_GBq=d,
                effective_half_life_h=float(t_eff),
                dose_per_activity_sd_Gy_per_GBq=rel * d,
                effective_half_life_sd_h=float(u_t),
                source=f"pet-scaling:{c.metric}:k={k:g} ({c.source})",
            )
        )
    return tuple(out)


def calibrate_from_previous_cycle(
    dose_per_activity_Gy_per_GBq: Mapping[str, tuple[float, float]],
    pet_metrics: Mapping[str, float],
    *,
    metric: str = "SUVmean",
    metric_relative_sd: float = 0.0,
    extra_relative_sd: float = CALIBRATION_RELATIVE_SD,
    source: str = "patient-specific calibration on an earlier cycle",
) -> dict[str, PetScalingCoefficient]:
    """Patient-specific k_s = d_s / M_s from an earlier cycle with PET and dosimetry.

    Args:
        dose_per_activity_Gy_per_GBq: structure → (d_s, standard uncertainty) measured after
            the earlier cycle (e.g. :func:`structures_from_dosimetry`).
        pet_metrics: structure → PET metric before that cycle.
        metric: the PET metric's name.
        metric_relative_sd: relative uncertainty of that PET metric.
        extra_relative_sd: relative uncertainty added for the change between cycles
            (default :data:`CALIBRATION_RELATIVE_SD`, an assumption).

    Returns:
        structure → coefficient, with relative_sd = √((u_d/d)² + u_M² + extra²).
    """
    if metric not in METRICS:
        raise InputError(f"unknown PET metric {metric!r}", tag="metric", fix=f"use {METRICS}")
    metrics = {normalise_name(k): v for k, v in pet_metrics.items()}
    out = {}
    for name, (d, u_d) in dose_per_activity_Gy_per_GBq.items():
        key = normalise_name(name)
        if key not in metrics:
            raise InputError(f"no PET {metric} for {name!r}", tag=name, fix="give it or drop it")
        m_value = _check(metrics[key], f"{name}.{metric}")
        d = _check(d, f"{name}.dose_per_activity_Gy_per_GBq")
        rel = math.sqrt(
            (_check(u_d, f"{name}.sd", positive=False) / d) ** 2
            + _check(metric_relative_sd, "metric_relative_sd", positive=False) ** 2
            + _check(extra_relative_sd, "extra_relative_sd", positive=False) ** 2
        )
        out[name] = PetScalingCoefficient(name, d / m_value, rel, metric, source)
    return out
