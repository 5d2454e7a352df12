"""DoseMapping panel actions on a computed dose: Compare with plan and Export.

Functions of plain arguments (the dose volume of the last Compute dose, nodes, numbers,
paths), re-exported by :mod:`DoseMappingLib.panel`. They work on the run folder of that dose
volume (see :mod:`DoseMappingLib.panel_dose` for where the state between the buttons lives).
A cancelled export leaves no partial files: everything is written into a hidden staging
folder inside the output folder and moved into place only when all of it is written.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from theranostics.errors import InputError, UnitsError
from theranostics.progress import report, scaled

from . import dosimetry
from .panel_dose import _RESULTS, DosimetrySettings, _run, _run_folder

#: Run-folder files copied only when their export box is ticked (the box's argument name).
DICOM_FILES = {
    "RD_dose.dcm": "rt_dose",
    "RD_bed.dcm": "rt_dose",
    "structures_seg.dcm": "seg",
    "dose_sr.dcm": "sr",
}


@dataclass(frozen=True)
class _PlanPatient:
    """What :func:`theranostics.workflows.dosimetry_exports.read_plan` reads of a study to
    refuse another patient's plan: the patient ID of the run (no time points)."""

    patient: dict = field(default_factory=dict)
    time_points: tuple = ()


# --- verification ---------------------------------------------------------------------------
def _is_set(path) -> bool:
    return path is not None and str(path) not in ("", ".")


#: The workflow's comparison columns plus the tolerance applied to each structure (its
#: category's unless the run fixed one) and each structure's gamma pass rate.
COMPARISON_COLUMNS = (
    *dosimetry.COMPARISON_COLUMNS,
    ("tolerance_percent", "%"),
    ("gamma_pass_percent", "%"),
)
#: String columns: ``comparison_resolution`` labels the rows with a gamma pass rate with the
#: resolution mode of the comparison (like with like, or RAW).
TEXT_COLUMNS = ("structure", "category", "within_uncertainty", "flag", "comparison_resolution")


def _comparison_table(node, scene, rows: list[dict], resolution: dict | None = None):
    import vtk

    node = node or scene.AddNewNodeByClass("vtkMRMLTableNode", "Planned vs delivered")
    table = node.GetTable()
    table.Initialize()
    for name in TEXT_COLUMNS:
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
    if resolution is None:
        node.RemoveAttribute("Theranostics.ComparisonResolution")
    else:
        node.SetAttribute("Theranostics.ComparisonResolution", resolution["mode"])
    node.Modified()
    return node


def _gamma(
    dose_volume,
    planned_dose_volume,
    structures,
    *,
    dose_percent: float,
    dta_mm: float,
    cutoff_percent: float,
    local: bool,
    delivered_fwhm_mm: float | None,
    planned_fwhm_mm: float | None = 0.0,
    mode: str = "matched",
    progress=None,
) -> tuple[dict, dict[str, float], dict]:
    """Gamma of the delivered dose (evaluated) against the planned map (reference), both
    first brought to one resolution as the dosimetry workflow does
    (:func:`theranostics.verify.resolution.match_resolution`: in ``"matched"`` mode the
    sharper map is blurred to the other's resolution and the planned map is averaged onto
    the delivered grid; without a known delivered resolution it falls back to RAW with a
    note). Returns the gamma summary, the pass rate (%) within each structure and the
    resolution record."""
    import numpy as np
    import SimpleITK as sitk
    from TheranosticPlanningLib.segmentations import masks_from_segmentation_node
    from TheranosticPlanningLib.volumes import image_from_volume_node

    from theranostics.verify.gamma import gamma_index
    from theranostics.verify.resolution import match_resolution

    planned = image_from_volume_node(planned_dose_volume)
    units = planned.meta.quantity.units
    if units not in (None, "", "Gy"):
        raise UnitsError(
            f"planned dose map {planned_dose_volume.GetName()!r} is in {units}, not Gy",
            tag="Planned dose map",
            fix="choose a dose volume in Gy",
        )
    matched = match_resolution(
        planned.image,
        image_from_volume_node(dose_volume).image,
        delivered_fwhm_mm=delivered_fwhm_mm,
        planned_fwhm_mm=planned_fwhm_mm,
        mode=mode,
    )
    result = gamma_index(
        sitk.Cast(matched.planned, sitk.sitkFloat32),
        sitk.Cast(matched.delivered, sitk.sitkFloat32),
        dose_percent=float(dose_percent),
        dta_mm=float(dta_mm),
        cutoff_percent=float(cutoff_percent),
        local=bool(local),
        progress=progress,
    )
    gamma = sitk.GetArrayFromImage(result.gamma)
    per_structure = {}
    if structures is not None:
        for name, mask in masks_from_segmentation_node(structures, result.gamma).items():
            values = gamma[(sitk.GetArrayViewFromImage(mask) > 0) & np.isfinite(gamma)]
            if values.size:
                per_structure[name] = float(100.0 * np.mean(values <= 1.0))
    return result.to_json(), per_structure, dict(matched.info)


