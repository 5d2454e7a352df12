"""DoseMapping: post-therapy SPECT/CT dosimetry and planned-versus-delivered verification.

Slicer's module classes only: metadata, the parameter node, a thin Widget and a thin Logic
that hands plain arguments to ``DoseMappingLib`` (tested headless on a real MRML scene).
The Widget helpers (progress dialog, dependency install) come from TheranosticPlanning, on
which this module depends.
"""

import pathlib
from typing import Annotated

import qt
import slicer
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from TheranosticPlanning import (
    ensure_dependencies_for_self_test,
    fill_table_widget,
    install_dependencies,
    longAction,
)

#: Named per module: both modules install resources into the same folder (CMakeLists.txt).
REQUIREMENTS_FILE = pathlib.Path(__file__).parent / "Resources" / "DoseMapping-requirements.txt"
KINETIC_MODELS = [
    "auto",
    "mono-exp",
    "uptake-washout",
    "bi-exp",
    "trapezoid-physical",
    "trapezoid-fitted-tail",
]


class DoseMapping(ScriptedLoadableModule):
    """Module metadata shown by Slicer (title, category, help, acknowledgement)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Dose Mapping"
        self.parent.categories = ["Nuclear Medicine"]
        # DoseMappingLib builds on TheranosticPlanningLib's MRML adapters.
        self.parent.dependencies = ["TheranosticPlanning"]
        self.parent.contributors = ["Theranostics contributors"]
        self.parent.helpText = """
Post-therapy dosimetry from multi-time-point quantitative SPECT/CT.
<ul>
<li><b>Time points</b>: SPECT volumes with their time after administration (h); counts are
converted to Bq/mL with the calibration factor (cps/MBq).</li>
<li><b>Registration</b>: CT-to-CT rigid (and optional B-spline) registration; transforms are
nodes you can inspect and correct.</li>
<li><b>Kinetics</b>: time-activity curves (MBq over h), fitted models chosen by AICc,
time-integrated activity (MBq·h) with its uncertainty (EANM).</li>
<li><b>Dose</b>: absorbed dose (Gy) by voxel S-value kernels or local deposition, BED (Gy),
DVHs.</li>
<li><b>Radioembolisation (single time point)</b>: permanent-implant 90Y dosimetry from one
post-treatment PET/SPECT and a segmentation (Gy; D70, V100Gy, tumour-to-normal ratio).</li>
<li><b>Verification</b>: planned versus delivered, dose difference, gamma index (Low 1998).</li>
<li><b>Exports</b>: DICOM RT Dose, SEG, SR, NRRD maps, CSV/JSON tables and an HTML report.</li>
</ul>
Coordinates: Slicer RAS; the core computes in DICOM LPS and the module converts in one place.
User guide: <a href="https://github.com/theranostics-slicer/SlicerTheranostics/blob/main/docs/user-guide-dosemapping.md">docs/user-guide-dosemapping.md</a>.
"""
        self.parent.acknowledgementText = """
