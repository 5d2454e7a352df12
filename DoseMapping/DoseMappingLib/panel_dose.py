"""DoseMapping panel actions after registration: kinetics, dose, verification, export.

Functions of the parameter node ``p`` (attributes named as in ``DoseMappingParameterNode``);
re-exported by :mod:`DoseMappingLib.panel`, which the module's Logic calls.

State between the buttons lives in the scene and on disk, not in hidden globals:

* the sessions and the accepted transforms are the scene's volumes and their parent
  transform nodes (:mod:`DoseMappingLib.scene_study`); no registration runs again;
* Compute dose runs :func:`theranostics.workflows.dosimetry.run_dosimetry` into a fresh run
  folder (a temporary folder, named in the dose volume's attribute
  :data:`RUN_FOLDER_ATTRIBUTE`), holding ``results.json``, the NRRD maps and, when the CT's
  DICOM files are known, RT Dose, SEG and SR;
* Compare with plan reads ``results.json`` and the dose volume, and writes the comparison
  back into ``results.json`` (``plan_comparison``, ``gamma``);
* Export copies the selected files of the run folder into ``p.outputDirectory`` and writes
  the HTML report. The report needs the in-memory ``DosimetryResult`` (curves, masks): it is
  kept in :data:`_RESULTS` by run folder; when absent (scene reloaded, Slicer restarted) the
  dosimetry is computed again from the scene for the report.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from theranostics.errors import InputError, UnitsError
from theranostics.progress import report, scaled

#: Dose-volume attribute: the folder of the run that made it.
RUN_FOLDER_ATTRIBUTE = "Theranostics.DosimetryRunFolder"
#: Table-node reference from the TAC table to its plot chart.
CHART_REFERENCE_ROLE = "TheranosticsTacChart"
#: Subject-hierarchy folder of the nodes Compute dose makes.
CYCLE_NAME = "Post-therapy dosimetry"
#: Run-folder files written only when their export box is ticked.
DICOM_FILES = {
    "RD_dose.dcm": "exportRtDose",
    "RD_bed.dcm": "exportRtDose",
    "structures_seg.dcm": "exportSeg",
    "dose_sr.dcm": "exportSr",
}
#: The last DosimetryResult of each run folder, for the report (see the module docstring).
_RESULTS: dict[str, object] = {}


def _require_structures(p):
    if p.structures is None:
        raise InputError(
            "no structures chosen",
            tag="Organs and lesions",
            fix="choose a segmentation of the organs and lesions on the reference session",
        )


def _mask_set(p, registered):
    from TheranosticPlanningLib.segmentations import masks_from_segmentation_node

    from theranostics.io.masks import masks_from_images

    grid = registered.reference_grid
    masks = masks_from_segmentation_node(p.structures, grid)
    return masks_from_images(masks, grid, source=p.structures.GetName(), skip_empty=True)


# --- kinetics -------------------------------------------------------------------------------
def _remove_chart(scene, chart) -> None:
    for i in reversed(range(chart.GetNumberOfPlotSeriesNodes())):
        series = chart.GetNthPlotSeriesNode(i)
        if series is not None:
            scene.RemoveNode(series)
    scene.RemoveNode(chart)


def fit_kinetics(p, progress=None):
    """Structure time-activity curves (MBq over h after administration), fits (``p.kineticModel``)
    and TIA (MBq·h) with its EANM uncertainty, from the accepted transforms.

    Fills ``p.tacTable`` (measured points; its fitted-curve table and chart are replaced on
    every run) and returns the plot chart node. Per-structure model, TIA and uncertainty are
    the fitted table's column properties and the TAC table's ``Theranostics.Kinetics``
    attribute (JSON).
    """
    from theranostics.workflows.kinetics import run_structure_kinetics

    from .kinetics import (
        CURVE_REFERENCE_ROLE,
        tac_curve_table_node,
        tac_plot_chart_node,
        tac_table_node,
    )
    from .scene_study import registered_study_from_scene

    _require_structures(p)
    registered, _ = registered_study_from_scene(p, progress=scaled(progress, 0.0, 0.4))
    mask_set = _mask_set(p, registered)
    result = run_structure_kinetics(
        registered,
        mask_set,
        model=p.kineticModel,
        registration=False,
        progress=scaled(progress, 0.4, 0.95),
    )
    fits = {name: s.fit for name, s in result.structures.items()}
    scene = p.structures.GetScene()
    name = "Time-activity curves"
    table = p.tacTable
    if table is not None:
        for role in (CURVE_REFERENCE_ROLE, CHART_REFERENCE_ROLE):
            old = table.GetNodeReference(role)
            if old is not None and old.IsA("vtkMRMLPlotChartNode"):
                _remove_chart(scene, old)
            elif old is not None:
                scene.RemoveNode(old)
    table = tac_table_node(fits, scene, name, node=table)
    curves = tac_curve_table_node(fits, scene, f"{name} (fitted)")
    table.SetNodeReferenceID(CURVE_REFERENCE_ROLE, curves.GetID())
    chart, _ = tac_plot_chart_node(table, scene, curves, name)
    table.SetNodeReferenceID(CHART_REFERENCE_ROLE, chart.GetID())
    summary = {
        n: {
            "model": s.fit.model,
            "tia_MBq_h": s.tia_MBq_h,
            "tia_uncertainty_MBq_h": s.tia_uncertainty_MBq_h,
            "effective_half_life_h": s.fit.effective_half_life_h,
        }
        for n, s in result.structures.items()
    }
    table.SetAttribute(
        "Theranostics.Kinetics",
        json.dumps({"structures": summary, "failed": result.failed, "notes": result.notes}),
    )
    p.tacTable = table
    report(progress, 1.0, "kinetics done")
    return chart


# --- dose -----------------------------------------------------------------------------------
def _run(p, out_dir: Path, progress=None):
    """run_dosimetry on the scene's study through the accepted transforms."""
    from theranostics.workflows.dosimetry import run_dosimetry

    from .scene_study import registered_study_from_scene

    _require_structures(p)
    registered, pairs = registered_study_from_scene(p, progress=scaled(progress, 0.0, 0.2))
    if registered.reference_index != 0:
        raise InputError(
            f"the reference CT {p.referenceCt.GetName()!r} is not the earliest session's; the "
            "dose computation takes the earliest session as the reference (its grid, CT "
            "densities and structures)",
            tag="Reference CT",
            fix=f"choose {pairs[0][1].GetName()!r} as the reference CT, register and accept",
        )
    mask_set = _mask_set(p, registered)
    return run_dosimetry(
        registered,
        mask_set,
        out_dir=out_dir,
        calibration_cps_per_MBq=None,  # the SPECTs are already in Bq/mL
        method=p.doseMethod,
        density_correction=bool(p.densityCorrection),
        model=p.kineticModel,
        voxel_model=p.voxelKineticModel,
        write_report=False,
        progress=scaled(progress, 0.2, 0.95),
    )


