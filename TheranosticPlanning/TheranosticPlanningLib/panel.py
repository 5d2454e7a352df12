"""What each TheranosticPlanning panel button does, as functions of plain arguments.

The module's Logic turns its ``@parameterNodeWrapper`` parameter node into plain arguments
(MRML nodes, numbers, strings, paths) and calls these functions; they never see the
parameter node (DESIGN.md section 2), so they run and are tested headless with real MRML
nodes from ``slicer-core``. The scene comes from an input node or, where no input node
exists (177Lu planning from typed values), from an explicit ``scene`` argument. Results come
back as nodes in a small frozen record; the Logic stores them in the parameter node.

A cancelled action (``theranostics.progress.Cancelled`` raised by the progress callback)
leaves the scene as it was: every action computes first and adds its nodes last.
"""

from __future__ import annotations

from dataclasses import dataclass

from theranostics.errors import InputError

from .node_attributes import FIELDS, PREFIX, _parse, read_metadata, write_metadata


# --- quantitative metadata of a volume, as an editable two-column table ----------------------
def _require_volume(node) -> None:
    if node is None:
        raise InputError("no PET or SPECT selected", tag="petVolume", fix="select a volume")


def metadata_rows(node) -> list[tuple[str, str]]:
    """``(attribute, value)`` for every ``Theranostics.*`` field of ``node`` (empty value
    when unknown), in the order of ``docs/mrml-attributes.md``."""
    _require_volume(node)
    read_metadata(node)  # refuse a node whose stored metadata is already invalid
    return [(name, node.GetAttribute(PREFIX + name) or "") for name in FIELDS]


def store_metadata_rows(node, rows) -> None:
    """Write edited ``(attribute, value)`` rows back to ``node`` after checking every value.

    Nothing is written unless all rows parse and the result is valid metadata (so a typo
    never leaves the node half-edited).

    Raises:
        InvalidTagError / UnitsError: a value cannot be parsed or is outside its set.
        InputError: an unknown attribute name.
    """
    _require_volume(node)
    where = f"node {node.GetName()!r}"
    unknown = [name for name, _ in rows if name not in FIELDS]
    if unknown:
        raise InputError(
            f"unknown metadata fields {unknown}",
            path=where,
            fix=f"use the names of docs/mrml-attributes.md: {', '.join(FIELDS)}",
        )
    for name, text in rows:
        if text:
            _parse(text, FIELDS[name][2], name, where)
    saved = {name: node.GetAttribute(PREFIX + name) for name in FIELDS}
    try:
        for name, text in rows:
            if text:
                node.SetAttribute(PREFIX + name, text)
            else:
                node.RemoveAttribute(PREFIX + name)
        write_metadata(node, read_metadata(node))  # validates units and decay correction
    except Exception:
        for name, text in saved.items():
            if text is None:
                node.RemoveAttribute(PREFIX + name)
            else:
                node.SetAttribute(PREFIX + name, text)
        raise


# --- lesions and response ------------------------------------------------------------------
def _seeds(markups) -> tuple[list, list]:
    """Include and exclude seeds (LPS mm): a control point whose label contains "exclude"
    removes its lesion, every other point keeps (or grows) one."""
    from .lesions import seeds_from_markups

    if markups is None:
        return [], []
    points = seeds_from_markups(markups)
    labels = [markups.GetNthControlPointLabel(i).lower() for i in range(len(points))]
    include = [pt for pt, lab in zip(points, labels) if "exclude" not in lab]
    exclude = [pt for pt, lab in zip(points, labels) if "exclude" in lab]
    return include, exclude


@dataclass(frozen=True)
class LesionNodes:
    """What Segment lesions made: the core biomarker table and its two nodes."""

    biomarkers: object
    segmentation_node: object
    table_node: object