Developed by the Theranostics contributors. Decay data: ICRP Publication 107 (2008).
Dosimetry follows the MIRD schema (Bolch et al., J Nucl Med 50:477, 2009) and EANM guidance
for 177Lu dosimetry (Sjögreen Gleisner et al., EJNMMI Phys 9:30, 2022).
"""


@parameterNodeWrapper
class DoseMappingParameterNode:
    """Everything the panel shows, saved with the scene (units in the names)."""

    calibrationCpsPerMBq: Annotated[float, WithinRange(0.0, 1.0e6)] = 0.0
    referenceCt: vtkMRMLScalarVolumeNode
    deformableRegistration: bool = False
    structures: vtkMRMLSegmentationNode
    kineticModel: Annotated[str, Choice(KINETIC_MODELS)] = "auto"
    voxelKineticModel: Annotated[str, Choice(["mono-exp", "trapezoid-physical"])] = "mono-exp"
    psfFwhmMm: Annotated[float, WithinRange(0.0, 50.0)] = 0.0
    tacTable: vtkMRMLTableNode
    doseMethod: Annotated[str, Choice(["kernel", "led"])] = "kernel"
    densityCorrection: bool = True
    doseVolume: vtkMRMLScalarVolumeNode
    bedVolume: vtkMRMLScalarVolumeNode
    dvhTable: vtkMRMLTableNode
    planPath: pathlib.Path
    plannedDoseVolume: vtkMRMLScalarVolumeNode
    gammaDosePercent: Annotated[float, WithinRange(0.1, 50.0)] = 3.0
    gammaDtaMm: Annotated[float, WithinRange(0.1, 50.0)] = 3.0
    gammaCutoffPercent: Annotated[float, WithinRange(0.0, 100.0)] = 10.0
    gammaLocal: bool = False
    comparisonTable: vtkMRMLTableNode
    outputDirectory: pathlib.Path
    exportRtDose: bool = True
    exportSeg: bool = True
    exportSr: bool = True
    exportReport: bool = True
    # radioembolisation, one post-treatment 90Y PET/SPECT (permanent implant)
    sirtVolume: vtkMRMLScalarVolumeNode
    sirtSegmentation: vtkMRMLSegmentationNode
    sirtMethod: Annotated[str, Choice(["led", "kernel"])] = "led"
    sirtDecayCorrectedToImplantation: bool = False
    sirtImplantationDateTime: str = ""
    sirtAcquisitionDateTime: str = ""
    sirtCalibrationCpsPerMBq: Annotated[float, WithinRange(0.0, 1.0e6)] = 0.0
    sirtDensityGPerML: Annotated[float, WithinRange(0.01, 5.0)] = 1.03
    sirtLungDensityGPerML: Annotated[float, WithinRange(0.01, 5.0)] = 0.3
    sirtTumorSegmentNames: str = ""
    sirtNormalSegmentName: str = ""
    sirtLungSegmentNames: str = ""
    sirtClipNegative: bool = False
    sirtDoseVolume: vtkMRMLScalarVolumeNode
    sirtResultsTable: vtkMRMLTableNode


class DoseMappingWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The panel: binds the .ui to the parameter node and forwards buttons to the Logic."""

    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._reportPath = None
        self._timePointNodes = []

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/DoseMapping.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = DoseMappingLogic()

        self.ui.refreshTimePointsButton.connect("clicked(bool)", self.onRefreshTimePoints)
        self.ui.storeTimePointsButton.connect("clicked(bool)", self.onStoreTimePoints)
        self.ui.registerButton.connect("clicked(bool)", self.onRegister)
        self.ui.acceptTransformsButton.connect("clicked(bool)", self.onAcceptTransforms)
        self.ui.fitKineticsButton.connect("clicked(bool)", self.onFitKinetics)
        self.ui.computeDoseButton.connect("clicked(bool)", self.onComputeDose)
        self.ui.verifyButton.connect("clicked(bool)", self.onVerify)
        self.ui.sirtComputeButton.connect("clicked(bool)", self.onComputeSirtDose)
        self.ui.exportButton.connect("clicked(bool)", self.onExport)
        self.ui.openReportButton.connect("clicked(bool)", self.onOpenReport)
        self.ui.installDependenciesButton.connect("clicked(bool)", self.onInstallDependencies)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.initializeParameterNode()
        # A scene with a volume whose metadata cannot be read must not break the panel's
        # setup: the refresh shows the error and the panel stays usable.
        self.onRefreshTimePoints()

    def cleanup(self):
        self.removeObservers()

    def enter(self):
        self.initializeParameterNode()

    def exit(self):
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None

    def onSceneStartClose(self, caller, event):
        self.setParameterNode(None)
        # the listed nodes are about to leave the scene: drop them (and the report path)
        self._timePointNodes = []
        self._reportPath = None
        fill_table_widget(self.ui.timePointsTable, [])
        fill_table_widget(self.ui.registrationQualityTable, [])

    def onSceneEndClose(self, caller, event):
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self):
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode):
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)

    # --- actions: each is one Logic call, errors shown by Slicer ---------------------------
    def onInstallDependencies(self):
        with slicer.util.tryWithErrorDisplay("Could not install the Python packages."):
            install_dependencies(REQUIREMENTS_FILE, "Dose Mapping")

    def onRefreshTimePoints(self):
        self._timePointNodes = []
        fill_table_widget(self.ui.timePointsTable, [])
        with slicer.util.tryWithErrorDisplay("Could not list the time points."):
            self._timePointNodes, rows = self.logic.timePointRows(slicer.mrmlScene)
            fill_table_widget(self.ui.timePointsTable, rows)

    def onStoreTimePoints(self):
        times = [
            self.ui.timePointsTable.item(r, 1).text() for r in range(len(self._timePointNodes))
        ]
        with slicer.util.tryWithErrorDisplay("Could not store the times.", waitCursor=True):
            self.logic.storeTimePoints(self._timePointNodes, times)
            self.onRefreshTimePoints()

    def onRegister(self):
        with longAction("Registering time points", "Registration failed.") as progress:
            rows = self.logic.registerTimePoints(self._parameterNode, progress=progress)
            fill_table_widget(self.ui.registrationQualityTable, rows)

    def onAcceptTransforms(self):
        with slicer.util.tryWithErrorDisplay("Could not use the transforms.", waitCursor=True):
            self.logic.acceptTransforms(self._parameterNode)

    def onFitKinetics(self):
        with longAction("Fitting time-activity curves", "Kinetics failed.") as progress:
            chart = self.logic.fitKinetics(self._parameterNode, progress=progress)
            slicer.modules.plots.logic().ShowChartInLayout(chart)

    def onComputeDose(self):
        with longAction("Computing absorbed dose and BED", "Dose computation failed.") as progress:
            self.logic.computeDose(self._parameterNode, progress=progress)
            slicer.util.setSliceViewerLayers(
                foreground=self._parameterNode.doseVolume, foregroundOpacity=0.5
            )

    def onVerify(self):
        with longAction("Comparing with the plan", "Verification failed.") as progress:
            self.logic.verify(self._parameterNode, progress=progress)
            selection = slicer.app.applicationLogic().GetSelectionNode()
            selection.SetActiveTableID(self._parameterNode.comparisonTable.GetID())
            slicer.app.applicationLogic().PropagateTableSelection()

    def onComputeSirtDose(self):
        with longAction(
            "Radioembolisation dosimetry", "Radioembolisation dosimetry failed."
        ) as progress:
            table = self.logic.computeSirtDose(self._parameterNode, progress=progress)
            slicer.util.setSliceViewerLayers(
                foreground=self._parameterNode.sirtDoseVolume, foregroundOpacity=0.5
            )
            selection = slicer.app.applicationLogic().GetSelectionNode()
            selection.SetActiveTableID(table.GetID())
            slicer.app.applicationLogic().PropagateTableSelection()

    def onExport(self):
        with longAction("Exporting", "Export failed.") as progress:
            self._reportPath = self.logic.export(self._parameterNode, progress=progress)

    def onOpenReport(self):
        if self._reportPath:
            qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(self._reportPath)))


