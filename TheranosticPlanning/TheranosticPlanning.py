"""TheranosticPlanning: pre-therapy imaging, lesion biomarkers and activity prescription.

Slicer's module classes only: metadata, the parameter node, a thin Widget (loads the .ui,
binds the parameter node, calls the Logic inside ``tryWithErrorDisplay`` with a progress
dialog) and a thin Logic (parameter node to plain arguments, then ``TheranosticPlanningLib``).
Computation lives in the ``theranostics`` core; MRML conversion in ``TheranosticPlanningLib``;
both are tested headless against a real MRML scene.
"""

import pathlib
from typing import Annotated

import qt
import slicer
from slicer import (
    vtkMRMLMarkupsFiducialNode,
    vtkMRMLScalarVolumeNode,
    vtkMRMLSegmentationNode,
    vtkMRMLTableNode,
)
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

#: Packages the core needs beyond what Slicer ships (installed on a user action only).
REQUIREMENTS_FILE = pathlib.Path(__file__).parent / "Resources" / "requirements.txt"


class TheranosticPlanning(ScriptedLoadableModule):
    """Module metadata shown by Slicer (title, category, help, acknowledgement)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Theranostic Planning"
        self.parent.categories = ["Nuclear Medicine"]
        self.parent.dependencies = []
        self.parent.contributors = ["Theranostics contributors"]
        self.parent.helpText = """
Pre-therapy planning for radiopharmaceutical therapy.
<ul>
<li><b>Inputs</b>: quantitative PET/SPECT/CT with their metadata (nuclide, administered
activity in MBq, administration and acquisition times, units, decay correction), shown and
editable.</li>
<li><b>Lesions</b>: fixed-SUV, PERCIST liver, percent-of-maximum and background-adaptive
thresholds; biomarkers SUVmax/SUVpeak/SUVmean, volume (mL), total lesion uptake.</li>
<li><b>Response</b>: PERCIST 1.0 and RECIP 1.0 between a baseline and a follow-up.</li>
<li><b>177Lu planning</b>: maximum activity per cycle (GBq) under organ BED limits (Gy).</li>
<li><b>90Y planning</b>: partition model, MIRD and BSA methods from 99mTc-MAA SPECT/CT.</li>
</ul>
Coordinates: Slicer RAS; the core computes in DICOM LPS and the module converts in one place.
User guide: <a href="https://github.com/theranostics-slicer/SlicerTheranostics/blob/main/docs/user-guide-planning.md">docs/user-guide-planning.md</a>.
"""
        self.parent.acknowledgementText = """
Developed by the Theranostics contributors. Decay data: ICRP Publication 107 (2008).
SUV rules: QIBA FDG-PET/CT Profile (2019); PERCIST 1.0: Wahl et al., J Nucl Med 50:122S
(2009); kidney BED limits: Bodei et al., EJNMMI 35:1847 (2008). Built on 3D Slicer,
SimpleITK, pydicom and highdicom.
"""
        slicer.app.connect("startupCompleted()", registerSampleData)
        slicer.app.connect("startupCompleted()", registerDicomPlugin)


def registerDicomPlugin():
    """Add the quantitative NM/PET plugin to the DICOM module's plugin registry."""
    from DICOMQuantitativePlugin import DICOMQuantitativePluginClass

    if not hasattr(slicer.modules, "dicomPlugins"):
        slicer.modules.dicomPlugins = {}
    slicer.modules.dicomPlugins["DICOMQuantitativePlugin"] = DICOMQuantitativePluginClass


