"""The planning panel's 90Y section with a loaded ``.seg.nrrd`` and no CT, as plain values.

- :func:`load_segmentation_for_panel`: the "Load .seg.nrrd" button (Slicer's own reader,
  :func:`.seg_files.load_segmentation_file`).
- :func:`segment_role_rows` / :func:`roles_from_rows`: the compartment chooser, a table of
  the segments (name, volume in mL, role) filled from :func:`.seg_files.segment_rows`, whose
  role column the user edits; the roles go back into the panel's name fields.
- :func:`plan_sirt_without_ct`: the plan when no CT is selected
  (:func:`.seg_files.plan_sirt_from_segmentation_node`: masses from a density, lung shunt
  from the lung segment or a planar lung shunt fraction).

No Qt and no parameter node: the Logic passes the fields' values.
"""

from __future__ import annotations

from pathlib import Path

from theranostics.errors import InputError

from .seg_files import load_segmentation_file, plan_sirt_from_segmentation_node, segment_rows

#: The roles the chooser's role column accepts, and the spelling shown.
ROLES = {"tumour": "tumour", "tumor": "tumour", "normal": "normal", "lung": "lung", "": ""}


def load_segmentation_for_panel(path, scene):
    """The segmentation node of the ``.seg.nrrd`` chosen in the panel.

    Raises:
        InputError: no file chosen (or a folder).
        FileNotFoundError, InputError: from :func:`.seg_files.load_segmentation_file`.
    """
    if path is None or str(path).strip() in ("", ".") or Path(path).is_dir():
        raise InputError(
            "no segmentation file chosen",
            tag="sirtSegFilePath",
            fix="choose a .seg.nrrd saved by Slicer's Segmentations module",
        )
    return load_segmentation_file(path, scene)


def _names(text: str) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def segment_role_rows(
    segmentation_node,
    tumor_segment_names: str = "",
    normal_segment_name: str = "",
    lung_segment_name: str = "",
) -> list[tuple[str, str, str]]:
    """``(segment name, volume in mL, role)`` per segment of the node, the role as the
    panel's name fields give it (``tumour``, ``normal``, ``lung`` or empty).

    Raises:
        InputError: no segmentation selected; errors of :func:`.seg_files.segment_rows`.
    """
    if segmentation_node is None:
        raise InputError(
            "no compartments selected",
            tag="sirtSegmentation",
            fix="load a .seg.nrrd or select a segmentation",
        )
    tumours = set(_names(tumor_segment_names))
    normal, lung = (normal_segment_name or "").strip(), (lung_segment_name or "").strip()
    rows = []
    for row in segment_rows(segmentation_node):
        name = row["name"]
        role = (
            "tumour"
            if name in tumours
            else "normal"
            if name == normal
            else "lung"
            if name == lung
            else ""
        )
        rows.append((name, f"{row['volume_mL']:.2f}", role))
    return rows


def roles_from_rows(rows) -> tuple[str, str, str]:
    """The panel's ``(tumour names, normal name, lung name)`` from ``(name, role)`` pairs the
    user edited (``tumour``/``tumor``, ``normal``, ``lung`` or empty; case ignored).

    Raises:
        InputError: an unknown role, or several normal or lung segments (the planner takes
            one of each).
    """
    by_role: dict[str, list[str]] = {"tumour": [], "normal": [], "lung": []}
    for name, role in rows:
        key = (role or "").strip().lower()
        if key not in ROLES:
            raise InputError(
                f"segment {name!r}: unknown role {role!r}",
                tag="role",
                fix="type tumour, normal, lung, or leave the cell empty",
            )
        if ROLES[key]:
            by_role[ROLES[key]].append(name)
    for role in ("normal", "lung"):
        if len(by_role[role]) > 1:
            raise InputError(
                f"several {role} segments: {', '.join(by_role[role])}",
                tag="role",
                fix=f"mark one segment as {role} (merge them in the Segment Editor first)",
            )
    return (
        ", ".join(by_role["tumour"]),
        by_role["normal"][0] if by_role["normal"] else "",
        by_role["lung"][0] if by_role["lung"] else "",
    )


def plan_sirt_without_ct(
    maa_spect,
    segmentation,
    *,
    tumor_segment_names: str = "Tumor",
    normal_segment_name: str = "",
    normal_role: str = "normal",
    lung_segment_name: str = "",
    lung_shunt_percent: float = 0.0,
    clip_negative: bool = False,
    method: str = "partition",
    target_dose_Gy: float = 120.0,
    previous_lung_dose_Gy: float = 0.0,
):
    """Plan 90Y SIRT from the MAA SPECT node and a segmentation node without a CT.

    The lung shunt comes from the lung segment when one is named; otherwise from
    ``lung_shunt_percent`` (the planar lung shunt fraction in %, 0 allowed). Naming a lung
    segment *and* giving a non-zero percentage is refused by the core (two answers).
    ``target_dose_Gy`` means what it means with a CT: the normal-liver target of the
    partition model (the tumour target when no normal segment is named), the
    perfused-volume target of MIRD; BSA takes none. An empty normal name lets the core pick
    the one segment whose name contains "normal".

    Returns:
        ``(summary, SirtNodes)``; the nodes are new, in the SPECT's scene.

    Raises:
        InputError: no SPECT or segmentation selected, a percentage outside [0, 100), any
            refusal of the core (unknown names, no lung information ...).
    """
    from theranostics.planning.sirt import SirtLimits
    from theranostics.planning.sirt_files import DEFAULT_DENSITY_G_PER_ML

    for value, field, label in (
        (maa_spect, "maaSpectVolume", "MAA SPECT"),
        (segmentation, "sirtSegmentation", "compartments"),
    ):
        if value is None:
            raise InputError(f"no {label} selected", tag=field, fix=f"select the {label}")
    if not 0.0 <= float(lung_shunt_percent) < 100.0:
        raise InputError(
            f"lung shunt {lung_shunt_percent} % is outside [0, 100)",
            tag="sirtLungShuntPercent",
            fix="give the planar lung shunt fraction in percent",
        )
    normal = (normal_segment_name or "").strip() or None
    lung = (lung_segment_name or "").strip() or None
    fraction = float(lung_shunt_percent) / 100.0
    lsf = None if lung is not None and fraction == 0.0 else fraction
    target = {"mird": "target_perfused_Gy", "partition": "target_normal_Gy"}.get(method)
    options = {target: float(target_dose_Gy)} if target else {}
    if method == "partition" and normal is None:
        options = {"target_tumor_Gy": float(target_dose_Gy)}
    nodes = plan_sirt_from_segmentation_node(
        maa_spect,
        segmentation,
        tumors=_names(tumor_segment_names),
        normal=normal,
        normal_role=normal_role,
        lung=lung,
        lung_shunt_fraction=lsf,
        clip_negative=bool(clip_negative),
        density_g_per_mL=DEFAULT_DENSITY_G_PER_ML,
        method=method,
        limits=SirtLimits(previous_lung_Gy=float(previous_lung_dose_Gy)),
        **options,
    )
    plan = nodes.plan
    summary = (
        f"{plan.recommended_activity_GBq:.2f} GBq 90Y (no CT: masses from "
        f"{DEFAULT_DENSITY_G_PER_ML:g} g/mL); binding constraint: "
        f"{plan.binding_constraint}; lung shunt fraction {plan.lung_shunt_fraction:.1%}"
    )
    return summary, nodes
