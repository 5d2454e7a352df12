"""QuantitativeImage <-> vtkMRMLScalarVolumeNode on a real MRML scene (slicer-core)."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.errors import InvalidTagError, UnitsError
from theranostics.image import QuantitativeImage
from theranostics.metadata import (
    AcquisitionInfo,
    Administration,
    ImageMetadata,
    PatientInfo,
    QuantityInfo,
)

pytest.importorskip("slicer", reason="slicer-core is not installed (pip install -e .[slicer])")

from TheranosticPlanningLib.coordinates import (
    from_vtk_matrix,
    ijk_to_ras_matrix,
    lps_to_ras,
    ras_to_lps,
)
from TheranosticPlanningLib.node_attributes import PREFIX
from TheranosticPlanningLib.volumes import (
    image_from_volume_node,
    volume_node_from_image,
)


def oblique_direction() -> np.ndarray:
    """A proper rotation (det +1) that is not axis-aligned, columns = i, j, k axes in LPS."""
    a, b = math.radians(25.0), math.radians(-40.0)
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    return rz @ rx


def make_image(dtype=np.float32, direction=None) -> sitk.Image:
    rng = np.random.default_rng(42)
    values = (rng.random((7, 6, 5)) * 1e5).astype(dtype)  # [k, j, i]: 5 x 6 x 7 voxels
    image = sitk.GetImageFromArray(values)
    image.SetSpacing((2.5, 3.25, 4.8))
    image.SetOrigin((-120.5, 33.25, 1426.0))
    if direction is not None:
        image.SetDirection(np.asarray(direction).ravel().tolist())
    return image


FULL_META = ImageMetadata(
    modality="NM",
    series_instance_uid="1.2.826.0.1.3680043.8.498.42",
    series_description="SPECT 177Lu day 1",
    frame_of_reference_uid="1.2.826.0.1.3680043.8.498.7",
    manufacturer="SIEMENS",
    patient=PatientInfo(weight_kg=72.5, height_m=1.78, sex="F"),
    administration=Administration(
        nuclide="Lu-177",
        radiopharmaceutical="PSMA-617",
        activity_MBq=7400.3,
        datetime=datetime(2024, 5, 1, 9, 30, 12),
        activity_rule="RadionuclideTotalDose in MBq (NM)",
        half_life_s=574300.8,
    ),
    acquisition=AcquisitionInfo(
        start=datetime(2024, 5, 2, 10, 15, 0, 250000),
        duration_s=1800.0,
        start_source="AcquisitionDateTime",
        duration_source="ActualFrameDuration x frames",
    ),
    quantity=QuantityInfo(
        units="Bq/mL",
        decay_correction="START",
        decay_reference=datetime(2024, 5, 2, 10, 15, 0),
        decay_factor=1.0123,
        units_source="calibration 9.2 cps/MBq",
    ),
    source_files=("/data/spect/a.dcm", "/data/spect/b.dcm"),
    problems=("duration from frames",),
)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint8])
@pytest.mark.parametrize("oblique", [False, True], ids=["axial", "oblique"])
def test_round_trip_keeps_voxels_geometry_and_metadata(mrml_scene, dtype, oblique):
    image = make_image(dtype, oblique_direction() if oblique else None)
    node = volume_node_from_image(QuantitativeImage(image, FULL_META), mrml_scene, "probe")
    assert node.GetScene() is mrml_scene and node.GetName() == "probe"

    back = image_from_volume_node(node)
    assert back.array().dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.array(), sitk.GetArrayFromImage(image))
    assert back.image.GetSize() == image.GetSize()
    assert back.image.GetOrigin() == image.GetOrigin()  # a sign flip is exact
    assert back.image.GetSpacing() == image.GetSpacing()
    np.testing.assert_allclose(back.image.GetDirection(), image.GetDirection(), atol=1e-12)
    assert back.meta == FULL_META


def test_known_voxel_is_the_same_physical_point_both_ways(mrml_scene):
    """LPS from SimpleITK equals RAS from the node's IJKToRAS with x and y negated."""
    image = make_image(direction=oblique_direction())
    node = volume_node_from_image(QuantitativeImage(image, ImageMetadata()), mrml_scene)
    ijk_to_ras = from_vtk_matrix(_ijk_to_ras(node))
    np.testing.assert_allclose(
        ijk_to_ras,
        ijk_to_ras_matrix(
            image.GetOrigin(), image.GetSpacing(), np.reshape(image.GetDirection(), (3, 3))
        ),
        atol=1e-12,
    )
    back = image_from_volume_node(node).image
    for ijk in [(0, 0, 0), (4, 5, 6), (3, 1, 2)]:
        lps = np.array(image.TransformIndexToPhysicalPoint(ijk))
        ras = (ijk_to_ras @ np.array([*ijk, 1.0]))[:3]
        np.testing.assert_allclose(ras, [-lps[0], -lps[1], lps[2]], atol=1e-9)
        np.testing.assert_allclose(lps_to_ras(lps), ras, atol=1e-9)
        # ... and back: the node's RAS point is the round-tripped image's LPS point
        np.testing.assert_allclose(
            back.TransformIndexToPhysicalPoint(ijk), ras_to_lps(ras), atol=1e-9
        )
        assert back.TransformPhysicalPointToIndex(ras_to_lps(ras).tolist()) == ijk
        # the voxel value at that point is the same on both sides
        assert node.GetImageData().GetScalarComponentAsDouble(*ijk, 0) == pytest.approx(image[ijk])


