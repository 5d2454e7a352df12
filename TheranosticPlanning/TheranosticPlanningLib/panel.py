"""What each TheranosticPlanning panel button does, as functions of the parameter node.

The Widget's Logic hands its ``@parameterNodeWrapper`` object ``p`` to these functions; they
only read and write attributes of ``p`` named as in ``TheranosticPlanningParameterNode``
(real MRML nodes and plain values), so they run and are tested headless on a real scene with
any object carrying those attributes. Output nodes that are not set yet are created in the
scene of the input node and stored back into ``p``.
"""

from __future__ import annotations

from theranostics.errors import InputError

from .node_attributes import FIELDS, PREFIX, _parse, read_metadata, write_metadata


# --- quantitative metadata of a volume, as an editable two-column table ----------------------
def metadata_rows(node) -> list[tuple[str, str]]:
    """``(attribute, value)`` for every ``Theranostics.*`` field of ``node`` (empty value
    when unknown), in the order of ``docs/mrml-attributes.md``."""
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


def segment_lesions(p, progress=None):
    """Segment lesions on the panel's PET (or SPECT), compute biomarkers, and store the
    lesion segmentation and biomarker table nodes in ``p``. Returns the biomarker table."""
    from theranostics.lesions import lesion_biomarkers
    from theranostics.lesions import segment_lesions as segment

    from .lesions import biomarker_table_node, lesion_segmentation_node
    from .segmentations import masks_from_segmentation_node
    from .volumes import image_from_volume_node

    node = p.petVolume or p.spectVolume
    if node is None:
        raise InputError("no PET or SPECT selected", tag="petVolume", fix="select a volume")
    image = image_from_volume_node(node)
    image = _with_panel_overrides(image, p)
    exclude = (
        masks_from_segmentation_node(p.exclusionOrgans, image.image) if p.exclusionOrgans else None
    )
    liver = None
    if p.liverReference is not None:
        masks = masks_from_segmentation_node(p.liverReference, image.image)
        liver = next((m for n, m in masks.items() if "liver" in n.lower()), None)
        if liver is None:
            raise InputError(
                f"no segment named like 'liver' in {p.liverReference.GetName()!r}",
                tag="liverReference",
                fix=f"segments found: {', '.join(masks)}",
            )
    include, exclude_seeds = _seeds(p.seedPoints)
    options = {"threshold": float(p.lesionThresholdSuv)} if p.lesionMethod == "fixed" else {}
    if p.lesionMethod == "percent-max":
        options["percent"] = float(p.relativeThresholdPercent)
    segmentation = segment(
        image,
        method=p.lesionMethod,
        liver_mask=liver,
        exclude=exclude,
        min_volume_mL=float(p.minimumLesionVolumeML),
        include_seeds_lps=include,
        exclude_seeds_lps=exclude_seeds,
        progress=progress,
        **options,
    )
    scene = node.GetScene()
    p.lesionSegmentation = lesion_segmentation_node(
        segmentation, scene, f"{node.GetName()} lesions"
    )
    table = lesion_biomarkers(image, segmentation)
    p.biomarkerTable = biomarker_table_node(table, scene, f"{node.GetName()} biomarkers")
    return table


