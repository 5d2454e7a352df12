"""MRML adapters of a dosimetry run (:func:`theranostics.workflows.dosimetry.run_dosimetry`).

:func:`add_dosimetry_to_scene` puts what one cycle produced into the scene, under one
subject-hierarchy folder per cycle: the dose and BED volumes (Gy, RT-dose attribute, dose
colour map), the cumulative DVH table and its plot chart, the per-structure dose table and
the planned-versus-delivered table. The scene is passed in (no application globals).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
import slicer
import vtk

from .dose import dose_volume_node

DOSE_COLUMN = "dose_Gy"
#: Attribute naming the kind of table a node holds.
DOSIMETRY_TABLE_ATTRIBUTE = "Theranostics.DosimetryTable"
#: Attribute marking the nodes (and folder item) of one Compute dose run.
RUN_ID_ATTRIBUTE = "Theranostics.DosimetryRunId"

#: Per-structure columns of the dose table (name, unit).
STRUCTURE_COLUMNS = (
    ("mass_g", "g"),
    ("tia_MBq_h", "MBq*h"),
    ("tia_uncertainty_MBq_h", "MBq*h"),
    ("mean_dose_Gy", "Gy"),
    ("mean_dose_uncertainty_Gy", "Gy"),
    ("bed_Gy", "Gy"),
    ("dose_per_activity_Gy_per_GBq", "Gy/GBq"),
)
COMPARISON_COLUMNS = (
    ("planned_Gy", "Gy"),
    ("planned_at_given_activity_Gy", "Gy"),
    ("delivered_Gy", "Gy"),
    ("delivered_uncertainty_Gy", "Gy"),
    ("difference_percent", "%"),
)


@dataclass
class DosimetryNodes:
    """Nodes of one cycle; ``folder_item_id`` is the subject-hierarchy folder item."""

    folder_item_id: int
    dose: object
    bed: object
    dvh_table: object
    dvh_chart: object
    structure_table: object
    comparison_table: object | None


def _double(name: str, values) -> vtk.vtkDoubleArray:
    column = vtk.vtkDoubleArray()
    column.SetName(name)
    for v in values:
        column.InsertNextValue(float(v) if v is not None else float("nan"))
    return column


def _strings(name: str, values) -> vtk.vtkStringArray:
    column = vtk.vtkStringArray()
    column.SetName(name)
    for v in values:
        column.InsertNextValue(str(v))
    return column


def dvh_table_node(result, scene, name: str = "DVH", bins: int = 200):
    """Cumulative DVHs (mass-weighted, fractional occupancy; ``result.dvhs``) of every
    structure on one dose axis of ``bins`` + 1 points from 0 to 5 % above the maximum dose
    (so that every curve ends at 0): column ``dose_Gy`` + one column per structure in
    percent of its mass."""
    top = 1.05 * float(sitk.GetArrayViewFromImage(result.dose_Gy).max())
    axis = np.linspace(0.0, top, bins + 1)
    node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    table = node.GetTable()
    table.AddColumn(_double(DOSE_COLUMN, axis))
    node.SetColumnUnitLabel(DOSE_COLUMN, "Gy")
    for structure, dvh in result.dvhs.items():
        table.AddColumn(_double(structure, dvh.volume_percent_at(axis)))
        node.SetColumnUnitLabel(structure, "%")
    node.SetAttribute(DOSIMETRY_TABLE_ATTRIBUTE, "dvh")
    node.Modified()
    return node


def dvh_plot_chart_node(dvh_table, scene, name: str = "DVH"):
    """A plot chart with one line per structure of ``dvh_table``."""
    chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", name)
    chart.SetTitle(name)
    chart.SetXAxisTitle("Dose (Gy)")
    chart.SetYAxisTitle("Volume (%)")
    table = dvh_table.GetTable()
    for c in range(1, table.GetNumberOfColumns()):
        column = table.GetColumn(c).GetName()
        series = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", f"{column} DVH")
        series.SetAndObserveTableNodeID(dvh_table.GetID())
        series.SetXColumnName(DOSE_COLUMN)
        series.SetYColumnName(column)
        series.SetPlotType(series.PlotTypeScatter)
        series.SetMarkerStyle(series.MarkerStyleNone)
        chart.AddAndObservePlotSeriesNodeID(series.GetID())
    return chart


def _rows_table(scene, name, rows: list[dict], key: str, columns, kind: str):
    node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    table = node.GetTable()
    table.AddColumn(_strings("structure", [r[key] for r in rows]))
    for column, unit in columns:
        table.AddColumn(_double(column, [r.get(column) for r in rows]))
        node.SetColumnUnitLabel(column, unit)
    node.SetAttribute(DOSIMETRY_TABLE_ATTRIBUTE, kind)
    node.Modified()
    return node


def add_dosimetry_to_scene(
    result, scene, cycle_name: str = "Cycle 1", *, run_id: str | None = None
) -> DosimetryNodes:
    """Add a :class:`~theranostics.workflows.dosimetry.DosimetryResult` to ``scene`` under a
    subject-hierarchy folder named ``cycle_name``; returns the nodes. With ``run_id``, every
    node made (plot series included) and the folder item carry it as the attribute
    ``Theranostics.DosimetryRunId``, so that exactly these can be removed later."""
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    folder = sh.CreateFolderItem(sh.GetSceneItemID(), cycle_name)
    dose = dose_volume_node(result.dose_Gy, scene, name=f"{cycle_name} dose")
    bed = dose_volume_node(result.bed_Gy, scene, name=f"{cycle_name} BED")
    dvh = dvh_table_node(result, scene, name=f"{cycle_name} DVH")
    chart = dvh_plot_chart_node(dvh, scene, name=f"{cycle_name} DVH")
    rows = [{"structure": n, **s} for n, s in result.results["structures"].items()]
    structures = _rows_table(
        scene, f"{cycle_name} structure doses", rows, "structure", STRUCTURE_COLUMNS, "doses"
    )
    comparison = None
    if result.comparison:
        comparison = _rows_table(
            scene,
            f"{cycle_name} planned vs delivered",
            result.comparison,
            "structure",
            COMPARISON_COLUMNS,
            "comparison",
        )
    nodes = [dose, bed, dvh, chart, structures] + ([comparison] if comparison else [])
    for node in nodes:
        item = sh.GetItemByDataNode(node)
        if not item:
            item = sh.CreateItem(folder, node)
        sh.SetItemParent(item, folder)
    if run_id:
        sh.SetItemAttribute(folder, RUN_ID_ATTRIBUTE, run_id)
        series = [chart.GetNthPlotSeriesNode(i) for i in range(chart.GetNumberOfPlotSeriesNodes())]
        for node in nodes + [s for s in series if s is not None]:
            node.SetAttribute(RUN_ID_ATTRIBUTE, run_id)
    return DosimetryNodes(folder, dose, bed, dvh, chart, structures, comparison)
