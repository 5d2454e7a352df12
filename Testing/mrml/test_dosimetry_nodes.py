"""Dosimetry MRML adapters on a real scene (slicer-core): dose/BED volumes, DVH table and
chart, structure and comparison tables, all under one subject-hierarchy folder per cycle.

The result is built from a closed-form case: a structure of 8 voxels at 2 Gy and 8 at 4 Gy
(equal masses), so its DVH is 100 % up to 2 Gy, 50 % between 2 and 4 Gy and 0 above.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

pytest.importorskip("slicer", reason="slicer-core is not installed (pip install -e .[slicer])")

import slicer
from DoseMappingLib.dose import is_dose_volume_node
from DoseMappingLib.dosimetry import DOSE_COLUMN, add_dosimetry_to_scene

from theranostics.dose.dvh import dvh_from_samples
from theranostics.workflows.dosimetry import DosimetryResult


def _image(arr):
    img = sitk.GetImageFromArray(arr.astype(np.float32))
    img.SetSpacing((4.0, 4.0, 4.0))
    return img


def _result(with_plan: bool) -> DosimetryResult:
    dose = np.zeros((4, 4, 4))
    dose[:2, :2, :2] = 2.0
    dose[2:, :2, :2] = 4.0
    mask = np.zeros((4, 4, 4), dtype=np.uint8)
    mask[:, :2, :2] = 1
    m = sitk.Cast(_image(mask), sitk.sitkUInt8)
    structures = {
        "kidney_left": {
            "mass_g": 1.0,
            "tia_MBq_h": 10.0,
            "tia_uncertainty_MBq_h": 1.0,
            "mean_dose_Gy": 3.0,
            "mean_dose_uncertainty_Gy": 0.3,
            "bed_Gy": 3.5,
            "dose_per_activity_Gy_per_GBq": 0.4,
        }
    }
    comparison = (
        [
            {
                "structure": "kidney_left",
                "planned_Gy": 2.8,
                "planned_at_given_activity_Gy": 2.9,
                "delivered_Gy": 3.0,
                "delivered_uncertainty_Gy": 0.3,
                "difference_percent": 3.4,
            }
        ]
        if with_plan
        else []
    )
    return DosimetryResult(
        results={"structures": structures},
        tia_MBq_h=_image(dose),
        dose_Gy=_image(dose),
        bed_Gy=_image(dose * 1.1),
        effective_half_life_h=_image(np.ones((4, 4, 4))),
        reference_ct=None,
        reference_ct_files=[],
        masks={"kidney_left": m},
        weights={"kidney_left": sitk.Cast(m, sitk.sitkFloat32)},
        kinetics={},
        comparison=comparison,
        dvhs={"kidney_left": dvh_from_samples(dose[mask > 0], np.ones(16), voxel_mL=0.064)},
    )


def _column(node, name):
    col = node.GetTable().GetColumnByName(name)
    return np.array([col.GetValue(r) for r in range(col.GetNumberOfTuples())])


def test_cycle_folder_holds_every_node(mrml_scene):
    nodes = add_dosimetry_to_scene(_result(True), mrml_scene, cycle_name="Cycle 2")
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(mrml_scene)
    assert sh.GetItemName(nodes.folder_item_id) == "Cycle 2"
    for node in (
        nodes.dose,
        nodes.bed,
        nodes.dvh_table,
        nodes.dvh_chart,
        nodes.structure_table,
        nodes.comparison_table,
    ):
        assert sh.GetItemParent(sh.GetItemByDataNode(node)) == nodes.folder_item_id
    assert is_dose_volume_node(nodes.dose) and is_dose_volume_node(nodes.bed)
    assert nodes.dvh_chart.GetNumberOfPlotSeriesNodes() == 1


def test_dvh_table_matches_closed_form(mrml_scene):
    nodes = add_dosimetry_to_scene(_result(False), mrml_scene)
    dose = _column(nodes.dvh_table, DOSE_COLUMN)
    vol = _column(nodes.dvh_table, "kidney_left")
    assert nodes.dvh_table.GetColumnUnitLabel("kidney_left") == "%"
    assert np.allclose(vol[dose < 1.99], 100.0)
    assert np.allclose(vol[(dose > 2.01) & (dose < 3.99)], 50.0)
    assert vol[-1] == pytest.approx(0.0)
    assert nodes.comparison_table is None


def test_structure_and_comparison_tables(mrml_scene):
    nodes = add_dosimetry_to_scene(_result(True), mrml_scene)
    t = nodes.structure_table
    assert t.GetTable().GetColumnByName("structure").GetValue(0) == "kidney_left"
    assert _column(t, "mean_dose_Gy")[0] == pytest.approx(3.0)
    assert t.GetColumnUnitLabel("bed_Gy") == "Gy"
    c = nodes.comparison_table
    assert _column(c, "difference_percent")[0] == pytest.approx(3.4)