def _run_folder(p) -> Path:
    node = p.doseVolume
    folder = None if node is None else node.GetAttribute(RUN_FOLDER_ATTRIBUTE)
    if not folder or not (Path(folder) / "results.json").is_file():
        raise InputError(
            "no dose computed in this session",
            tag="Dose map",
            fix="press Compute dose first",
        )
    return Path(folder)


def compute_dose(p, progress=None):
    """Absorbed dose (Gy, ``p.doseMethod``, density correction as asked) and BED (Gy) maps
    on the reference SPECT grid, per-structure doses and DVHs, from the accepted transforms.

    Fills ``p.doseVolume``, ``p.bedVolume`` and ``p.dvhTable`` with new nodes under the
    subject-hierarchy folder :data:`CYCLE_NAME`; the nodes of this module's previous run
    (the folder of the previous ``p.doseVolume``) are removed first. Returns the
    ``DosimetryNodes``.
    """
    import slicer

    from .dosimetry import add_dosimetry_to_scene

    out = Path(tempfile.mkdtemp(prefix="theranostics-dose-"))
    try:
        result = _run(p, out, progress)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    scene = p.structures.GetScene()
    previous = p.doseVolume
    if previous is not None and previous.GetAttribute(RUN_FOLDER_ATTRIBUTE):
        old_folder = previous.GetAttribute(RUN_FOLDER_ATTRIBUTE)
        _RESULTS.pop(old_folder, None)
        shutil.rmtree(old_folder, ignore_errors=True)
        sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
        parent = sh.GetItemParent(sh.GetItemByDataNode(previous))
        if parent and parent != sh.GetSceneItemID():
            sh.RemoveItem(parent, True, True)
    nodes = add_dosimetry_to_scene(result, scene, CYCLE_NAME)
    nodes.dose.SetAttribute(RUN_FOLDER_ATTRIBUTE, str(out))
    _RESULTS[str(out)] = result
    p.doseVolume, p.bedVolume, p.dvhTable = nodes.dose, nodes.bed, nodes.dvh_table
    report(progress, 1.0, "dose done")
    return nodes


