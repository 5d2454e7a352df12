"""SIRT plans as JSON (schema ``theranostics-plan-sirt/1``): write, read back, verify.

The file holds every input (compartments with counts or fractions, masses, volumes; targets;
limits; patient measures; rounding; provenance), the assumptions, every result (fractions,
doses per GBq, LSF, T/N, constraints, recommended activity, predicted doses and their standard
deviations) and the software version. Reading a plan re-plans from the stored inputs and
checks that the stored results agree, so a hand-edited or corrupted file is refused instead of
trusted. Non-finite numbers (an unbounded constraint) are written as ``null``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from ..errors import InputError

#: Schema identifier of SIRT plan files.
SCHEMA = "theranostics-plan-sirt/1"


def _num(value):
    return value if value is None or math.isfinite(value) else None


def _group(g) -> dict:
    return {
        "fraction": g.fraction,
        "fraction_sd": g.fraction_sd,
        "mass_g": g.mass_g,
        "mass_sd_g": g.mass_sd_g,
        "volume_mL": g.volume_mL,
        "dose_Gy_per_GBq": g.dose_Gy_per_GBq,
        "dose_Gy_per_GBq_sd": g.dose_Gy_per_GBq_sd,
    }


def plan_to_json(plan) -> dict:
    """The :class:`~.sirt.SirtPlan` as a JSON-ready dict (see the module docstring)."""
    part = plan.partition
    compartments = {}
    for c in part.compartments:
        entry = {"tissue": c.tissue, **_group(part.by_compartment[c.name])}
        entry["predicted_dose_Gy"] = plan.predicted_dose_Gy[c.name]
        entry["predicted_dose_sd_Gy"] = plan.predicted_dose_sd_Gy[c.name]
        compartments[c.name] = entry
    pooled = {}
    for name, g in part.pooled.items():
        entry = _group(g)
        entry["predicted_dose_Gy"] = plan.predicted_dose_Gy[f"pool:{name}"]
        entry["predicted_dose_sd_Gy"] = plan.predicted_dose_sd_Gy[f"pool:{name}"]
        pooled[name] = entry
    lung_total = None
    if "lung" in part.pooled:
        lung_total = plan.limits.previous_lung_Gy + plan.predicted_dose_Gy["pool:lung"]
    return {
        "schema": SCHEMA,
        "software_version": plan.software_version,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "nuclide": "Y-90",
        "method": plan.method,
        "dose_constant_Gy_kg_per_GBq": part.constant_Gy_kg_per_GBq,
        "recommended_activity_GBq": plan.recommended_activity_GBq,
        "unrounded_activity_GBq": plan.unrounded_activity_GBq,
        "activity_sd_GBq": plan.activity_sd_GBq,
        "rounding_GBq": plan.rounding_GBq,
        "binding_constraint": plan.binding_constraint,
        "lung_shunt_fraction": part.lung_shunt_fraction,
        "lung_shunt_fraction_sd": part.lung_shunt_fraction_sd,
        "tumor_to_normal_ratio": part.tumor_to_normal_ratio,
        "unassigned_fraction": part.unassigned_fraction,
        "predicted_lung_cumulative_Gy": lung_total,
        "compartments": compartments,
        "pooled": pooled,
        "constraints": [
            {
                "id": c.id,
                "kind": c.kind,
                "description": c.description,
                "group": c.group,
                "dose_Gy": c.dose_Gy,
                "max_activity_GBq": _num(c.max_activity_GBq),
            }
            for c in plan.constraints
        ],
        "bsa": plan.bsa,
        "inputs": {
            "compartments": [c.to_json() for c in part.compartments],
            "method": plan.method,
            "targets": plan.targets,
            "limits": plan.limits.to_json(),
            "patient": {k: plan.patient.get(k) for k in ("height_m", "weight_kg", "bsa_formula")},
            "rounding_GBq": plan.rounding_GBq,
            "context": plan.context,
        },
        "assumptions": list(plan.assumptions),
        "notes": list(plan.notes),
    }


def plan_from_json(data: dict, *, path=None):
    """Rebuild a :class:`~.sirt.SirtPlan` from its JSON dict and verify the stored results.

    Raises:
        InputError: wrong schema, missing inputs, or stored results that differ from a re-plan
            of the stored inputs (edited or corrupted file).
    """
    from .sirt import SirtLimits, plan_sirt
    from .sirt_model import Compartment

    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise InputError(
            f"not a SIRT plan (schema {found!r}, expected {SCHEMA!r})",
            path=path,
            tag="schema",
            fix="give a plan written by theranostics plan-sirt",
        )
    try:
        inputs = data["inputs"]
        comps = [Compartment.from_json(c) for c in inputs["compartments"]]
        lim = dict(inputs["limits"])
        lim["compartment_Gy"] = tuple(lim.get("compartment_Gy", {}).items())
        patient = inputs.get("patient", {})
        plan = plan_sirt(
            comps,
            method=inputs["method"],
            limits=SirtLimits(**lim),
            height_m=patient.get("height_m"),
            weight_kg=patient.get("weight_kg"),
            bsa_formula=patient.get("bsa_formula") or "dubois",
            rounding_GBq=inputs["rounding_GBq"],
            context=inputs.get("context", {}),
            **inputs.get("targets", {}),
        )
    except (KeyError, TypeError) as exc:
        raise InputError(
            f"SIRT plan inputs incomplete ({exc!r})",
            path=path,
            tag="inputs",
            fix="give a complete plan file",
        ) from None
    if plan.software_version != data.get("software_version"):
        plan = _with(plan, software_version=str(data.get("software_version")))
    stored_notes = tuple(data.get("notes", ()))
    plan = _with(plan, notes=stored_notes)
    for key in ("recommended_activity_GBq", "binding_constraint", "lung_shunt_fraction"):
        a, b = data.get(key), plan.to_json()[key]
        same = a == b or (
            isinstance(a, float) and isinstance(b, float) and math.isclose(a, b, rel_tol=1e-9)
        )
        if not same:
            raise InputError(
                f"stored {key} {a!r} differs from the re-planned {b!r}",
                path=path,
                tag=key,
                fix="the file was edited or corrupted; plan again from the inputs",
            )
    return plan


def _with(plan, **changes):
    import dataclasses

    return dataclasses.replace(plan, **changes)


def save_plan(plan, path: str | Path) -> Path:
    """Write the plan JSON atomically (temporary file in the same folder, then replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(plan_to_json(plan), fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_plan(path: str | Path):
    """Read and verify a plan file written by :func:`save_plan`.

    Raises:
        InputError: missing/unreadable file, invalid JSON, or see :func:`plan_from_json`.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError("plan file not found", path=path, fix="check the path") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read the plan ({exc})", path=path) from None
    return plan_from_json(data, path=path)


def plan_table_rows(doc: dict) -> list[dict]:
    """One row per compartment and pooled group of a plan JSON dict (CLI table, MRML table)."""
    rows = []
    for kind, entries in (("compartment", doc["compartments"]), ("pool", doc["pooled"])):
        for name, e in entries.items():
            rows.append(
                {
                    "kind": kind,
                    "name": name,
                    "tissue": e.get("tissue", name),
                    "fraction": e["fraction"],
                    "mass_g": e["mass_g"],
                    "volume_mL": e["volume_mL"],
                    "dose_Gy_per_GBq": e["dose_Gy_per_GBq"],
                    "predicted_dose_Gy": e["predicted_dose_Gy"],
                    "predicted_dose_sd_Gy": e["predicted_dose_sd_Gy"],
                }
            )
    return rows
