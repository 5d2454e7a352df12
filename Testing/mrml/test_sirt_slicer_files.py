"""Slicer's .seg.nrrd files and single-time-point 90Y dosimetry on a real MRML scene
(slicer-core): the segments Slicer reads, the SIRT plan from a SPECT node and a loaded
segmentation, and the DoseMapping Lib's permanent-implant dosimetry."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

pytest.importorskip("slicer", reason="slicer-core is not installed (pip install -e .[slicer])")

from DoseMappingLib.sirt_dosimetry import RESULTS_ATTRIBUTE, sirt_dosimetry_from_nodes
from sirt_nrrd import (
    PET_1,
    SEG_1,
    SEG_2,
    SPECT_2,
    sirt_nrrd_dir,
    write_seg_nrrd,
    write_y90_phantom,
)
from TheranosticPlanningLib.seg_files import (
    load_segmentation_file,
    plan_sirt_from_segmentation_node,
    segment_rows,
    segmentation_grid,
    slicer_segmentation_from_node,
)
from TheranosticPlanningLib.volumes import volume_node_from_image

from theranostics.errors import InputError, TimingError
from theranostics.io.slicer_files import read_segmentation, read_volume
from theranostics.planning.sirt_files import plan_sirt_files
from theranostics.workflows.sirt_dosimetry import sirt_dosimetry


def test_overlapping_layers_read_by_slicer(mrml_scene, tmp_path):
    liver = np.zeros((4, 8, 8), np.uint8)
    liver[:, 2:6, 2:6] = 1
    tumour = np.zeros_like(liver)
    tumour[1:3, 3:5, 3:5] = 1
    path = write_seg_nrrd(
        tmp_path / "s.seg.nrrd",
        [liver, tumour],
        [("Liver", 0, 1), ("Tumor 1", 1, 1)],
        spacing=(1.0, 1.0, 2.0),
        origin=(10.0, -20.0, 30.0),
    )
    node = load_segmentation_file(path, mrml_scene)
    rows = {r["name"]: r for r in segment_rows(node)}
    assert rows["Liver"]["voxels"] == 64 and rows["Tumor 1"]["voxels"] == 8
    assert rows["Tumor 1"]["volume_mL"] == pytest.approx(8 * 2e-3)
    grid = segmentation_grid(node)
    assert grid.GetOrigin() == pytest.approx((10.0, -20.0, 30.0))  # back in LPS
    seg = slicer_segmentation_from_node(node)
    core = read_segmentation(path)
    for name in core.names:  # Slicer's reader and the core's agree voxel for voxel
        assert np.array_equal(seg.mask_array(name), core.mask_array(name))


def test_file_without_segments(mrml_scene, tmp_path):
    path = tmp_path / "empty.seg.nrrd"
    sitk.WriteImage(sitk.Image([2, 2, 2], sitk.sitkUInt8), str(path))
    with pytest.raises(InputError, match="no segment"):
        load_segmentation_file(path, mrml_scene)


def test_dosimetry_from_nodes_on_a_phantom(mrml_scene, tmp_path):
    pet_path, seg_path = write_y90_phantom(tmp_path)
    pet = read_volume(pet_path, overrides={"units": "Bq/mL", "nuclide": "Y-90"})
    pet_node = volume_node_from_image(pet, mrml_scene, "90Y PET")
    seg_node = load_segmentation_file(seg_path, mrml_scene)
    with pytest.raises(TimingError, match="implantation date-time"):
        sirt_dosimetry_from_nodes(pet_node, seg_node)
    nodes = sirt_dosimetry_from_nodes(pet_node, seg_node, decay_corrected_to_implantation=True)
    direct = sirt_dosimetry(pet, seg_path, decay_corrected_to_implantation=True)
    assert list(nodes.results["structures"]) == ["Liver", "Tumor 1", "Normal liver"]
    for name, entry in direct.results["structures"].items():
        got = nodes.results["structures"][name]
        assert got["activity_MBq"] == pytest.approx(entry["activity_MBq"], rel=1e-9)
        assert got["mean_dose_Gy"] == pytest.approx(entry["mean_dose_Gy"], rel=1e-9)
    assert nodes.dose_node.GetAttribute("DicomRtImport.DoseVolume") == "1"
    assert nodes.table_node.GetNumberOfRows() == 3


@pytest.mark.realdata
@pytest.mark.slow
def test_real_patient_1_dosimetry_from_nodes(mrml_scene, sirt_patient_1):
    folder = sirt_nrrd_dir()
    seg_node = load_segmentation_file(folder / SEG_1, mrml_scene)
    voxels = read_segmentation(folder / SEG_1).voxel_counts()
    pet = read_volume(folder / PET_1, overrides={"units": "Bq/mL", "nuclide": "Y-90"})
    pet_node = volume_node_from_image(pet, mrml_scene, "90Y PET")
    nodes = sirt_dosimetry_from_nodes(pet_node, seg_node, decay_corrected_to_implantation=True)
    assert list(nodes.results["structures"]) == list(voxels)
    direct = sirt_patient_1[2]  # sirt_dosimetry(pet, SEG_1, decay-corrected), shared
    for name, entry in direct.results["structures"].items():
        from_nodes = nodes.results["structures"][name]
        assert from_nodes["activity_MBq"] == pytest.approx(entry["activity_MBq"], rel=1e-6)
        assert from_nodes["mean_dose_Gy"] == pytest.approx(entry["mean_dose_Gy"], rel=1e-6)
    table = nodes.table_node
    assert table.GetNumberOfRows() == len(voxels)
    assert table.GetCellText(1, table.GetColumnIndex("structure")) == "Tumor 1"
    summary = json.loads(table.GetAttribute(RESULTS_ATTRIBUTE))
    assert summary["timing"]["decay_correction_factor"] == 1.0
    dose = sitk.GetArrayFromImage(direct.dose.image)
    node_dose = mrml_scene.GetNodeByID(nodes.dose_node.GetID())
    assert node_dose.GetImageData().GetPointData().GetScalars().GetRange()[1] == pytest.approx(
        float(dose.max()), rel=1e-5
    )


@pytest.mark.realdata
@pytest.mark.slow
def test_real_patient_2_plan_from_loaded_segmentation(mrml_scene):
    folder = sirt_nrrd_dir()
    seg_node = load_segmentation_file(folder / SEG_2, mrml_scene)
    names = [r["name"] for r in segment_rows(seg_node)]
    assert names == read_segmentation(folder / SEG_2).names
    spect = read_volume(folder / SPECT_2, overrides={"units": "counts", "nuclide": "Tc-99m"})
    spect_node = volume_node_from_image(spect, mrml_scene, "MAA SPECT")
    options = {
        "tumors": ["Tumor 1", "Tumor 2"],
        "normal": "perfused normal",
        "normal_role": "perfused",
        "lung_shunt_fraction": 0.05,
        "clip_negative": True,
        "target_tumor_Gy": 150.0,
    }
    nodes = plan_sirt_from_segmentation_node(spect_node, seg_node, **options)
    direct = plan_sirt_files(spect, folder / SEG_2, **options)
    assert nodes.plan.recommended_activity_GBq == direct.plan.recommended_activity_GBq
    assert nodes.plan.partition.tumor_to_normal_ratio == pytest.approx(
        direct.plan.partition.tumor_to_normal_ratio, rel=1e-6
    )
    assert nodes.plan.lung_shunt_fraction == pytest.approx(0.05)
    assert nodes.table_node.GetNumberOfRows() > 0 and nodes.text_node is not None