def registerSampleData():
    """Offer the synthetic study in the Sample Data module. Nothing is downloaded: the study
    is generated locally on first use (a few seconds) and cached."""
    import SampleData

    icon = str(pathlib.Path(__file__).parent / "Resources" / "Icons" / "TheranosticPlanning.png")

    def load_pet(_source=None):
        from TheranosticPlanningLib.sample_data import load_sample_pet

        return load_sample_pet(slicer.mrmlScene)

    def load_time_points(_source=None):
        from TheranosticPlanningLib.sample_data import load_sample_time_points

        return load_sample_time_points(slicer.mrmlScene)

    for name, loader in (
        ("Theranostics planning PET/CT (synthetic 68Ga-PSMA)", load_pet),
        (
            "Theranostics post-therapy SPECT/CT (synthetic 177Lu-PSMA, 4 time points)",
            load_time_points,
        ),
    ):
        SampleData.SampleDataLogic.registerCustomSampleDataSource(
            category="Theranostics",
            sampleName=name,
            uris=None,
            fileNames=None,
            nodeNames=None,
            thumbnailFileName=icon,
            loadFiles=False,
            customDownloader=loader,
        )


@parameterNodeWrapper
class TheranosticPlanningParameterNode:
    """Everything the panel shows, saved with the scene (units in the names)."""

    # inputs
    petVolume: vtkMRMLScalarVolumeNode
    spectVolume: vtkMRMLScalarVolumeNode
    ctVolume: vtkMRMLScalarVolumeNode
    injectedActivityMBq: Annotated[float, WithinRange(0.0, 100000.0)] = 0.0
    patientWeightKg: Annotated[float, WithinRange(0.0, 500.0)] = 0.0
    # lesion segmentation
    lesionMethod: Annotated[str, Choice(["fixed", "percist", "percent-max", "adaptive"])] = (
        "percent-max"
    )
    lesionThresholdSuv: Annotated[float, WithinRange(0.0, 100.0)] = 4.0
    relativeThresholdPercent: Annotated[float, WithinRange(1.0, 100.0)] = 41.0
    minimumLesionVolumeML: Annotated[float, WithinRange(0.0, 1000.0)] = 1.0
    exclusionOrgans: vtkMRMLSegmentationNode
    liverReference: vtkMRMLSegmentationNode
    seedPoints: vtkMRMLMarkupsFiducialNode
    lesionSegmentation: vtkMRMLSegmentationNode
    biomarkerTable: vtkMRMLTableNode
    # response
    baselineVolume: vtkMRMLScalarVolumeNode
    baselineSegmentation: vtkMRMLSegmentationNode
    followupVolume: vtkMRMLScalarVolumeNode
    followupSegmentation: vtkMRMLSegmentationNode
    responseTable: vtkMRMLTableNode
    # 177Lu radioligand therapy
    dosimetryResultsPath: pathlib.Path
    kidneyDoseGyPerGBq: Annotated[float, WithinRange(0.0, 50.0)] = 0.0
    kidneyEffectiveHalfLifeH: Annotated[float, WithinRange(0.0, 2000.0)] = 0.0
    marrowDoseGyPerGBq: Annotated[float, WithinRange(0.0, 50.0)] = 0.0
    marrowEffectiveHalfLifeH: Annotated[float, WithinRange(0.0, 2000.0)] = 0.0
    salivaryDoseGyPerGBq: Annotated[float, WithinRange(0.0, 50.0)] = 0.0
    salivaryEffectiveHalfLifeH: Annotated[float, WithinRange(0.0, 2000.0)] = 0.0
    cycles: Annotated[int, WithinRange(1, 12)] = 4
    kidneyRiskFactors: bool = False
    rltPlanTable: vtkMRMLTableNode
    # 90Y radioembolization
    maaSpectVolume: vtkMRMLScalarVolumeNode
    maaCtVolume: vtkMRMLScalarVolumeNode
    sirtSegmentation: vtkMRMLSegmentationNode
    tumorSegmentNames: str = "Tumor"
    lungSegmentName: str = "Lung"
    normalSegmentName: str = ""
    sirtMethod: Annotated[str, Choice(["partition", "mird", "bsa"])] = "partition"
    sirtTargetDoseGy: Annotated[float, WithinRange(0.0, 1000.0)] = 120.0
    previousLungDoseGy: Annotated[float, WithinRange(0.0, 200.0)] = 0.0
    sirtPlanTable: vtkMRMLTableNode
    sirtDoseVolume: vtkMRMLScalarVolumeNode


