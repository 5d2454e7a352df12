"""RLT plan on a real MRML scene (slicer-core): table node, plan JSON saved with the scene."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("slicer", reason="slicer-core is not installed (pip install -e .[slicer])")

from TheranosticPlanningLib.planning import (
    PLAN_REFERENCE_ROLE,
    PLAN_SCHEMA_ATTRIBUTE,
    TABLE_COLUMNS,
    add_plan_to_scene,
    plan_from_scene,
)

from theranostics.errors import InputError
from theranostics.planning.rlt import SCHEMA, plan_rlt
from theranostics.planning.rlt_inputs import StructureInput


def _plan():
    return plan_rlt(
        [
            StructureInput("kidneys", "oar", 0.6, 40.0, 0.12, 8.0, previous_bed_Gy=6.0),
            StructureInput("red_marrow", "oar", 0.03, 40.0, 0.01),
            StructureInput("parotids", "oar", 0.6, 40.0),
            StructureInput("lesion_01", "lesion", 5.0, 70.0, 1.5, 15.0),
        ],
        cycles=4,
    )


def _column(table_node, title):
    return table_node.GetTable().GetColumnByName(title)


def test_plan_table_has_one_row_per_structure_with_units(mrml_scene):
    plan = _plan()
    table, text = add_plan_to_scene(plan, mrml_scene, "Plan A")
    assert table.GetNumberOfRows() == 4
    assert table.GetNumberOfColumns() == len(TABLE_COLUMNS)
    names = [table.GetCellText(i, 0) for i in range(4)]
    assert names == [s.name for s in plan.structures]
    assert table.GetColumnUnitLabel("Dose per activity") == "Gy/GBq"
    assert table.GetColumnUnitLabel("Effective half-life") == "h"
    cum = _column(table, "Cumulative BED")
    margin = _column(table, "Margin")
    for i, s in enumerate(plan.structures):
        assert cum.GetValue(i) == pytest.approx(s.cumulative_bed_Gy)
        if s.margin_Gy is None:
            assert math.isnan(margin.GetValue(i))
        else:
            assert margin.GetValue(i) == pytest.approx(s.margin_Gy)
    assert table.GetAttribute("Theranostics.BindingConstraint") == "kidneys"
    assert table.GetNodeReference(PLAN_REFERENCE_ROLE).GetID() == text.GetID()
    assert text.GetAttribute(PLAN_SCHEMA_ATTRIBUTE) == SCHEMA


def test_plan_round_trips_through_a_saved_scene(mrml, tmp_path):
    import slicer

    plan = _plan()
    table, _ = add_plan_to_scene(plan, mrml.scene, "Plan A")
    assert plan_from_scene(table) == plan
    path = tmp_path / "scene.mrml"
    mrml.scene.SetURL(str(path))
    assert mrml.scene.Commit()
    reloaded = slicer.vtkMRMLScene()
    reloaded.SetURL(str(path))
    assert reloaded.Connect()
    nodes = reloaded.GetNodesByClass("vtkMRMLTextNode")
    found = [
        nodes.GetItemAsObject(i)
        for i in range(nodes.GetNumberOfItems())
        if nodes.GetItemAsObject(i).GetAttribute(PLAN_SCHEMA_ATTRIBUTE) == SCHEMA
    ]
    assert len(found) == 1
    assert plan_from_scene(found[0]) == plan
    # The table's reference to its plan survives the reload too.
    table_again = reloaded.GetFirstNodeByName("Plan A")
    assert plan_from_scene(table_again) == plan
    reloaded.Clear(True)


def test_nodes_without_a_plan_are_refused(mrml_scene):
    empty_table = mrml_scene.AddNewNodeByClass("vtkMRMLTableNode", "other")
    with pytest.raises(InputError, match="no plan attached"):
        plan_from_scene(empty_table)
    text = mrml_scene.AddNewNodeByClass("vtkMRMLTextNode", "notes")
    text.SetText("{}")
    with pytest.raises(InputError, match="does not hold"):
        plan_from_scene(text)
    text.SetAttribute(PLAN_SCHEMA_ATTRIBUTE, SCHEMA)
    text.SetText('{"schema": "theranostics-plan-rlt/1"}')
    with pytest.raises(InputError, match="MRML node notes"):
        plan_from_scene(text)
