"""The planning panel's 90Y section with a loaded ``.seg.nrrd`` and no CT, on a real MRML
scene (slicer-core): the Load button, the compartment chooser's rows and roles, and the
plan from the panel's values (TheranosticPlanningLib.panel_seg_files)."""

from __future__ import annotations

import pytest

pytest.importorskip("slicer", reason="slicer-core is not installed (pip install -e .[slicer])")

from sirt_nrrd import write_y90_phantom
from TheranosticPlanningLib.panel_seg_files import (
    load_segmentation_for_panel,
    plan_sirt_without_ct,
    roles_from_rows,
    segment_role_rows,
)
from TheranosticPlanningLib.seg_files import plan_sirt_from_segmentation_node
from TheranosticPlanningLib.volumes import volume_node_from_image

from theranostics.errors import InputError
from theranostics.io.slicer_files import read_volume
from theranostics.planning.sirt import SirtLimits


@pytest.fixture
def maa_nodes(mrml_scene, tmp_path):
    """The 90Y phantom's activity pattern read as an MAA SPECT in counts (the planner uses
    only the count fractions) and its segmentation loaded by the panel's button."""
    spect_path, seg_path = write_y90_phantom(tmp_path)
    spect = read_volume(spect_path, overrides={"units": "counts", "nuclide": "Tc-99m"})
    return (
        volume_node_from_image(spect, mrml_scene, "MAA SPECT"),
        load_segmentation_for_panel(seg_path, mrml_scene),
    )


def test_load_button_needs_a_file(mrml_scene, tmp_path):
    for chosen in ("", ".", tmp_path):
        with pytest.raises(InputError, match="no segmentation file chosen"):
            load_segmentation_for_panel(chosen, mrml_scene)
    with pytest.raises(FileNotFoundError):
        load_segmentation_for_panel(tmp_path / "missing.seg.nrrd", mrml_scene)


def test_compartment_chooser_rows_and_roles(maa_nodes):
    _, seg_node = maa_nodes
    rows = segment_role_rows(seg_node, "Tumor 1", "Normal liver", "Lung")
    # 1 mm grid: liver 24^3 voxels, tumour 8^3, normal liver the rest of the liver
    assert rows == [
        ("Liver", f"{24**3 * 1e-3:.2f}", ""),
        ("Tumor 1", f"{8**3 * 1e-3:.2f}", "tumour"),
        ("Normal liver", f"{(24**3 - 8**3) * 1e-3:.2f}", "normal"),
    ]
    edited = [("Liver", ""), ("Tumor 1", "Tumor"), ("Normal liver", " normal ")]
    assert roles_from_rows(edited) == ("Tumor 1", "Normal liver", "")
    assert roles_from_rows([("a", "tumour"), ("b", "TUMOUR"), ("c", "lung")]) == ("a, b", "", "c")
    with pytest.raises(InputError, match="unknown role 'bone'"):
        roles_from_rows([("Liver", "bone")])
    with pytest.raises(InputError, match="several normal segments"):
        roles_from_rows([("Liver", "normal"), ("Normal liver", "normal")])
    with pytest.raises(InputError, match="no compartments selected"):
        segment_role_rows(None)


def test_plan_without_ct_from_the_panel_values(maa_nodes):
    spect_node, seg_node = maa_nodes
    summary, nodes = plan_sirt_without_ct(
        spect_node,
        seg_node,
        tumor_segment_names="Tumor 1",
        normal_segment_name="Normal liver",
        normal_role="liver",
        lung_shunt_percent=5.0,
        method="partition",
        target_dose_Gy=40.0,
        previous_lung_dose_Gy=10.0,
    )
    direct = plan_sirt_from_segmentation_node(
        spect_node,
        seg_node,
        tumors=["Tumor 1"],
        normal="Normal liver",
        normal_role="liver",
        lung_shunt_fraction=0.05,
        method="partition",
        target_normal_Gy=40.0,
        limits=SirtLimits(previous_lung_Gy=10.0),
    )
    assert nodes.plan.recommended_activity_GBq == direct.plan.recommended_activity_GBq
    assert nodes.plan.lung_shunt_fraction == pytest.approx(0.05)
    assert "GBq 90Y (no CT" in summary and "lung shunt fraction 5.0%" in summary
    assert nodes.dose_node.GetAttribute("Theranostics.Units") == "Gy"
    # the tumour-to-normal ratio of the phantom: 8x the concentration
    assert nodes.plan.partition.tumor_to_normal_ratio == pytest.approx(8.0, rel=0.05)

    # a lung segment named with no percentage: the core looks for it (and names it)
    with pytest.raises(InputError, match="Lung"):
        plan_sirt_without_ct(
            spect_node, seg_node, tumor_segment_names="Tumor 1", lung_segment_name="Lung"
        )
    with pytest.raises(InputError, match="outside"):
        plan_sirt_without_ct(spect_node, seg_node, lung_shunt_percent=100.0)
    with pytest.raises(InputError, match="no MAA SPECT selected"):
        plan_sirt_without_ct(None, seg_node)
