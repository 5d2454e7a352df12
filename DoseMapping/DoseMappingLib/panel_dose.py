"""DoseMapping panel actions after registration: kinetics and dose (verification and export:
:mod:`DoseMappingLib.panel_export`).

Functions of plain arguments (the reference CT and structure nodes, a
:class:`DosimetrySettings` of numbers and names); re-exported by
:mod:`DoseMappingLib.panel`, which the module's Logic calls.

State between the buttons lives in the scene and on disk, not in hidden globals:

* the sessions and the accepted transforms are the scene's volumes and their parent
  transform nodes (:mod:`DoseMappingLib.scene_study`); no registration runs again;
* Compute dose runs :func:`theranostics.workflows.dosimetry.run_dosimetry` into a fresh run
  folder (a temporary folder, named in the dose volume's attribute
  :data:`RUN_FOLDER_ATTRIBUTE`), holding ``results.json``, the NRRD maps and, when the CT's
  DICOM files are known, RT Dose, SEG and SR. Every node of a run carries the run's id
  (:data:`RUN_ID_ATTRIBUTE`); a new run removes exactly the previous run's nodes, and its
  folder only when this session made it (a folder named in a saved scene's attribute is
  never deleted; a subject-hierarchy parent the user chose is never removed);
* Compare with plan reads ``results.json`` and the dose volume, and writes the comparison
  back into ``results.json`` (``plan_comparison``, ``gamma``);
* Export copies the selected files of the run folder into the output folder and writes
  the HTML report. The report needs the in-memory ``DosimetryResult`` (curves, masks): it is
  kept in :data:`_RESULTS` by run folder; when absent (scene reloaded, Slicer restarted) the
  dosimetry is computed again from the scene for the report.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from theranostics.errors import InputError
from theranostics.progress import report, scaled

#: Dose-volume attribute: the folder of the run that made it.
RUN_FOLDER_ATTRIBUTE = "Theranostics.DosimetryRunFolder"
#: Attribute on every node one Compute dose made: the run's id (a random hex string).
RUN_ID_ATTRIBUTE = "Theranostics.DosimetryRunId"  # = dosimetry.RUN_ID_ATTRIBUTE
#: Table-node reference from the TAC table to its plot chart.
CHART_REFERENCE_ROLE = "TheranosticsTacChart"
#: Subject-hierarchy folder of the nodes Compute dose makes.
CYCLE_NAME = "Post-therapy dosimetry"
#: The last DosimetryResult of each run folder, for the report (see the module docstring).
_RESULTS: dict[str, object] = {}
#: Run folders made by this session: the only ones a later run may delete.
_OWNED_FOLDERS: set[str] = set()
_FOLDER_PREFIX = "theranostics-dose-"


@dataclass(frozen=True)
class DosimetrySettings:
    """The panel's kinetics and dose choices, as plain values.

    Attributes:
        calibration_cps_per_MBq: SPECT calibration for volumes in counts (0 = none).
        kinetic_model: structure TAC model (``"auto"`` picks by AICc).
        voxel_kinetic_model: voxel TAC model of the dose map.
        psf_fwhm_mm: partial-volume PSF FWHM (mm) of the structure TIA; 0 = no correction.
        dose_method: ``"kernel"`` (voxel S values) or ``"led"`` (local deposition).
        density_correction: scale by CT-derived density.
    """

    calibration_cps_per_MBq: float = 0.0
    kinetic_model: str = "auto"
    voxel_kinetic_model: str = "mono-exp"
    psf_fwhm_mm: float = 0.0
    dose_method: str = "kernel"
    density_correction: bool = True

    @property
    def psf(self) -> float | None:
        """The PSF FWHM (mm), or None when it is 0 (no correction)."""
        value = float(self.psf_fwhm_mm)
        return value if value > 0 else None


def _require_structures(structures):
    if structures is None:
        raise InputError(
            "no structures chosen",
            tag="Organs and lesions",
            fix="choose a segmentation of the organs and lesions on the reference session",
        )


def _mask_set(structures, registered):
    from TheranosticPlanningLib.segmentations import masks_from_segmentation_node

    from theranostics.io.masks import masks_from_images

    grid = registered.reference_grid
    masks = masks_from_segmentation_node(structures, grid)
    return masks_from_images(masks, grid, source=structures.GetName(), skip_empty=True)


# --- kinetics -------------------------------------------------------------------------------
def _remove_chart(scene, chart) -> None:
    for i in reversed(range(chart.GetNumberOfPlotSeriesNodes())):
        series = chart.GetNthPlotSeriesNode(i)
        if series is not None:
            scene.RemoveNode(series)
    scene.RemoveNode(chart)


def fit_kinetics(
    reference_ct,
    structures,
    settings: DosimetrySettings | None = None,
    *,
    tac_table=None,
    progress=None,
):
    """Structure time-activity curves (MBq over h after administration), fits
    (``settings.kinetic_model``) and TIA (MBq·h) with its EANM uncertainty, from the accepted
    transforms of the sessions of ``reference_ct``'s scene, in the segments of ``structures``.

    Fills ``tac_table`` (a new table node when None; measured points; its fitted-curve table
    and chart are replaced on every run). Returns ``(tac_table_node, chart_node)``.
    Per-structure model, TIA and uncertainty are the fitted table's column properties and the
    TAC table's ``Theranostics.Kinetics`` attribute (JSON).
    """
    from theranostics.workflows.kinetics import run_structure_kinetics

    from .kinetics import (
        CURVE_REFERENCE_ROLE,
        tac_curve_table_node,
        tac_plot_chart_node,
        tac_table_node,
    )
    from .scene_study import registered_study_from_scene

    settings = settings or DosimetrySettings()
    _require_structures(structures)
    registered, _ = registered_study_from_scene(
        reference_ct, settings.calibration_cps_per_MBq, progress=scaled(progress, 0.0, 0.4)
    )
    mask_set = _mask_set(structures, registered)
    result = run_structure_kinetics(
        registered,
        mask_set,
        model=settings.kinetic_model,
        registration=False,
        psf_fwhm_mm=settings.psf,
        progress=scaled(progress, 0.4, 0.95),
    )
    fits = {name: s.fit for name, s in result.structures.items()}
    scene = structures.GetScene()
    name = "Time-activity curves"
    table = tac_table
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
    report(progress, 1.0, "kinetics done")
    return table, chart


# --- dose -----------------------------------------------------------------------------------
def _run(reference_ct, structures, settings: DosimetrySettings, out_dir: Path, progress=None):
    """run_dosimetry on the scene's study through the accepted transforms."""
    from theranostics.workflows.dosimetry import run_dosimetry

    from .scene_study import registered_study_from_scene

    _require_structures(structures)
    registered, _ = registered_study_from_scene(
        reference_ct, settings.calibration_cps_per_MBq, progress=scaled(progress, 0.0, 0.2)
    )
    mask_set = _mask_set(structures, registered)
    return run_dosimetry(
        registered,
        mask_set,
        out_dir=out_dir,
        calibration_cps_per_MBq=None,  # the SPECTs are already in Bq/mL
        method=settings.dose_method,
        density_correction=bool(settings.density_correction),
        model=settings.kinetic_model,
        voxel_model=settings.voxel_kinetic_model,
        psf_fwhm_mm=settings.psf,
        write_report=False,
        progress=scaled(progress, 0.2, 0.95),
    )


