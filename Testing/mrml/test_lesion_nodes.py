"""Lesion and organ segmentation nodes, biomarker table nodes and markup seeds on a real MRML
scene (slicer-core)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.lesions import assess_response, lesion_biomarkers, segment_lesions
from theranostics.lesions.synthetic import Blob, synthetic_pet

slicer = pytest.importorskip(
    "slicer", reason="slicer-core is not installed (pip install -e .[slicer])"
)

from TheranosticPlanningLib.lesions import (  # noqa: E402
    LESION_TERMINOLOGY,
    biomarker_table_node,
    lesion_segmentation_node,
    organ_segmentation_node,
    organ_terminology,
    response_table_node,
    seeds_from_markups,
)
from TheranosticPlanningLib.segmentations import masks_from_segmentation_node  # noqa: E402

BLOBS = [
    Blob.sphere("a", (10.0, -20.0, 0.0), 12.0, 8.0),
    Blob.sphere("b", (-50.0, 30.0, 20.0), 4.0, 6.0),
]


@pytest.fixture(scope="module")
def lesions():
    qimage, truth = synthetic_pet(BLOBS, noise=0.03, seed=2)
    return qimage, truth, segment_lesions(qimage, method="percent-max")


def test_lesion_segments_round_trip_with_colours_and_terminology(mrml_scene, lesions):
    qimage, _, seg = lesions
    node = lesion_segmentation_node(seg, mrml_scene)
    segmentation = node.GetSegmentation()
    assert segmentation.GetNumberOfSegments() == seg.count == 2
    colours = {tuple(segmentation.GetNthSegment(i).GetColor()) for i in range(2)}
    assert len(colours) == 2
    for i in range(2):
        segment = segmentation.GetNthSegment(i)
        assert segment.GetName() == seg.names[i]
        tag = (
            segment.GetTag(segment.GetTerminologyEntryTagName())
            if not hasattr(segment, "GetTerminology")
            else segment.GetTerminology()
        )
        assert "4147007" in tag and "Mass" in tag
    back = masks_from_segmentation_node(node, qimage.image)
    for name, mask in seg.masks().items():
        assert np.array_equal(sitk.GetArrayFromImage(back[name]), sitk.GetArrayFromImage(mask))
    assert json.loads(node.GetAttribute("Theranostics.LesionParameters"))["method"] == "percent-max"
    assert "4147007^Mass" in LESION_TERMINOLOGY


def test_organ_node_terminology(mrml_scene, lesions):
    _, truth, _ = lesions
    masks = {"kidney_left": truth["a"], "bone": truth["b"]}
    node = organ_segmentation_node(masks, mrml_scene, notes=["from CT thresholds"])
    segment = node.GetSegmentation().GetSegment("kidney_left")
    entry = (
        segment.GetTerminology()
        if hasattr(segment, "GetTerminology")
        else segment.GetTag("TerminologyEntry")
    )
    assert "64033007^Kidney" in entry and "7771000^Left" in entry
    assert organ_terminology("bone") is None
    assert organ_terminology("lung_right").count("24028007^Right") == 1
    assert json.loads(node.GetAttribute("Theranostics.Problems")) == ["from CT thresholds"]


def test_biomarker_and_response_tables(mrml_scene, lesions):
    qimage, _, seg = lesions
    table = lesion_biomarkers(qimage, seg)
    node = biomarker_table_node(table, mrml_scene)
    vtk_table = node.GetTable()
    assert vtk_table.GetNumberOfRows() == seg.count + 1  # lesions + total
    column = vtk_table.GetColumnByName("volume_mL")
    assert column.GetValue(0) == pytest.approx(table.lesions[0]["volume_mL"])
    assert node.GetColumnUnitLabel("volume_mL") == "mL"
    assert node.GetColumnUnitLabel("activity_MBq") == "MBq"
    assert vtk_table.GetColumnByName("name").GetValue(seg.count) == "total"
    assert vtk_table.GetColumnByName("centroid_x_lps_mm") is not None
    result = assess_response(qimage, seg, qimage, seg)
    rnode = response_table_node(result, mrml_scene)
    assert rnode.GetTable().GetNumberOfRows() == 2
    assert json.loads(rnode.GetAttribute("Theranostics.RECIP"))["category"] == "SD"


def test_markup_seeds_are_converted_to_lps(mrml_scene, lesions):
    qimage, _, _ = lesions
    markups = mrml_scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "seeds")
    lps = BLOBS[1].centre_lps_mm
    markups.AddControlPoint(-lps[0], -lps[1], lps[2])  # RAS
    seeds = seeds_from_markups(markups)
    assert np.allclose(seeds[0], lps)
    seg = segment_lesions(qimage, method="percent-max", exclude_seeds_lps=seeds)
    assert seg.count == 1


@pytest.fixture(scope="module")
def detection():
    """A real LesionDetection: blob "a" a lesion, blob "b" set aside as a left kidney."""
    from theranostics.lesions.detection import LesionDetection, PhysiologicalCandidate

    qimage, truth = synthetic_pet(BLOBS, noise=0.03, seed=2)
    seg = segment_lesions(qimage, method="percent-max")
    labels = sitk.GetArrayFromImage(seg.labels)
    b = sitk.GetArrayFromImage(truth["b"]) > 0
    kidney = int(np.bincount(labels[b]).argmax())
    lesion = 3 - kidney
    lesion_labels = sitk.GetImageFromArray((labels == lesion).astype(np.uint16))
    lesion_labels.CopyInformation(seg.labels)
    phys_labels = sitk.GetImageFromArray((labels == kidney).astype(np.uint16))
    phys_labels.CopyInformation(seg.labels)
    from dataclasses import replace

    lesions = replace(seg, labels=lesion_labels, names=("lesion_001",),
                      lesion_thresholds=(seg.lesion_thresholds[lesion - 1],))  # fmt: skip
    candidate = PhysiologicalCandidate(
        name="physiological_001",
        organ="kidney_left",
        rule="kidney",
        reason="test: paired paravertebral uptake",
        features={"volume_mL": 4.0},
        include_seed_lps_mm=BLOBS[1].centre_lps_mm,
    )
    return qimage, LesionDetection(
        lesions=lesions,
        physiological=(candidate,),
        physiological_labels=phys_labels,
        tracer_family="psma",
        organ_source="CT anatomy rules",
        floor={"value": 3.0, "unit": "SUVbw", "source": "given"},
    )


def test_candidates_coloured_by_class_and_moved_between_classes(mrml_scene, detection):
    from TheranosticPlanningLib.lesions import (
        CLASS_COLORS,
        candidate_class,
        candidate_rows,
        candidate_segmentation_node,
        lesion_masks_from_candidates,
        set_candidate_class,
        toggle_candidate_class,
    )

    qimage, det = detection
    node = candidate_segmentation_node(det, mrml_scene)
    rows = candidate_rows(node)
    assert [(r["segment_id"], r["class"], r["organ"]) for r in rows] == [
        ("lesion_001", "lesion", ""),
        ("physiological_001", "physiological", "kidney_left"),
    ]
    assert rows[1]["name"] == "physiological_001 (kidney_left)" and "paired" in rows[1]["reason"]
    segmentation = node.GetSegmentation()
    kidney = segmentation.GetSegment("physiological_001")
    assert kidney.GetColor() == pytest.approx(CLASS_COLORS["physiological"])
    assert "64033007^Kidney" in kidney.GetTerminology()
    assert segmentation.GetSegment("lesion_001").GetColor() == pytest.approx(CLASS_COLORS["lesion"])
    assert node.GetAttribute("Theranostics.OrganSource") == "CT anatomy rules"
    # Only the lesion goes into the biomarkers ...
    masks = lesion_masks_from_candidates(node, qimage.image)
    assert list(masks) == ["lesion_001"]
    # ... until the reader ticks the kidney row: it becomes a lesion, coloured and coded so.
    assert toggle_candidate_class(node, 1) == "lesion"
    assert candidate_class(node, "physiological_001") == "lesion"
    assert kidney.GetColor() == pytest.approx(CLASS_COLORS["lesion"])
    assert "4147007^Mass" in kidney.GetTerminology()
    masks = lesion_masks_from_candidates(node, qimage.image)
    assert sorted(masks) == ["lesion_001", "physiological_001"]
    expected = sitk.GetArrayFromImage(det.physiological_labels) == 1
    assert np.array_equal(sitk.GetArrayFromImage(masks["physiological_001"]) > 0, expected)
    # and back, with its organ kept; a detected lesion can be set aside too.
    set_candidate_class(node, "physiological_001", "physiological")
    assert "64033007^Kidney" in kidney.GetTerminology()
    set_candidate_class(node, "lesion_001", "physiological")
    assert lesion_masks_from_candidates(node, qimage.image) == {}
    with pytest.raises(ValueError):
        set_candidate_class(node, "lesion_001", "organ")
    with pytest.raises(KeyError):
        set_candidate_class(node, "nothing", "lesion")


@pytest.mark.slow
def test_candidates_from_pet_and_ct_volume_nodes(mrml_scene, synthetic_study_small):
    """The panel path: PET and CT volume nodes of the small PSMA study -> candidate node with
    glands, kidneys and bladder set aside; ticking the left kidney's row adds it to the
    recomputed biomarker table; organ segments given instead (TotalSegmentator's place) are
    the source then."""
    from TheranosticPlanningLib.lesions import (
        candidate_biomarkers,
        candidate_rows,
        detect_lesion_candidates,
        toggle_candidate_class,
    )
    from TheranosticPlanningLib.segmentations import segmentation_node_from_masks
    from TheranosticPlanningLib.volumes import volume_node_from_image

    from theranostics.io import read_image

    study = synthetic_study_small / "dicom" / "pet_planning"
    pet = read_image(study / "PT")
    pet_node = volume_node_from_image(pet, mrml_scene, "PET")
    ct_node = volume_node_from_image(read_image(study / "CT"), mrml_scene, "CT")
    detection, node, table_node = detect_lesion_candidates(pet_node, ct_node)
    rows = candidate_rows(node)
    organs = sorted(r["organ"] for r in rows if r["class"] == "physiological")
    assert organs == sorted(
        ["bladder", "kidney_left", "kidney_right", "parotid_left", "parotid_right",
         "submandibular_left", "submandibular_right"]
    )  # fmt: skip
    assert node.GetAttribute("Theranostics.OrganSource") == "CT anatomy rules"
    lesions = detection.lesions.count
    assert table_node.GetTable().GetNumberOfRows() == lesions + 1  # + total
    row = next(i for i, r in enumerate(rows) if r["organ"] == "kidney_left")
    toggle_candidate_class(node, row)
    table, _ = candidate_biomarkers(pet_node, node)
    assert table.total["lesion_count"] == lesions + 1
    kidney = next(r for r in table.lesions if r["name"] == rows[row]["segment_id"])
    assert kidney["volume_mL"] > 50  # the whole kidney candidate, not a fragment
    # an organ segmentation node (as TotalSegmentator makes) replaces the CT rules
    masks = {"kidney_left": sitk.Cast(detection.physiological_labels == 1 + next(
        i for i, p in enumerate(detection.physiological) if p.organ == "kidney_left"),
        sitk.sitkUInt8)}  # fmt: skip
    organ_node = segmentation_node_from_masks(masks, mrml_scene, "TotalSegmentator")
    again, node2, _ = detect_lesion_candidates(pet_node, ct_node, organ_segmentation=organ_node)
    assert again.organ_source == "segmentation node 'TotalSegmentator'"
    assert node2.GetAttribute("Theranostics.OrganSource") == again.organ_source
    assert [p.organ for p in again.physiological] == ["kidney_left"]
