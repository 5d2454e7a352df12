"""Kinetics results in MRML: time-activity curves as table and plot nodes, TIA maps as volumes.

* :func:`tac_table_node` — a ``vtkMRMLTableNode`` with a ``time_h`` column (h after
  administration) and one activity column (MBq) per structure: the measured points.
* :func:`tac_curve_table_node` — the fitted curves sampled on a fine time grid (same columns);
  a separate table because the curves and the points have different time samples.
* :func:`tac_plot_chart_node` — a ``vtkMRMLPlotChartNode`` with, per structure, a series of
  markers without line (measured) and a line without markers (fitted), in one colour, axis
  titles with units.
* :func:`add_tacs_to_scene` — all three at once; :func:`tacs_from_table_node` reads the
  measured curves back.
* :func:`tia_volume_node` — a TIA map (MBq·h per voxel) as a scalar volume node whose voxel
  quantity is "Time-integrated activity" in MBq·h (through the shared volume adapter).

Fits follow :class:`theranostics.kinetics.fit.TacFit` (``curve_MBq(t_h)``, ``model``,
``tia_MBq_h``, ``tia_uncertainty_MBq_h``, ``effective_half_life_h``). No Qt and no
application-wide globals: the scene is an argument.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
import vtk
from TheranosticPlanningLib.volumes import volume_node_from_image

from theranostics.errors import InputError, UnitsError
from theranostics.image import QuantitativeImage
from theranostics.metadata import ImageMetadata, QuantityInfo

TIME_COLUMN = "time_h"
#: Node reference from the measured table to the fitted-curve table.
CURVE_REFERENCE_ROLE = "TheranosticsTacCurves"
#: Marker of our TAC tables (value: "measured" or "fitted").
TAC_ATTRIBUTE = "Theranostics.TimeActivityCurves"
#: Colours of successive structures (Tableau 10, as in matplotlib).
PALETTE = (
    (0.122, 0.467, 0.706),
    (1.000, 0.498, 0.055),
    (0.173, 0.627, 0.173),
    (0.839, 0.153, 0.157),
    (0.580, 0.404, 0.741),
    (0.549, 0.337, 0.294),
    (0.890, 0.467, 0.761),
    (0.498, 0.498, 0.498),
    (0.737, 0.741, 0.133),
    (0.090, 0.745, 0.812),
)


@dataclass(frozen=True)
class TacNodes:
    """The nodes :func:`add_tacs_to_scene` creates."""

    table: object
    curve_table: object | None
    chart: object
    series: dict


def _curves(tacs: Mapping) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Common times and activities of objects with ``times_h`` and ``activities_MBq``."""
    if not tacs:
        raise InputError("no time-activity curves given", tag="tacs")
    times = None
    out = {}
    for name, tac in tacs.items():
        t = np.asarray(tac.times_h, dtype=float)
        a = np.asarray(tac.activities_MBq, dtype=float)
        if t.shape != a.shape:
            raise InputError(f"{name}: times and activities differ in length", tag=name)
        if times is None:
            times = t
        elif t.shape != times.shape or not np.allclose(t, times):
            raise InputError(
                f"{name}: time points differ from the other structures",
                tag=name,
                fix="give curves measured at the same time points (one registered study)",
            )
        if name == TIME_COLUMN:
            raise InputError(f"a structure may not be called {TIME_COLUMN!r}", tag=name)
        out[str(name)] = a
    return times, out


def _double_column(name: str, values) -> vtk.vtkDoubleArray:
    column = vtk.vtkDoubleArray()
    column.SetName(name)
    for v in values:
        column.InsertNextValue(float(v))
    return column


def _fill_table(node, times: np.ndarray, columns: dict[str, np.ndarray], kind: str) -> None:
    table = node.GetTable()
    table.Initialize()
    table.AddColumn(_double_column(TIME_COLUMN, times))
    for name, values in columns.items():
        table.AddColumn(_double_column(name, values))
    node.SetColumnUnitLabel(TIME_COLUMN, "h")
    node.SetColumnLongName(TIME_COLUMN, "Time after administration")
    for name in columns:
        node.SetColumnUnitLabel(name, "MBq")
        node.SetColumnLongName(name, f"{name} activity")
    node.SetAttribute(TAC_ATTRIBUTE, kind)
    node.Modified()