def segment_lesions(
    volume_node,
    *,
    method: str = "percent-max",
    threshold_suv: float = 4.0,
    relative_threshold_percent: float = 41.0,
    min_volume_mL: float = 1.0,
    exclusion_organs=None,
    liver_reference=None,
    seed_points=None,
    patient_weight_kg: float = 0.0,
    injected_activity_MBq: float = 0.0,
    progress=None,
) -> LesionNodes:
    """Segment lesions on a PET (or SPECT) volume node and compute their biomarkers.

    Args:
        volume_node: the emission volume (SUV needs weight and administered activity, from
            its metadata or the two panel values below).
        method: ``"fixed"`` (``threshold_suv``), ``"percist"`` (needs ``liver_reference``),
            ``"percent-max"`` (``relative_threshold_percent`` %) or ``"adaptive"``.
        min_volume_mL: smaller connected components are dropped.
        exclusion_organs: segmentation node whose segments are never lesions, or None.
        liver_reference: segmentation node with a segment named like "liver", or None.
        seed_points: markups node of include/exclude seeds (see :func:`_seeds`), or None.
        patient_weight_kg, injected_activity_MBq: typed in the panel; used only where the
            node's metadata lacks them (0 = not typed).

    Returns:
        :class:`LesionNodes`; the two nodes are new, in the scene of ``volume_node``.
    """
    from theranostics.lesions import lesion_biomarkers
    from theranostics.lesions import segment_lesions as segment

    from .lesions import biomarker_table_node, lesion_segmentation_node
    from .segmentations import masks_from_segmentation_node
    from .volumes import image_from_volume_node

    if volume_node is None:
        raise InputError("no PET or SPECT selected", tag="petVolume", fix="select a volume")
    image = image_from_volume_node(volume_node)
    image = _with_panel_overrides(image, patient_weight_kg, injected_activity_MBq)
    exclude = (
        masks_from_segmentation_node(exclusion_organs, image.image) if exclusion_organs else None
    )
    liver = None
    if liver_reference is not None:
        masks = masks_from_segmentation_node(liver_reference, image.image)
        liver = next((m for n, m in masks.items() if "liver" in n.lower()), None)
        if liver is None:
            raise InputError(
                f"no segment named like 'liver' in {liver_reference.GetName()!r}",
                tag="liverReference",
                fix=f"segments found: {', '.join(masks)}",
            )
    include, exclude_seeds = _seeds(seed_points)
    options = {"threshold": float(threshold_suv)} if method == "fixed" else {}
    if method == "percent-max":
        options["percent"] = float(relative_threshold_percent)
    segmentation = segment(
        image,
        method=method,
        liver_mask=liver,
        exclude=exclude,
        min_volume_mL=float(min_volume_mL),
        include_seeds_lps=include,
        exclude_seeds_lps=exclude_seeds,
        progress=progress,
        **options,
    )
    table = lesion_biomarkers(image, segmentation)
    scene = volume_node.GetScene()
    name = volume_node.GetName()
    seg_node = lesion_segmentation_node(segmentation, scene, f"{name} lesions")
    table_node = biomarker_table_node(table, scene, f"{name} biomarkers")
    return LesionNodes(table, seg_node, table_node)


def _with_panel_overrides(image, patient_weight_kg: float, injected_activity_MBq: float):
    """Weight and administered activity typed in the panel fill what the node lacks."""
    from dataclasses import replace

    meta = image.meta
    if not meta.patient.weight_kg and patient_weight_kg > 0:
        meta = meta.replace(patient=replace(meta.patient, weight_kg=float(patient_weight_kg)))
    if not meta.administration.activity_MBq and injected_activity_MBq > 0:
        admin = replace(
            meta.administration,
            activity_MBq=float(injected_activity_MBq),
            activity_rule="typed in the panel",
        )
        meta = meta.replace(administration=admin)
    return image.__class__(image.image, meta)


