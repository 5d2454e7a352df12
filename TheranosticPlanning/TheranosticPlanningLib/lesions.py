"""Lesions and organs at risk as MRML nodes (no Qt, no application-wide globals).

- :func:`lesion_segmentation_node`: one segment per lesion of a core
  :class:`theranostics.lesions.LesionSegmentation`, each with a distinct colour and the
  DICOM terminology "Morphologically altered structure / Mass" (SNOMED CT 49755003 /
  4147007) in Slicer's ``TerminologyEntry`` string format;
- :func:`organ_segmentation_node`: organ masks as a second segmentation node, with SNOMED CT
  anatomy codes for the organs we can name with confidence (kidney, liver, spleen, lung,
  bladder, colon, small intestine; left/right modifiers), name and colour otherwise;
- :func:`biomarker_table_node`: a ``vtkMRMLTableNode`` of the biomarker table (column names
  carry the units, e.g. ``volume_mL``; unit labels are also set per column);
- :func:`response_table_node`: the lesion-by-lesion response table;
- :func:`seeds_from_markups`: control points of a ``vtkMRMLMarkupsFiducialNode`` (world RAS)
  as LPS seeds for :func:`theranostics.lesions.segment_lesions`;
- :func:`candidate_segmentation_node`: every candidate of a
  :class:`theranostics.lesions.detection.LesionDetection` as a segment coloured by its class,
  "lesion" or "physiological (organ)"; :func:`set_candidate_class` moves one segment from one
  class to the other (the panel's per-row checkbox), :func:`candidate_rows` lists them for
  the table and :func:`lesion_masks_from_candidates` gives the masks of the segments now
  called lesions (for the biomarkers).
"""

from __future__ import annotations

import colorsys
import json

import SimpleITK as sitk
import vtk

from theranostics.lesions import BiomarkerTable, LesionSegmentation, ResponseAssessment
from theranostics.lesions.detection import LesionDetection

from .coordinates import ras_to_lps
from .node_attributes import PREFIX
from .segmentations import masks_from_segmentation_node, segmentation_node_from_masks

_CONTEXT = "Segmentation category and type - 3D Slicer General Anatomy list"
_ANATOMY = "Anatomic codes - DICOM master list"
_STRUCTURE = "SCT^123037004^Anatomical Structure"
#: Terminology of a lesion segment (category ~ type ~ type modifier ~ anatomic context ...).
LESION_TERMINOLOGY = (
    f"{_CONTEXT}~SCT^49755003^Morphologically Altered Structure~SCT^4147007^Mass~^^"
    f"~{_ANATOMY}~^^~^^"
)
_ORGAN_TYPES = {
    "kidney": "SCT^64033007^Kidney",
    "liver": "SCT^10200004^Liver",
    "spleen": "SCT^78961009^Spleen",
    "lung": "SCT^39607008^Lung",
    "bladder": "SCT^89837001^Bladder",
    "colon": "SCT^71854001^Colon",
    "small_bowel": "SCT^30315005^Small Intestine",
}
_SIDES = {"left": "SCT^7771000^Left", "right": "SCT^24028007^Right"}

#: Unit label of a column, from the suffix of its key.
_UNIT_SUFFIXES = {
    "_mL": "mL",
    "_MBq": "MBq",
    "_Bq_per_mL": "Bq/mL",
    "_mm": "mm",
    "_percent": "%",
}


def organ_terminology(name: str) -> str | None:
    """Slicer terminology string for an organ name such as ``kidney_left``, or ``None``."""
    lower = name.lower()
    for key, code in _ORGAN_TYPES.items():
        if key in lower:
            side = next((c for s, c in _SIDES.items() if s in lower), "^^")
            return f"{_CONTEXT}~{_STRUCTURE}~{code}~{side}~{_ANATOMY}~^^~^^"
    return None


def distinct_colors(count: int) -> list[tuple[float, float, float]]:
    """``count`` well-separated RGB colours (0-1): hues stepped by the golden angle."""
    return [colorsys.hsv_to_rgb((0.08 + i * 0.381966) % 1.0, 0.75, 0.95) for i in range(count)]


def _set_terminology(segment, entry: str) -> None:
    # Slicer >= 5.9 has SetTerminology; older versions read the tag of the same name.
    if hasattr(segment, "SetTerminology"):
        segment.SetTerminology(entry)
    else:
        segment.SetTag(segment.GetTerminologyEntryTagName(), entry)


