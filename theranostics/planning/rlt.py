"""177Lu radioligand therapy planning: activity per cycle and number of cycles against
organ-at-risk limits, with predicted lesion doses and the uncertainty of every figure.

Two modes (docs/planning-rlt.md):

* ``cycles=N`` given: the largest activity per cycle A (same each cycle) that keeps every
  cumulative limit over N cycles — the minimum over the constrained organs of the closed form
  of :mod:`theranostics.planning.rlt_model`; the organ giving the minimum is the binding
  constraint.
* ``cycles=None``: the largest number of cycles N at a standard activity (default 7.4 GBq),
  then the largest activity per cycle for those N cycles (≥ the standard activity). When not
  even one standard cycle fits, N = 0 and the activity is the largest single cycle.

Rounding never goes the unsafe way: activity down to ``activity_step_GBq``, cycles down.
Predicted doses are given at the rounded activity. Units: GBq, Gy, h.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from .. import __version__
from ..errors import InputError, OptionError
from ..nuclides import get_nuclide
from . import rlt_model as m
from .rlt_inputs import StructureInput, normalise_name, validate_structure
from .rlt_resolve import ResolvedStructure, resolve_structures

SCHEMA = "theranostics-plan-rlt/1"
STANDARD_ACTIVITY_GBq = 7.4

ASSUMPTIONS = (
    "Dose rate after each administration: mono-exponential with the effective half-life "
    "(or uptake plus washout when an uptake half-life is given); LQ model with incomplete "
    "repair (Dale 1985, Dale 1996).",
    "Cycles far apart compared with the repair half-time: complete repair between cycles, so "
    "cumulative BED = previous BED + sum of per-cycle BEDs; repopulation ignored.",
    "The same absorbed dose per GBq and effective half-life in every planned cycle.",
    "Bone-marrow limit applied to the cumulative absorbed dose (at its low dose rate and "
    "alpha/beta of 15 Gy, BED exceeds D by a few per cent only; both are reported).",
    "Where only a previous BED is known, it stands for the previous absorbed dose (BED >= D).",
    "Uncertainties: first-order propagation of the standard uncertainties of dose per GBq, "
    "effective half-life and previous BED; alpha/beta, repair half-time and limits are taken "
    "as exact. Predicted doses are at the prescribed (rounded) activity, taken as exact.",
    "Rounding: activity per cycle rounded down to the activity step, cycles rounded down.",
)

REFERENCES = (
    "Dale RG. Br J Radiol 1985;58:515-528 (LQ model, BED for exponentially decreasing dose rate)",
    "Dale RG. Phys Med Biol 1996;41:1871-1884 (dose-rate effects; uptake and washout)",
    "Barone R et al. J Nucl Med 2005;46(Suppl 1):99S-106S (kidney BED; alpha/beta 2.6 Gy, "
    "T_rep 2.8 h)",
    "Bodei L et al. Eur J Nucl Med Mol Imaging 2008;35:1847-1856 (kidney BED 28/40 Gy)",
    "Wessels BW et al. MIRD Pamphlet No. 20. J Nucl Med 2008;49:1884-1899",
    "Sjogreen Gleisner K et al. Eur J Nucl Med Mol Imaging 2022;49:1778-1809 (EANM 177Lu "
    "dosimetry)",
)


@dataclass(frozen=True)
class StructureResult:
    """Planned figures of one structure (Gy, GBq, h); ``*_sd_*`` are standard uncertainties.

    ``max_activity_GBq`` is this organ's own unrounded maximum for the planned cycles (None for
    unconstrained structures); ``absorbed_dose_Gy`` is the dose of the planned cycles;
    ``cumulative_*`` include earlier cycles; ``margin_Gy`` = limit − cumulative value of the
    limited quantity (with the conservative dose per GBq when ``confidence_k`` > 0).
    """

    name: str
    category: str
    tissue: str | None
    source: str
    dose_per_activity_Gy_per_GBq: float
    dose_per_activity_sd_Gy_per_GBq: float
    constraint_dose_per_activity_Gy_per_GBq: float
    effective_half_life_h: float
    effective_half_life_sd_h: float
    uptake_half_life_h: float | None
    alpha_beta_Gy: float
    repair_half_time_h: float
    parameter_source: str
    bed_factor: float
    limit_quantity: str | None
    limit_Gy: float | None
    limit_source: str
    previous_bed_Gy: float
    previous_dose_Gy: float
    max_activity_GBq: float | None
    max_activity_sd_GBq: float | None
    absorbed_dose_per_cycle_Gy: float
    absorbed_dose_per_cycle_sd_Gy: float
    absorbed_dose_Gy: float
    absorbed_dose_sd_Gy: float
    cumulative_absorbed_dose_Gy: float
    bed_per_cycle_Gy: float
    bed_per_cycle_sd_Gy: float
    cumulative_bed_Gy: float
    cumulative_bed_sd_Gy: float
    margin_Gy: float | None
    binding: bool
    note: str


@dataclass(frozen=True)
class RltPlan:
    """A 177Lu radioligand-therapy plan: inputs, options, assumptions and results.

    ``cycles`` is the number of cycles (given, or found at the standard activity);
    ``predicted_cycles`` the cycles the predicted doses are for (= cycles, or 1 when
    cycles = 0). Saved and read by :mod:`theranostics.planning.plan_io`.
    """

    schema: str
    software_version: str
    created: str
    nuclide: str
    physical_half_life_h: float
    mode: str
    cycles: int
    predicted_cycles: int
    max_activity_per_cycle_GBq: float
    max_activity_per_cycle_unrounded_GBq: float
    max_activity_per_cycle_sd_GBq: float
    binding_constraint: str
    standard_activity_GBq: float | None
    max_cycles: int | None
    activity_step_GBq: float
    risk_factors: bool
    confidence_k: float
    check_plausibility: bool
    inputs: tuple[StructureInput, ...]
    alpha_beta_Gy: dict = field(default_factory=dict)
    repair_half_time_h: dict = field(default_factory=dict)
    limit_bed_Gy: dict = field(default_factory=dict)
    limit_dose_Gy: dict = field(default_factory=dict)
    structures: tuple[StructureResult, ...] = ()
    assumptions: tuple[str, ...] = ASSUMPTIONS
    notes: tuple[str, ...] = ()
    references: tuple[str, ...] = REFERENCES

    def structure(self, name: str) -> StructureResult:
        """The result of one structure by name (case and separators ignored)."""
        for s in self.structures:
            if normalise_name(s.name) == normalise_name(name):
                return s
        raise KeyError(name)


def _int_option(value, tag: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise InputError(f"{tag} = {value!r} must be a whole number >= 1", tag=tag, fix="fix it")
    return int(value)


def _positive(value, tag: str) -> float:
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise InputError(f"{tag} = {value!r} must be positive", tag=tag, fix="fix it")
    return v


class _Solved:
    """Per-structure quantities shared by the solve and the predictions."""

    def __init__(self, r: ResolvedStructure, k: float) -> None:
        s = r.input
        self.r = r
        self.g = m.bed_factor(s.effective_half_life_h, r.repair_half_time_h, s.uptake_half_life_h)
        self.kappa = self.g / r.alpha_beta_Gy
        slope = m.bed_factor_slope_per_h(
            s.effective_half_life_h, r.repair_half_time_h, s.uptake_half_life_h
        )
        self.dkappa = slope / r.alpha_beta_Gy
        self.d = s.dose_per_activity_Gy_per_GBq
        self.d_constraint = self.d + (k * s.dose_per_activity_sd_Gy_per_GBq if r.constraint else 0)
        c = r.constraint
        self.quantity = c.quantity if c else None
        self.previous = (
            (s.previous_bed_Gy if c.quantity == "bed" else s.delivered_dose_Gy) if c else 0
        )

    def max_activity(self, cycles: int) -> float:
        c = self.r.constraint
        return m.max_activity_GBq(
            c.limit_Gy, self.previous, cycles, self.d_constraint, self.kappa, c.quantity
        )

    def max_activity_sd(self, cycles: int) -> float:
        c, s = self.r.constraint, self.r.input
        sens = m.max_activity_sensitivities(
            c.limit_Gy, self.previous, cycles, self.d_constraint, self.kappa, self.dkappa,
            c.quantity,
        )  # fmt: skip
        prev_sd = s.previous_bed_sd_Gy if c.quantity == "bed" else 0.0
        return math.sqrt(
            (sens["d"] * s.dose_per_activity_sd_Gy_per_GBq) ** 2
            + (sens["T_eff"] * s.effective_half_life_sd_h) ** 2
            + (sens["previous"] * prev_sd) ** 2
        )


def _pick_binding(solved: list[_Solved], activities: list[float]) -> int:
    """Index of the smallest activity; ties (e.g. several at 0) go to the least remaining."""

    def key(i):
        c = solved[i].r.constraint
        return (activities[i], (c.limit_Gy - solved[i].previous) / c.limit_Gy)

    return min(range(len(solved)), key=key)


def plan_rlt(
    structures: Sequence[StructureInput],
    *,
    cycles: int | None = None,
    standard_activity_GBq: float = STANDARD_ACTIVITY_GBq,
    max_cycles: int | None = None,
    risk_factors: bool = False,
    alpha_beta_Gy: Mapping[str, float] | None = None,
    repair_half_time_h: Mapping[str, float] | None = None,
    limit_bed_Gy: Mapping[str, float] | None = None,
    limit_dose_Gy: Mapping[str, float] | None = None,
    activity_step_GBq: float = 0.01,
    confidence_k: float = 0.0,
    check_plausibility: bool = True,
    nuclide: str = "Lu-177",
    notes: Sequence[str] = (),
    created: str | None = None,
) -> RltPlan:
    """Plan the activity per cycle and the number of cycles (see the module docstring).

    Args:
        structures: organs at risk and lesions (:class:`StructureInput`).
        cycles: number of cycles N; None finds the largest N at ``standard_activity_GBq``.
        standard_activity_GBq: activity per cycle of the cycles search, GBq.
        max_cycles: upper bound of the cycles search (None: none).
        risk_factors: kidney BED limit 28 Gy instead of 40 Gy (Bodei et al. 2008).
        alpha_beta_Gy, repair_half_time_h: per-structure overrides of the tissue table.
        limit_bed_Gy, limit_dose_Gy: per-structure cumulative limits (Gy).
        activity_step_GBq: the activity is rounded down to a multiple of this.
        confidence_k: solve with the OAR dose per GBq raised by k standard uncertainties
            (0: best estimate, the default; 1 or 2: conservative).
        check_plausibility: refuse values outside the plausible ranges (unit mistakes).
        nuclide: the therapy nuclide (its half-life bounds the effective half-lives).
        notes: notes to carry into the plan (e.g. from the dosimetry import).
        created: ISO datetime of the plan (default: now).

    Raises:
        InputError: invalid, missing or contradictory input (the message names it).
    """
    structures = tuple(structures)
    if not structures:
        raise InputError("no structures to plan", tag="structures", fix="give at least one OAR")
    t_phys = get_nuclide(nuclide).half_life_h
    seen = set()
    for s in structures:
        validate_structure(s, physical_half_life_h=t_phys, check_plausibility=check_plausibility)
        if normalise_name(s.name) in seen:
            raise InputError(f"structure {s.name!r} is given twice", tag=s.name, fix="merge them")
        seen.add(normalise_name(s.name))
    cycles = _int_option(cycles, "cycles")
    max_cycles = _int_option(max_cycles, "max_cycles")
    if cycles is not None and max_cycles is not None and cycles > max_cycles:
        raise OptionError(
            f"{cycles} cycles were asked for with at most {max_cycles} cycles",
            tag="--cycles / --max-cycles",
            fix="give one of them: --cycles N plans N cycles, --max-cycles bounds the search "
            "for the number of cycles",
        )
    step = _positive(activity_step_GBq, "activity_step_GBq")
    std = _positive(standard_activity_GBq, "standard_activity_GBq")
    k = float(confidence_k)
    if not (math.isfinite(k) and k >= 0):
        raise InputError(f"confidence_k = {confidence_k!r} must be >= 0", tag="confidence_k")
    resolved = resolve_structures(
        structures,
        risk_factors=risk_factors,
        alpha_beta_Gy=alpha_beta_Gy,
        repair_half_time_h=repair_half_time_h,
        limit_bed_Gy=limit_bed_Gy,
        limit_dose_Gy=limit_dose_Gy,
    )
    solved = [_Solved(r, k) for r in resolved]
    limited = [x for x in solved if x.r.constraint is not None]
    if not limited:
        raise InputError(
            "no organ at risk has a limit, so nothing bounds the activity",
            tag="--oar",
            fix="add a kidney or bone-marrow OAR, or give --limit-bed-Gy NAME=VALUE",
        )
    out_notes = list(notes)
    over = [x for x in limited if x.previous >= x.r.constraint.limit_Gy]
    for x in over:
        c = x.r.constraint
        what = "BED" if c.quantity == "bed" else "absorbed dose"
        out_notes.append(
            f"{x.r.input.name} has already received {x.previous:g} Gy {what}, at or over its "
            f"limit of {c.limit_Gy:g} Gy (by {x.previous - c.limit_Gy:g} Gy): no further "
            "activity can be given"
        )
    if cycles is not None:
        mode, n_cycles, n_pred = "activity-for-cycles", cycles, cycles
    else:
        mode = "cycles-at-standard-activity"
        per_organ = [
            m.cycles_allowed(
                x.r.constraint.limit_Gy - x.previous,
                m.per_cycle_quantity_Gy(std * x.d_constraint, x.kappa, x.quantity),
            )
            for x in limited
        ]
        n_cycles = min(per_organ) if max_cycles is None else min([*per_organ, max_cycles])
        n_pred = max(n_cycles, 1)
        if n_cycles == 0 and not over:
            out_notes.append(
                f"not even one cycle of {std} GBq keeps every limit: the activity given is the "
                "largest single cycle"
            )
    activities = [x.max_activity(n_pred) for x in limited]
    ib = _pick_binding(limited, activities)
    binding = limited[ib]
    a_raw = activities[ib]
    a_sd = binding.max_activity_sd(n_pred)
    a_plan = m.floor_to_step(a_raw, step)
    if a_raw <= 0 and not over:
        out_notes.append(
            f"the limit of {binding.r.input.name!r} is already reached by earlier cycles: "
            "no further activity can be given"
        )
    if k > 0:
        out_notes.append(
            f"conservative mode: OAR dose per GBq raised by {k:g} standard uncertainties"
        )
    results = [_predict(x, a_plan, n_pred, x is binding, limited, activities) for x in solved]
    for r in results:
        if r.limit_Gy is not None and a_plan > 0 and r.margin_Gy < -1e-9 * r.limit_Gy:
            raise AssertionError(f"plan exceeds the limit of {r.name}")  # a bug, never input
        if r.note and r.category == "oar" and r.limit_Gy is None:
            out_notes.append(f"{r.name}: {r.note}")
    return RltPlan(
        schema=SCHEMA,
        software_version=__version__,
        created=created or datetime.now().astimezone().isoformat(timespec="seconds"),
        nuclide=nuclide,
        physical_half_life_h=t_phys,
        mode=mode,
        cycles=n_cycles,
        predicted_cycles=n_pred,
        max_activity_per_cycle_GBq=a_plan,
        max_activity_per_cycle_unrounded_GBq=a_raw,
        max_activity_per_cycle_sd_GBq=a_sd,
        binding_constraint=binding.r.input.name,
        standard_activity_GBq=std if cycles is None else None,
        max_cycles=max_cycles,
        activity_step_GBq=step,
        risk_factors=bool(risk_factors),
        confidence_k=k,
        check_plausibility=bool(check_plausibility),
        inputs=structures,
        alpha_beta_Gy=dict(alpha_beta_Gy or {}),
        repair_half_time_h=dict(repair_half_time_h or {}),
        limit_bed_Gy=dict(limit_bed_Gy or {}),
        limit_dose_Gy=dict(limit_dose_Gy or {}),
        structures=tuple(results),
        notes=tuple(out_notes),
    )


def _predict(x: _Solved, a: float, n: int, binding: bool, limited, activities) -> StructureResult:
    """Doses and BEDs at activity ``a`` per cycle over ``n`` cycles, with uncertainties."""
    r, s = x.r, x.r.input
    d1 = a * x.d
    u_d1 = a * s.dose_per_activity_sd_Gy_per_GBq
    bed1 = d1 + x.kappa * d1 * d1
    # ∂BED₁/∂d = a(1 + 2κD₁); ∂BED₁/∂T_eff = D₁²·∂κ/∂T_eff.
    u_bed1 = math.hypot(
        (1 + 2 * x.kappa * d1) * u_d1, d1 * d1 * x.dkappa * s.effective_half_life_sd_h
    )
    cum_bed = s.previous_bed_Gy + n * bed1
    cum_dose = s.delivered_dose_Gy + n * d1
    margin = max_a = max_a_sd = None
    c = r.constraint
    if c is not None:
        dc = a * x.d_constraint
        used = x.previous + n * m.per_cycle_quantity_Gy(dc, x.kappa, c.quantity)
        margin = c.limit_Gy - used
        i = next(i for i, y in enumerate(limited) if y is x)
        max_a, max_a_sd = activities[i], x.max_activity_sd(n)
    return StructureResult(
        name=s.name,
        category=s.category,
        tissue=r.tissue,
        source=s.source,
        dose_per_activity_Gy_per_GBq=x.d,
        dose_per_activity_sd_Gy_per_GBq=s.dose_per_activity_sd_Gy_per_GBq,
        constraint_dose_per_activity_Gy_per_GBq=x.d_constraint,
        effective_half_life_h=s.effective_half_life_h,
        effective_half_life_sd_h=s.effective_half_life_sd_h,
        uptake_half_life_h=s.uptake_half_life_h,
        alpha_beta_Gy=r.alpha_beta_Gy,
        repair_half_time_h=r.repair_half_time_h,
        parameter_source=r.parameter_source,
        bed_factor=x.g,
        limit_quantity=c.quantity if c else None,
        limit_Gy=c.limit_Gy if c else None,
        limit_source=c.source if c else "",
        previous_bed_Gy=s.previous_bed_Gy,
        previous_dose_Gy=s.delivered_dose_Gy,
        max_activity_GBq=max_a,
        max_activity_sd_GBq=max_a_sd,
        absorbed_dose_per_cycle_Gy=d1,
        absorbed_dose_per_cycle_sd_Gy=u_d1,
        absorbed_dose_Gy=n * d1,
        absorbed_dose_sd_Gy=n * u_d1,
        cumulative_absorbed_dose_Gy=cum_dose,
        bed_per_cycle_Gy=bed1,
        bed_per_cycle_sd_Gy=u_bed1,
        cumulative_bed_Gy=cum_bed,
        cumulative_bed_sd_Gy=math.hypot(n * u_bed1, s.previous_bed_sd_Gy),
        margin_Gy=margin,
        binding=binding,
        note=r.note,
    )
