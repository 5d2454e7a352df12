"""The scene's SPECT/CT sessions as a core study, and the transforms the user accepted.

Rules (``docs/user-guide-dosemapping.md``, "How the panel reads the scene"):

* every SPECT volume (``Theranostics.Modality`` NM) is one time point, in time order
  (:func:`DoseMappingLib.panel.time_point_rows`);
* its CT is the CT volume (``Theranostics.Modality`` CT) sharing its FrameOfReferenceUID
  (one SPECT/CT session = one scanner frame; the nearest acquisition start decides between
  several), otherwise the CT whose acquisition start is nearest and within
  :data:`PAIRING_WINDOW_H` hours. A SPECT without a CT, or one CT claimed by two SPECTs, is
  an :class:`~theranostics.errors.InputError` naming the volumes;
* SPECTs in counts are converted to Bq/mL with the panel's calibration factor (cps/MBq);
  one in counts without a calibration factor is refused;
* images are read in their own scanner coordinates (a parent transform is ignored while
  reading): the registration transforms are applied by the core, once.

No Qt and no application globals: the scene comes from the nodes.
"""

from __future__ import annotations

from contextlib import contextmanager

from TheranosticPlanningLib.node_attributes import read_metadata
from TheranosticPlanningLib.volumes import image_from_volume_node

from theranostics.errors import InputError, TimingError

#: A CT acquired more than this many hours from a SPECT never pairs with it by time.
PAIRING_WINDOW_H = 3.0


@contextmanager
def _detached(node):
    """Temporarily take ``node`` out from under its parent transform (restored after)."""
    transform_id = node.GetTransformNodeID()
    if transform_id:
        node.SetAndObserveTransformNodeID(None)
    try:
        yield node
    finally:
        if transform_id:
            node.SetAndObserveTransformNodeID(transform_id)


def scanner_image(node):
    """The volume as a QuantitativeImage in its own (scanner) coordinates, LPS."""
    with _detached(node):
        return image_from_volume_node(node)


