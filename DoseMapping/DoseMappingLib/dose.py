"""Absorbed-dose volumes in MRML: a scalar volume node that SlicerRT treats as dose.

The dose image (Gy) becomes a ``vtkMRMLScalarVolumeNode`` through the shared volume adapter
(:mod:`TheranosticPlanningLib.volumes`, one LPS <-> RAS conversion), with:

* voxel units Gy (UCUM coded entry) and ``Theranostics.*`` metadata, units ``"Gy"``;
* the node attribute ``DicomRtImport.DoseVolume = "1"``, by which SlicerRT's DVH and Isodose
  modules recognise a dose volume (SlicerRT's
  ``vtkSlicerRtCommon::DICOMRTIMPORT_DOSE_VOLUME_IDENTIFIER_ATTRIBUTE_NAME``);
* a dose colour table (SlicerRT's "Dose_ColorTable" when present, otherwise our own
  ``vtkMRMLColorTableNode`` "TheranosticsDose", created once per scene) and a window from
  0 Gy to the maximum dose.

No Qt and no application-wide globals: the scene is an argument.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
import slicer
from TheranosticPlanningLib.volumes import image_from_volume_node, volume_node_from_image

from theranostics.errors import UnitsError
from theranostics.image import QuantitativeImage
from theranostics.metadata import ImageMetadata, QuantityInfo

#: Node attribute by which SlicerRT recognises a dose volume.
DOSE_VOLUME_ATTRIBUTE = "DicomRtImport.DoseVolume"
#: Name of our dose colour table.
DOSE_COLOR_TABLE_NAME = "TheranosticsDose"
#: Names of SlicerRT's default dose colour table, preferred when the scene has it.
SLICERRT_DOSE_COLOR_NAMES = ("Dose_ColorTable",)

# Dose colour ramp (0 Gy → max): transparent-free blue, cyan, green, yellow, orange, red.
_RAMP = np.array(
    [
        [0.00, 0.0, 0.0, 0.5],
        [0.15, 0.0, 0.0, 1.0],
        [0.35, 0.0, 1.0, 1.0],
        [0.55, 0.0, 1.0, 0.0],
        [0.75, 1.0, 1.0, 0.0],
        [0.90, 1.0, 0.5, 0.0],
        [1.00, 1.0, 0.0, 0.0],
    ]
)


def dose_color_node(scene):
    """The scene's dose colour table: SlicerRT's if present, else ours (created once)."""
    for name in (*SLICERRT_DOSE_COLOR_NAMES, DOSE_COLOR_TABLE_NAME):
        nodes = scene.GetNodesByClassByName("vtkMRMLColorTableNode", name)
        if nodes.GetNumberOfItems() > 0:
            return nodes.GetItemAsObject(0)
    node = slicer.vtkMRMLColorTableNode()
    node.SetName(DOSE_COLOR_TABLE_NAME)
    node.SetTypeToUser()
    node.SetAttribute("Category", "Theranostics")
    node.HideFromEditorsOff()
    n = 256
    node.SetNumberOfColors(n)
    t = np.linspace(0.0, 1.0, n)
    rgb = np.column_stack([np.interp(t, _RAMP[:, 0], _RAMP[:, c]) for c in (1, 2, 3)])
    for idx, (r, g, b) in enumerate(rgb):
        node.SetColor(idx, f"{idx}", float(r), float(g), float(b), 1.0)
    node.SetSingletonTag(DOSE_COLOR_TABLE_NAME)
    scene.AddNode(node)
    return node


def dose_volume_node(
    dose,
    scene,
    name: str = "Dose",
    node=None,
    reference_meta: ImageMetadata | None = None,
):
    """A scalar volume node holding an absorbed-dose image in Gy, marked as RT dose.

    Args:
        dose: ``SimpleITK.Image`` in Gy (LPS) or a :class:`QuantitativeImage` with units Gy.
        scene: the ``vtkMRMLScene``.
        name: node name.
        node: an existing scalar volume node to overwrite.
        reference_meta: metadata of the activity image the dose was computed from (patient,
            administration, frame of reference are kept; units become Gy).

    Returns:
        The volume node (in the scene) with units Gy, the dose attribute, and a dose colour map.

    Raises:
        UnitsError: a :class:`QuantitativeImage` whose units are not Gy.
    """
    if isinstance(dose, QuantitativeImage):
        if dose.meta.quantity.units != "Gy":
            raise UnitsError(
                f"image units are {dose.meta.quantity.units!r}, not Gy",
                tag="quantity.units",
                fix="pass the dose image (Gy), not the activity image",
            )
        qimage = dose
    else:
        base = reference_meta or ImageMetadata()
        meta = base.replace(
            modality="RTDOSE",
            series_description=name,
            quantity=QuantityInfo(units="Gy", units_source="dose engine"),
        )
        qimage = QuantitativeImage(sitk.Cast(dose, sitk.sitkFloat32), meta)
    node = volume_node_from_image(qimage, scene, name=name, node=node)
    node.SetAttribute(DOSE_VOLUME_ATTRIBUTE, "1")
    display = node.GetDisplayNode()
    if display is not None:
        display.SetAndObserveColorNodeID(dose_color_node(scene).GetID())
        max_dose = float(np.max(sitk.GetArrayViewFromImage(qimage.image)))
        display.AutoWindowLevelOff()
        display.SetWindowLevelMinMax(0.0, max(max_dose, 1e-6))
    return node


def is_dose_volume_node(node) -> bool:
    """True when SlicerRT would treat ``node`` as a dose volume."""
    return node is not None and node.GetAttribute(DOSE_VOLUME_ATTRIBUTE) == "1"


def dose_image_from_node(node) -> QuantitativeImage:
    """The dose image (Gy) of a dose volume node.

    Raises:
        UnitsError: the node is not marked as a dose volume in Gy.
    """
    qimage = image_from_volume_node(node)
    if not is_dose_volume_node(node) and qimage.meta.quantity.units != "Gy":
        raise UnitsError(
            f"volume node {node.GetName()!r} is not an absorbed-dose volume",
            tag=DOSE_VOLUME_ATTRIBUTE,
            fix="select a dose volume (computed by DoseMapping or imported RTDOSE)",
        )
    return qimage