def tac_table_node(tacs: Mapping, scene, name: str = "Time-activity curves", node=None):
    """A ``vtkMRMLTableNode`` of measured TACs: ``time_h`` (h) + one column per structure
    (MBq). ``tacs``: name -> object with ``times_h`` and ``activities_MBq`` (a
    ``StructureTac`` or ``TacFit``), all at the same times. ``node`` is overwritten if given.

    Raises:
        InputError: no curves, curves at different times, or a structure named ``time_h``.
    """
    times, columns = _curves(tacs)
    node = node or scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    node.SetName(name)
    _fill_table(node, times, columns, "measured")
    return node


def curve_times_h(times_h, n_samples: int = 200, extend: float = 1.25) -> np.ndarray:
    """Sample times (h) for fitted curves: from 0 to ``extend`` x the last time point, with
    the measured times included so the curve passes through their abscissae."""
    t = np.asarray(times_h, dtype=float)
    grid = np.linspace(0.0, float(t.max()) * extend, int(n_samples))
    return np.unique(np.concatenate([grid, t]))


def tac_curve_table_node(
    fits: Mapping, scene, name: str = "Fitted time-activity curves", n_samples: int = 200
):
    """A ``vtkMRMLTableNode`` of fitted curves: ``time_h`` + one column per structure (MBq),
    sampled with :func:`curve_times_h`. Each column carries the fit's model, TIA and its
    uncertainty as column properties (``model``, ``tia_MBq_h``, ``tia_uncertainty_MBq_h``).
    """
    times, _ = _curves(fits)
    t = curve_times_h(times, n_samples)
    columns = {n: np.asarray(fit.curve_MBq(t), dtype=float) for n, fit in fits.items()}
    node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    _fill_table(node, t, columns, "fitted")
    for n, fit in fits.items():
        node.SetColumnProperty(n, "model", str(fit.model))
        node.SetColumnProperty(n, "tia_MBq_h", repr(float(fit.tia_MBq_h)))
        node.SetColumnProperty(n, "tia_uncertainty_MBq_h", repr(float(fit.tia_uncertainty_MBq_h)))
    return node


def _series(scene, name, table, column, colour, fitted: bool):
    series = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", name)
    series.SetAndObserveTableNodeID(table.GetID())
    series.SetXColumnName(TIME_COLUMN)
    series.SetYColumnName(column)
    series.SetPlotType(series.PlotTypeScatter)
    if fitted:
        series.SetLineStyle(series.LineStyleSolid)
        series.SetMarkerStyle(series.MarkerStyleNone)
    else:
        series.SetLineStyle(series.LineStyleNone)
        series.SetMarkerStyle(series.MarkerStyleCircle)
        series.SetMarkerSize(8)
    series.SetColor(*colour)
    return series


def tac_plot_chart_node(table, scene, curve_table=None, name: str = "Time-activity curves"):
    """A ``vtkMRMLPlotChartNode`` of the TACs in ``table`` (markers, no line) and, when
    given, the fitted curves in ``curve_table`` (line, no markers), one colour per structure.

    Returns:
        (chart node, {structure: {"measured": series, "fitted": series or None}}).
    """
    chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", name)
    chart.SetTitle(name)
    chart.SetXAxisTitle("Time after administration (h)")
    chart.SetYAxisTitle("Activity (MBq)")
    chart.SetLegendVisibility(True)
    names = [
        table.GetTable().GetColumn(c).GetName()
        for c in range(table.GetNumberOfColumns())
        if table.GetTable().GetColumn(c).GetName() != TIME_COLUMN
    ]
    fitted_names = set()
    if curve_table is not None:
        fitted_names = {
            curve_table.GetTable().GetColumn(c).GetName()
            for c in range(curve_table.GetNumberOfColumns())
        }
    series = {}
    for index, structure in enumerate(names):
        colour = PALETTE[index % len(PALETTE)]
        measured = _series(scene, f"{structure} (measured)", table, structure, colour, False)
        chart.AddAndObservePlotSeriesNodeID(measured.GetID())
        fitted = None
        if structure in fitted_names:
            fitted = _series(scene, f"{structure} (fit)", curve_table, structure, colour, True)
            chart.AddAndObservePlotSeriesNodeID(fitted.GetID())
        series[structure] = {"measured": measured, "fitted": fitted}
    return chart, series