def verify(
    dose_volume,
    *,
    plan_path=None,
    planned_dose_volume=None,
    structures=None,
    gamma_dose_percent: float = 3.0,
    gamma_dta_mm: float = 3.0,
    gamma_cutoff_percent: float = 10.0,
    gamma_local: bool = False,
    comparison_table=None,
    progress=None,
):
    """Planned versus delivered for the dose volume of the last Compute dose: per-structure
    mean dose against the plan file (``plan_path``; the run's tolerance when it fixed one,
    otherwise each structure's category tolerance, organs 10 % and lesions 20 %,
    :data:`theranostics.verify.compare.DEFAULT_TOLERANCES`) and, with a planned dose map
    (``planned_dose_volume``, Gy), the 3D gamma index (``gamma_dose_percent`` %,
    ``gamma_dta_mm`` mm, ``gamma_cutoff_percent`` %, local when ``gamma_local``; the planned
    map is the reference) overall and within each segment of ``structures``.

    The gamma compares like with like, as the dosimetry workflow does: the run's
    ``comparison_resolution`` (``"matched"`` unless the run chose ``"raw"``) with the
    delivered chain's resolution from the run's parameters (``comparison_psf_fwhm_mm``, else
    the partial-volume ``psf_fwhm_mm``; neither: RAW, with the note recorded) and the
    planned map's own ``planned_psf_fwhm_mm`` (0: sharp). The mode is recorded in
    ``results["comparison_resolution"]`` and labelled on the table's gamma rows.

    Fills ``comparison_table`` (a new table node when None; one row per structure, plus a
    row "all evaluated voxels" with the overall gamma pass rate) and records the comparison
    in the run's ``results.json`` (rewritten atomically). Returns the table node.
    """
    from theranostics.workflows.dosimetry_exports import read_plan
    from theranostics.workflows.dosimetry_metrics import compare_with_plan

    folder = _run_folder(dose_volume)
    has_plan, has_map = _is_set(plan_path), planned_dose_volume is not None
    if not (has_plan or has_map):
        raise InputError(
            "nothing to compare with",
            tag="Plan file / Planned dose map",
            fix="choose a plan JSON of Theranostic Planning, a planned dose map, or both",
        )
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    parameters = results["provenance"]["parameters"]
    rows: list[dict] = []
    if has_plan:
        patient_id = (results.get("patient") or {}).get("patient_id")
        study = _PlanPatient(patient={"patient_id": patient_id} if patient_id else {})
        plan = read_plan(Path(plan_path), study)
        # None: each structure's category tolerance (compare_with_plan)
        rows = compare_with_plan(
            results["structures"],
            plan["structures"],
            administered_GBq=results["administered_activity_MBq"] / 1000.0,
            tolerance_percent=parameters.get("tolerance_percent"),
        )
        for row in rows:
            row["category"] = results["structures"][row["structure"]].get("category", "organ")
    gamma = resolution = None
    if has_map:
        psf = parameters.get("comparison_psf_fwhm_mm")
        gamma, per_structure, resolution = _gamma(
            dose_volume,
            planned_dose_volume,
            structures,
            dose_percent=gamma_dose_percent,
            dta_mm=gamma_dta_mm,
            cutoff_percent=gamma_cutoff_percent,
            local=gamma_local,
            delivered_fwhm_mm=psf if psf is not None else parameters.get("psf_fwhm_mm"),
            planned_fwhm_mm=parameters.get("planned_psf_fwhm_mm") or 0.0,
            mode=parameters.get("comparison_resolution") or "matched",
            progress=scaled(progress, 0.1, 0.9),
        )
        by_name = {r["structure"]: r for r in rows}
        for name, rate in per_structure.items():
            by_name.setdefault(name, {"structure": name}).update(
                gamma_pass_percent=rate, comparison_resolution=resolution["label"]
            )
        rows = list(by_name.values())
        rows.append(
            {
                "structure": "all evaluated voxels",
                "gamma_pass_percent": gamma["pass_rate_percent"],
                "comparison_resolution": resolution["label"],
            }
        )
    kind = "local" if gamma_local else "global"
    results["plan_comparison"] = [r for r in rows if "delivered_Gy" in r]
    results["gamma"] = None if gamma is None else {kind: gamma}
    results["comparison_resolution"] = resolution
    staged = folder / ".results.json.part"
    staged.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    staged.replace(folder / "results.json")
    cached = _RESULTS.get(str(folder))
    if cached is not None:
        cached.results["plan_comparison"] = results["plan_comparison"]
        cached.results["gamma"] = results["gamma"]
        cached.results["comparison_resolution"] = resolution
        cached.comparison = results["plan_comparison"]
    node = _comparison_table(comparison_table, dose_volume.GetScene(), rows, resolution)
    report(progress, 1.0, "comparison done")
    return node


