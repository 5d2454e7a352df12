"""What each DoseMapping panel button does, as functions of the parameter node.

As in ``TheranosticPlanningLib.panel``: the Widget's Logic passes its parameter node ``p``;
these functions only read and write attributes named as in ``DoseMappingParameterNode``, so
they run and are tested headless on a real scene.
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