def _label_image(segmentation_node, reference):
    """A label image (1..n in segment order) of a segmentation node on ``reference``."""
    import SimpleITK as sitk

    from .segmentations import masks_from_segmentation_node

    labels = None
    for index, mask in enumerate(
        masks_from_segmentation_node(segmentation_node, reference).values()
    ):
        part = sitk.Cast(mask > 0, sitk.sitkUInt16) * (index + 1)
        labels = part if labels is None else sitk.Maximum(labels, part)
    if labels is None:
        raise InputError(
            f"segmentation {segmentation_node.GetName()!r} has no segments",
            fix="segment the lesions first",
        )
    return labels


@dataclass(frozen=True)
class ResponseNodes:
    """What Assess response made: the core assessment and its table node."""

    assessment: object
    table_node: object


def assess_response(
    baseline_volume,
    baseline_segmentation,
    followup_volume,
    followup_segmentation,
    *,
    progress=None,
) -> ResponseNodes:
    """PERCIST 1.0 and RECIP 1.0 between a baseline and a follow-up (volume and lesion
    segmentation each). Compared in world coordinates (apply a registration transform to
    the follow-up nodes in Slicer first when the patient moved). The table node is new, in
    the baseline's scene."""
    from theranostics.lesions import assess_response as assess
    from theranostics.progress import report

    from .lesions import response_table_node
    from .volumes import image_from_volume_node

    for field, value in (
        ("baselineVolume", baseline_volume),
        ("baselineSegmentation", baseline_segmentation),
        ("followupVolume", followup_volume),
        ("followupSegmentation", followup_segmentation),
    ):
        if value is None:
            raise InputError(f"{field} is not selected", tag=field, fix="select it in the panel")
    report(progress, 0.1, "reading the studies")
    base = image_from_volume_node(baseline_volume)
    follow = image_from_volume_node(followup_volume)
    base_labels = _label_image(baseline_segmentation, base.image)
    report(progress, 0.4, "reading the follow-up lesions")
    follow_labels = _label_image(followup_segmentation, follow.image)
    report(progress, 0.6, "comparing")
    result = assess(base, base_labels, follow, follow_labels)
    report(progress, 0.95, "writing the table")
    table = response_table_node(result, baseline_volume.GetScene(), "Response")
    report(progress, 1.0, "done")
    return ResponseNodes(result, table)


# --- 177Lu radioligand therapy --------------------------------------------------------------
def rlt_structures(
    kidney_Gy_per_GBq: float = 0.0,
    kidney_half_life_h: float = 0.0,
    marrow_Gy_per_GBq: float = 0.0,
    marrow_half_life_h: float = 0.0,
    salivary_Gy_per_GBq: float = 0.0,
    salivary_half_life_h: float = 0.0,
) -> list:
    """The organs at risk typed in the panel: dose per activity (Gy/GBq) and effective
    half-life of the dose rate (h). A structure with 0 Gy/GBq is left out."""
    from theranostics.planning.rlt_inputs import StructureInput

    typed = (
        ("kidneys", kidney_Gy_per_GBq, kidney_half_life_h),
        ("red_marrow", marrow_Gy_per_GBq, marrow_half_life_h),
        ("salivary_glands", salivary_Gy_per_GBq, salivary_half_life_h),
    )
    structures = []
    for name, dose, half_life in typed:
        if dose > 0:
            if not half_life > 0:
                raise InputError(
                    f"{name}: a dose per activity without an effective half-life",
                    tag=f"{name} effective half-life (h)",
                    fix="type the effective half-life of the dose rate",
                )
            structures.append(StructureInput(name, "oar", float(dose), float(half_life)))
    return structures


def structures_from_results_file(path) -> list:
    """The organs at risk of an earlier cycle's dosimetry ``results.json``; ``[]`` for no
    path (``None``, ``""`` or ``"."``, the parameter node's unset path)."""
    from theranostics.planning.rlt_inputs import structures_from_dosimetry

    text = "" if path is None else str(path)
    if text in ("", "."):
        return []
    return list(structures_from_dosimetry(text).structures)