# --- verification ---------------------------------------------------------------------------
def _is_set(path) -> bool:
    return path is not None and str(path) not in ("", ".")


COMPARISON_COLUMNS = (
    ("planned_Gy", "Gy"),
    ("planned_at_given_activity_Gy", "Gy"),
    ("delivered_Gy", "Gy"),
    ("delivered_uncertainty_Gy", "Gy"),
    ("difference_percent", "%"),
    ("gamma_pass_percent", "%"),
)


def _comparison_table(p, scene, rows: list[dict]):
    import vtk

    node = p.comparisonTable or scene.AddNewNodeByClass("vtkMRMLTableNode", "Planned vs delivered")
    table = node.GetTable()
    table.Initialize()
    for name in ("structure", "within_uncertainty", "flag"):
        column = vtk.vtkStringArray()
        column.SetName(name)
        for r in rows:
            value = r.get(name, "")
            column.InsertNextValue(
                ("yes" if value else "no") if isinstance(value, bool) else str(value)
            )
        table.AddColumn(column)
    for name, unit in COMPARISON_COLUMNS:
        column = vtk.vtkDoubleArray()
        column.SetName(name)
        for r in rows:
            value = r.get(name)
            column.InsertNextValue(float("nan") if value is None else float(value))
        table.AddColumn(column)
        node.SetColumnUnitLabel(name, unit)
    node.SetAttribute("Theranostics.DosimetryTable", "comparison")
    node.Modified()
    return node


def _gamma(p, progress=None) -> tuple[dict, dict[str, float]]:
    """Gamma of the delivered dose (evaluated) against the planned map (reference): summary
    and pass rate (%) within each structure."""
    import numpy as np
    import SimpleITK as sitk
    from TheranosticPlanningLib.segmentations import masks_from_segmentation_node
    from TheranosticPlanningLib.volumes import image_from_volume_node

    from theranostics.verify.gamma import gamma_index

    planned = image_from_volume_node(p.plannedDoseVolume)
    units = planned.meta.quantity.units
    if units not in (None, "", "Gy"):
        raise UnitsError(
            f"planned dose map {p.plannedDoseVolume.GetName()!r} is in {units}, not Gy",
            tag="Planned dose map",
            fix="choose a dose volume in Gy",
        )
    delivered = image_from_volume_node(p.doseVolume).image
    result = gamma_index(
        sitk.Cast(planned.image, sitk.sitkFloat32),
        sitk.Cast(delivered, sitk.sitkFloat32),
        dose_percent=float(p.gammaDosePercent),
        dta_mm=float(p.gammaDtaMm),
        cutoff_percent=float(p.gammaCutoffPercent),
        local=bool(p.gammaLocal),
        progress=progress,
    )
    gamma = sitk.GetArrayFromImage(result.gamma)
    per_structure = {}
    if p.structures is not None:
        for name, mask in masks_from_segmentation_node(p.structures, result.gamma).items():
            values = gamma[(sitk.GetArrayViewFromImage(mask) > 0) & np.isfinite(gamma)]
            if values.size:
                per_structure[name] = float(100.0 * np.mean(values <= 1.0))
    return result.to_json(), per_structure


