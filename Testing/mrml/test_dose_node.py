"""Dose volume node on a real MRML scene (slicer-core): units, SlicerRT attribute, colours."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

pytest.importorskip("slicer", reason="slicer-core is not installed (pip install -e .[slicer])")

from DoseMappingLib.dose import (
    DOSE_COLOR_TABLE_NAME,
    DOSE_VOLUME_ATTRIBUTE,
    dose_image_from_node,
    dose_volume_node,
    is_dose_volume_node,
)

from theranostics.errors import UnitsError
from theranostics.image import QuantitativeImage
from theranostics.metadata import ImageMetadata, QuantityInfo


def _dose_image():
    arr = np.zeros((4, 5, 6), dtype=np.float32)
    arr[2, 3, 4] = 12.5
    arr[1, 1, 1] = 3.0
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((4.8, 4.8, 4.8))
    img.SetOrigin((-10.0, 20.0, 30.0))
    return img


def test_dose_node_is_recognised_by_slicerrt_and_keeps_voxels(mrml_scene):
    img = _dose_image()
    node = dose_volume_node(img, mrml_scene, name="Dose Lu-177")
    assert node.GetAttribute(DOSE_VOLUME_ATTRIBUTE) == "1"
    assert is_dose_volume_node(node)
    assert node.GetVoxelValueUnits().GetCodeValue() == "Gy"
    back = dose_image_from_node(node)
    assert back.meta.quantity.units == "Gy"
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back.image), sitk.GetArrayFromImage(img))
    assert np.allclose(back.image.GetOrigin(), img.GetOrigin())


def test_dose_colour_table_and_window(mrml_scene):
    node = dose_volume_node(_dose_image(), mrml_scene)
    display = node.GetDisplayNode()
    color = display.GetColorNode()
    assert color is not None and color.GetName() == DOSE_COLOR_TABLE_NAME
    assert display.GetWindowLevelMin() == pytest.approx(0.0)
    assert display.GetWindowLevelMax() == pytest.approx(12.5)
    # A second dose volume reuses the same colour table.
    other = dose_volume_node(_dose_image(), mrml_scene, name="Dose 2")
    assert other.GetDisplayNode().GetColorNodeID() == color.GetID()
    tables = mrml_scene.GetNodesByClassByName("vtkMRMLColorTableNode", DOSE_COLOR_TABLE_NAME)
    assert tables.GetNumberOfItems() == 1


def test_non_dose_image_is_refused(mrml_scene):
    activity = QuantitativeImage(_dose_image(), ImageMetadata(quantity=QuantityInfo(units="Bq/mL")))
    with pytest.raises(UnitsError, match="not Gy"):
        dose_volume_node(activity, mrml_scene)
