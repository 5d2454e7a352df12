"""Core masks (``uint8`` SimpleITK images in LPS) <-> ``vtkMRMLSegmentationNode``.

Each mask becomes one segment whose source representation is a binary labelmap
(``vtkOrientedImageData``) on the mask's own grid: its image-to-world matrix is the mask's
IJK-to-RAS matrix from :mod:`coordinates`, so no voxel is moved or resampled on the way in.
On the way out each segment is resampled (nearest neighbour) onto a reference grid given by
the caller. RTSTRUCT files go through the core rasteriser (:mod:`theranostics.io.rtstruct`),
so the GUI, the CLI and scripts produce the same masks.

No Qt and no application-wide globals: the scene is an argument.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import slicer
import vtk
from vtkmodules.util import numpy_support

from theranostics.errors import GeometryError, InputError
from theranostics.image import QuantitativeImage
from theranostics.io.rtstruct import rasterize_rtstruct, read_rtstruct

from .coordinates import from_vtk_matrix, ijk_to_ras_matrix, to_vtk_matrix
from .node_attributes import PREFIX

#: Colour of a segment when none is given: RGB in 0-1.
DEFAULT_COLOR = (0.9, 0.7, 0.2)


def segmentation_node_from_masks(
    masks: dict[str, sitk.Image],
    scene,
    name: str = "Segmentation",
    colors: dict[str, tuple[float, float, float]] | None = None,
):
    """A segmentation node with one binary-labelmap segment per mask.

    Args:
        masks: segment name -> 3D mask (non-zero = inside) in LPS; masks may have different
            grids.
        scene: the ``vtkMRMLScene`` to add the node to.
        name: node name.
        colors: segment name -> RGB in 0-1 (or 0-255 integers, e.g. ROIDisplayColor);
            missing names get :data:`DEFAULT_COLOR`.

    Returns:
        The node, in the scene, with a display node; segment IDs are the mask names.

    Raises:
        InputError: a mask is not a 3D scalar image.
    """
    colors = colors or {}
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    node.CreateDefaultDisplayNodes()
    segmentation = node.GetSegmentation()
    labelmap_name = slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName()
    segmentation.SetSourceRepresentationName(labelmap_name)
    for segment_name, mask in masks.items():
        labelmap = _oriented_labelmap(mask, segment_name)
        if segmentation.GetNumberOfSegments() == 0:
            # Later edits (Segment Editor) work on this grid unless the user picks another.
            parameter = slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName()
            geometry = slicer.vtkSegmentationConverter.SerializeImageGeometry(labelmap)
            segmentation.SetConversionParameter(parameter, geometry)
        segment = slicer.vtkSegment()
        segment.SetName(segment_name)
        segment.SetColor(*_unit_rgb(colors.get(segment_name, DEFAULT_COLOR)))
        segment.AddRepresentation(labelmap_name, labelmap)
        segmentation.AddSegment(segment, segment_name)
    return node


def masks_from_segmentation_node(node, reference: sitk.Image) -> dict[str, sitk.Image]:
    """Every segment as a ``uint8`` mask (1 inside) on the reference grid (LPS).

    Segments are resampled with nearest neighbour onto ``reference``'s size, origin, spacing
    and direction; a segment on the same grid comes back voxel for voxel. A linear parent
    transform of the node is applied; a non-linear one must be hardened first.

    Raises:
        GeometryError: the reference is not 3D or the node has a non-linear transform.
    """
    if reference.GetDimension() != 3:
        raise GeometryError(
            f"reference image is {reference.GetDimension()}D; masks need a 3D grid",
            tag="reference image",
            fix="pass the 3D image whose grid the masks should have",
        )
    target = _oriented_geometry(reference)
    to_world = _linear_to_world(node)
    segmentation = node.GetSegmentation()
    _ensure_binary_labelmaps(node, target)
    masks: dict[str, sitk.Image] = {}
    for index in range(segmentation.GetNumberOfSegments()):
        segment_id = segmentation.GetNthSegmentID(index)
        labelmap = slicer.vtkOrientedImageData()
        node.GetBinaryLabelmapRepresentation(segment_id, labelmap)
        if to_world is not None:
            moved = to_world @ from_vtk_matrix(_image_to_world(labelmap))
            labelmap.SetImageToWorldMatrix(to_vtk_matrix(moved))
        resampled = slicer.vtkOrientedImageData()
        slicer.vtkOrientedImageDataResample.ResampleOrientedImageToReferenceOrientedImage(
            labelmap, target, resampled, False, False
        )
        array = _voxels(resampled, reference.GetSize())
        mask = sitk.GetImageFromArray((array > 0).astype(np.uint8))
        mask.CopyInformation(reference)
        masks[segmentation.GetSegment(segment_id).GetName()] = mask
    return masks


def _ensure_binary_labelmaps(node, target) -> None:
    """Make sure every segment has a binary labelmap before it is read.

    ``GetBinaryLabelmapRepresentation`` only copies an existing labelmap; a segmentation
    held as closed surfaces (an imported RTSTRUCT, a model) has none, and the copy would be
    empty ("If representation does not exist yet then CreateBinaryLabelmapRepresentation()
    must be called before this method", Libs/MRML/Core/vtkMRMLSegmentationNode.h). When the
    node names no reference geometry for the conversion, the reference grid is used, as
    Slicer does for the segment editor's source volume.

    Raises:
        InputError: the conversion is not possible (no conversion path from the source
            representation).
    """
    labelmap_name = slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName()
    segmentation = node.GetSegmentation()
    if segmentation.GetNumberOfSegments() == 0 or segmentation.ContainsRepresentation(
        labelmap_name
    ):
        return
    geometry = slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName()
    if not segmentation.GetConversionParameter(geometry):
        segmentation.SetConversionParameter(
            geometry, slicer.vtkSegmentationConverter.SerializeImageGeometry(target)
        )
    if not node.CreateBinaryLabelmapRepresentation():
        raise InputError(
            f"segmentation {node.GetName()!r} cannot be converted to a binary labelmap "
            f"(its source representation is {segmentation.GetSourceRepresentationName()!r})",
            path=node.GetName(),
            fix="convert it to a binary labelmap in the Segmentations module",
        )


def segmentation_node_from_rtstruct(
    path: str | Path,
    reference: QuantitativeImage | sitk.Image,
    scene,
    names: list[str] | None = None,
    name: str | None = None,
):
    """A segmentation node from an RTSTRUCT file, rasterised on the reference grid.

    Masks come from :func:`theranostics.io.rtstruct.rasterize_rtstruct` (rule documented in
    ``docs/rtstruct.md``), segment colours from ROIDisplayColor. ROIs outside the reference
    grid give empty segments rather than an error (the RTSTRUCT often covers more than a
    SPECT field of view); the file's findings are kept in ``Theranostics.Problems``.

    Args:
        path: the RTSTRUCT file (only read).
        reference: the grid; a :class:`QuantitativeImage` also has its frame of reference
            checked against the structure set's.
        scene: the ``vtkMRMLScene``.
        names: ROI names to import; ``None`` imports all.
        name: node name; default the StructureSetLabel or the file name.

    Raises:
        NotDicomError, InvalidTagError, MissingTagError, GeometryError: see the core reader and
        rasteriser.
    """
    struct = read_rtstruct(path)
    masks = rasterize_rtstruct(struct, reference, names, allow_outside=True)
    colors = {}
    for key in masks:
        roi = next(r for r in struct.rois if key in (r.name, f"{r.name} [{r.number}]"))
        if roi.color_rgb is not None:
            colors[key] = roi.color_rgb
    node = segmentation_node_from_masks(
        masks, scene, name or struct.label or Path(path).stem, colors
    )
    node.SetAttribute(PREFIX + "SourceFiles", json.dumps([str(path)]))
    if struct.problems:
        node.SetAttribute(PREFIX + "Problems", json.dumps(list(struct.problems)))
    return node


def _unit_rgb(color) -> tuple[float, float, float]:
    values = [float(c) for c in color]
    if any(c > 1.0 for c in values):  # 0-255 integers such as ROIDisplayColor
        values = [c / 255.0 for c in values]
    return tuple(values)


def _oriented_geometry(image: sitk.Image) -> slicer.vtkOrientedImageData:
    """An empty vtkOrientedImageData with the grid of ``image`` (RAS image-to-world)."""
    oriented = slicer.vtkOrientedImageData()
    size = image.GetSize()
    oriented.SetExtent(0, size[0] - 1, 0, size[1] - 1, 0, size[2] - 1)
    matrix = ijk_to_ras_matrix(
        image.GetOrigin(), image.GetSpacing(), np.reshape(image.GetDirection(), (3, 3))
    )
    oriented.SetImageToWorldMatrix(to_vtk_matrix(matrix))
    return oriented


def _oriented_labelmap(mask: sitk.Image, segment_name: str) -> slicer.vtkOrientedImageData:
    if mask.GetDimension() != 3 or mask.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"mask {segment_name!r} is not a 3D scalar image",
            tag="mask",
            fix="pass 3D masks such as those of theranostics.io.rtstruct.rasterize_rtstruct",
        )
    labelmap = _oriented_geometry(mask)
    flat = (sitk.GetArrayViewFromImage(mask) != 0).astype(np.uint8).ravel()  # [k, j, i] order
    scalars = numpy_support.numpy_to_vtk(flat, deep=True, array_type=vtk.VTK_UNSIGNED_CHAR)
    scalars.SetName("ImageScalars")
    labelmap.GetPointData().SetScalars(scalars)
    return labelmap


def _image_to_world(oriented) -> vtk.vtkMatrix4x4:
    matrix = vtk.vtkMatrix4x4()
    oriented.GetImageToWorldMatrix(matrix)
    return matrix


def _linear_to_world(node) -> np.ndarray | None:
    transform_node = node.GetParentTransformNode()
    if transform_node is None:
        return None
    if not transform_node.IsTransformToWorldLinear():
        raise GeometryError(
            f"segmentation {node.GetName()!r} is under the non-linear transform "
            f"{transform_node.GetName()!r}",
            tag="parent transform",
            fix="harden the transform on the segmentation before exporting masks",
        )
    matrix = vtk.vtkMatrix4x4()
    transform_node.GetMatrixTransformToWorld(matrix)
    return from_vtk_matrix(matrix)


def _voxels(oriented, size: tuple[int, int, int]) -> np.ndarray:
    """The scalars of ``oriented`` as ``[k, j, i]``; an empty labelmap gives zeros."""
    scalars = oriented.GetPointData().GetScalars()
    extent = oriented.GetExtent()
    expected = (0, size[0] - 1, 0, size[1] - 1, 0, size[2] - 1)
    if scalars is None or tuple(extent) != expected:
        if scalars is None or oriented.GetNumberOfPoints() == 0:
            return np.zeros(size[::-1], dtype=np.uint8)
        raise GeometryError(
            f"resampled segment has extent {tuple(extent)}, expected {expected}",
            tag="segment geometry",
            fix="report this as a bug with the segmentation and reference image",
        )
    return numpy_support.vtk_to_numpy(scalars).reshape(size[::-1])
