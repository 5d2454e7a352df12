"""The TheranosticPlanning panel actions (Lib ``panel``) on a real MRML scene.

The module's Logic turns its parameter node into plain arguments; here the same functions
are called with real MRML nodes from ``slicer-core`` and plain values, so every action a
button triggers runs headless. No stand-in for any Slicer object.
"""

from __future__ import annotations

import pytest
from TheranosticPlanningLib.node_attributes import read_metadata
from TheranosticPlanningLib.panel import (
    assess_response,
    metadata_rows,
    plan_rlt,
    plan_sirt,
    rlt_structures,
    segment_lesions,
    store_metadata_rows,
    structures_from_results_file,
)
from TheranosticPlanningLib.planning import plan_from_scene
from TheranosticPlanningLib.segmentations import segmentation_node_from_rtstruct
from TheranosticPlanningLib.volumes import volume_node_from_image

from theranostics.errors import InputError, InvalidTagError
from theranostics.io import read_image
from theranostics.planning.rlt import plan_rlt as core_plan_rlt
from theranostics.planning.rlt_inputs import StructureInput


def test_rlt_button_gives_the_core_plan_and_puts_it_in_the_scene(mrml):
    # No volume selected anywhere: the scene is an explicit argument (issue 14, defect 4:
    # the parameter-node wrapper has no ``scene`` attribute to fall back on; see
    # Base/Python/slicer/parameterNodeWrapper/wrapper.py, which only offers ``parameterNode``).
    assert mrml.scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == 0
    structures = rlt_structures(
        kidney_Gy_per_GBq=0.6,
        kidney_half_life_h=40.0,
        marrow_Gy_per_GBq=0.03,
        marrow_half_life_h=40.0,
    )
    made = plan_rlt(mrml.scene, structures, cycles=4, risk_factors=True)
    summary = made.summary
    expected = core_plan_rlt(
        [
            StructureInput("kidneys", "oar", 0.6, 40.0),
            StructureInput("red_marrow", "oar", 0.03, 40.0),
        ],
        cycles=4,
        risk_factors=True,
    )
    assert f"{expected.max_activity_per_cycle_GBq:.2f} GBq" in summary
    assert expected.binding_constraint in summary
    assert made.table_node.GetScene() is mrml.scene
    back = plan_from_scene(made.table_node)
    assert back.max_activity_per_cycle_GBq == expected.max_activity_per_cycle_GBq


def test_rlt_button_refuses_a_dose_without_half_life_and_an_empty_panel(mrml):
    with pytest.raises(InputError, match="without an effective half-life"):
        rlt_structures(kidney_Gy_per_GBq=0.6)
    with pytest.raises(InputError, match="no organ at risk"):
        plan_rlt(mrml.scene, rlt_structures())
    # the parameter node's unset path is Path("."): no results file, no structures
    assert structures_from_results_file(".") == [] == structures_from_results_file(None)


@pytest.mark.realdata
@pytest.mark.slow
def test_sirt_button_on_the_real_maa_study(mrml, siemens_maa_dir):
    spect = volume_node_from_image(read_image(siemens_maa_dir / "NM"), mrml.scene, "MAA")
    ct_image = read_image(siemens_maa_dir / "CT")
    ct = volume_node_from_image(ct_image, mrml.scene, "CT")
    rt = next((siemens_maa_dir / "RTSTRUCT").iterdir())
    seg = segmentation_node_from_rtstruct(rt, ct_image, mrml.scene, names=["Tumor", "Lung"])
    summary, nodes = plan_sirt(spect, ct, seg, target_dose_Gy=150.0)
    assert "GBq 90Y" in summary and "lung shunt fraction" in summary
    assert nodes.table_node.GetNumberOfRows() > 0
    assert nodes.dose_node.GetAttribute("Theranostics.Units") == "Gy"


def test_sirt_button_names_the_missing_input(mrml):
    with pytest.raises(InputError, match="no MAA SPECT selected"):
        plan_sirt(None, None, None)


def test_metadata_table_round_trip_and_refusal(mrml, synthetic_study_small):
    pet = read_image(synthetic_study_small / "dicom" / "pet_planning" / "PT")
    node = volume_node_from_image(pet, mrml.scene, "PET")
    rows = dict(metadata_rows(node))
    assert rows["Units"] == "Bq/mL" and float(rows["PatientWeightKg"]) == pytest.approx(78.0)
    rows["PatientWeightKg"] = "80.5"
    store_metadata_rows(node, list(rows.items()))
    assert read_metadata(node).patient.weight_kg == 80.5
    rows["PatientWeightKg"] = "eighty"
    with pytest.raises(InvalidTagError, match="PatientWeightKg"):
        store_metadata_rows(node, list(rows.items()))
    assert read_metadata(node).patient.weight_kg == 80.5  # nothing half-written
    rows["PatientWeightKg"] = "80.5"
    rows["Units"] = "furlongs"
    with pytest.raises(InputError, match="furlongs"):
        store_metadata_rows(node, list(rows.items()))
    assert read_metadata(node).quantity.units == "Bq/mL"