def _run_folder(dose_volume) -> Path:
    node = dose_volume
    folder = None if node is None else node.GetAttribute(RUN_FOLDER_ATTRIBUTE)
    if not folder or not (Path(folder) / "results.json").is_file():
        raise InputError(
            "no dose computed in this session",
            tag="Dose map",
            fix="press Compute dose first",
        )
    return Path(folder)


def _remove_previous_run(scene, previous) -> None:
    """Remove the nodes of the run that made ``previous`` (a dose volume): exactly the nodes
    carrying its run id, and its subject-hierarchy folder only when that folder is then
    empty. Its run folder is deleted only when this session made it.

    Never ``RemoveItem(parent, recursive)``: a user may have moved the dose under their own
    study or folder, and a recursive removal of that parent would delete their data
    (``vtkMRMLSubjectHierarchyNode::RemoveItem(itemID, removeDataNode, recursive)``,
    Libs/MRML/Core/vtkMRMLSubjectHierarchyNode.h). A run folder is a path stored in a node
    attribute, saved with the scene: after a reload it may name anything, so it is only
    deleted when it is one this process created.
    """
    import slicer
    import vtk

    run_id = previous.GetAttribute(RUN_ID_ATTRIBUTE)
    old_folder = previous.GetAttribute(RUN_FOLDER_ATTRIBUTE)
    if old_folder:
        _RESULTS.pop(old_folder, None)
        if old_folder in _OWNED_FOLDERS:
            shutil.rmtree(old_folder, ignore_errors=True)
            _OWNED_FOLDERS.discard(old_folder)
    if not run_id:
        return  # not made by this module's Compute dose (or by an older version): keep it
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    folders = set()
    doomed = []
    for i in range(scene.GetNumberOfNodes()):
        node = scene.GetNthNode(i)
        if node.GetAttribute(RUN_ID_ATTRIBUTE) == run_id:
            doomed.append(node)
    for node in doomed:
        item = sh.GetItemByDataNode(node)
        if item:
            parent = sh.GetItemParent(item)
            if sh.GetItemAttribute(parent, RUN_ID_ATTRIBUTE) == run_id:
                folders.add(parent)
            # The item alone, not its children, and not its data node: in Slicer the
            # subject-hierarchy plugin logic drops a removed node's item, in slicer-core
            # nothing does, so the item goes first and then the node.
            sh.RemoveItem(item, False, False)
        scene.RemoveNode(node)
    for folder in folders:
        children = vtk.vtkIdList()
        sh.GetItemChildren(folder, children)
        if children.GetNumberOfIds() == 0:
            sh.RemoveItem(folder, False, False)


