"""90Y radioembolisation (SIRT) activity prescription from 99mTc-MAA SPECT/CT.

:func:`plan_sirt` takes partition-model compartments (:class:`~.sirt_model.Compartment`: MAA
counts or fractions, masses, volumes) and prescribes the activity by one method:

- ``"partition"`` (Ho et al. 1996; TG-144): A = target / d, with d the dose per GBq of the
  pooled tumours (``target_tumor_Gy``) or of the normal tissue (``target_normal_Gy``); with no
  target, the largest activity that respects every limit;
- ``"mird"`` (single compartment, glass spheres; TheraSphere IFU, TG-144): A = target / d_perf,
  d_perf = K (f_T + f_N) / (m_T + m_N), the whole perfused volume as one compartment
  (equivalent to A = D · M / (K (1 − LSF)) without other compartments);
- ``"bsa"`` (resin spheres; Sirtex IFU): A = (BSA − 0.2 + V_T / V_liver) · (1 − LSF reduction).

Every method is then capped by the limits (:class:`SirtLimits`): lung 30 Gy per treatment and
50 Gy cumulative including previous treatments (TG-144; TheraSphere IFU; Leung et al. 1995,
IJROBP 33:919), a normal-tissue limit (default 70 Gy, Lau et al. 1998 IJROBP 40:583; set your
own) and per-compartment limits. The smallest allowed activity wins; it is named as the
binding constraint, and rounded *down* (:func:`~.sirt_methods.round_down`).

Plans are saved as JSON (schema ``theranostics-plan-sirt/1``, :mod:`.sirt_json`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .. import __version__
from ..errors import InputError
from .sirt_json import SCHEMA, load_plan, plan_from_json, save_plan
from .sirt_methods import (
    BSA_FORMULAS,
    body_surface_area_m2,
    bsa_activity_GBq,
    round_down,
)
from .sirt_model import Compartment, GroupResult, PartitionResult, partition_model

#: Prescription methods.
METHODS = ("partition", "mird", "bsa")
#: Conventional fixed lung mass of the planar LSF method, g (TheraSphere IFU; TG-144).
CONVENTIONAL_LUNG_MASS_G = 1000.0


def _limit(value, name: str, *, allow_none: bool = False, allow_zero: bool = False):
    if value is None and allow_none:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise InputError(
            f"{name} = {value!r} Gy is not a valid dose",
            tag=name,
            fix=f"give {name} as a {'non-negative' if allow_zero else 'positive'} number in Gy",
        )
    return v


@dataclass(frozen=True)
class SirtLimits:
    """Absorbed-dose limits, Gy (mean dose over each compartment group).

    Attributes:
        lung_per_treatment_Gy: lung limit of this treatment (30 Gy, TG-144).
        lung_cumulative_Gy: lung limit over all treatments (50 Gy, TG-144).
        previous_lung_Gy: lung dose of earlier treatments, Gy (counts toward the cumulative).
        normal_Gy: normal-tissue limit (default 70 Gy, a literature value for resin spheres,
            Lau et al. 1998; glass-sphere practice tolerates more); ``None`` disables it.
        compartment_Gy: extra limits by compartment name (e.g. ``{"stomach": 20}``).
    """

    lung_per_treatment_Gy: float = 30.0
    lung_cumulative_Gy: float = 50.0
    previous_lung_Gy: float = 0.0
    normal_Gy: float | None = 70.0
    compartment_Gy: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        _limit(self.lung_per_treatment_Gy, "lung_per_treatment_Gy")
        _limit(self.lung_cumulative_Gy, "lung_cumulative_Gy")
        _limit(self.previous_lung_Gy, "previous_lung_Gy", allow_zero=True)
        _limit(self.normal_Gy, "normal_Gy", allow_none=True)
        items = dict(self.compartment_Gy).items()
        object.__setattr__(
            self, "compartment_Gy", tuple((str(k), _limit(v, f"limit {k}")) for k, v in items)
        )
        if self.previous_lung_Gy >= self.lung_cumulative_Gy:
            raise InputError(
                f"previous lung dose {self.previous_lung_Gy:g} Gy already reaches the cumulative "
                f"lung limit {self.lung_cumulative_Gy:g} Gy",
                tag="previous_lung_Gy",
                fix="no further 90Y can be given within the cumulative lung limit",
            )

    def to_json(self) -> dict:
        """JSON-ready dict."""
        return {
            "lung_per_treatment_Gy": self.lung_per_treatment_Gy,
            "lung_cumulative_Gy": self.lung_cumulative_Gy,
            "previous_lung_Gy": self.previous_lung_Gy,
            "normal_Gy": self.normal_Gy,
            "compartment_Gy": dict(self.compartment_Gy),
        }


@dataclass(frozen=True)
class Constraint:
    """One target or limit and the activity it allows, GBq (``inf``: no restriction)."""

    id: str
    kind: str  # "target" | "limit" | "method"
    description: str
    group: str | None
    dose_Gy: float | None
    max_activity_GBq: float


@dataclass(frozen=True)
class SirtPlan:
    """A 90Y SIRT prescription with everything needed to reproduce and audit it.

    Attributes:
        method: one of :data:`METHODS`.
        partition: fractions and doses per GBq.
        targets: ``{"target_tumor_Gy"|"target_normal_Gy"|"target_perfused_Gy": value}``.
        limits: the limits applied.
        patient: height_m, weight_kg, bsa_formula, bsa_m2 (BSA method).
        bsa: BSA-method details (activity before/after the LSF reduction) or ``None``.
        constraints: every target/limit with the activity it allows.
        unrounded_activity_GBq: the smallest allowed activity.
        recommended_activity_GBq: rounded down to ``rounding_GBq``.
        activity_sd_GBq: standard deviation of the unrounded activity, when determinable.
        binding_constraint: id of the constraint that sets the activity.
        predicted_dose_Gy: compartment or ``pool:<group>`` -> mean dose at the recommended
            activity; ``predicted_dose_sd_Gy`` its standard deviation (or ``None``).
        context: provenance (study folder, files, ROI names, mass method ...).
        assumptions, notes: text shown with the plan.
        software_version: ``theranostics.__version__``.
    """

    method: str
    partition: PartitionResult
    targets: dict
    limits: SirtLimits
    patient: dict
    bsa: dict | None
    constraints: tuple[Constraint, ...]
    unrounded_activity_GBq: float
    recommended_activity_GBq: float
    activity_sd_GBq: float | None
    binding_constraint: str
    rounding_GBq: float
    predicted_dose_Gy: dict
    predicted_dose_sd_Gy: dict
    context: dict = field(default_factory=dict)
    assumptions: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    software_version: str = __version__

    @property
    def lung_shunt_fraction(self) -> float:
        """LSF of the partition."""
        return self.partition.lung_shunt_fraction

    def to_json(self) -> dict:
        """The plan as a JSON-ready dict (schema ``theranostics-plan-sirt/1``)."""
        from .sirt_json import plan_to_json

        return plan_to_json(self)


ASSUMPTIONS = (
    "MAA particles and 90Y microspheres distribute alike (the MAA SPECT predicts sphere lodging)",
    "every microsphere lodges in a compartment; MAA counts outside all compartments (free "
    "pertechnetate, scatter, blur) are not assigned activity",
    "90Y decays completely where it lodges (permanent implant) and deposits its beta energy "
    "locally (MIRD local deposition)",
    "compartment doses are mean absorbed doses over each compartment's mass",
    "several tumours are pooled for tumour targets and T/N; several lung or normal "
    "compartments are pooled for their limits",
)


def _target_constraints(method, part, targets, patient):
    """Constraints coming from the method and its target, plus BSA details."""
    pooled = part.pooled
    given = {k: v for k, v in targets.items() if v is not None}
    allowed = {
        "partition": ("target_tumor_Gy", "target_normal_Gy"),
        "mird": ("target_perfused_Gy",),
        "bsa": (),
    }[method]
    extra = sorted(set(given) - set(allowed))
    if extra or len(given) > 1:
        raise InputError(
            f"method {method!r} takes {' or '.join(allowed) or 'no target'}; got {sorted(given)}",
            tag="targets",
            fix="give one target that fits the method",
        )
    if method == "mird" and not given:
        raise InputError(
            "the MIRD method needs target_perfused_Gy",
            tag="target_perfused_Gy",
            fix="give the target mean dose of the perfused volume (e.g. 120 Gy for glass)",
        )
    out, bsa = [], None
    for key, value in given.items():
        dose = _limit(value, key)
        group = {"target_tumor_Gy": "tumor", "target_normal_Gy": "normal"}.get(key, "perfused")
        if group not in pooled:
            raise InputError(
                f"{key} given but there is no {group} compartment",
                tag=key,
                fix=f"add a {group} compartment (mask/ROI) or choose another target",
            )
        d = pooled[group].dose_Gy_per_GBq
        a = dose / d if d > 0 else math.inf
        out.append(Constraint(key[:-3], "target", f"{group} mean dose {dose:g} Gy", group, dose, a))
    if method == "bsa":
        if "perfused" not in pooled or "tumor" not in pooled or "normal" not in pooled:
            raise InputError(
                "the BSA method needs tumour and normal-liver compartments",
                tag="compartments",
                fix="give the tumour(s) and the normal liver (liver minus tumours)",
            )
        vt, vl = pooled["tumor"].volume_mL, pooled["perfused"].volume_mL
        if vt is None or vl is None:
            raise InputError(
                "the BSA method needs the tumour and liver volumes",
                tag="volume_mL",
                fix="give volume_mL for the tumour and normal compartments",
            )
        if patient.get("height_m") is None or patient.get("weight_kg") is None:
            raise InputError(
                "the BSA method needs the patient's height and weight",
                tag="height_m/weight_kg",
                fix="give height_m and weight_kg (CLI: --height-m, --weight-kg)",
            )
        formula = patient.get("bsa_formula", "dubois")
        bsa_m2 = body_surface_area_m2(patient["height_m"], patient["weight_kg"], formula)
        a, base, red = bsa_activity_GBq(bsa_m2, vt, vl, part.lung_shunt_fraction)
        bsa = {
            "bsa_m2": bsa_m2,
            "formula": formula,
            "tumor_volume_mL": vt,
            "liver_volume_mL": vl,
            "activity_before_lsf_reduction_GBq": base,
            "lsf_reduction": red,
            "activity_GBq": a,
        }
        out.append(Constraint("bsa_method", "method", "resin BSA method", None, None, a))
    return out, bsa


def _limit_constraints(part, limits: SirtLimits):
    pooled, out = part.pooled, []
    if "lung" in pooled:
        d = pooled["lung"].dose_Gy_per_GBq
        for cid, dose, text in (
            ("lung_per_treatment", limits.lung_per_treatment_Gy, "lung per treatment"),
            (
                "lung_cumulative",
                limits.lung_cumulative_Gy - limits.previous_lung_Gy,
                f"lung cumulative {limits.lung_cumulative_Gy:g} Gy minus previous "
                f"{limits.previous_lung_Gy:g} Gy",
            ),
        ):
            a = dose / d if d > 0 else math.inf
            out.append(Constraint(cid, "limit", f"{text}: {dose:g} Gy", "lung", dose, a))
    if limits.normal_Gy is not None and "normal" in pooled:
        d = pooled["normal"].dose_Gy_per_GBq
        a = limits.normal_Gy / d if d > 0 else math.inf
        text = f"normal tissue {limits.normal_Gy:g} Gy"
        out.append(Constraint("normal_tissue", "limit", text, "normal", limits.normal_Gy, a))
    for name, dose in limits.compartment_Gy:
        if name not in part.by_compartment:
            raise InputError(
                f"limit given for unknown compartment {name!r}",
                tag="compartment_Gy",
                fix=f"use one of {', '.join(part.by_compartment)}",
            )
        d = part.by_compartment[name].dose_Gy_per_GBq
        a = dose / d if d > 0 else math.inf
        out.append(Constraint(f"limit:{name}", "limit", f"{name} {dose:g} Gy", name, dose, a))
    return out


def _group_result(part: PartitionResult, group: str | None) -> GroupResult | None:
    if group is None:
        return None
    return part.pooled.get(group) or part.by_compartment.get(group)


def plan_sirt(
    compartments,
    *,
    method: str = "partition",
    target_tumor_Gy: float | None = None,
    target_normal_Gy: float | None = None,
    target_perfused_Gy: float | None = None,
    limits: SirtLimits | None = None,
    height_m: float | None = None,
    weight_kg: float | None = None,
    bsa_formula: str = "dubois",
    rounding_GBq: float = 0.01,
    context: dict | None = None,
    notes=(),
) -> SirtPlan:
    """Prescribe the 90Y activity (GBq) for the compartments (see the module docstring).

    Args:
        compartments: :class:`Compartment` objects (tumour(s), normal, lung, others).
        method: ``"partition"``, ``"mird"`` or ``"bsa"``.
        target_tumor_Gy, target_normal_Gy: partition-model target mean doses (at most one).
        target_perfused_Gy: MIRD-method target mean dose of the perfused volume.
        limits: dose limits (defaults: lung 30/50 Gy, normal 70 Gy).
        height_m, weight_kg, bsa_formula: patient measures for the BSA method.
        rounding_GBq: the activity is rounded down to a multiple of this, GBq.
        context: provenance stored with the plan (JSON-serialisable).
        notes: extra findings to keep with the plan (e.g. from mask handling).

    Returns:
        The :class:`SirtPlan`.

    Raises:
        InputError: unknown method, targets that do not fit the method, missing compartments,
            masses or patient measures, invalid limits, LSF >= 20 % with the BSA method, or
            no constraint at all (no target and no limit that binds).
    """
    if method not in METHODS:
        raise InputError(
            f"unknown method {method!r}", tag="method", fix=f"use one of {', '.join(METHODS)}"
        )
    if bsa_formula not in BSA_FORMULAS:
        raise InputError(f"unknown BSA formula {bsa_formula!r}", tag="bsa_formula")
    limits = limits or SirtLimits()
    part = partition_model(compartments)
    targets = {
        "target_tumor_Gy": target_tumor_Gy,
        "target_normal_Gy": target_normal_Gy,
        "target_perfused_Gy": target_perfused_Gy,
    }
    patient = {"height_m": height_m, "weight_kg": weight_kg, "bsa_formula": bsa_formula}
    method_cons, bsa = _target_constraints(method, part, targets, patient)
    # Limits first: on a tie the limit is named, which is the safer reading.
    cons = _limit_constraints(part, limits) + method_cons
    finite = [c for c in cons if math.isfinite(c.max_activity_GBq)]
    if not finite:
        raise InputError(
            "nothing bounds the activity: no target and no limit applies to a compartment "
            "with activity",
            tag="targets/limits",
            fix="give a target dose, or the lung/normal compartments with their limits",
        )
    binding = min(finite, key=lambda c: c.max_activity_GBq)
    a = binding.max_activity_GBq
    rel = None
    if binding.kind != "method":
        g = _group_result(part, binding.group)
        rel = g.dose_rel_sd if g else None
    a_sd = a * rel if rel is not None else None
    a_rx = round_down(a, rounding_GBq)
    doses, doses_sd = {}, {}
    items = [(n, g) for n, g in part.by_compartment.items()]
    items += [(f"pool:{n}", g) for n, g in part.pooled.items()]
    for key, g in items:
        doses[key] = a_rx * g.dose_Gy_per_GBq
        doses_sd[key] = a_rx * g.dose_Gy_per_GBq_sd if g.dose_Gy_per_GBq_sd is not None else None
    if bsa is not None:
        patient["bsa_m2"] = bsa["bsa_m2"]
    all_notes = list(part.notes) + list(notes)
    if limits.normal_Gy is None:
        all_notes.append("no normal-tissue limit set: normal-tissue dose not constrained")
    return SirtPlan(
        method=method,
        partition=part,
        targets={k: v for k, v in targets.items() if v is not None},
        limits=limits,
        patient=patient,
        bsa=bsa,
        constraints=tuple(cons),
        unrounded_activity_GBq=a,
        recommended_activity_GBq=a_rx,
        activity_sd_GBq=a_sd,
        binding_constraint=binding.id,
        rounding_GBq=rounding_GBq,
        predicted_dose_Gy=doses,
        predicted_dose_sd_Gy=doses_sd,
        context=dict(context or {}),
        assumptions=ASSUMPTIONS,
        notes=tuple(all_notes),
    )


__all__ = [
    "ASSUMPTIONS",
    "CONVENTIONAL_LUNG_MASS_G",
    "METHODS",
    "SCHEMA",
    "Compartment",
    "Constraint",
    "GroupResult",
    "PartitionResult",
    "SirtLimits",
    "SirtPlan",
    "load_plan",
    "partition_model",
    "plan_from_json",
    "plan_sirt",
    "save_plan",
]