def add_tacs_to_scene(
    tacs: Mapping, scene, fits: Mapping | None = None, name: str = "Time-activity curves"
) -> TacNodes:
    """Measured table, fitted-curve table (when ``fits`` are given; the measured table
    references it with the role :data:`CURVE_REFERENCE_ROLE`) and the plot chart."""
    table = tac_table_node(tacs, scene, name)
    curve_table = None
    if fits:
        curve_table = tac_curve_table_node(fits, scene, f"{name} (fitted)")
        table.SetNodeReferenceID(CURVE_REFERENCE_ROLE, curve_table.GetID())
    chart, series = tac_plot_chart_node(table, scene, curve_table, name)
    return TacNodes(table=table, curve_table=curve_table, chart=chart, series=series)


def tacs_from_table_node(node) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(times_h, {structure: activities_MBq})`` from a table made by
    :func:`tac_table_node` (or any table with a ``time_h`` column and MBq columns).

    Raises:
        InputError: no ``time_h`` column; UnitsError: a column whose unit label is not MBq.
    """
    table = node.GetTable()
    columns = {
        table.GetColumn(c).GetName(): table.GetColumn(c) for c in range(table.GetNumberOfColumns())
    }
    if TIME_COLUMN not in columns:
        raise InputError(
            f"table node {node.GetName()!r} has no {TIME_COLUMN!r} column",
            tag=TIME_COLUMN,
            fix="use a table made by tac_table_node",
        )

    def values(column):
        return np.array([column.GetValue(r) for r in range(column.GetNumberOfTuples())], float)

    out = {}
    for name, column in columns.items():
        if name == TIME_COLUMN:
            continue
        unit = node.GetColumnUnitLabel(name)
        if unit and unit != "MBq":
            raise UnitsError(
                f"column {name!r} of {node.GetName()!r} is in {unit!r}, not MBq", tag=name
            )
        out[name] = values(column)
    return values(columns[TIME_COLUMN]), out


def tia_volume_node(
    tia,
    scene,
    name: str = "TIA",
    node=None,
    reference_meta: ImageMetadata | None = None,
    model: str | None = None,
):
    """A scalar volume node of a TIA map in MBq·h per voxel.

    Args:
        tia: ``SimpleITK.Image`` (MBq·h per voxel, LPS) or a :class:`QuantitativeImage`
            with units ``"MBq*h"``.
        scene: the ``vtkMRMLScene``.
        name: node name.
        node: an existing scalar volume node to overwrite.
        reference_meta: metadata of the activity image (patient, administration, frame of
            reference are kept; the units become MBq*h).
        model: the voxel model, stored in the attribute ``Theranostics.TIAModel``.

    Raises:
        UnitsError: a :class:`QuantitativeImage` in other units.
    """
    if isinstance(tia, QuantitativeImage):
        if tia.meta.quantity.units != "MBq*h":
            raise UnitsError(
                f"image units are {tia.meta.quantity.units!r}, not MBq*h",
                tag="quantity.units",
                fix="pass the time-integrated activity map (MBq·h per voxel)",
            )
        qimage = tia
    else:
        base = reference_meta or ImageMetadata()
        meta = base.replace(
            series_description=name,
            quantity=QuantityInfo(units="MBq*h", units_source="voxel TIA"),
        )
        qimage = QuantitativeImage(sitk.Cast(tia, sitk.sitkFloat32), meta)
    node = volume_node_from_image(qimage, scene, name=name, node=node)
    if model:
        node.SetAttribute("Theranostics.TIAModel", model)
    values = sitk.GetArrayViewFromImage(qimage.image)
    total = float(np.nansum(values, dtype=np.float64))
    node.SetAttribute("Theranostics.TIATotalMBqh", repr(total) if math.isfinite(total) else "nan")
    return node
