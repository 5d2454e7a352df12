"""Save and load a 177Lu radioligand-therapy plan as JSON (schema ``theranostics-plan-rlt/1``).

The JSON holds every field of :class:`theranostics.planning.rlt.RltPlan`: inputs, options,
assumptions, references, results, software version and creation datetime. Floats are written
with Python's shortest round-trip repr, so ``load_plan(save_plan(p))`` equals ``p``. Files are
written atomically (temporary file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from ..errors import InputError
from .rlt import SCHEMA, RltPlan, StructureResult
from .rlt_inputs import StructureInput


def plan_to_dict(plan: RltPlan) -> dict:
    """The plan as plain JSON types (tuples become lists)."""
    return dataclasses.asdict(plan)


def _build(cls, doc, where: str):
    """``cls(**doc)`` with every field present and no unknown field."""
    if not isinstance(doc, dict):
        raise InputError(f"{where} is not an object", tag=where, fix="use a saved plan")
    names = {f.name for f in dataclasses.fields(cls)}
    missing = sorted(n for n in names if n not in doc)
    unknown = sorted(n for n in doc if n not in names)
    if missing or unknown:
        raise InputError(
            f"{where}: missing fields {missing}, unknown fields {unknown}",
            tag=where,
            fix="the file was edited or written by another version; re-create the plan",
        )
    return cls(**doc)


def plan_from_dict(doc: dict) -> RltPlan:
    """Rebuild a plan from :func:`plan_to_dict` output, checking schema and field types.

    Raises:
        InputError: wrong schema, missing/unknown fields, or results inconsistent with the
            limits (a tampered file).
    """
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise InputError(
            f"not a radioligand-therapy plan (schema {found!r}, expected {SCHEMA!r})",
            tag="schema",
            fix="give a plan written by save_plan / theranostics plan-rlt -o",
        )
    doc = dict(doc)
    try:
        inputs = tuple(
            _build(StructureInput, s, f"inputs[{i}]") for i, s in enumerate(doc["inputs"])
        )
        results = tuple(
            _build(StructureResult, s, f"structures[{i}]") for i, s in enumerate(doc["structures"])
        )
    except (KeyError, TypeError) as exc:
        raise InputError(f"plan is incomplete ({exc})", tag=str(exc), fix="re-create it") from None
    doc["inputs"], doc["structures"] = inputs, results
    for key in ("assumptions", "notes", "references"):
        doc[key] = tuple(doc.get(key) or ())
    plan = _build(RltPlan, doc, "plan")
    try:
        _check_consistency(plan)
    except (TypeError, AttributeError):  # a number replaced by text, a list by a number ...
        raise InputError(
            "the plan has values of the wrong type", tag="plan", fix="re-create the plan"
        ) from None
    return plan


def _check_consistency(plan: RltPlan) -> None:
    """Refuse a plan whose numbers do not hang together (edited by hand)."""
    a = plan.max_activity_per_cycle_GBq
    ok = isinstance(a, (int, float)) and math.isfinite(a) and a >= 0
    ok = ok and a <= plan.max_activity_per_cycle_unrounded_GBq + 1e-12
    ok = ok and isinstance(plan.cycles, int) and plan.cycles >= 0
    names = [s.name for s in plan.structures]
    ok = ok and plan.binding_constraint in names and len(plan.inputs) == len(names)
    for s in plan.structures:
        expected = a * s.dose_per_activity_Gy_per_GBq
        ok = ok and math.isclose(
            s.absorbed_dose_per_cycle_Gy, expected, rel_tol=1e-9, abs_tol=1e-12
        )
        if s.limit_Gy is not None and a > 0:
            ok = ok and s.margin_Gy >= -1e-9 * s.limit_Gy
    if not ok:
        raise InputError(
            "the plan's results are inconsistent (activity, doses, limits or binding "
            "constraint do not match): the file was altered",
            tag="structures",
            fix="re-create the plan from its inputs",
        )


def save_plan(path: str | Path, plan: RltPlan) -> Path:
    """Write ``plan`` as indented JSON, atomically; returns the path."""
    from ..io.output_dir import write_text_atomically  # temporary file + rename, usual mode

    text = json.dumps(plan_to_dict(plan), indent=2, allow_nan=False) + "\n"
    return write_text_atomically(text, path, option="plan file")


def plan_from_json_text(text: str, *, path: str | Path | None = None) -> RltPlan:
    """Parse a plan from JSON text (:func:`load_plan` without the file)."""
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise InputError(f"not valid JSON ({exc})", path=path, fix="give a saved plan") from None
    try:
        return plan_from_dict(doc)
    except InputError as exc:
        if path is not None and exc.path is None:
            raise type(exc)(exc.message, path=path, tag=exc.tag, fix=exc.fix) from None
        raise


def load_plan(path: str | Path) -> RltPlan:
    """Read a plan written by :func:`save_plan`.

    Raises:
        InputError: missing file, invalid JSON, wrong schema, missing/unknown fields or
            inconsistent results (the message names the file and the field).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("plan file not found", path=p, fix="check the path")
    return plan_from_json_text(p.read_text(encoding="utf-8"), path=p)
