"""DoseMapping panel actions on a computed dose: Compare with plan and Export.

Functions of the parameter node ``p``, re-exported by :mod:`DoseMappingLib.panel`. They
work on the run folder of the last Compute dose (see :mod:`DoseMappingLib.panel_dose` for
where the state between the buttons lives).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from theranostics.errors import InputError, UnitsError
from theranostics.progress import report, scaled

from . import dosimetry
from .panel_dose import _RESULTS, _run, _run_folder

#: Run-folder files copied only when their export box is ticked.
DICOM_FILES = {
    "RD_dose.dcm": "exportRtDose",
    "RD_bed.dcm": "exportRtDose",
    "structures_seg.dcm": "exportSeg",
    "dose_sr.dcm": "exportSr",
}


# --- verification ---------------------------------------------------------------------------
def _is_set(path) -> bool:
    return path is not None and str(path) not in ("", ".")


#: The workflow's comparison columns plus each structure's gamma pass rate.
COMPARISON_COLUMNS = (*dosimetry.COMPARISON_COLUMNS, ("gamma_pass_percent", "%"))


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