class DoseMappingLogic(ScriptedLoadableModuleLogic):
    """Thin: turns the parameter node into plain arguments for :mod:`DoseMappingLib.panel`
    and stores the nodes it returns."""

    def getParameterNode(self):
        return DoseMappingParameterNode(super().getParameterNode())

    @staticmethod
    def settings(p):
        """The panel's kinetics and dose choices as plain values."""
        from DoseMappingLib.panel import DosimetrySettings

        return DosimetrySettings(
            calibration_cps_per_MBq=p.calibrationCpsPerMBq,
            kinetic_model=p.kineticModel,
            voxel_kinetic_model=p.voxelKineticModel,
            psf_fwhm_mm=p.psfFwhmMm,
            dose_method=p.doseMethod,
            density_correction=p.densityCorrection,
        )

    def timePointRows(self, scene):
        from DoseMappingLib.panel import time_point_rows

        return time_point_rows(scene)

    def storeTimePoints(self, nodes, times):
        from DoseMappingLib.panel import store_time_points

        store_time_points(nodes, times)

    def registerTimePoints(self, p, progress=None):
        from DoseMappingLib.panel import register_time_points

        return register_time_points(
            p.referenceCt,
            deformable=p.deformableRegistration,
            calibration_cps_per_MBq=p.calibrationCpsPerMBq,
            progress=progress,
        )

    def acceptTransforms(self, p):
        from DoseMappingLib.panel import accept_transforms

        accept_transforms(p.referenceCt)

    def fitKinetics(self, p, progress=None):
        from DoseMappingLib.panel import fit_kinetics

        table, chart = fit_kinetics(
            p.referenceCt, p.structures, self.settings(p), tac_table=p.tacTable, progress=progress
        )
        p.tacTable = table
        return chart

    def computeDose(self, p, progress=None):
        from DoseMappingLib.panel import compute_dose

        nodes = compute_dose(
            p.referenceCt,
            p.structures,
            self.settings(p),
            previous_dose=p.doseVolume,
            progress=progress,
        )
        p.doseVolume, p.bedVolume, p.dvhTable = nodes.dose, nodes.bed, nodes.dvh_table
        return nodes

    def verify(self, p, progress=None):
        from DoseMappingLib.panel import verify

        p.comparisonTable = verify(
            p.doseVolume,
            plan_path=p.planPath,
            planned_dose_volume=p.plannedDoseVolume,
            structures=p.structures,
            gamma_dose_percent=p.gammaDosePercent,
            gamma_dta_mm=p.gammaDtaMm,
            gamma_cutoff_percent=p.gammaCutoffPercent,
            gamma_local=p.gammaLocal,
            comparison_table=p.comparisonTable,
            progress=progress,
        )
        return p.comparisonTable

    def computeSirtDose(self, p, progress=None):
        """Single-time-point 90Y dosimetry (:mod:`DoseMappingLib.panel_sirt`); stores the
        dose and table nodes and returns the table."""
        from DoseMappingLib.panel_sirt import sirt_dosimetry_panel

        nodes = sirt_dosimetry_panel(
            p.sirtVolume,
            p.sirtSegmentation,
            method=p.sirtMethod,
            decay_corrected_to_implantation=p.sirtDecayCorrectedToImplantation,
            implantation_datetime_text=p.sirtImplantationDateTime,
            acquisition_datetime_text=p.sirtAcquisitionDateTime,
            calibration_cps_per_MBq=p.sirtCalibrationCpsPerMBq,
            tumor_names_text=p.sirtTumorSegmentNames,
            normal_name_text=p.sirtNormalSegmentName,
            lung_names_text=p.sirtLungSegmentNames,
            density_g_per_mL=p.sirtDensityGPerML,
            lung_density_g_per_mL=p.sirtLungDensityGPerML,
            clip_negative=p.sirtClipNegative,
            dose_node=p.sirtDoseVolume,
            progress=progress,
        )
        p.sirtDoseVolume, p.sirtResultsTable = nodes.dose_node, nodes.table_node
        return nodes.table_node

    def export(self, p, progress=None):
        from DoseMappingLib.panel import export

        return export(
            p.doseVolume,
            p.outputDirectory,
            rt_dose=p.exportRtDose,
            seg=p.exportSeg,
            sr=p.exportSr,
            report_html=p.exportReport,
            reference_ct=p.referenceCt,
            structures=p.structures,
            settings=self.settings(p),
            progress=progress,
        )


