"""Radioligand-therapy plans in MRML: a table node per plan and the plan JSON in the scene.

* :func:`plan_table_node` — a ``vtkMRMLTableNode`` with one row per structure: dose per GBq,
  effective half-life, α/β, repair half-time, limit, per-cycle dose, cumulative BED and the
  margin to the limit, with uncertainties and unit labels on the columns.
* :func:`plan_text_node` — a ``vtkMRMLTextNode`` holding the plan JSON (schema
  ``theranostics-plan-rlt/1``) with the node attribute ``Theranostics.PlanSchema``; a text node
  is saved with the scene (in the .mrml, or its own text file for long texts), so the plan
  travels with the scene.
* :func:`add_plan_to_scene` — both, the table referencing the text node.
* :func:`plan_from_scene` — the plan back from either node.

No Qt and no application-wide globals: the scene is an argument or comes from a node.
"""

from __future__ import annotations

import vtk

from theranostics.errors import InputError
from theranostics.planning.plan_io import plan_from_json_text, plan_to_dict
from theranostics.planning.rlt import SCHEMA, RltPlan

#: Node attribute naming the schema of the plan JSON a text node holds.
PLAN_SCHEMA_ATTRIBUTE = "Theranostics.PlanSchema"
#: Node reference from a plan table node to its plan text node.
PLAN_REFERENCE_ROLE = "TheranosticsPlan"

#: (column name, unit label, StructureResult field or callable) of the plan table.
TABLE_COLUMNS = (
    ("Structure", "", "name"),
    ("Category", "", "category"),
    ("Tissue", "", lambda s: s.tissue or ""),
    ("Dose per activity", "Gy/GBq", "dose_per_activity_Gy_per_GBq"),
    ("Dose per activity SD", "Gy/GBq", "dose_per_activity_sd_Gy_per_GBq"),
    ("Effective half-life", "h", "effective_half_life_h"),
    ("Effective half-life SD", "h", "effective_half_life_sd_h"),
    ("Alpha/beta", "Gy", "alpha_beta_Gy"),
    ("Repair half-time", "h", "repair_half_time_h"),
    ("Limit quantity", "", lambda s: s.limit_quantity or ""),
    ("Limit", "Gy", "limit_Gy"),
    ("Previous BED", "Gy", "previous_bed_Gy"),
    ("Max activity", "GBq", "max_activity_GBq"),
    ("Dose per cycle", "Gy", "absorbed_dose_per_cycle_Gy"),
    ("Dose per cycle SD", "Gy", "absorbed_dose_per_cycle_sd_Gy"),
    ("Dose planned", "Gy", "absorbed_dose_Gy"),
    ("BED per cycle", "Gy", "bed_per_cycle_Gy"),
    ("Cumulative BED", "Gy", "cumulative_bed_Gy"),
    ("Cumulative BED SD", "Gy", "cumulative_bed_sd_Gy"),
    ("Margin", "Gy", "margin_Gy"),
    ("Binding", "", lambda s: "yes" if s.binding else ""),
)


def _value(result, getter):
    return getter(result) if callable(getter) else getattr(result, getter)


def plan_table_node(plan: RltPlan, scene, name: str = "RLT plan"):
    """A new ``vtkMRMLTableNode`` in ``scene``: one row per structure of ``plan``.

    Numeric columns are ``vtkDoubleArray`` (NaN where a value does not apply, e.g. the limit
    of a lesion) with unit labels; text columns ``vtkStringArray``. The plan's summary (max
    activity, cycles, binding constraint) is in node attributes ``Theranostics.*``.
    """
    node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    table = node.GetTable()
    for title, unit, getter in TABLE_COLUMNS:
        sample = [_value(s, getter) for s in plan.structures]
        numeric = unit != "" or any(isinstance(v, float) for v in sample)
        column = vtk.vtkDoubleArray() if numeric else vtk.vtkStringArray()
        column.SetName(title)
        for v in sample:
            if numeric:
                column.InsertNextValue(float("nan") if v is None else float(v))
            else:
                column.InsertNextValue(str(v))
        table.AddColumn(column)
        if unit:
            node.SetColumnUnitLabel(title, unit)
    node.SetAttribute("Theranostics.MaxActivityPerCycleGBq", repr(plan.max_activity_per_cycle_GBq))
    node.SetAttribute("Theranostics.Cycles", str(plan.cycles))
    node.SetAttribute("Theranostics.BindingConstraint", plan.binding_constraint)
    node.Modified()
    return node


def plan_text_node(plan: RltPlan, scene, name: str = "RLT plan JSON"):
    """A new ``vtkMRMLTextNode`` holding the plan JSON, tagged with its schema."""
    import json

    node = scene.AddNewNodeByClass("vtkMRMLTextNode", name)
    node.SetText(json.dumps(plan_to_dict(plan), indent=1, allow_nan=False))
    node.SetAttribute(PLAN_SCHEMA_ATTRIBUTE, SCHEMA)
    return node


def add_plan_to_scene(plan: RltPlan, scene, name: str = "RLT plan"):
    """Table node and text node of ``plan``; the table references the text node.

    Returns:
        (table_node, text_node).
    """
    text = plan_text_node(plan, scene, f"{name} JSON")
    table = plan_table_node(plan, scene, name)
    table.SetNodeReferenceID(PLAN_REFERENCE_ROLE, text.GetID())
    return table, text


def plan_from_scene(node) -> RltPlan:
    """The plan stored with a scene, from its text node or from a plan table node.

    Raises:
        InputError: the node holds no plan (wrong attribute or reference), or its JSON is
            invalid or inconsistent.
    """
    if node is None:
        raise InputError("no node given", tag="node", fix="select the plan table or text node")
    if node.IsA("vtkMRMLTableNode"):
        text = node.GetNodeReference(PLAN_REFERENCE_ROLE)
        if text is None:
            raise InputError(
                f"table node {node.GetName()!r} has no plan attached",
                tag=PLAN_REFERENCE_ROLE,
                fix="use a table made by add_plan_to_scene",
            )
        node = text
    if not node.IsA("vtkMRMLTextNode") or node.GetAttribute(PLAN_SCHEMA_ATTRIBUTE) != SCHEMA:
        raise InputError(
            f"node {node.GetName()!r} does not hold a radioligand-therapy plan",
            tag=PLAN_SCHEMA_ATTRIBUTE,
            fix="use the text node made by plan_text_node",
        )
    return plan_from_json_text(node.GetText() or "", path=f"MRML node {node.GetName()}")