def test_lesion_and_response_buttons_on_the_sample_pet(mrml, synthetic_study_small):
    from theranostics.lesions import lesion_biomarkers
    from theranostics.lesions import segment_lesions as core_segment

    pet_image = read_image(synthetic_study_small / "dicom" / "pet_planning" / "PT")
    pet = volume_node_from_image(pet_image, mrml.scene, "PET")
    made = segment_lesions(pet, method="percent-max", relative_threshold_percent=41.0)
    table = made.biomarkers
    expected = lesion_biomarkers(pet_image, core_segment(pet_image, method="percent-max"))
    assert len(table.lesions) == len(expected.lesions) > 0
    segments = made.segmentation_node.GetSegmentation().GetNumberOfSegments()
    assert segments == len(table.lesions)
    assert made.table_node.GetNumberOfRows() >= len(table.lesions)
    # the same study as baseline and follow-up: stable disease under both frameworks
    seg = made.segmentation_node
    response = assess_response(pet, seg, pet, seg)
    result = response.assessment
    assert result.percist["category"] == "SMD" and result.recip["category"] == "SD"
    assert response.table_node.GetNumberOfRows() == len(table.lesions)


def test_lesion_button_needs_a_volume_and_names_the_liver_segment(mrml):
    with pytest.raises(InputError, match="no PET or SPECT"):
        segment_lesions(None)
    with pytest.raises(InputError, match="no PET or SPECT"):
        store_metadata_rows(None, [])


def test_the_self_test_session_headless(mrml, synthetic_study_small, tmp_path):
    """The Lib calls of ``TheranosticPlanningTest.test_first_session_on_sample_data`` (the
    in-app self-test, which runs them through the Logic), on the same small sample study."""
    import shutil

    import SimpleITK as sitk
    from TheranosticPlanningLib.sample_data import (
        load_sample_pet,
        load_sample_time_points,
        sample_study_dir,
    )
    from TheranosticPlanningLib.segmentations import segmentation_node_from_masks
    from TheranosticPlanningLib.volumes import image_from_volume_node

    from theranostics.io.masks import load_masks

    shutil.copytree(synthetic_study_small, tmp_path / "sample-data" / synthetic_study_small.name)
    plan = plan_rlt(mrml.scene, rlt_structures(0.6, 40.0, 0.03, 40.0))
    assert "GBq per cycle" in plan.summary and plan.table_node.GetNumberOfRows() > 0
    pet = load_sample_pet(mrml.scene, tmp_path)
    assert dict(metadata_rows(pet))["Units"] == "Bq/mL"
    lesions = segment_lesions(pet, method="percent-max", relative_threshold_percent=41.0)
    segments = lesions.segmentation_node.GetSegmentation().GetNumberOfSegments()
    assert segments == len(lesions.biomarkers.lesions) > 0
    seg = lesions.segmentation_node
    response = assess_response(pet, seg, pet, seg)
    assert response.assessment.percist["category"] == "SMD"
    assert response.table_node.GetNumberOfRows() == segments
    ct, spect = load_sample_time_points(mrml.scene, tmp_path)[1]
    masks = dict(
        load_masks(
            sample_study_dir(tmp_path) / "truth" / "structures_seg.dcm",
            image_from_volume_node(ct),
            structures=["liver", "lesion_01", "lung_left", "lung_right"],
        ).masks
    )
    compartments = {
        "Tumor": masks["lesion_01"],
        "Liver": masks["liver"],
        "Lung": sitk.Or(masks["lung_left"] > 0, masks["lung_right"] > 0),
    }
    seg = segmentation_node_from_masks(compartments, mrml.scene, "SIRT compartments")
    summary, nodes = plan_sirt(spect, ct, seg, normal_segment_name="Liver")
    assert "GBq 90Y" in summary
    assert nodes.dose_node.GetAttribute("Theranostics.Units") == "Gy"


def test_a_cancelled_lesion_segmentation_adds_no_node(mrml, synthetic_study_small):
    from theranostics.progress import Cancelled

    pet = volume_node_from_image(
        read_image(synthetic_study_small / "dicom" / "pet_planning" / "PT"), mrml.scene, "PET"
    )
    before = mrml.scene.GetNumberOfNodes()
    calls = []

    def cancel(fraction, message=""):
        calls.append(fraction)
        raise Cancelled("cancelled by the test")

    with pytest.raises(Cancelled):
        segment_lesions(pet, progress=cancel)
    assert calls and mrml.scene.GetNumberOfNodes() == before