class DoseMappingTest(ScriptedLoadableModuleTest):
    """In-app self-tests: a SPECT image keeps its nuclide, units and geometry in the scene;
    the panel's workflow (register, accept, kinetics, dose, verify, export) on the small
    sample study through the Logic and the real parameter node. The same Lib actions are
    tested headless in ``Testing/mrml/test_dosemapping_panel.py``."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        ensure_dependencies_for_self_test(REQUIREMENTS_FILE, "Dose Mapping self-test")
        self.setUp()
        self.test_spect_attributes_round_trip()
        self.setUp()
        self.test_workflow_on_the_sample_study()
        self.setUp()
        self.test_radioembolisation_section()

    def test_spect_attributes_round_trip(self):
        import datetime

        import numpy as np
        import SimpleITK as sitk
        from DoseMappingLib import image_from_volume_node, volume_node_from_image

        from theranostics.image import QuantitativeImage
        from theranostics.metadata import Administration, ImageMetadata, QuantityInfo

        self.delayDisplay("SPECT metadata round trip through node attributes")
        image = sitk.GetImageFromArray(np.ones((3, 4, 5), dtype=np.float32))
        image.SetSpacing((4.8, 4.8, 4.8))
        given = datetime.datetime(2024, 5, 1, 9, 30)
        meta = ImageMetadata(
            modality="NM",
            administration=Administration(nuclide="Lu-177", activity_MBq=7400.0, datetime=given),
            quantity=QuantityInfo(units="Bq/mL"),
        )
        node = volume_node_from_image(QuantitativeImage(image, meta), slicer.mrmlScene, "spect")
        back = image_from_volume_node(node)
        self.assertEqual(back.meta.administration.nuclide, "Lu-177")
        self.assertAlmostEqual(back.meta.administration.activity_MBq, 7400.0)
        self.assertEqual(back.meta.administration.datetime, given)
        self.delayDisplay("Test passed")

    def test_radioembolisation_section(self):
        """Single-time-point 90Y dosimetry through the Logic and the parameter node: a 90Y
        PET with 10 kBq/mL in a liver cube and 80 kBq/mL in a tumour cube inside it, on the
        PET's own grid; with local deposition the mean doses scale as the concentrations."""
        import numpy as np
        import SimpleITK as sitk
        from TheranosticPlanningLib.segmentations import segmentation_node_from_masks
        from TheranosticPlanningLib.volumes import volume_node_from_image

        from theranostics.image import QuantitativeImage
        from theranostics.metadata import Administration, ImageMetadata, QuantityInfo

        self.delayDisplay("Radioembolisation (single time point)")
        values = np.zeros((20, 20, 20), dtype=np.float32)
        values[4:16, 4:16, 4:16] = 1.0e4
        values[8:12, 8:12, 8:12] = 8.0e4
        image = sitk.GetImageFromArray(values)
        image.SetSpacing((2.0, 2.0, 2.0))
        meta = ImageMetadata(
            modality="PT",
            administration=Administration(nuclide="Y-90"),
            quantity=QuantityInfo(units="Bq/mL"),
        )
        logic = DoseMappingLogic()
        p = logic.getParameterNode()
        p.sirtVolume = volume_node_from_image(QuantitativeImage(image, meta), slicer.mrmlScene)
        tumour = sitk.GetImageFromArray((values > 5.0e4).astype(np.uint8))
        normal = sitk.GetImageFromArray(((values > 0) & (values < 5.0e4)).astype(np.uint8))
        for mask in (tumour, normal):
            mask.CopyInformation(image)
        p.sirtSegmentation = segmentation_node_from_masks(
            {"Tumor 1": tumour, "Normal liver": normal}, slicer.mrmlScene, "SIRT structures"
        )
        p.sirtDecayCorrectedToImplantation = True
        p.sirtMethod = "led"
        table = logic.computeSirtDose(p)
        self.assertEqual(table.GetID(), p.sirtResultsTable.GetID())
        self.assertEqual(table.GetNumberOfRows(), 2)
        self.assertEqual(p.sirtDoseVolume.GetAttribute("Theranostics.Units"), "Gy")
        means = {
            table.GetCellText(r, table.GetColumnIndex("structure")): float(
                table.GetCellText(r, table.GetColumnIndex("mean_dose_Gy"))
            )
            for r in range(table.GetNumberOfRows())
        }
        self.assertAlmostEqual(means["Tumor 1"] / means["Normal liver"], 8.0, places=4)
        self.delayDisplay("Test passed")

    def test_workflow_on_the_sample_study(self):
        import tempfile

        from TheranosticPlanningLib.sample_data import load_sample_time_points, sample_study_dir
        from TheranosticPlanningLib.segmentations import segmentation_node_from_masks
        from TheranosticPlanningLib.volumes import image_from_volume_node

        from theranostics.io.masks import load_masks

        self.delayDisplay("Loading the small sample study (generated on first use)")
        pairs = load_sample_time_points(slicer.mrmlScene, size="small")
        self.assertEqual(len(pairs), 4)
        logic = DoseMappingLogic()
        p = logic.getParameterNode()
        p.referenceCt = pairs[0][0]
        structures = ["kidney_left", "kidney_right", "liver", "spleen"]
        masks = load_masks(
            sample_study_dir(size="small") / "truth" / "structures_seg.dcm",
            image_from_volume_node(pairs[0][0]),
            structures=structures,
        )
        p.structures = segmentation_node_from_masks(
            dict(masks.masks), slicer.mrmlScene, "Truth structures"
        )

        self.delayDisplay("Register and accept")
        rows = logic.registerTimePoints(p)
        self.assertEqual(len(rows), 4)
        self.assertEqual(rows[0][-1], "reference")
        logic.acceptTransforms(p)
        for ct, spect in pairs[1:]:
            self.assertIsNotNone(ct.GetParentTransformNode())
            self.assertEqual(ct.GetTransformNodeID(), spect.GetTransformNodeID())

        self.delayDisplay("Kinetics")
        chart = logic.fitKinetics(p)
        self.assertTrue(chart.IsA("vtkMRMLPlotChartNode"))
        self.assertEqual(p.tacTable.GetNumberOfColumns(), 1 + len(structures))

        self.delayDisplay("Dose")
        logic.computeDose(p)
        self.assertEqual(p.doseVolume.GetAttribute("Theranostics.Units"), "Gy")
        self.assertIsNotNone(p.bedVolume)
        self.assertEqual(p.dvhTable.GetNumberOfColumns(), 1 + len(structures))

        self.delayDisplay("Verify: the delivered map against itself passes gamma everywhere")
        p.plannedDoseVolume = p.doseVolume
        table = logic.verify(p)
        self.assertEqual(p.comparisonTable.GetID(), table.GetID())
        rows = table.GetNumberOfRows()
        self.assertEqual(table.GetCellText(rows - 1, 0), "all evaluated voxels")

        self.delayDisplay("A second Compute dose replaces the first run's nodes")
        first = p.doseVolume.GetID()
        logic.computeDose(p)
        self.assertIsNone(slicer.mrmlScene.GetNodeByID(first))
        p.plannedDoseVolume = p.doseVolume

        self.delayDisplay("Export")
        with tempfile.TemporaryDirectory() as folder:
            p.outputDirectory = pathlib.Path(folder)
            report = logic.export(p)
            self.assertTrue(report.is_file())
            self.assertTrue((pathlib.Path(folder) / "results.json").is_file())
        self.delayDisplay("Test passed")
