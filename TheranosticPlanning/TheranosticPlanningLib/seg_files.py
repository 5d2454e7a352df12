"""Segmentations the user loaded from ``.seg.nrrd`` files, for SIRT planning in Slicer.

- :func:`load_segmentation_file`: reads a ``.seg.nrrd`` into a ``vtkMRMLSegmentationNode``
  with Slicer's own reader (``vtkMRMLSegmentationStorageNode``: layers, label values,
  overlapping segments), as File > Add Data does.
- :func:`segmentation_grid`: the grid the segments were drawn on (the node's "Reference image
  geometry" conversion parameter, else the first segment's labelmap), in LPS.
- :func:`slicer_segmentation_from_node`: every segment of a node, on that grid, as the
  core's :class:`~theranostics.io.slicer_files.SlicerSegmentation` (each segment its own
  layer, so overlaps are kept), which the core planner
  (:func:`theranostics.planning.sirt_files.plan_sirt_files`) and the SIRT dosimetry use.
- :func:`segment_rows`: name, ID, voxel count, volume and colour of each segment (for the
  panel's compartment choosers).
- :func:`plan_sirt_from_segmentation_node`: a SIRT plan from a SPECT volume node and such a
  segmentation node without a CT (compartments by segment name, planar lung shunt
  fraction), with the table, predicted-dose and plan-JSON nodes of :mod:`.sirt`.

No Qt and no application-wide globals: the scene is an argument or comes from the nodes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk
import slicer
import vtk

from theranostics.errors import InputError
from theranostics.io.slicer_files import SegmentInfo, SlicerSegmentation

from .coordinates import direction_ras_to_lps, from_vtk_matrix, ras_to_lps
from .segmentations import masks_from_segmentation_node


def load_segmentation_file(path: str | Path, scene, name: str | None = None):
    """A segmentation node read from a ``.seg.nrrd`` with Slicer's segmentation storage node.

    Raises:
        FileNotFoundError: no such file.
        InputError: Slicer cannot read it, or it holds no segment.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such segmentation file")
    stem = path.name[: -len(".seg.nrrd")] if path.name.endswith(".seg.nrrd") else path.stem
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name or stem)
    storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(path))
    node.SetAndObserveStorageNodeID(storage.GetID())
    if not storage.ReadData(node) or node.GetSegmentation().GetNumberOfSegments() == 0:
        scene.RemoveNode(node)
        scene.RemoveNode(storage)
        raise InputError(
            "Slicer read no segment from the file",
            path=path,
            tag="SegmentN_Name",
            fix="save the segmentation from Slicer's Segmentations module as .seg.nrrd",
        )
    node.CreateDefaultDisplayNodes()
    return node


def _grid_from_oriented(oriented) -> sitk.Image:
    matrix = vtk.vtkMatrix4x4()
    oriented.GetImageToWorldMatrix(matrix)
    m = from_vtk_matrix(matrix)
    extent = oriented.GetExtent()
    spacing = np.linalg.norm(m[:3, :3], axis=0)
    direction_ras = m[:3, :3] / spacing
    origin_ras = m[:3, :3] @ np.array([extent[0], extent[2], extent[4]], float) + m[:3, 3]
    size = [int(extent[2 * a + 1] - extent[2 * a] + 1) for a in range(3)]
    grid = sitk.Image(size, sitk.sitkUInt8)
    grid.SetSpacing(spacing.tolist())
    grid.SetOrigin(ras_to_lps(origin_ras).tolist())
    grid.SetDirection(direction_ras_to_lps(direction_ras).ravel().tolist())
    return grid


def segmentation_grid(node) -> sitk.Image:
    """An empty ``uint8`` image with the grid the node's segments are stored on (LPS).

    Raises:
        InputError: the node has no reference geometry and no segment with a labelmap.
    """
    segmentation = node.GetSegmentation()
    parameter = slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName()
    text = segmentation.GetConversionParameter(parameter)
    oriented = slicer.vtkOrientedImageData()
    if text and slicer.vtkSegmentationConverter.DeserializeImageGeometry(text, oriented, False):
        return _grid_from_oriented(oriented)
    if segmentation.GetNumberOfSegments():
        node.GetBinaryLabelmapRepresentation(segmentation.GetNthSegmentID(0), oriented)
        if oriented.GetNumberOfPoints():
            return _grid_from_oriented(oriented)
    raise InputError(
        f"segmentation {node.GetName()!r} has no geometry (no segment, no reference image)",
        path=node.GetName(),
        fix="draw or load segments first",
    )


