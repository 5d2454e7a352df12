"""The planning panel's lesion-candidate section on a real MRML scene (slicer-core): an organ
segmentation node named as TotalSegmentator names its segments sets a blob aside as
physiological uptake, the table rows carry the class and its colour, the row checkbox moves a
candidate, and the biomarkers follow (TheranosticPlanningLib.panel_candidates)."""

from __future__ import annotations

import pytest
import SimpleITK as sitk

from theranostics.errors import InputError
from theranostics.lesions.synthetic import Blob, synthetic_pet

pytest.importorskip("slicer", reason="slicer-core is not installed (pip install -e .[slicer])")

from TheranosticPlanningLib.lesions import CLASS_COLORS
from TheranosticPlanningLib.panel_candidates import (
    ORGAN_SOURCE_ATTRIBUTE,
    TOTALSEGMENTATOR_SUBSET,
    candidate_table_rows,
    detect_candidates_for_panel,
    kept_lesion_biomarkers,
    new_organ_segmentation_node,
    set_candidate_row_is_lesion,
)
from TheranosticPlanningLib.segmentations import segmentation_node_from_masks
from TheranosticPlanningLib.volumes import volume_node_from_image

BLOBS = [
    Blob.sphere("a", (10.0, -20.0, 0.0), 12.0, 8.0),
    Blob.sphere("b", (-50.0, 30.0, 20.0), 4.0, 6.0),
]


@pytest.fixture
def pet_and_organs(mrml_scene):
    qimage, truth = synthetic_pet(BLOBS, noise=0.03, seed=2)
    pet_node = volume_node_from_image(qimage, mrml_scene, "PET")
    # blob "b" inside a kidney segment, spelt as TotalSegmentator's standard names are
    kidney = sitk.BinaryDilate(sitk.Cast(truth["b"] > 0, sitk.sitkUInt8), [3, 3, 3])
    organs = segmentation_node_from_masks({"left kidney": kidney}, mrml_scene, "organs")
    return pet_node, organs


def test_organ_segmentation_sets_a_blob_aside_and_the_checkbox_moves_it(pet_and_organs):
    pet_node, organs = pet_and_organs
    organs.SetAttribute(ORGAN_SOURCE_ATTRIBUTE, "TotalSegmentator (Slicer extension) on 'CT'")
    detection, node, table = detect_candidates_for_panel(
        pet_node, None, organs, tracer="psma", method="percent-max", min_volume_mL=0.1
    )
    assert detection.organ_source == "TotalSegmentator (Slicer extension) on 'CT'"
    rows = candidate_table_rows(node)
    assert [(r["is_lesion"], r["label"]) for r in rows] == [
        (True, "lesion"),
        (False, "physiological (left kidney)"),
    ]
    assert rows[0]["color"] == CLASS_COLORS["lesion"]
    assert rows[1]["color"] == CLASS_COLORS["physiological"]
    assert table.GetTable().GetNumberOfRows() == 1 + 1  # the lesion + total

    # the reader ticks the kidney row: it is a lesion now, and enters the biomarkers
    assert set_candidate_row_is_lesion(node, 1, True) == "lesion"
    rows = candidate_table_rows(node)
    assert [r["label"] for r in rows] == ["lesion", "lesion"]
    assert rows[1]["color"] == CLASS_COLORS["lesion"]
    kept = kept_lesion_biomarkers(pet_node, node)
    assert kept.GetTable().GetNumberOfRows() == 2 + 1
    # unticked again: back to physiological with its organ
    assert set_candidate_row_is_lesion(node, 1, False) == "physiological"
    assert candidate_table_rows(node)[1]["label"] == "physiological (left kidney)"
    with pytest.raises(InputError, match="row 5"):
        set_candidate_row_is_lesion(node, 5, True)


def test_refusals_and_the_totalsegmentator_output_node(mrml_scene, pet_and_organs):
    pet_node, _ = pet_and_organs
    with pytest.raises(InputError, match="no PET selected"):
        detect_candidates_for_panel(None)
    with pytest.raises(InputError, match="no lesion candidates"):
        candidate_table_rows(None)
    with pytest.raises(InputError, match="no CT selected"):
        new_organ_segmentation_node(None)
    empty = new_organ_segmentation_node(pet_node)
    assert empty.GetScene() is mrml_scene
    assert "TotalSegmentator" in empty.GetAttribute(ORGAN_SOURCE_ATTRIBUTE)
    with pytest.raises(InputError, match="has no segment"):
        detect_candidates_for_panel(pet_node, None, empty, tracer="psma")
    assert {"kidney_left", "urinary_bladder", "liver"} <= set(TOTALSEGMENTATOR_SUBSET)