def _ijk_to_ras(node):
    import vtk

    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return matrix


def test_attributes_units_codes_and_display(mrml_scene):
    node = volume_node_from_image(QuantitativeImage(make_image(), FULL_META), mrml_scene)
    assert node.GetAttribute(PREFIX + "Nuclide") == "Lu-177"
    assert node.GetAttribute(PREFIX + "AdministeredActivityMBq") == "7400.3"
    assert node.GetAttribute(PREFIX + "AdministrationDateTime") == "2024-05-01T09:30:12"
    assert node.GetAttribute(PREFIX + "Units") == "Bq/mL"
    assert node.GetVoxelValueUnits().GetCodeValue() == "Bq/ml"
    assert node.GetVoxelValueUnits().GetCodingSchemeDesignator() == "UCUM"
    display = node.GetDisplayNode()
    assert display is not None
    assert display.GetColorNodeID() == "vtkMRMLPETProceduralColorNodePET-Heat"

    ct = ImageMetadata(modality="CT", quantity=QuantityInfo(units="HU"))
    ct_node = volume_node_from_image(QuantitativeImage(make_image(np.int16), ct), mrml_scene)
    assert ct_node.GetDisplayNode().GetColorNodeID() == "vtkMRMLColorTableNodeGrey"
    assert ct_node.GetVoxelValueUnits().GetCodeValue() == "[hnsf'U]"
    assert ct_node.GetVoxelValueQuantity().GetCodeValue() == "112031"
    assert ct_node.GetName() == "CT image"

    dose = ImageMetadata(modality="OT", quantity=QuantityInfo(units="Gy"))
    dose_node = volume_node_from_image(QuantitativeImage(make_image(), dose), mrml_scene, "dose")
    assert dose_node.GetVoxelValueUnits().GetCodeValue() == "Gy"
    assert dose_node.GetDisplayNode().GetColorNodeID() != "vtkMRMLColorTableNodeGrey"


def test_existing_node_is_overwritten_and_stale_attributes_removed(mrml_scene):
    node = volume_node_from_image(QuantitativeImage(make_image(), FULL_META), mrml_scene, "a")
    plain = ImageMetadata(modality="CT", quantity=QuantityInfo(units="HU"))
    again = volume_node_from_image(
        QuantitativeImage(make_image(np.int16), plain), mrml_scene, "b", node=node
    )
    assert again is node and node.GetName() == "b"
    assert node.GetAttribute(PREFIX + "Nuclide") is None
    assert image_from_volume_node(node).meta == plain
    assert mrml_scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == 1


def test_bad_attributes_give_specific_errors(mrml_scene):
    node = volume_node_from_image(QuantitativeImage(make_image(), FULL_META), mrml_scene, "x")
    node.SetAttribute(PREFIX + "AdministrationDateTime", "yesterday")
    with pytest.raises(InvalidTagError, match=r"Theranostics\.AdministrationDateTime"):
        image_from_volume_node(node)
    node.SetAttribute(PREFIX + "AdministrationDateTime", "2024-05-01T09:30:00")
    node.SetAttribute(PREFIX + "Units", "mCi/cc")
    with pytest.raises(UnitsError, match=r"Theranostics\.Units"):
        image_from_volume_node(node)


def test_linear_parent_transform_is_applied(mrml_scene):
    import vtk

    image = make_image()
    node = volume_node_from_image(QuantitativeImage(image, ImageMetadata()), mrml_scene)
    transform = mrml_scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    shift = vtk.vtkMatrix4x4()
    shift.SetElement(0, 3, 10.0)  # 10 mm towards Right = -10 mm in LPS x
    transform.SetMatrixTransformToParent(shift)
    node.SetAndObserveTransformNodeID(transform.GetID())
    moved = image_from_volume_node(node).image
    np.testing.assert_allclose(
        moved.GetOrigin(), np.add(image.GetOrigin(), (-10.0, 0.0, 0.0)), atol=1e-9
    )