def _ct_nodes(scene) -> list:
    nodes = []
    for i in range(scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")):
        node = scene.GetNthNodeByClass(i, "vtkMRMLScalarVolumeNode")
        if node.GetAttribute("Theranostics.Modality") == "CT":
            nodes.append(node)
    return nodes


def _hours_between(a, b) -> float | None:
    if a is None or b is None:
        return None
    return abs((a - b).total_seconds()) / 3600.0


def pair_sessions(scene) -> list[tuple[object, object]]:
    """``(spect_node, ct_node)`` per time point, in time order (module docstring rules).

    Raises:
        InputError: no SPECT volume, a SPECT without a CT, a CT paired with two SPECTs.
    """
    from .panel import time_point_rows

    spects, _ = time_point_rows(scene)
    if not spects:
        raise InputError(
            "no quantitative SPECT volume in the scene",
            tag="Theranostics.Modality",
            fix="load the SPECT/CT sessions (e.g. the sample data) or set their metadata",
        )
    cts = [(ct, read_metadata(ct)) for ct in _ct_nodes(scene)]
    pairs, used = [], {}
    for spect in spects:
        meta = read_metadata(spect)
        frame = meta.frame_of_reference_uid
        start = meta.acquisition.start

        def distance(entry, start=start):
            hours = _hours_between(entry[1].acquisition.start, start)
            return float("inf") if hours is None else hours

        same_frame = [e for e in cts if frame and e[1].frame_of_reference_uid == frame]
        if same_frame:
            ct = min(same_frame, key=distance)[0]
        else:
            near = [e for e in cts if distance(e) <= PAIRING_WINDOW_H]
            if not near:
                raise InputError(
                    f"SPECT {spect.GetName()!r} has no CT: none shares its FrameOfReferenceUID "
                    f"and none was acquired within {PAIRING_WINDOW_H:g} h of it",
                    tag="Theranostics.FrameOfReferenceUID",
                    fix="load the CT of this SPECT/CT session, or remove the SPECT",
                )
            ct = min(near, key=distance)[0]
        if ct.GetID() in used:
            raise InputError(
                f"CT {ct.GetName()!r} pairs with both {used[ct.GetID()]!r} and {spect.GetName()!r}",
                tag="Theranostics.FrameOfReferenceUID",
                fix="load each session's own CT (one CT per SPECT/CT session)",
            )
        used[ct.GetID()] = spect.GetName()
        pairs.append((spect, ct))
    return pairs


def reference_index(pairs, reference_ct) -> int:
    """Index of the session whose CT is ``reference_ct``.

    Raises:
        InputError: no reference CT chosen, or it is not the CT of any SPECT.
    """
    if reference_ct is None:
        raise InputError(
            "no reference CT chosen",
            tag="Reference CT",
            fix="choose the CT of the session all others are registered to (e.g. CT 4 h)",
        )
    for i, (_, ct) in enumerate(pairs):
        if ct.GetID() == reference_ct.GetID():
            return i
    raise InputError(
        f"reference CT {reference_ct.GetName()!r} is the CT of no SPECT time point "
        f"(sessions: {', '.join(ct.GetName() for _, ct in pairs)})",
        tag="Reference CT",
        fix="choose the CT of one of the SPECT/CT sessions",
    )


def _activity(spect_node, image, calibration_cps_per_MBq: float, notes: list[str]):
    from theranostics.quant.spect import counts_to_activity_concentration

    if image.meta.quantity.units == "Bq/mL":
        if calibration_cps_per_MBq > 0:
            notes.append(
                f"{spect_node.GetName()}: already in Bq/mL; the calibration factor was not applied"
            )
        return counts_to_activity_concentration(image, None)
    if calibration_cps_per_MBq <= 0:
        raise InputError(
            f"SPECT {spect_node.GetName()!r} is in {image.meta.quantity.units or 'counts'}, "
            "not Bq/mL, and no calibration factor is set",
            tag="Calibration factor (cps/MBq)",
            fix="enter the camera's calibration factor (cps/MBq) in the Time points section",
        )
    return counts_to_activity_concentration(image, calibration_cps_per_MBq)


def scene_pairs(reference_ct) -> list[tuple[object, object]]:
    """:func:`pair_sessions` of the scene of ``reference_ct`` (InputError without one)."""
    if reference_ct is None:
        reference_index([], None)
    return pair_sessions(reference_ct.GetScene())


def study_from_scene(reference_ct, calibration_cps_per_MBq: float = 0.0, pairs=None):
    """A :class:`theranostics.study.SpectStudy` of the scene's sessions (time order) and the
    index of the reference session (the one whose CT is ``reference_ct``). SPECTs in counts
    are converted with ``calibration_cps_per_MBq`` (0 = none given).

    Raises:
        InputError / TimingError: see :func:`pair_sessions`, :func:`reference_index`, a SPECT
        without a time after administration, two administrations, counts without calibration.
    """
    from theranostics.study import SpectStudy, TimePoint

    if pairs is None:
        pairs = scene_pairs(reference_ct)
    ref = reference_index(pairs, reference_ct)
    calibration = float(calibration_cps_per_MBq or 0.0)
    notes: list[str] = []
    time_points, administration = [], None
    for spect_node, ct_node in pairs:
        spect = _activity(spect_node, scanner_image(spect_node), calibration, notes)
        admin = spect.meta.administration
        if administration is None:
            administration = admin
        elif (admin.nuclide, admin.activity_MBq, admin.datetime) != (
            administration.nuclide,
            administration.activity_MBq,
            administration.datetime,
        ):
            raise InputError(
                f"SPECT {spect_node.GetName()!r} names another administration "
                f"({admin.nuclide}, {admin.activity_MBq} MBq, {admin.datetime}) than the first "
                f"({administration.nuclide}, {administration.activity_MBq} MBq, "
                f"{administration.datetime})",
                tag="Theranostics.Administration*",
                fix="load the sessions of one therapy cycle only, or correct the metadata",
            )
        start = spect.meta.acquisition.start
        if start is None or admin.datetime is None:
            raise TimingError(
                f"SPECT {spect_node.GetName()!r} has no time after administration",
                path=spect_node.GetName(),
                tag="Theranostics.AcquisitionStart / AdministrationDateTime",
                fix="type its time in the Time points table and press Store metadata",
            )
        time_h = (start - admin.datetime).total_seconds() / 3600.0
        time_points.append(
            TimePoint(
                name=f"{round(time_h, 1):g}h",
                time_h=time_h,
                ct=scanner_image(ct_node),
                spect=spect,
                acquisition_start=start,
                duration_s=spect.meta.acquisition.duration_s,
            )
        )
    study = SpectStudy(
        time_points=tuple(time_points),
        administration=administration,
        patient=time_points[0].spect.meta.patient,
        problems=tuple(notes),
        root="",
        calibration_cps_per_MBq=calibration if calibration > 0 else None,
    )
    return study, ref


def accepted_transforms(pairs, ref: int) -> list:
    """The transforms the user accepted (ITK convention, reference-CT point -> session-CT
    point, LPS mm), read back from each later session's parent transform node; ``None`` for
    the reference.

    Raises:
        InputError: the reference session is under a transform; a later session has no
        accepted transform (press Register, then Accept), or its CT and SPECT are under
        different transforms; a transform node that is itself under a transform.
    """
    from .registration import registration_transform_from_node

    transforms, missing = [], []
    for i, (spect, ct) in enumerate(pairs):
        ids = {ct.GetTransformNodeID(), spect.GetTransformNodeID()}
        if i == ref:
            if ids != {None}:
                raise InputError(
                    f"the reference session ({ct.GetName()}, {spect.GetName()}) is under a "
                    "transform: the reference defines the world frame",
                    tag="parent transform",
                    fix="remove the reference CT's and SPECT's parent transforms",
                )
            transforms.append(None)
            continue
        if len(ids) > 1:
            raise InputError(
                f"{ct.GetName()!r} and {spect.GetName()!r} are under different transforms",
                tag="parent transform",
                fix="put the session's CT and SPECT under the same transform (Accept transforms)",
            )
        node = ct.GetParentTransformNode()
        if node is None:
            missing.append(ct.GetName())
            transforms.append(None)
            continue
        if node.GetParentTransformNode() is not None:
            raise InputError(
                f"transform {node.GetName()!r} is itself under a transform",
                tag="parent transform",
                fix="harden the nested transforms into one in the Transforms module",
            )
        transforms.append(registration_transform_from_node(node))
    if missing:
        raise InputError(
            f"no accepted registration for {', '.join(missing)}",
            tag="Accept transforms",
            fix="press Register time points, check the transforms, then press Accept transforms",
        )
    return transforms


def registered_study_from_scene(reference_ct, calibration_cps_per_MBq: float = 0.0, progress=None):
    """The scene's study on the reference SPECT grid through the accepted transforms (no
    registration runs). Returns ``(registered_study, pairs)``."""
    from theranostics.study import register_study

    pairs = scene_pairs(reference_ct)
    transforms = accepted_transforms(pairs, reference_index(pairs, reference_ct))
    study, ref = study_from_scene(reference_ct, calibration_cps_per_MBq, pairs)
    registered = register_study(
        study, reference_index=ref, transforms=transforms, progress=progress
    )
    return registered, pairs