def lesion_segmentation_node(segmentation: LesionSegmentation, scene, name: str = "Lesions"):
    """A segmentation node with one segment per lesion (IDs and names ``lesion_001`` ...).

    The method, unit, parameters and notes are kept as JSON node attributes
    (``Theranostics.LesionMethod``, ``.LesionParameters``, ``.Problems``).
    """
    masks = segmentation.masks()
    colors = dict(zip(masks, distinct_colors(len(masks))))
    node = segmentation_node_from_masks(masks, scene, name, colors)
    seg = node.GetSegmentation()
    for lesion in masks:
        _set_terminology(seg.GetSegment(lesion), LESION_TERMINOLOGY)
    node.SetAttribute(PREFIX + "LesionMethod", segmentation.method)
    node.SetAttribute(PREFIX + "LesionParameters", json.dumps(segmentation.to_json()))
    if segmentation.notes:
        node.SetAttribute(PREFIX + "Problems", json.dumps(list(segmentation.notes)))
    return node


def organ_segmentation_node(masks: dict, scene, name: str = "Organs", notes=()):
    """Organ masks (name -> uint8 LPS mask, any grids) as a segmentation node with
    terminology where :func:`organ_terminology` knows the organ."""
    colors = dict(zip(masks, distinct_colors(len(masks))))
    node = segmentation_node_from_masks(masks, scene, name, colors)
    seg = node.GetSegmentation()
    for organ in masks:
        entry = organ_terminology(organ)
        if entry:
            _set_terminology(seg.GetSegment(organ), entry)
    if notes:
        node.SetAttribute(PREFIX + "Problems", json.dumps(list(notes)))
    return node


def _unit(column: str) -> str:
    if column.startswith(("suv_", "sul_")) or column == "total_lesion_uptake_mL":
        return "g/mL" if column != "total_lesion_uptake_mL" else "g/mL*mL"
    return next((u for s, u in _UNIT_SUFFIXES.items() if column.endswith(s)), "")


def table_node_from_rows(rows: list[dict], scene, name: str):
    """A ``vtkMRMLTableNode`` with one row per dict: numbers as double columns (``None`` as
    NaN), everything else as strings; unit labels from the column names."""
    node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    for column in columns:
        values = [row.get(column) for row in rows]
        numeric = all(v is None or isinstance(v, (int, float)) for v in values) and any(
            v is not None for v in values
        )
        array = vtk.vtkDoubleArray() if numeric else vtk.vtkStringArray()
        array.SetName(column)
        for v in values:
            if numeric:
                array.InsertNextValue(float("nan") if v is None else float(v))
            else:
                array.InsertNextValue("" if v is None else str(v))
        node.AddColumn(array)
        unit = _unit(column)
        if unit:
            node.SetColumnUnitLabel(column, unit)
    return node


def biomarker_table_node(table: BiomarkerTable, scene, name: str = "Lesion biomarkers"):
    """The per-lesion biomarkers as a table node (LPS points split into x/y/z columns); the
    totals are a JSON attribute ``Theranostics.Total`` and a last row named ``total``."""
    rows = table.rows()
    total = {"name": "total", **{k: v for k, v in table.total.items() if k != "lesion_count"}}
    node = table_node_from_rows([*rows, total], scene, name)
    node.SetAttribute(PREFIX + "Total", json.dumps(table.total))
    node.SetAttribute(PREFIX + "Units", table.unit)
    return node


def response_table_node(assessment: ResponseAssessment, scene, name: str = "Response"):
    """The lesion-by-lesion response table; PERCIST and RECIP results as JSON attributes
    ``Theranostics.PERCIST`` and ``Theranostics.RECIP``."""
    node = table_node_from_rows(assessment.rows, scene, name)
    node.SetAttribute(PREFIX + "PERCIST", json.dumps(assessment.percist))
    node.SetAttribute(PREFIX + "RECIP", json.dumps(assessment.recip))
    return node


def seeds_from_markups(node) -> list[tuple[float, float, float]]:
    """Control points of a markups node as LPS points (mm), parent transforms applied
    (world coordinates), in control-point order."""
    seeds = []
    for index in range(node.GetNumberOfControlPoints()):
        ras = [0.0, 0.0, 0.0]
        node.GetNthControlPointPositionWorld(index, ras)
        seeds.append(tuple(float(c) for c in ras_to_lps(ras)))
    return seeds