def _with_panel_overrides(image, p):
    """Weight and administered activity typed in the panel fill what the node lacks."""
    from dataclasses import replace

    meta = image.meta
    if not meta.patient.weight_kg and p.patientWeightKg > 0:
        meta = meta.replace(patient=replace(meta.patient, weight_kg=float(p.patientWeightKg)))
    if not meta.administration.activity_MBq and p.injectedActivityMBq > 0:
        admin = replace(
            meta.administration,
            activity_MBq=float(p.injectedActivityMBq),
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


def assess_response(p, progress=None):
    """PERCIST 1.0 and RECIP 1.0 between the panel's baseline and follow-up; stores the
    response table node in ``p`` and returns the assessment. Baseline and follow-up are
    compared in world coordinates (apply a registration transform to the follow-up nodes
    in Slicer first when the patient moved)."""
    from theranostics.lesions import assess_response as assess
    from theranostics.progress import report

    from .lesions import response_table_node
    from .volumes import image_from_volume_node

    for field in (
        "baselineVolume",
        "baselineSegmentation",
        "followupVolume",
        "followupSegmentation",
    ):
        if getattr(p, field) is None:
            raise InputError(f"{field} is not selected", tag=field, fix="select it in the panel")
    report(progress, 0.1, "reading the studies")
    base = image_from_volume_node(p.baselineVolume)
    follow = image_from_volume_node(p.followupVolume)
    result = assess(
        base,
        _label_image(p.baselineSegmentation, base.image),
        follow,
        _label_image(p.followupSegmentation, follow.image),
    )
    p.responseTable = response_table_node(result, p.baselineVolume.GetScene(), "Response")
    report(progress, 1.0, "done")
    return result


# --- 177Lu radioligand therapy --------------------------------------------------------------
def rlt_structures(p) -> list:
    """The organs at risk typed in the panel (a structure with 0 Gy/GBq is left out)."""
    from theranostics.planning.rlt_inputs import StructureInput

    typed = (
        ("kidneys", p.kidneyDoseGyPerGBq, p.kidneyEffectiveHalfLifeH),
        ("red_marrow", p.marrowDoseGyPerGBq, p.marrowEffectiveHalfLifeH),
        ("salivary_glands", p.salivaryDoseGyPerGBq, p.salivaryEffectiveHalfLifeH),
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


def plan_rlt(p) -> str:
    """Plan 177Lu cycles from the panel (or the earlier-cycle results file), put the plan
    table and JSON into the scene, and return a one-line summary for the panel."""
    from theranostics.planning.rlt import plan_rlt as plan
    from theranostics.planning.rlt_inputs import structures_from_dosimetry

    from .planning import add_plan_to_scene

    path = str(p.dosimetryResultsPath or "")
    if path and path != ".":
        structures = list(structures_from_dosimetry(path).structures)
    else:
        structures = rlt_structures(p)
    if not structures:
        raise InputError(
            "no organ at risk given",
            tag="dose per activity (Gy/GBq)",
            fix="type at least the kidney dose per GBq and half-life, or choose a results file",
        )
    result = plan(structures, cycles=int(p.cycles), risk_factors=bool(p.kidneyRiskFactors))
    scene = _scene_of(p)
    table, _ = add_plan_to_scene(result, scene, "RLT plan")
    p.rltPlanTable = table
    return (
        f"{result.max_activity_per_cycle_GBq:.2f} GBq per cycle for {result.cycles} cycles; "
        f"binding constraint: {result.binding_constraint}"
    )


# --- 90Y radioembolization ------------------------------------------------------------------
def plan_sirt(p, progress=None) -> str:
    """Plan 90Y SIRT from the MAA SPECT/CT and compartment segments of the panel."""
    from theranostics.planning.sirt import SirtLimits

    from .sirt import plan_sirt_from_nodes

    for field, label in (
        ("maaSpectVolume", "MAA SPECT"),
        ("maaCtVolume", "MAA CT"),
        ("sirtSegmentation", "compartments"),
    ):
        if getattr(p, field) is None:
            raise InputError(f"no {label} selected", tag=field, fix=f"select the {label}")
    tissues = {n.strip(): "tumor" for n in p.tumorSegmentNames.split(",") if n.strip()}
    tissues[p.lungSegmentName.strip()] = "lung"
    if p.normalSegmentName.strip():
        tissues[p.normalSegmentName.strip()] = "normal"
    target = {"mird": "target_perfused_Gy", "partition": "target_normal_Gy"}.get(p.sirtMethod)
    options = {target: float(p.sirtTargetDoseGy)} if target else {}
    if p.sirtMethod == "partition" and not p.normalSegmentName.strip():
        options = {"target_tumor_Gy": float(p.sirtTargetDoseGy)}
    nodes = plan_sirt_from_nodes(
        p.maaSpectVolume,
        p.maaCtVolume,
        p.sirtSegmentation,
        tissues,
        method=p.sirtMethod,
        limits=SirtLimits(previous_lung_Gy=float(p.previousLungDoseGy)),
        **options,
    )
    p.sirtPlanTable = nodes.table_node
    p.sirtDoseVolume = nodes.dose_node
    plan = nodes.plan
    return (
        f"{plan.recommended_activity_GBq:.2f} GBq 90Y; binding constraint: "
        f"{plan.binding_constraint}; lung shunt fraction {plan.lung_shunt_fraction:.1%}"
    )


def _scene_of(p):
    for name in ("petVolume", "spectVolume", "ctVolume", "maaSpectVolume", "rltPlanTable"):
        node = getattr(p, name, None)
        if node is not None and node.GetScene() is not None:
            return node.GetScene()
    scene = getattr(p, "scene", None)
    if scene is None:
        raise InputError(
            "no scene to put the results in", fix="select an input volume in the panel first"
        )
    return scene
