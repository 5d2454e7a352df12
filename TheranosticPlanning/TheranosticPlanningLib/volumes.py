"""Core :class:`~theranostics.image.QuantitativeImage` <-> ``vtkMRMLScalarVolumeNode``.

Voxels are copied (numpy ``[k, j, i]`` order on both sides, so no axis is swapped). Geometry:
the node's origin, spacing and IJK-to-RAS directions are set from the SimpleITK origin, spacing
and direction through :mod:`coordinates` (the single LPS <-> RAS flip), so voxel (i, j, k) is
the same physical point in the core (LPS) and in Slicer (RAS, x and y negated). Metadata goes
to ``Theranostics.*`` node attributes (:mod:`node_attributes`), the voxel quantity and units to
MRML's coded entries, and the display to a colour table suited to the units.

No Qt and no application-wide globals: the scene is an argument.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
import slicer
import vtk
from vtkmodules.util import numpy_support

from theranostics.errors import GeometryError, InputError
from theranostics.image import QuantitativeImage

from .coordinates import direction_lps_to_ras, direction_ras_to_lps, lps_to_ras, ras_to_lps
from .node_attributes import PREFIX, read_metadata, write_metadata

#: units -> (quantity (scheme, value, meaning), UCUM units (value, meaning)). Codes from DICOM
#: (DCM) where one exists; "99THERANOSTICS" is a local scheme (DICOM's "99" convention).
VOXEL_CODES: dict[str, tuple[tuple[str, str, str], tuple[str, str]]] = {
    "Bq/mL": (("99THERANOSTICS", "ActivityConcentration", "Activity concentration"),
              ("Bq/ml", "becquerels per milliliter")),
    "counts": (("99THERANOSTICS", "Counts", "Counts"), ("{counts}", "counts")),
    "cps": (("99THERANOSTICS", "CountRate", "Count rate"), ("{counts}/s", "counts per second")),
    "HU": (("DCM", "112031", "Attenuation Coefficient"), ("[hnsf'U]", "Hounsfield unit")),
    "SUVbw": (("DCM", "126401", "SUVbw"), ("g/ml", "grams per milliliter")),
    "SUVlbm": (("99THERANOSTICS", "SUVlbm", "SUV lean body mass"),
               ("g/ml", "grams per milliliter")),
    "SUVbsa": (("99THERANOSTICS", "SUVbsa", "SUV body surface area"),
               ("cm2/ml", "square centimeters per milliliter")),
    "Gy": (("99THERANOSTICS", "AbsorbedDose", "Absorbed dose"), ("Gy", "gray")),
    "MBq*h": (("99THERANOSTICS", "TimeIntegratedActivity", "Time-integrated activity"),
              ("MBq.h", "megabecquerel hours")),
    "1": (("99THERANOSTICS", "Unitless", "Unitless"), ("1", "no units")),
}  # fmt: skip

#: units -> colour node IDs to try in order (the first present in the scene wins, Grey last).
COLOR_PREFERENCES: dict[str, tuple[str, ...]] = {
    "Bq/mL": ("vtkMRMLPETProceduralColorNodePET-Heat", "vtkMRMLColorTableNodeInvertedGrey"),
    "counts": ("vtkMRMLPETProceduralColorNodePET-Heat", "vtkMRMLColorTableNodeInvertedGrey"),
    "cps": ("vtkMRMLPETProceduralColorNodePET-Heat", "vtkMRMLColorTableNodeInvertedGrey"),
    "SUVbw": ("vtkMRMLPETProceduralColorNodePET-Heat", "vtkMRMLColorTableNodeInvertedGrey"),
    "SUVlbm": ("vtkMRMLPETProceduralColorNodePET-Heat", "vtkMRMLColorTableNodeInvertedGrey"),
    "SUVbsa": ("vtkMRMLPETProceduralColorNodePET-Heat", "vtkMRMLColorTableNodeInvertedGrey"),
    "MBq*h": ("vtkMRMLPETProceduralColorNodePET-Heat", "vtkMRMLColorTableNodeInvertedGrey"),
    "Gy": ("vtkMRMLPETProceduralColorNodePET-Rainbow2", "vtkMRMLColorTableNodeRainbow"),
}
GREY = "vtkMRMLColorTableNodeGrey"


def volume_node_from_image(
    qimage: QuantitativeImage,
    scene,
    name: str | None = None,
    node=None,
):
    """A scalar volume node holding a copy of ``qimage`` (voxels, geometry, metadata).

    Args:
        qimage: the core image (LPS geometry, ``meta.quantity.units`` for the display).
        scene: the ``vtkMRMLScene`` to add a new node to (ignored when ``node`` is given).
        name: node name; default the series description, or ``"<modality> image"``.
        node: an existing ``vtkMRMLScalarVolumeNode`` to overwrite instead of adding one.

    Returns:
        The node, in the scene, with a display node and ``Theranostics.*`` attributes.

    Raises:
        InputError: the image is not a 3D scalar image.
    """
    image = qimage.image
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"a {image.GetDimension()}D image with {image.GetNumberOfComponentsPerPixel()} "
            f"components per voxel cannot become a scalar volume node",
            tag="image dimension / components",
            fix="pass a 3D scalar image (one value per voxel)",
        )
    meta = qimage.meta
    name = name or meta.series_description or f"{meta.modality} image"
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    else:
        node.SetName(name)

    node.SetAndObserveImageData(_image_data(sitk.GetArrayFromImage(image)))
    node.SetOrigin(*lps_to_ras(image.GetOrigin()).tolist())
    node.SetSpacing(*image.GetSpacing())
    direction = vtk.vtkMatrix4x4()
    ras = direction_lps_to_ras(np.asarray(image.GetDirection()).reshape(3, 3))
    for row in range(3):
        for col in range(3):
            direction.SetElement(row, col, float(ras[row, col]))
    node.SetIJKToRASDirectionMatrix(direction)

    write_metadata(node, meta)
    units = meta.quantity.units
    _set_voxel_codes(node, units)
    _set_display(node, units)
    return node


def image_from_volume_node(node) -> QuantitativeImage:
    """The node's voxels, geometry (back to LPS) and ``Theranostics.*`` metadata.

    A node under a linear transform is read in world coordinates (the transform is applied
    to the geometry); a non-linear transform must be hardened first.

    Raises:
        GeometryError: the node has no image data, or a non-linear parent transform.
        InvalidTagError, UnitsError: a ``Theranostics.*`` attribute is malformed.
    """
    image_data = node.GetImageData()
    if image_data is None or image_data.GetPointData().GetScalars() is None:
        raise GeometryError(
            f"volume node {node.GetName()!r} has no voxels",
            tag="image data",
            fix="load or compute the volume before converting it",
        )
    dims = image_data.GetDimensions()
    components = image_data.GetNumberOfScalarComponents()
    scalars = numpy_support.vtk_to_numpy(image_data.GetPointData().GetScalars())
    if components != 1:
        raise GeometryError(
            f"volume node {node.GetName()!r} has {components} components per voxel",
            tag="image data",
            fix="use a scalar volume",
        )
    array = np.array(scalars, copy=True).reshape(dims[2], dims[1], dims[0])
    image = sitk.GetImageFromArray(array)

    spacing = np.array(node.GetSpacing(), dtype=float)
    direction_matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASDirectionMatrix(direction_matrix)
    direction_ras = np.array([[direction_matrix.GetElement(r, c) for c in range(3)]
                              for r in range(3)])  # fmt: skip
    origin_ras = np.array(node.GetOrigin(), dtype=float)
    origin_ras, direction_ras, spacing = _apply_parent_transform(
        node, origin_ras, direction_ras, spacing
    )
    image.SetOrigin(ras_to_lps(origin_ras).tolist())
    image.SetSpacing(spacing.tolist())
    image.SetDirection(direction_ras_to_lps(direction_ras).ravel().tolist())
    return QuantitativeImage(image, read_metadata(node))


def _image_data(array: np.ndarray) -> vtk.vtkImageData:
    """vtkImageData with the voxels of a ``[k, j, i]`` array (origin 0, spacing 1: MRML keeps
    the geometry on the node)."""
    data = vtk.vtkImageData()
    data.SetDimensions(array.shape[2], array.shape[1], array.shape[0])
    flat = np.ascontiguousarray(array).ravel()  # C order of [k, j, i] is VTK's i-fastest order
    if flat.dtype == np.bool_:
        flat = flat.astype(np.uint8)
    scalars = numpy_support.numpy_to_vtk(flat, deep=True)
    scalars.SetName("ImageScalars")
    data.GetPointData().SetScalars(scalars)
    return data


def _apply_parent_transform(node, origin_ras, direction_ras, spacing):
    transform_node = node.GetParentTransformNode()
    if transform_node is None:
        return origin_ras, direction_ras, spacing
    if not transform_node.IsTransformToWorldLinear():
        raise GeometryError(
            f"volume node {node.GetName()!r} is under the non-linear transform "
            f"{transform_node.GetName()!r}",
            tag="parent transform",
            fix="harden the transform on the volume (resample it) before converting",
        )
    to_world = vtk.vtkMatrix4x4()
    transform_node.GetMatrixTransformToWorld(to_world)
    world = np.array([[to_world.GetElement(r, c) for c in range(4)] for r in range(4)])
    ijk_to_ras = np.eye(4)
    ijk_to_ras[:3, :3] = direction_ras @ np.diag(spacing)
    ijk_to_ras[:3, 3] = origin_ras
    moved = world @ ijk_to_ras
    new_spacing = np.linalg.norm(moved[:3, :3], axis=0)
    return moved[:3, 3], moved[:3, :3] / new_spacing, new_spacing


def _coded_entry(scheme: str, value: str, meaning: str):
    entry = slicer.vtkCodedEntry()
    entry.SetValueSchemeMeaning(value, scheme, meaning)
    return entry


def _set_voxel_codes(node, units: str) -> None:
    """Voxel value quantity and units (shown by Slicer's data probe next to the value)."""
    codes = VOXEL_CODES.get(units)
    if codes is None:
        return
    (scheme, value, meaning), (ucum, ucum_meaning) = codes
    node.SetVoxelValueQuantity(_coded_entry(scheme, value, meaning))
    node.SetVoxelValueUnits(_coded_entry("UCUM", ucum, ucum_meaning))
    node.SetAttribute(PREFIX + "Quantity", meaning)


def _set_display(node, units: str) -> None:
    """Create the default display node and pick a colour table that exists in the scene."""
    node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    scene = node.GetScene()
    if display is None or scene is None:
        return
    for color_id in (*COLOR_PREFERENCES.get(units, ()), GREY):
        if scene.GetNodeByID(color_id) is not None:
            display.SetAndObserveColorNodeID(color_id)
            break
    display.AutoWindowLevelOn()