#: Segment tag holding a candidate's class (``lesion`` or ``physiological``).
CLASS_TAG = PREFIX + "CandidateClass"
#: Segment tag holding the organ a physiological candidate was recognised as.
ORGAN_TAG = PREFIX + "Organ"
#: Segment tag holding why it was recognised (rule and reason).
REASON_TAG = PREFIX + "Reason"
CLASSES = ("lesion", "physiological")
#: Display colour of each class (RGB 0-1): lesions red, physiological uptake blue.
CLASS_COLORS = {"lesion": (0.90, 0.20, 0.15), "physiological": (0.25, 0.50, 0.95)}


def _segment(node, segment_id: str):
    segment = node.GetSegmentation().GetSegment(segment_id)
    if segment is None:
        raise KeyError(f"no segment {segment_id!r} in {node.GetName()!r}")
    return segment


def _tag(segment, key: str) -> str:
    """A segment tag's value, '' when absent (vtkSegment.GetTag fills a reference)."""
    value = vtk.reference("")
    return str(value) if segment.GetTag(key, value) else ""


def _apply_class(segment, cls: str) -> None:
    segment.SetTag(CLASS_TAG, cls)
    segment.SetColor(*CLASS_COLORS[cls])
    if cls == "lesion":
        _set_terminology(segment, LESION_TERMINOLOGY)
    else:
        entry = organ_terminology(_tag(segment, ORGAN_TAG))
        _set_terminology(segment, entry or f"{_CONTEXT}~{_STRUCTURE}~^^~^^~{_ANATOMY}~^^~^^")


def candidate_segmentation_node(detection: LesionDetection, scene, name: str = "Lesion candidates"):
    """A segmentation node with one segment per candidate: lesions (IDs ``lesion_001`` ...)
    and physiological candidates (IDs ``physiological_001`` ..., named
    ``physiological_001 (kidney_left)``), coloured by class (:data:`CLASS_COLORS`), with
    the class, organ and reason as segment tags and the organ source as the node attribute
    ``Theranostics.OrganSource``."""
    masks = dict(detection.lesions.masks())
    for label, candidate in enumerate(detection.physiological, start=1):
        masks[candidate.name] = sitk.Cast(detection.physiological_labels == label, sitk.sitkUInt8)
    node = segmentation_node_from_masks(masks, scene, name)
    segmentation = node.GetSegmentation()
    for lesion in detection.lesions.names:
        _apply_class(segmentation.GetSegment(lesion), "lesion")
    for candidate in detection.physiological:
        segment = segmentation.GetSegment(candidate.name)
        segment.SetName(f"{candidate.name} ({candidate.organ})")
        segment.SetTag(ORGAN_TAG, candidate.organ)
        segment.SetTag(REASON_TAG, f"{candidate.rule}: {candidate.reason}")
        _apply_class(segment, "physiological")
    node.SetAttribute(PREFIX + "OrganSource", detection.organ_source)
    node.SetAttribute(PREFIX + "Physiology", json.dumps(detection.to_json()))
    return node


def candidate_class(node, segment_id: str) -> str:
    """``"lesion"`` or ``"physiological"``: the class of a candidate segment."""
    return _tag(_segment(node, segment_id), CLASS_TAG) or "lesion"


def set_candidate_class(node, segment_id: str, cls: str) -> None:
    """Move a candidate segment to class ``cls`` (``"lesion"`` or ``"physiological"``):
    colour, terminology and class tag follow; the organ tag is kept so that the move can be
    undone. Raises ``KeyError`` for an unknown segment, ``ValueError`` for an unknown class."""
    if cls not in CLASSES:
        raise ValueError(f"unknown class {cls!r}; use one of {CLASSES}")
    _apply_class(_segment(node, segment_id), cls)


def toggle_candidate_class(node, row: int) -> str:
    """Move the candidate of table row ``row`` (segment order) to the other class; returns
    the new class (the panel's checkbox handler)."""
    segment_id = node.GetSegmentation().GetNthSegmentID(row)
    new = "physiological" if candidate_class(node, segment_id) == "lesion" else "lesion"
    set_candidate_class(node, segment_id, new)
    return new