def slicer_segmentation_from_node(node) -> SlicerSegmentation:
    """The node's segments on their own grid as a core
    :class:`~theranostics.io.slicer_files.SlicerSegmentation` (segment i in layer i, label
    value 1; segment names as shown in Slicer).

    Raises:
        InputError: no segments, or two segments with the same name.
    """
    grid = segmentation_grid(node)
    masks = masks_from_segmentation_node(node, grid)
    segmentation = node.GetSegmentation()
    names = [segmentation.GetNthSegment(i).GetName() for i in range(len(masks))]
    if len(set(names)) != len(names):
        raise InputError(
            f"segmentation {node.GetName()!r} has several segments with the same name",
            path=node.GetName(),
            tag="segment name",
            fix="rename the segments so that every one has its own name",
        )
    segments, layers = [], []
    for index in range(segmentation.GetNumberOfSegments()):
        segment = segmentation.GetNthSegment(index)
        segments.append(
            SegmentInfo(
                index=index,
                segment_id=segmentation.GetNthSegmentID(index),
                name=segment.GetName(),
                label_value=1,
                layer=index,
                color=tuple(segment.GetColor()),
            )
        )
        layers.append(masks[segment.GetName()])
    return SlicerSegmentation(node.GetName(), tuple(segments), tuple(layers))


def segment_rows(node) -> list[dict]:
    """One dict per segment: ``name``, ``segment_id``, ``voxels``, ``volume_mL``, ``color``
    (voxels on the segmentation's own grid)."""
    seg = slicer_segmentation_from_node(node)
    counts = seg.voxel_counts()
    return [
        {
            "name": s.name,
            "segment_id": s.segment_id,
            "voxels": counts[s.name],
            "volume_mL": counts[s.name] * seg.voxel_volume_mL,
            "color": s.color,
        }
        for s in seg.segments
    ]


def plan_sirt_from_segmentation_node(
    spect_node,
    segmentation_node,
    *,
    tumors,
    normal: str | None = None,
    normal_role: str = "normal",
    lung: str | None = None,
    lung_shunt_fraction: float | None = None,
    others=(),
    clip_negative: bool = False,
    density_g_per_mL: float = 1.03,
    name: str = "SIRT",
    **plan_options,
):
    """Plan 90Y SIRT from an MAA SPECT volume node and a segmentation node without a CT
    (:func:`theranostics.planning.sirt_files.plan_sirt_files`) and add the plan table,
    predicted-dose and plan-JSON nodes (:mod:`.sirt`) to the scene.

    Args:
        spect_node: MAA SPECT scalar volume (``Theranostics.*`` units counts/cps/Bq/mL).
        segmentation_node: e.g. loaded by :func:`load_segmentation_file`.
        tumors, normal, normal_role, lung, lung_shunt_fraction, others, clip_negative,
            density_g_per_mL: see ``plan_sirt_files``.
        name: prefix of the new nodes' names.
        plan_options: method, target_*, limits, height_m, weight_kg, bsa_formula,
            rounding_GBq.

    Returns:
        :class:`~.sirt.SirtNodes`.

    Raises:
        InputError: any refusal of the core (unknown segment names, no lung information ...).
    """
    from theranostics.planning.sirt_files import plan_sirt_files

    from .sirt import SirtNodes, plan_table_node, plan_text_node, predicted_dose_node
    from .volumes import image_from_volume_node

    scene = spect_node.GetScene()
    result = plan_sirt_files(
        image_from_volume_node(spect_node),
        slicer_segmentation_from_node(segmentation_node),
        tumors=list(tumors),
        normal=normal,
        normal_role=normal_role,
        lung=lung,
        lung_shunt_fraction=lung_shunt_fraction,
        others=list(others),
        clip_negative=clip_negative,
        density_g_per_mL=density_g_per_mL,
        **plan_options,
    )
    return SirtNodes(
        plan=result.plan,
        table_node=plan_table_node(result.plan, scene, f"{name} plan"),
        dose_node=predicted_dose_node(result.dose, scene, f"{name} predicted dose"),
        text_node=plan_text_node(result.plan, scene, f"{name} plan JSON"),
        dose=result.dose,
    )