@dataclass(frozen=True)
class RltPlanNodes:
    """The 177Lu plan, its table node and the one-line summary shown in the panel."""

    plan: object
    table_node: object
    summary: str


def plan_rlt(scene, structures, *, cycles: int = 4, risk_factors: bool = False) -> RltPlanNodes:
    """Plan 177Lu cycles for ``structures`` (``StructureInput`` list, from
    :func:`rlt_structures` or :func:`structures_from_results_file`) and put the plan table
    and JSON into ``scene`` (explicit: this action has no input node to take it from)."""
    from theranostics.planning.rlt import plan_rlt as plan

    from .planning import add_plan_to_scene

    if scene is None:
        raise InputError("no scene to put the plan in", fix="pass the MRML scene")
    if not structures:
        raise InputError(
            "no organ at risk given",
            tag="dose per activity (Gy/GBq)",
            fix="type at least the kidney dose per GBq and half-life, or choose a results file",
        )
    result = plan(list(structures), cycles=int(cycles), risk_factors=bool(risk_factors))
    table, _ = add_plan_to_scene(result, scene, "RLT plan")
    summary = (
        f"{result.max_activity_per_cycle_GBq:.2f} GBq per cycle for {result.cycles} cycles; "
        f"binding constraint: {result.binding_constraint}"
    )
    return RltPlanNodes(result, table, summary)


# --- 90Y radioembolization ------------------------------------------------------------------
def sirt_tissues(tumor_segment_names: str, lung_segment_name: str, normal_segment_name: str):
    """Segment name -> tissue from the panel's comma-separated names."""
    tissues = {n.strip(): "tumor" for n in tumor_segment_names.split(",") if n.strip()}
    tissues[lung_segment_name.strip()] = "lung"
    if normal_segment_name.strip():
        tissues[normal_segment_name.strip()] = "normal"
    return tissues


def plan_sirt(
    maa_spect,
    maa_ct,
    segmentation,
    *,
    tumor_segment_names: str = "Tumor",
    lung_segment_name: str = "Lung",
    normal_segment_name: str = "",
    method: str = "partition",
    target_dose_Gy: float = 120.0,
    previous_lung_dose_Gy: float = 0.0,
):
    """Plan 90Y SIRT from the MAA SPECT and CT volume nodes and the compartment segments.

    ``target_dose_Gy`` is the normal-liver target of the partition model (the tumour target
    when no normal segment is named) and the perfused-volume target of the MIRD method; BSA
    takes none. Returns ``(summary, SirtNodes)``; the nodes are new, in the SPECT's scene.
    """
    from theranostics.planning.sirt import SirtLimits

    from .sirt import plan_sirt_from_nodes

    for value, field, label in (
        (maa_spect, "maaSpectVolume", "MAA SPECT"),
        (maa_ct, "maaCtVolume", "MAA CT"),
        (segmentation, "sirtSegmentation", "compartments"),
    ):
        if value is None:
            raise InputError(f"no {label} selected", tag=field, fix=f"select the {label}")
    tissues = sirt_tissues(tumor_segment_names, lung_segment_name, normal_segment_name)
    target = {"mird": "target_perfused_Gy", "partition": "target_normal_Gy"}.get(method)
    options = {target: float(target_dose_Gy)} if target else {}
    if method == "partition" and not normal_segment_name.strip():
        options = {"target_tumor_Gy": float(target_dose_Gy)}
    nodes = plan_sirt_from_nodes(
        maa_spect,
        maa_ct,
        segmentation,
        tissues,
        method=method,
        limits=SirtLimits(previous_lung_Gy=float(previous_lung_dose_Gy)),
        **options,
    )
    plan = nodes.plan
    summary = (
        f"{plan.recommended_activity_GBq:.2f} GBq 90Y; binding constraint: "
        f"{plan.binding_constraint}; lung shunt fraction {plan.lung_shunt_fraction:.1%}"
    )
    return summary, nodes
