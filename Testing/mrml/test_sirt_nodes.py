"""SIRT planning on a real MRML scene (slicer-core) with the real Siemens MAA SPECT/CT."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

pytest.importorskip("slicer", reason="slicer-core is not installed (pip install -e .[slicer])")

from TheranosticPlanningLib.segmentations import segmentation_node_from_rtstruct
from TheranosticPlanningLib.sirt import (
    DOSE_VOLUME_ATTRIBUTE,
    plan_from_text_node,
    plan_sirt_from_nodes,
    plan_table_node,
    plan_text_node,
    predicted_dose_node,
)
from TheranosticPlanningLib.volumes import image_from_volume_node, volume_node_from_image

from theranostics.errors import InputError
from theranostics.image import QuantitativeImage
from theranostics.io import read_image
from theranostics.metadata import ImageMetadata, QuantityInfo
from theranostics.planning.sirt import Compartment, plan_sirt
from theranostics.planning.sirt_methods import y90_dose_constant_Gy_kg_per_GBq


def _small_plan():
    return plan_sirt(
        [
            Compartment("T", "tumor", 200.0, counts=600.0, volume_mL=190.0),
            Compartment("N", "normal", 1500.0, counts=300.0, volume_mL=1450.0),
            Compartment("L", "lung", 1000.0, counts=100.0),
        ],
        target_tumor_Gy=120.0,
    )


def test_table_and_text_nodes_round_trip(mrml_scene):
    plan = _small_plan()
    table = plan_table_node(plan, mrml_scene)
    assert table.GetNumberOfRows() == 3 + 4  # compartments + pooled groups
    names = [table.GetCellText(r, table.GetColumnIndex("name")) for r in range(7)]
    assert names[:3] == ["T", "N", "L"]
    col = table.GetTable().GetColumnByName("dose_Gy_per_GBq")
    assert col.GetValue(0) == pytest.approx(plan.partition.by_compartment["T"].dose_Gy_per_GBq)
    assert table.GetAttribute("Theranostics.SirtBindingConstraint") == '"target_tumor"'
    text = plan_text_node(plan, mrml_scene)
    back = plan_from_text_node(text)
    assert back.recommended_activity_GBq == plan.recommended_activity_GBq
    assert back.partition.compartments == plan.partition.compartments
    text.SetText('{"schema": "something-else"}')
    with pytest.raises(InputError, match="not a SIRT plan"):
        plan_from_text_node(text)


def test_dose_node_refuses_non_dose_images(mrml_scene):
    img = sitk.Image(4, 4, 4, sitk.sitkFloat32)
    meta = ImageMetadata(quantity=QuantityInfo(units="counts"))
    with pytest.raises(InputError, match="not Gy"):
        predicted_dose_node(QuantitativeImage(img, meta), mrml_scene)


@pytest.mark.realdata
@pytest.mark.slow
def test_plan_from_real_nodes(mrml_scene, siemens_maa_dir):
    spect = read_image(siemens_maa_dir / "NM")
    ct = read_image(siemens_maa_dir / "CT")
    spect_node = volume_node_from_image(spect, mrml_scene, name="MAA SPECT")
    ct_node = volume_node_from_image(ct, mrml_scene, name="CT")
    rt = next((siemens_maa_dir / "RTSTRUCT").iterdir())
    seg = segmentation_node_from_rtstruct(rt, ct, mrml_scene, names=["Tumor", "Lung"])
    nodes = plan_sirt_from_nodes(
        spect_node, ct_node, seg, {"Tumor": "tumor", "Lung": "lung"}, target_tumor_Gy=150.0
    )
    part = nodes.plan.partition
    k = y90_dose_constant_Gy_kg_per_GBq()
    assert sum(g.fraction for g in part.by_compartment.values()) <= 1.0 + 1e-12
    for c in part.compartments:
        g = part.by_compartment[c.name]
        assert 0.0 <= g.fraction <= 1.0
        assert g.dose_Gy_per_GBq == pytest.approx(k * g.fraction / (c.mass_g / 1000))
    # Dose node: marked for SlicerRT, Gy, same voxels as the core map, on the SPECT grid.
    assert nodes.dose_node.GetAttribute(DOSE_VOLUME_ATTRIBUTE) == "1"
    back = image_from_volume_node(nodes.dose_node)
    assert back.meta.quantity.units == "Gy"
    np.testing.assert_allclose(
        sitk.GetArrayFromImage(back.image), sitk.GetArrayFromImage(nodes.dose.image)
    )
    assert np.allclose(back.image.GetOrigin(), spect.image.GetOrigin(), atol=1e-4)
    assert nodes.table_node.GetNumberOfRows() == 2 + 3  # Tumor, Lung; pools tumor/lung/perfused
    assert plan_from_text_node(nodes.text_node).recommended_activity_GBq == pytest.approx(
        nodes.plan.recommended_activity_GBq
    )
    with pytest.raises(InputError, match="not in"):
        plan_sirt_from_nodes(spect_node, ct_node, seg, {"Liver": "normal", "Lung": "lung"})
