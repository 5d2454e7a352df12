"""The planning panel's "Lesion candidates" section, as plain values (issue 20).

Builds on :mod:`.lesions` (detection with physiological uptake set aside, candidate node
coloured by class, moving a candidate between classes, biomarkers of the kept lesions):

- :func:`detect_candidates_for_panel`: the Detect button (PET, optional CT, optional organ
  segmentation node such as the TotalSegmentator extension's output);
- :func:`candidate_table_rows`: the table rows, one per candidate, with the checkbox state,
  the class shown as "lesion" or "physiological (organ)" and the class colour;
- :func:`set_candidate_row_is_lesion`: the row's checkbox (ticked: lesion);
- :func:`new_organ_segmentation_node`: the output node for TotalSegmentator, marked so that
  the detection names it as the organ source.

Running TotalSegmentator itself is the Slicer extension's Logic (a Slicer module, reached
only from the module's Logic class); its output segmentation node enters the detection here
through the same organ-mask path as any organ segmentation
(:func:`.lesions.detect_lesion_candidates`, ``organ_segmentation``).

No Qt and no parameter node: the Logic passes the fields' values.
"""

from __future__ import annotations

from theranostics.errors import InputError
from theranostics.lesions.totalseg import ROI_SUBSET

from .lesions import (
    CLASS_COLORS,
    candidate_biomarkers,
    candidate_rows,
    detect_lesion_candidates,
    set_candidate_class,
)
from .node_attributes import PREFIX

#: Node attribute naming where an organ segmentation came from (shown as the organ source).
ORGAN_SOURCE_ATTRIBUTE = PREFIX + "OrganSource"
#: The TotalSegmentator structures asked for (those with physiological uptake of PSMA, SSTR
#: or FDG tracers), as in the core's own TotalSegmentator run.
TOTALSEGMENTATOR_SUBSET = tuple(ROI_SUBSET)
TOTALSEGMENTATOR_SOURCE = "TotalSegmentator (Slicer extension, fast mode)"


def new_organ_segmentation_node(ct_node, name: str | None = None):
    """An empty segmentation node, in the CT's scene, for TotalSegmentator's organs; its
    ``Theranostics.OrganSource`` attribute names TotalSegmentator and the CT.

    Raises:
        InputError: no CT selected.
    """
    if ct_node is None:
        raise InputError("no CT selected", tag="ctVolume", fix="select the CT of the PET/CT")
    node = ct_node.GetScene().AddNewNodeByClass(
        "vtkMRMLSegmentationNode", name or f"{ct_node.GetName()} organs (TotalSegmentator)"
    )
    node.SetAttribute(ORGAN_SOURCE_ATTRIBUTE, f"{TOTALSEGMENTATOR_SOURCE} on {ct_node.GetName()!r}")
    return node


def detect_candidates_for_panel(
    pet_node,
    ct_node=None,
    organ_segmentation=None,
    *,
    tracer: str = "auto",
    method: str = "percent-max",
    min_volume_mL: float = 1.0,
):
    """Lesion candidates with physiological uptake set aside: from the organ segmentation
    node when one is selected (its segment names say the organ: ``kidney_left`` or
    TotalSegmentator's standard ``left kidney`` alike), else from the CT's anatomy, else
    none recognised (a note says so).

    Returns:
        ``(detection, candidates node, biomarker table node)`` of
        :func:`.lesions.detect_lesion_candidates`.

    Raises:
        InputError: no PET selected, an empty organ segmentation, errors of the detection.
    """
    if pet_node is None:
        raise InputError("no PET selected", tag="petVolume", fix="select the PET volume")
    source = None
    if organ_segmentation is not None:
        if organ_segmentation.GetSegmentation().GetNumberOfSegments() == 0:
            raise InputError(
                f"organ segmentation {organ_segmentation.GetName()!r} has no segment",
                tag="candidateOrgans",
                fix="run TotalSegmentator first, or select another organ segmentation",
            )
        source = organ_segmentation.GetAttribute(ORGAN_SOURCE_ATTRIBUTE)
    return detect_lesion_candidates(
        pet_node,
        ct_node,
        organ_segmentation=organ_segmentation,
        organ_source=source,
        tracer=tracer,
        method=method,
        min_volume_mL=float(min_volume_mL),
    )


def candidate_table_rows(candidates_node) -> list[dict]:
    """One dict per candidate segment, in segment order: ``name``, ``is_lesion`` (the
    checkbox), ``label`` (``"lesion"`` or ``"physiological (kidney_left)"``), ``organ``,
    ``reason`` and ``color`` (the class colour, RGB 0-1, as the segment is drawn).

    Raises:
        InputError: no candidates node (Detect not run).
    """
    if candidates_node is None:
        raise InputError("no lesion candidates", tag="lesionCandidates", fix="press Detect")
    rows = []
    for row in candidate_rows(candidates_node):
        if row["is_lesion"]:
            label = "lesion"
        else:
            label = f"physiological ({row['organ']})" if row["organ"] else "physiological"
        rows.append(
            {
                "name": row["name"],
                "is_lesion": row["is_lesion"],
                "label": label,
                "organ": row["organ"],
                "reason": row["reason"],
                "color": CLASS_COLORS[row["class"]],
            }
        )
    return rows


def set_candidate_row_is_lesion(candidates_node, row: int, is_lesion: bool) -> str:
    """The checkbox of table row ``row`` (segment order): ticked moves the candidate to the
    lesions, unticked to physiological uptake (colour, terminology and class follow, the
    organ is kept). Returns the new class.

    Raises:
        InputError: no candidates node, or a row that is not a candidate.
    """
    rows = candidate_rows(candidates_node) if candidates_node is not None else []
    if not 0 <= row < len(rows):
        raise InputError(
            f"row {row} is not a lesion candidate", tag="lesionCandidates", fix="press Detect"
        )
    cls = "lesion" if is_lesion else "physiological"
    set_candidate_class(candidates_node, rows[row]["segment_id"], cls)
    return cls


def kept_lesion_biomarkers(pet_node, candidates_node, name: str = "Lesion biomarkers"):
    """The biomarker table node of the candidates now ticked as lesions, recomputed on the
    PET (:func:`.lesions.candidate_biomarkers`).

    Raises:
        InputError: no PET or no candidates.
    """
    if pet_node is None:
        raise InputError("no PET selected", tag="petVolume", fix="select the PET volume")
    if candidates_node is None:
        raise InputError("no lesion candidates", tag="lesionCandidates", fix="press Detect")
    return candidate_biomarkers(pet_node, candidates_node, name=name)[1]
