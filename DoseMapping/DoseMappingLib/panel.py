"""What each DoseMapping panel button does, as functions of plain arguments.

As in ``TheranosticPlanningLib.panel``: the module's Logic turns its parameter node into
plain arguments (the reference CT and structure nodes, numbers, paths); these functions never
see the parameter node, take the scene from the nodes, and are tested headless on a real
scene. A cancelled action (``Cancelled`` from the progress callback) leaves no new nodes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from TheranosticPlanningLib.node_attributes import read_metadata, write_metadata

from theranostics.errors import InputError, TimingError


# --- time points ----------------------------------------------------------------------------
def _hours_after_administration(meta) -> float | None:
    start, given = meta.acquisition.start, meta.administration.datetime
    if start is None or given is None:
        return None
    return (start - given).total_seconds() / 3600.0


def time_point_rows(scene) -> tuple[list, list[tuple[str, str, str, str]]]:
    """The SPECT volumes of ``scene`` (``Theranostics.Modality`` NM) in time order, and one
    display row each: name, hours after administration, units, nuclide."""
    entries = []
    for i in range(scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")):
        node = scene.GetNthNodeByClass(i, "vtkMRMLScalarVolumeNode")
        if node.GetAttribute("Theranostics.Modality") != "NM":
            continue
        meta = read_metadata(node)
        entries.append((_hours_after_administration(meta), node, meta))
    entries.sort(key=lambda e: (e[0] is None, e[0] or 0.0, e[1].GetName()))
    rows = [
        (
            node.GetName(),
            "" if t is None else f"{t:.3f}",
            meta.quantity.units,
            meta.administration.nuclide or "",
        )
        for t, node, meta in entries
    ]
    return [node for _, node, _ in entries], rows


def store_time_points(nodes, times_h) -> None:
    """Set each node's acquisition start to ``administration + time`` (hours, as typed).

    All values are checked before any node changes. Raises TimingError for a non-number, a
    negative time, a node without an administration time, or two equal times.
    """
    if len(nodes) != len(times_h):
        raise InputError(f"{len(nodes)} volumes but {len(times_h)} times", tag="times")
    parsed = []
    for node, text in zip(nodes, times_h):
        try:
            hours = float(text)
        except (TypeError, ValueError):
            raise TimingError(
                f"time {text!r} of {node.GetName()!r} is not a number of hours",
                path=node.GetName(),
                tag="time after administration (h)",
                fix="type the hours after administration, e.g. 24",
            ) from None
        meta = read_metadata(node)
        if meta.administration.datetime is None:
            raise TimingError(
                f"{node.GetName()!r} has no administration time",
                path=node.GetName(),
                tag="Theranostics.AdministrationDateTime",
                fix="set the administration date and time in the metadata table first",
            )
        if hours < 0:
            raise TimingError(
                f"{node.GetName()!r}: {hours} h is before the administration",
                path=node.GetName(),
                tag="time after administration (h)",
                fix="times are hours after the administration",
            )
        parsed.append((node, meta, hours))
    hours_list = [h for _, _, h in parsed]
    if len(set(hours_list)) != len(hours_list):
        raise TimingError(
            f"two time points share one time: {hours_list}",
            tag="time after administration (h)",
            fix="each SPECT must have its own acquisition time",
        )
    for node, meta, hours in parsed:
        start = meta.administration.datetime + timedelta(hours=hours)
        acquisition = replace(meta.acquisition, start=start, start_source="edited in the panel")
        write_metadata(node, meta.replace(acquisition=acquisition))


# --- registration ---------------------------------------------------------------------------
#: Attributes of the transform nodes made by Register: the moving (session) CT and the
#: reference CT node IDs, and the registration summary (JSON, ``CtRegistration.to_json``).
MOVING_ATTRIBUTE = "Theranostics.RegistrationMoving"
FIXED_ATTRIBUTE = "Theranostics.RegistrationFixed"
QUALITY_ATTRIBUTE = "Theranostics.RegistrationSummary"


def _registration_nodes(scene) -> dict[str, object]:
    """Transform nodes made by :func:`register_time_points`, by moving CT node ID."""
    found = {}
    for i in range(scene.GetNumberOfNodesByClass("vtkMRMLTransformNode")):
        node = scene.GetNthNodeByClass(i, "vtkMRMLTransformNode")
        moving = node.GetAttribute(MOVING_ATTRIBUTE)
        if moving:
            found[moving] = node
    return found


def _figure(value, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def register_time_points(
    reference_ct,
    *,
    deformable: bool = False,
    calibration_cps_per_MBq: float = 0.0,
    progress=None,
) -> list[tuple[str, str, str, str, str]]:
    """Register every session's CT to ``reference_ct`` (rigid, plus a B-spline stage when
    ``deformable``) and put one transform node per later
    session in the scene, named ``"Registration <CT> → <reference CT>"`` (from-parent = the
    ITK reference->session map, see ``DoseMappingLib.registration``). Earlier nodes of this
    step for the same CT are replaced. The volumes are not moved: Accept does that.

    Returns one display row per time point: CT name, Mattes MI before and after, body Dice
    after, warnings ("reference" for the reference session).
    """
    import json

    from theranostics.study import register_study

    from .registration import transform_node_from_registration
    from .scene_study import scene_pairs, study_from_scene

    pairs = scene_pairs(reference_ct)
    study, ref = study_from_scene(reference_ct, calibration_cps_per_MBq, pairs)
    registered = register_study(
        study, reference_index=ref, deformable=bool(deformable), progress=progress
    )
    scene = reference_ct.GetScene()
    old = _registration_nodes(scene)
    reference_ct = pairs[ref][1]
    rows = []
    for i, ((spect, ct), reg) in enumerate(zip(pairs, registered.registrations, strict=True)):
        if i == ref:
            rows.append((ct.GetName(), "", "", "", "reference"))
            continue
        previous = old.get(ct.GetID())
        if previous is not None:
            for volume in (ct, spect):
                if volume.GetTransformNodeID() == previous.GetID():
                    volume.SetAndObserveTransformNodeID(None)
            scene.RemoveNode(previous)
        name = f"Registration {ct.GetName()} → {reference_ct.GetName()}"
        node = transform_node_from_registration(scene, reg, name)
        summary = reg.to_json()
        summary.pop("timing_s", None)
        node.SetAttribute(MOVING_ATTRIBUTE, ct.GetID())
        node.SetAttribute(FIXED_ATTRIBUTE, reference_ct.GetID())
        node.SetAttribute(QUALITY_ATTRIBUTE, json.dumps(summary, default=str))
        quality = reg.quality
        rows.append(
            (
                ct.GetName(),
                _figure(quality.get("mutual_information_before")),
                _figure(quality.get("mutual_information_after")),
                _figure(quality.get("body_dice_after"), 3),
                "; ".join(reg.warnings),
            )
        )
    return rows


def accept_transforms(reference_ct) -> None:
    """Put each later session's CT and SPECT under its registration transform node, so the
    views show them aligned with the reference and the kinetics and dose use the transform
    (edit it in the Transforms module and the next Fit kinetics / Compute dose uses the edit).

    Raises:
        InputError: no reference CT; a session without a registration node (press Register
        time points first). Nothing is changed then.
    """
    from .scene_study import reference_index, scene_pairs

    pairs = scene_pairs(reference_ct)
    ref = reference_index(pairs, reference_ct)
    nodes = _registration_nodes(reference_ct.GetScene())
    missing = [
        ct.GetName() for i, (_, ct) in enumerate(pairs) if i != ref and ct.GetID() not in nodes
    ]
    stale = [
        ct.GetName()
        for i, (_, ct) in enumerate(pairs)
        if i != ref
        and ct.GetID() in nodes
        and nodes[ct.GetID()].GetAttribute(FIXED_ATTRIBUTE) != reference_ct.GetID()
    ]
    if missing or stale:
        raise InputError(
            f"no registration to {reference_ct.GetName()!r} for {', '.join(missing + stale)}",
            tag="Register time points",
            fix="press Register time points (with this reference CT) first",
        )
    for i, (spect, ct) in enumerate(pairs):
        if i == ref:
            continue
        node_id = nodes[ct.GetID()].GetID()
        ct.SetAndObserveTransformNodeID(node_id)
        spect.SetAndObserveTransformNodeID(node_id)


# The kinetics and dose actions live in panel_dose, verification and export in panel_export
# (file size); the Logic imports every action from here.
from .panel_dose import DosimetrySettings, compute_dose, fit_kinetics  # noqa: E402
from .panel_export import export, verify  # noqa: E402

__all__ = [
    "DosimetrySettings",
    "accept_transforms",
    "compute_dose",
    "export",
    "fit_kinetics",
    "register_time_points",
    "store_time_points",
    "time_point_rows",
    "verify",
]