def candidate_rows(node) -> list[dict]:
    """One row per candidate segment, in segment order: ``segment_id``, ``name``, ``class``,
    ``organ`` ('' for lesions detected as such), ``reason``, ``is_lesion`` (the checkbox)."""
    segmentation = node.GetSegmentation()
    rows = []
    for index in range(segmentation.GetNumberOfSegments()):
        segment_id = segmentation.GetNthSegmentID(index)
        segment = segmentation.GetSegment(segment_id)
        cls = _tag(segment, CLASS_TAG) or "lesion"
        rows.append(
            {
                "segment_id": segment_id,
                "name": segment.GetName(),
                "class": cls,
                "organ": _tag(segment, ORGAN_TAG),
                "reason": _tag(segment, REASON_TAG),
                "is_lesion": cls == "lesion",
            }
        )
    return rows


def lesion_masks_from_candidates(node, reference: sitk.Image) -> dict[str, sitk.Image]:
    """Masks (on ``reference``'s grid) of the candidate segments currently of class lesion,
    by segment ID: what the biomarker table should be computed on after the reader's
    changes."""
    masks = masks_from_segmentation_node(node, reference)  # keyed by segment name
    return {r["segment_id"]: masks[r["name"]] for r in candidate_rows(node) if r["is_lesion"]}


def detect_lesion_candidates(
    pet_node,
    ct_node=None,
    *,
    organ_segmentation=None,
    organ_source: str | None = None,
    tracer: str = "auto",
    method: str = "percent-max",
    min_volume_mL: float = 1.0,
    include_seeds_lps=(),
    exclude_seeds_lps=(),
    name: str | None = None,
):
    """Lesion candidates of a PET volume node with physiological uptake recognised
    (:func:`theranostics.lesions.detection.detect_lesions`): from ``organ_segmentation`` (a
    segmentation node, e.g. TotalSegmentator's output, whose segment names say the organ)
    when given, else from the CT volume node's anatomy, else not at all (a note says so).

    Returns:
        ``(detection, candidates node, biomarker table node)``: the core result, the node of
        :func:`candidate_segmentation_node` and the biomarkers of the lesions, in the scene
        of ``pet_node``.

    Raises:
        InputError / GeometryError: as ``detect_lesions`` (CT not overlapping the PET ...).
    """
    from theranostics.lesions import lesion_biomarkers
    from theranostics.lesions.detection import detect_lesions

    from .volumes import image_from_volume_node

    pet = image_from_volume_node(pet_node)
    ct = image_from_volume_node(ct_node) if ct_node is not None else None
    masks = None
    if organ_segmentation is not None:
        masks = masks_from_segmentation_node(organ_segmentation, pet.image)
    detection = detect_lesions(
        pet,
        ct,
        organ_masks=masks,
        organ_masks_source=organ_source
        or (f"segmentation node {organ_segmentation.GetName()!r}" if masks else "organ masks"),
        tracer=tracer,
        method=method,
        min_volume_mL=float(min_volume_mL),
        include_seeds_lps=include_seeds_lps,
        exclude_seeds_lps=exclude_seeds_lps,
    )
    scene = pet_node.GetScene()
    base = name or pet_node.GetName()
    node = candidate_segmentation_node(detection, scene, f"{base} lesion candidates")
    table = lesion_biomarkers(pet, detection.lesions)
    table_node = biomarker_table_node(table, scene, f"{base} biomarkers")
    return detection, node, table_node


def candidate_biomarkers(pet_node, candidates_node, scene=None, name: str | None = None):
    """The biomarker table of the candidates currently of class lesion (after the reader
    moved some), recomputed on the PET: ``(BiomarkerTable, table node)``."""
    import numpy as np

    from theranostics.lesions import lesion_biomarkers

    from .volumes import image_from_volume_node

    pet = image_from_volume_node(pet_node)
    masks = lesion_masks_from_candidates(candidates_node, pet.image)
    labels = np.zeros(pet.image.GetSize()[::-1], dtype=np.uint16)
    for value, mask in enumerate(masks.values(), start=1):
        labels[sitk.GetArrayViewFromImage(mask) > 0] = value
    image = sitk.GetImageFromArray(labels)
    image.CopyInformation(pet.image)
    table = lesion_biomarkers(pet, image, names=list(masks))
    node = biomarker_table_node(table, scene or pet_node.GetScene(), name or "Lesion biomarkers")
    return table, node