def compute_dose(
    reference_ct,
    structures,
    settings: DosimetrySettings | None = None,
    *,
    previous_dose=None,
    progress=None,
):
    """Absorbed dose (Gy, ``settings.dose_method``, density correction as asked) and BED (Gy)
    maps on the reference SPECT grid, per-structure doses and DVHs, from the accepted
    transforms of the sessions of ``reference_ct``'s scene, in the segments of ``structures``.

    The nodes are new, under the subject-hierarchy folder :data:`CYCLE_NAME`, each marked with
    the run's id. ``previous_dose`` (the dose volume of an earlier Compute dose, or None):
    that run's nodes are removed once the new run succeeded (see
    :func:`_remove_previous_run`). A cancelled or failed run changes nothing: no node is
    added or removed and its temporary folder is deleted. Returns the ``DosimetryNodes``.
    """
    from .dosimetry import add_dosimetry_to_scene

    settings = settings or DosimetrySettings()
    out = Path(tempfile.mkdtemp(prefix=_FOLDER_PREFIX))
    try:
        result = _run(reference_ct, structures, settings, out, progress)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    _OWNED_FOLDERS.add(str(out))
    scene = structures.GetScene()
    if previous_dose is not None and previous_dose.GetScene() is scene:
        _remove_previous_run(scene, previous_dose)
    run_id = uuid.uuid4().hex
    nodes = add_dosimetry_to_scene(result, scene, CYCLE_NAME, run_id=run_id)
    nodes.dose.SetAttribute(RUN_FOLDER_ATTRIBUTE, str(out))
    _RESULTS[str(out)] = result
    report(progress, 1.0, "dose done")
    return nodes
