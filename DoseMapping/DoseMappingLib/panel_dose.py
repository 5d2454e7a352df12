"""DoseMapping panel actions after registration: kinetics and dose (verification and export:
:mod:`DoseMappingLib.panel_export`).

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

from theranostics.errors import InputError
from theranostics.progress import report, scaled

#: Dose-volume attribute: the folder of the run that made it.
RUN_FOLDER_ATTRIBUTE = "Theranostics.DosimetryRunFolder"
#: Table-node reference from the TAC table to its plot chart.
CHART_REFERENCE_ROLE = "TheranosticsTacChart"
#: Subject-hierarchy folder of the nodes Compute dose makes.
CYCLE_NAME = "Post-therapy dosimetry"
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
        psf_fwhm_mm=_psf(p),
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


def _psf(p) -> float | None:
    """The partial-volume PSF (FWHM, mm) of the panel, or None when it is 0 (no correction)."""
    value = float(p.psfFwhmMm)
    return value if value > 0 else None


# --- dose -----------------------------------------------------------------------------------
def _run(p, out_dir: Path, progress=None):
    """run_dosimetry on the scene's study through the accepted transforms."""
    from theranostics.workflows.dosimetry import run_dosimetry

    from .scene_study import registered_study_from_scene

    _require_structures(p)
    registered, _ = registered_study_from_scene(p, progress=scaled(progress, 0.0, 0.2))
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
        psf_fwhm_mm=_psf(p),
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
