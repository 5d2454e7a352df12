"""Radiobiology parameters and limits of each planned structure.

α/β and repair half-time come from ``theranostics/data/tissue_radiobiology.json`` (through
:func:`theranostics.radiobiology.tissue_parameters`) unless given per structure; limits from
``theranostics/data/oar_limits.json`` unless given per structure. Nothing is guessed: an organ
whose tissue is unknown needs both its α/β and its repair half-time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import InputError
from ..radiobiology import tissue_parameters
from .rlt_inputs import OAR_LIMITS_FILE, StructureInput, limits_table, normalise_name
from .rlt_inputs import tissue_for_structure as _tissue

QUANTITIES = ("bed", "absorbed_dose")


@dataclass(frozen=True)
class Constraint:
    """A cumulative limit of one organ at risk.

    Attributes:
        quantity: ``"bed"`` (biologically effective dose) or ``"absorbed_dose"``.
        limit_Gy: the limit over all cycles, earlier ones included, Gy.
        source: where the value comes from (a reference, or ``"user"``).
    """

    quantity: str
    limit_Gy: float
    source: str


@dataclass(frozen=True)
class ResolvedStructure:
    """A structure input with everything the solver needs.

    Attributes:
        input: the structure as given.
        tissue: tissue key, or None when unknown (then α/β and T_rep were given).
        alpha_beta_Gy: α/β, Gy.
        repair_half_time_h: repair half-time, h.
        parameter_source: ``"table"`` or ``"user"`` (α/β and T_rep).
        constraint: the limit, or None (reported, not constraining).
        note: why there is no limit, when there is none.
    """

    input: StructureInput
    tissue: str | None
    alpha_beta_Gy: float
    repair_half_time_h: float
    parameter_source: str
    constraint: Constraint | None
    note: str = ""


def _positive(value, tag: str) -> float:
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise InputError(f"{tag} = {value!r} must be positive and finite", tag=tag, fix="fix it")
    return v


def _by_name(values: Mapping[str, float] | None, what: str, names: dict[str, str]) -> dict:
    """Per-structure options keyed by normalised structure name; unknown names refused."""
    out = {}
    for key, value in (values or {}).items():
        norm = normalise_name(key)
        if norm not in names:
            raise InputError(
                f"{what} given for {key!r}, which is not a planned structure",
                tag=f"{what} {key}",
                fix=f"use one of {sorted(names.values())}",
            )
        out[norm] = _positive(value, f"{what} {key}")
    return out


def resolve_structures(
    structures: tuple[StructureInput, ...],
    *,
    risk_factors: bool = False,
    alpha_beta_Gy: Mapping[str, float] | None = None,
    repair_half_time_h: Mapping[str, float] | None = None,
    limit_bed_Gy: Mapping[str, float] | None = None,
    limit_dose_Gy: Mapping[str, float] | None = None,
) -> tuple[ResolvedStructure, ...]:
    """Attach α/β, repair half-time and limit to every structure.

    Args:
        structures: validated inputs (names unique after normalisation).
        risk_factors: kidney BED limit 28 Gy instead of 40 Gy (Bodei et al. 2008).
        alpha_beta_Gy, repair_half_time_h: per-structure overrides of the tissue table.
        limit_bed_Gy, limit_dose_Gy: per-structure cumulative limits (BED or absorbed dose),
            replacing the table's; an organ without any limit is reported only.

    Raises:
        InputError: unknown tissue without α/β and T_rep, a limit on a lesion, an option
            naming no planned structure, two limits for one structure.
    """
    names = {normalise_name(s.name): s.name for s in structures}
    ab = _by_name(alpha_beta_Gy, "alpha_beta_Gy", names)
    trep = _by_name(repair_half_time_h, "repair_half_time_h", names)
    lim_bed = _by_name(limit_bed_Gy, "limit_bed_Gy", names)
    lim_dose = _by_name(limit_dose_Gy, "limit_dose_Gy", names)
    table = limits_table()
    out = []
    for s in structures:
        key = normalise_name(s.name)
        tissue = _tissue(s.name, s.category)
        if tissue is None and not (key in ab and key in trep):
            missing = " and ".join(
                w for w, d in (("alpha/beta", ab), ("repair half-time", trep)) if key not in d
            )
            raise InputError(
                f"structure {s.name!r}: unknown tissue, no {missing} given",
                path="theranostics/data/tissue_radiobiology.json",
                tag=s.name,
                fix=f"pass --alpha-beta {s.name}=VALUE and --repair-h {s.name}=VALUE, or use "
                "a known organ name (kidney, red_marrow, parotid, submandibular, liver)",
            )
        params = tissue_parameters(tissue) if tissue is not None else None
        a = ab.get(key, params.alpha_beta_Gy if params else None)
        t = trep.get(key, params.repair_half_time_h if params else None)
        source = "user" if (key in ab or key in trep) else "table"
        if key in lim_bed and key in lim_dose:
            raise InputError(
                f"structure {s.name!r} has both a BED and an absorbed-dose limit",
                tag=s.name,
                fix="give one limit per structure",
            )
        constraint, note = None, ""
        if s.category == "lesion":
            if key in lim_bed or key in lim_dose:
                raise InputError(
                    f"a limit was given for lesion {s.name!r}; lesions are not constrained",
                    tag=s.name,
                    fix="give limits for organs at risk only",
                )
            note = table["report_only"]["tumour"]
        elif key in lim_bed:
            constraint = Constraint("bed", lim_bed[key], "user")
        elif key in lim_dose:
            constraint = Constraint("absorbed_dose", lim_dose[key], "user")
        elif tissue in table["planning_limits"]:
            entry = table["planning_limits"][tissue]
            value = entry["limit_Gy"]
            if risk_factors and "limit_with_risk_factors_Gy" in entry:
                value = entry["limit_with_risk_factors_Gy"]
            constraint = Constraint(entry["quantity"], float(value), entry["source"])
        else:
            note = table["report_only"].get(
                tissue or "", f"no limit in {OAR_LIMITS_FILE}: reported only"
            )
        out.append(ResolvedStructure(s, tissue, float(a), float(t), source, constraint, note))
    return tuple(out)