def verify(p, progress=None):
    """Planned versus delivered: per-structure mean dose against the plan file
    (``p.planPath``, tolerance of the run, 20 % by default) and, with a planned dose map
    (``p.plannedDoseVolume``, Gy), the 3D gamma index (``p.gammaDosePercent`` %,
    ``p.gammaDtaMm`` mm, ``p.gammaCutoffPercent`` %, local when ``p.gammaLocal``; the planned
    map is the reference) overall and within each structure.

    Fills ``p.comparisonTable`` (one row per structure, plus a row "all evaluated voxels"
    with the overall gamma pass rate) and records the comparison in the run's
    ``results.json``. Returns the table node.
    """
    from types import SimpleNamespace

    from theranostics.workflows.dosimetry_exports import read_plan
    from theranostics.workflows.dosimetry_metrics import compare_with_plan

    folder = _run_folder(p)
    has_plan, has_map = _is_set(p.planPath), p.plannedDoseVolume is not None
    if not (has_plan or has_map):
        raise InputError(
            "nothing to compare with",
            tag="Plan file / Planned dose map",
            fix="choose a plan JSON of Theranostic Planning, a planned dose map, or both",
        )
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    rows: list[dict] = []
    if has_plan:
        patient_id = (results.get("patient") or {}).get("patient_id")
        study = SimpleNamespace(patient={"patient_id": patient_id} if patient_id else {})
        study.time_points = []
        plan = read_plan(Path(p.planPath), study)
        tolerance = results["provenance"]["parameters"].get("tolerance_percent") or 20.0
        rows = compare_with_plan(
            results["structures"],
            plan["structures"],
            administered_GBq=results["administered_activity_MBq"] / 1000.0,
            tolerance_percent=tolerance,
        )
    gamma = None
    if has_map:
        gamma, per_structure = _gamma(p, scaled(progress, 0.1, 0.9))
        by_name = {r["structure"]: r for r in rows}
        for name, rate in per_structure.items():
            by_name.setdefault(name, {"structure": name}).update(gamma_pass_percent=rate)
        rows = list(by_name.values())
        rows.append(
            {"structure": "all evaluated voxels", "gamma_pass_percent": gamma["pass_rate_percent"]}
        )
    kind = "local" if p.gammaLocal else "global"
    results["plan_comparison"] = [r for r in rows if "delivered_Gy" in r]
    results["gamma"] = None if gamma is None else {kind: gamma}
    (folder / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    cached = _RESULTS.get(str(folder))
    if cached is not None:
        cached.results["plan_comparison"] = results["plan_comparison"]
        cached.results["gamma"] = results["gamma"]
        cached.comparison = results["plan_comparison"]
    node = _comparison_table(p, p.doseVolume.GetScene(), rows)
    p.comparisonTable = node
    report(progress, 1.0, "comparison done")
    return node


# --- export ---------------------------------------------------------------------------------
def export(p, progress=None) -> Path | None:
    """Copy the run's outputs into ``p.outputDirectory``: ``results.json``, ``results.csv``,
    the NRRD maps (TIA MBq·h, dose Gy, BED Gy, with JSON sidecars); DICOM RT Dose (dose and
    BED), SEG and SR when their boxes are ticked (written only when the reference CT's DICOM
    files are known); and ``report.html`` when ``p.exportReport``.

    Returns the report's path, or ``None`` without a report.

    Raises:
        InputError: no output folder, or no dose computed yet.
    """
    if not _is_set(p.outputDirectory):
        raise InputError(
            "no output folder chosen",
            tag="Output folder",
            fix="choose the folder the exports are written to",
        )
    folder = _run_folder(p)
    out = Path(p.outputDirectory)
    out.mkdir(parents=True, exist_ok=True)
    for source in sorted(folder.iterdir()):
        if not source.is_file() or source.name.startswith("."):
            continue
        box = DICOM_FILES.get(source.name)
        if box is not None and not getattr(p, box):
            continue
        shutil.copy2(source, out / source.name)
    report(progress, 0.3, "files copied")
    if not p.exportReport:
        return None
    from theranostics.workflows.dosimetry_report import write_report

    result = _RESULTS.get(str(folder))
    if result is None:  # not in memory (e.g. scene reloaded): compute again for the report
        scratch = Path(tempfile.mkdtemp(prefix="theranostics-report-"))
        try:
            result = _run(p, scratch, scaled(progress, 0.3, 0.9))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        saved = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        result.results["plan_comparison"] = saved.get("plan_comparison", [])
        result.results["gamma"] = saved.get("gamma")
        result.comparison = result.results["plan_comparison"]
    path = write_report(result, out / "report.html")
    report(progress, 1.0, "export done")
    return path