# --- export ---------------------------------------------------------------------------------
def export(
    dose_volume,
    output_directory,
    *,
    rt_dose: bool = True,
    seg: bool = True,
    sr: bool = True,
    report_html: bool = True,
    reference_ct=None,
    structures=None,
    settings: DosimetrySettings | None = None,
    progress=None,
) -> Path | None:
    """Copy the outputs of the run that made ``dose_volume`` into ``output_directory``:
    ``results.json``, ``results.csv``, the NRRD maps (TIA MBq·h, dose Gy, BED Gy, with JSON
    sidecars); DICOM RT Dose (dose and BED), SEG and SR when ``rt_dose``, ``seg``, ``sr``
    (written only when the reference CT's DICOM files are known); and ``report.html`` when
    ``report_html``. When the run is no longer in memory (scene reloaded) the report is
    computed again from ``reference_ct``, ``structures`` and ``settings``.

    Everything is written into a staging folder inside ``output_directory`` and moved into
    place at the end: a cancelled or failed export leaves no partial files.

    Returns the report's path, or ``None`` without a report.

    Raises:
        InputError: no output folder, or no dose computed yet.
    """
    settings = settings or DosimetrySettings()
    if not _is_set(output_directory):
        raise InputError(
            "no output folder chosen",
            tag="Output folder",
            fix="choose the folder the exports are written to",
        )
    folder = _run_folder(dose_volume)
    out = Path(output_directory)
    out.mkdir(parents=True, exist_ok=True)
    boxes = {"rt_dose": rt_dose, "seg": seg, "sr": sr}
    staging = Path(tempfile.mkdtemp(prefix=".theranostics-export-", dir=out))
    try:
        for source in sorted(folder.iterdir()):
            if not source.is_file() or source.name.startswith("."):
                continue
            box = DICOM_FILES.get(source.name)
            if box is not None and not boxes[box]:
                continue
            shutil.copy2(source, staging / source.name)
        report(progress, 0.3, "files copied")
        path = None
        if report_html:
            path = _write_report(
                folder, staging, reference_ct, structures, settings, scaled(progress, 0.3, 0.95)
            )
        for staged in sorted(staging.iterdir()):
            staged.replace(out / staged.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report(progress, 1.0, "export done")
    return None if path is None else out / path.name


def _write_report(folder: Path, staging: Path, reference_ct, structures, settings, progress):
    from theranostics.workflows.dosimetry_report import write_report

    result = _RESULTS.get(str(folder))
    if result is None:  # not in memory (e.g. scene reloaded): compute again for the report
        scratch = Path(tempfile.mkdtemp(prefix="theranostics-report-"))
        try:
            result = _run(reference_ct, structures, settings, scratch, scaled(progress, 0.0, 0.9))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        saved = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        result.results["plan_comparison"] = saved.get("plan_comparison", [])
        result.results["gamma"] = saved.get("gamma")
        result.results["comparison_resolution"] = saved.get("comparison_resolution")
        result.comparison = result.results["plan_comparison"]
    return write_report(result, staging / "report.html")