class ProgressDialog:
    """A core progress callback ``(fraction, message)`` shown as Slicer's progress dialog;
    Cancel raises :class:`theranostics.progress.Cancelled` inside the computation."""

    def __init__(self, title: str):
        self.dialog = slicer.util.createProgressDialog(
            windowTitle=title, labelText=title, maximum=1000
        )
        self.dialog.setCancelButtonText("Cancel")

    def __call__(self, fraction: float, message: str = "") -> None:
        from theranostics.progress import Cancelled

        if self.dialog.wasCanceled:
            raise Cancelled("cancelled by the user")
        self.dialog.setValue(int(fraction * 1000))
        if message:
            self.dialog.setLabelText(message)
        slicer.app.processEvents()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.dialog.close()
        return False


def install_dependencies(requirements: pathlib.Path) -> None:
    """Install the packages of ``requirements`` after asking (never at import or setup)."""
    if not slicer.util.confirmOkCancelDisplay(
        f"Install the Python packages listed in {requirements.name} with pip?"
    ):
        return
    slicer.packaging.pip_ensure(requirements=str(requirements), requester="Theranostics")


def fill_table_widget(table: qt.QTableWidget, rows) -> None:
    """Show rows of display strings in a QTableWidget (editable cells)."""
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.setItem(r, c, qt.QTableWidgetItem(str(value)))


class TheranosticPlanningWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The panel: binds the .ui to the parameter node and forwards buttons to the Logic."""

    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/TheranosticPlanning.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = TheranosticPlanningLogic()

        self.ui.storeMetadataButton.connect("clicked(bool)", self.onStoreMetadata)
        self.ui.segmentLesionsButton.connect("clicked(bool)", self.onSegmentLesions)
        self.ui.assessResponseButton.connect("clicked(bool)", self.onAssessResponse)
        self.ui.planRltButton.connect("clicked(bool)", self.onPlanRlt)
        self.ui.planSirtButton.connect("clicked(bool)", self.onPlanSirt)
        self.ui.installDependenciesButton.connect(
            "clicked(bool)", lambda: install_dependencies(REQUIREMENTS_FILE)
        )
        self.ui.petVolumeSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.showMetadata)
        self.ui.spectVolumeSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.showMetadata)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.initializeParameterNode()

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
    def _emissionNode(self):
        p = self._parameterNode
        return p.petVolume or p.spectVolume

    def showMetadata(self, _node=None):
        node = self._emissionNode()
        fill_table_widget(self.ui.metadataTable, self.logic.metadataRows(node) if node else [])

    def onStoreMetadata(self):
        rows = [
            (self.ui.metadataTable.item(r, 0).text(), self.ui.metadataTable.item(r, 1).text())
            for r in range(self.ui.metadataTable.rowCount)
        ]
        with slicer.util.tryWithErrorDisplay("Could not store the metadata.", waitCursor=True):
            self.logic.storeMetadata(self._emissionNode(), rows)
            self.showMetadata()

    def onSegmentLesions(self):
        with slicer.util.tryWithErrorDisplay("Lesion segmentation failed.", waitCursor=True):
            with ProgressDialog("Segmenting lesions") as progress:
                self.logic.segmentLesions(self._parameterNode, progress=progress)
            self.ui.biomarkerTableView.setMRMLTableNode(self._parameterNode.biomarkerTable)
            slicer.app.applicationLogic().GetSelectionNode().SetActiveTableID(
                self._parameterNode.biomarkerTable.GetID()
            )
            slicer.app.applicationLogic().PropagateTableSelection()

    def onAssessResponse(self):
        with (
            slicer.util.tryWithErrorDisplay("Response assessment failed.", waitCursor=True),
            ProgressDialog("Assessing response") as progress,
        ):
            self.logic.assessResponse(self._parameterNode, progress=progress)

    def onPlanRlt(self):
        with slicer.util.tryWithErrorDisplay("177Lu planning failed.", waitCursor=True):
            summary = self.logic.planRlt(self._parameterNode)
            self.ui.rltResultLabel.text = summary

    def onPlanSirt(self):
        with slicer.util.tryWithErrorDisplay("90Y planning failed.", waitCursor=True):
            with ProgressDialog("Planning 90Y radioembolization") as progress:
                summary = self.logic.planSirt(self._parameterNode, progress=progress)
            self.ui.sirtResultLabel.text = summary
            slicer.util.setSliceViewerLayers(foreground=self._parameterNode.sirtDoseVolume)


class TheranosticPlanningLogic(ScriptedLoadableModuleLogic):
    """Thin: reads the parameter node and calls :mod:`TheranosticPlanningLib.panel`."""

    def getParameterNode(self):
        return TheranosticPlanningParameterNode(super().getParameterNode())

    def metadataRows(self, volumeNode):
        from TheranosticPlanningLib.panel import metadata_rows

        return metadata_rows(volumeNode)

    def storeMetadata(self, volumeNode, rows):
        from TheranosticPlanningLib.panel import store_metadata_rows

        store_metadata_rows(volumeNode, rows)

    def segmentLesions(self, p, progress=None):
        from TheranosticPlanningLib.panel import segment_lesions

        return segment_lesions(p, progress=progress)

    def assessResponse(self, p, progress=None):
        from TheranosticPlanningLib.panel import assess_response

        return assess_response(p, progress=progress)

    def planRlt(self, p):
        from TheranosticPlanningLib.panel import plan_rlt

        return plan_rlt(p)

    def planSirt(self, p, progress=None):
        from TheranosticPlanningLib.panel import plan_sirt

        return plan_sirt(p, progress=progress)


class TheranosticPlanningTest(ScriptedLoadableModuleTest):
    """In-app self-tests: a volume round trip, then lesion segmentation and biomarkers on
    the synthetic sample study through the Logic."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_volume_round_trip()
        self.setUp()
        self.test_lesions_on_sample_data()

    def test_volume_round_trip(self):
        import numpy as np
        import SimpleITK as sitk
        from TheranosticPlanningLib.volumes import image_from_volume_node, volume_node_from_image

        from theranostics.image import QuantitativeImage
        from theranostics.metadata import ImageMetadata, QuantityInfo

        self.delayDisplay("Volume round trip through the MRML scene")
        values = np.arange(4 * 5 * 6, dtype=np.float32).reshape(6, 5, 4)
        image = sitk.GetImageFromArray(values)
        image.SetSpacing((2.0, 3.0, 4.0))
        image.SetOrigin((-10.0, 20.0, 30.0))
        meta = ImageMetadata(modality="NM", quantity=QuantityInfo(units="Bq/mL"))
        node = volume_node_from_image(QuantitativeImage(image, meta), slicer.mrmlScene, "probe")
        back = image_from_volume_node(node)
        self.assertTrue(np.array_equal(back.array(), values))
        self.assertEqual(back.meta.quantity.units, "Bq/mL")
        np.testing.assert_allclose(back.image.GetOrigin(), image.GetOrigin())
        self.delayDisplay("Test passed")

    def test_lesions_on_sample_data(self):
        from TheranosticPlanningLib.sample_data import load_sample_pet

        self.delayDisplay("Lesion segmentation on the synthetic sample PET")
        logic = TheranosticPlanningLogic()
        p = logic.getParameterNode()
        p.petVolume = load_sample_pet(slicer.mrmlScene)
        p.lesionMethod = "percent-max"
        p.relativeThresholdPercent = 41.0
        logic.segmentLesions(p)
        self.assertGreater(p.lesionSegmentation.GetSegmentation().GetNumberOfSegments(), 0)
        self.assertGreater(p.biomarkerTable.GetNumberOfRows(), 0)
        self.delayDisplay("Test passed")
