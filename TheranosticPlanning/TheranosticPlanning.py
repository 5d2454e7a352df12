"""TheranosticPlanning: pre-therapy imaging, lesion biomarkers and activity prescription.

Slicer's module classes only: metadata, the parameter node, a thin Widget (loads the .ui,
binds the parameter node, calls the Logic inside ``tryWithErrorDisplay`` with a progress
dialog) and a thin Logic (parameter node to plain arguments, then ``TheranosticPlanningLib``).
Computation lives in the ``theranostics`` core; MRML conversion in ``TheranosticPlanningLib``;
both are tested headless against a real MRML scene.
"""

import contextlib
import pathlib
from typing import Annotated

import qt
import slicer
import vtk
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

#: Packages the core needs beyond what Slicer ships (installed on a user action only). Named
#: per module: both modules install resources into the same folder (CMakeLists.txt).
REQUIREMENTS_FILE = (
    pathlib.Path(__file__).parent / "Resources" / "TheranosticPlanning-requirements.txt"
)


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
<li><b>Lesion candidates</b>: physiological uptake (kidneys, bladder, glands ...) set aside
from the CT anatomy or organ masks (TotalSegmentator when installed); a checkbox per
candidate moves it between lesion and physiological uptake.</li>
<li><b>Response</b>: PERCIST 1.0 and RECIP 1.0 between a baseline and a follow-up.</li>
<li><b>177Lu planning</b>: maximum activity per cycle (GBq) under organ BED limits (Gy).</li>
<li><b>90Y planning</b>: partition model, MIRD and BSA methods from 99mTc-MAA SPECT/CT, or
from the SPECT and a loaded .seg.nrrd without a CT (lung shunt fraction in %).</li>
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
        # The DICOM plugin registers itself: DICOMQuantitativePlugin.py is a hidden module.
        slicer.app.connect("startupCompleted()", registerSampleData)


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

    # SampleDataSource takes uris/fileNames as lists of equal length (it calls len() on them;
    # Modules/Scripted/SampleData/SampleData.py): a locally generated study has no files to
    # download, so empty lists, and loadFiles/nodeNames/checksums left None (they become
    # lists of that length). The custom downloader is called with the source.
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
            uris=[],
            fileNames=[],
            nodeNames=None,
            thumbnailFileName=icon,
            loadFiles=None,
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
    # lesion candidates with physiological uptake set aside (issue 20)
    candidateTracer: Annotated[str, Choice(["auto", "psma", "sstr", "fdg", "none"])] = "auto"
    candidateOrgans: vtkMRMLSegmentationNode
    lesionCandidates: vtkMRMLSegmentationNode
    candidateBiomarkerTable: vtkMRMLTableNode
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
    # 90Y without a CT: a loaded .seg.nrrd, masses from a density
    sirtSegFilePath: pathlib.Path
    sirtLungShuntPercent: Annotated[float, WithinRange(0.0, 99.0)] = 0.0
    sirtNormalRole: Annotated[str, Choice(["normal", "liver", "perfused"])] = "normal"
    sirtClipNegative: bool = False
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
        # Unparent before closing, as DICOMBrowser.py does with its progress dialogs: a
        # dialog parented to the main window would otherwise live (hidden) as long as the
        # window, one more after every action.
        self.dialog.setParent(None)
        self.dialog.close()
        return False


@contextlib.contextmanager
def longAction(title: str, failureMessage: str):
    """Run a long Logic call with a progress dialog; yields the progress callback.

    Errors are shown by ``slicer.util.tryWithErrorDisplay`` (and re-raised, as it does).
    Cancel is not an error: ``Cancelled`` is caught inside, before
    ``tryWithErrorDisplay`` (Base/Python/slicer/util.py) would report it as "... failed",
    and the status bar says the action was cancelled. Code after the Logic call inside the
    ``with`` block does not run after Cancel or an error; put the follow-up there.
    """
    from theranostics.progress import Cancelled

    with slicer.util.tryWithErrorDisplay(failureMessage, waitCursor=True):
        try:
            with ProgressDialog(title) as progress:
                yield progress
        except Cancelled:
            slicer.util.showStatusMessage(f"{title}: cancelled", 5000)


def install_dependencies(requirements: pathlib.Path, requester: str) -> bool:
    """Install the packages of ``requirements`` that are missing (a user action only, never
    at import or setup). ``slicer.packaging.pip_ensure`` checks which are missing, asks the
    user itself and installs them (Base/Python/slicer/packaging.py); the requirements file
    is parsed by ``load_requirements`` (``pip_ensure`` would read a path string as one
    requirement spec). Returns False when the user declined."""
    import slicer.packaging

    try:
        slicer.packaging.pip_ensure(
            slicer.packaging.load_requirements(requirements), requester=requester
        )
    except RuntimeError as exc:
        # pip_ensure raises RuntimeError("User declined package installation") on Cancel
        if "declined" in str(exc):
            return False
        raise
    return True


def ensure_dependencies_for_self_test(requirements: pathlib.Path, requester: str) -> None:
    """Install what the self-tests need before they run. ``pip_ensure`` skips installing
    while Slicer runs in testing mode unless ``skip_in_testing=False``, and would show its
    dialogs; the self-tests need the packages (decay data for the sample study), so they ask
    for them without prompts (Base/Python/slicer/packaging.py, ``pip_ensure``)."""
    import slicer.packaging

    slicer.packaging.pip_ensure(
        slicer.packaging.load_requirements(requirements),
        requester=requester,
        skip_in_testing=False,
        prompt_install=False,
        prompt_restart=False,
        show_progress=False,
    )


def show_candidate_row(table: qt.QTableWidget, r: int, row: dict) -> None:
    """Show one lesion candidate (a row of ``panel_candidates.candidate_table_rows``) in
    table row ``r``: name with its checkbox (ticked: lesion), class and reason, in the class
    colour; cells are read-only, as DICOMBrowser.py's loadable table does."""
    brush = qt.QBrush(qt.QColor.fromRgbF(*row["color"]))
    for c, text in enumerate((row["name"], row["label"], row["reason"])):
        item = table.item(r, c)
        if item is None:
            item = qt.QTableWidgetItem()
            item.setFlags(item.flags() ^ qt.Qt.ItemIsEditable)
            table.setItem(r, c, item)
        item.setText(text)
        item.setForeground(brush)
    table.item(r, 0).setCheckState(qt.Qt.Checked if row["is_lesion"] else qt.Qt.Unchecked)


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
        self._shownMetadataNodeId = None
        self._showingCandidates = False

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
        self.ui.sirtLoadSegButton.connect("clicked(bool)", self.onLoadSegmentationFile)
        self.ui.sirtListSegmentsButton.connect("clicked(bool)", self.onListSegments)
        self.ui.sirtUseRolesButton.connect("clicked(bool)", self.onUseSegmentRoles)
        self.ui.installDependenciesButton.connect("clicked(bool)", self.onInstallDependencies)
        self.ui.detectCandidatesButton.connect("clicked(bool)", self.onDetectCandidates)
        self.ui.candidateBiomarkersButton.connect("clicked(bool)", self.onCandidateBiomarkers)
        self.ui.runTotalSegmentatorButton.connect("clicked(bool)", self.onRunTotalSegmentator)
        self.ui.candidatesTable.itemChanged.connect(self.onCandidateItemChanged)
        # Slicer adds every loaded module to slicer.modules under its lower-case name
        # (Base/QTGUI/qSlicerLoadableModule.cxx, addModuleToSlicerModules): the button is
        # offered only when the TotalSegmentator extension is installed.
        self.ui.runTotalSegmentatorButton.visible = hasattr(slicer.modules, "totalsegmentator")
        # The metadata table follows the parameter node (observed below), not the selectors'
        # signals: PythonQt calls a signal's handlers in connection order, so a handler
        # connected before connectGui (parameterNodeWrapper/guiConnectors.py) would read the
        # parameter node before the connector has written the new selection into it.

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
            self.removeObserver(
                self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified
            )

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
            self.removeObserver(
                self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified
            )
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(
                self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified
            )
        self.showMetadata()
        self.showCandidates()

    def onParameterNodeModified(self, caller=None, event=None):
        node = self._emissionNode()
        if (node.GetID() if node else None) != self._shownMetadataNodeId:
            self.showMetadata()

    # --- actions: each is one Logic call, errors shown by Slicer ---------------------------
    def _emissionNode(self):
        p = self._parameterNode
        if p is None:
            return None
        node = p.petVolume or p.spectVolume
        # after a scene close the wrapper may still hold a node that left the scene
        return node if node is not None and node.GetScene() is not None else None

    def showMetadata(self):
        node = self._emissionNode()
        self._shownMetadataNodeId = node.GetID() if node else None
        rows = []
        if node is not None:
            with slicer.util.tryWithErrorDisplay("Could not read the volume's metadata."):
                rows = self.logic.metadataRows(node)
        fill_table_widget(self.ui.metadataTable, rows)

    def onInstallDependencies(self):
        with slicer.util.tryWithErrorDisplay("Could not install the Python packages."):
            install_dependencies(REQUIREMENTS_FILE, "Theranostic Planning")

    def onStoreMetadata(self):
        rows = [
            (self.ui.metadataTable.item(r, 0).text(), self.ui.metadataTable.item(r, 1).text())
            for r in range(self.ui.metadataTable.rowCount)
        ]
        with slicer.util.tryWithErrorDisplay("Could not store the metadata.", waitCursor=True):
            self.logic.storeMetadata(self._emissionNode(), rows)
            self.showMetadata()

    def onSegmentLesions(self):
        with longAction("Segmenting lesions", "Lesion segmentation failed.") as progress:
            self.logic.segmentLesions(self._parameterNode, progress=progress)
            table = self._parameterNode.biomarkerTable
            self.ui.biomarkerTableView.setMRMLTableNode(table)
            slicer.app.applicationLogic().GetSelectionNode().SetActiveTableID(table.GetID())
            slicer.app.applicationLogic().PropagateTableSelection()

    def _candidatesNode(self):
        p = self._parameterNode
        node = p.lesionCandidates if p is not None else None
        return node if node is not None and node.GetScene() is not None else None

    def showCandidates(self):
        """Fill the candidate table from the candidates node (one row per segment)."""
        rows = []
        node = self._candidatesNode()
        if node is not None:
            with slicer.util.tryWithErrorDisplay("Could not list the lesion candidates."):
                rows = self.logic.candidateRows(node)
        self._showingCandidates = True  # the cells written below emit itemChanged
        try:
            self.ui.candidatesTable.setRowCount(0)
            self.ui.candidatesTable.setRowCount(len(rows))
            for r, row in enumerate(rows):
                show_candidate_row(self.ui.candidatesTable, r, row)
        finally:
            self._showingCandidates = False

    def onDetectCandidates(self):
        with slicer.util.tryWithErrorDisplay("Lesion candidate detection failed.", waitCursor=True):
            self.logic.detectCandidates(self._parameterNode)
            self.showCandidates()
            self.ui.candidateBiomarkerTableView.setMRMLTableNode(
                self._parameterNode.candidateBiomarkerTable
            )

    def onCandidateItemChanged(self, item):
        """The row's checkbox moves its candidate between lesion and physiological uptake;
        only that row is redrawn (the item stays alive during its own signal)."""
        if self._showingCandidates or item.column() != 0:
            return
        row = item.row()
        with slicer.util.tryWithErrorDisplay("Could not move the candidate."):
            self.logic.setCandidateIsLesion(
                self._parameterNode, row, item.checkState() == qt.Qt.Checked
            )
            rows = self.logic.candidateRows(self._parameterNode.lesionCandidates)
            self._showingCandidates = True
            try:
                show_candidate_row(self.ui.candidatesTable, row, rows[row])
            finally:
                self._showingCandidates = False

    def onCandidateBiomarkers(self):
        with slicer.util.tryWithErrorDisplay("Biomarkers failed.", waitCursor=True):
            table = self.logic.candidateBiomarkers(self._parameterNode)
            self.ui.candidateBiomarkerTableView.setMRMLTableNode(table)

    def onRunTotalSegmentator(self):
        with slicer.util.tryWithErrorDisplay("TotalSegmentator failed.", waitCursor=True):
            self.logic.runTotalSegmentator(self._parameterNode)

    def onAssessResponse(self):
        with longAction("Assessing response", "Response assessment failed.") as progress:
            self.logic.assessResponse(self._parameterNode, progress=progress)

    def onPlanRlt(self):
        with slicer.util.tryWithErrorDisplay("177Lu planning failed.", waitCursor=True):
            summary = self.logic.planRlt(self._parameterNode, slicer.mrmlScene)
            self.ui.rltResultLabel.text = summary

    def onLoadSegmentationFile(self):
        with slicer.util.tryWithErrorDisplay("Could not load the segmentation.", waitCursor=True):
            rows = self.logic.loadSegmentationFile(self._parameterNode, slicer.mrmlScene)
            fill_table_widget(self.ui.sirtSegmentsTable, rows)

    def onListSegments(self):
        fill_table_widget(self.ui.sirtSegmentsTable, [])
        with slicer.util.tryWithErrorDisplay("Could not list the segments.", waitCursor=True):
            fill_table_widget(
                self.ui.sirtSegmentsTable, self.logic.segmentRoleRows(self._parameterNode)
            )

    def onUseSegmentRoles(self):
        rows = [
            (
                self.ui.sirtSegmentsTable.item(r, 0).text(),
                self.ui.sirtSegmentsTable.item(r, 2).text(),
            )
            for r in range(self.ui.sirtSegmentsTable.rowCount)
        ]
        with slicer.util.tryWithErrorDisplay("Could not use the roles."):
            self.logic.useSegmentRoles(self._parameterNode, rows)

    def onPlanSirt(self):
        with slicer.util.tryWithErrorDisplay("90Y planning failed.", waitCursor=True):
            summary = self.logic.planSirt(self._parameterNode)
            self.ui.sirtResultLabel.text = summary
            slicer.util.setSliceViewerLayers(foreground=self._parameterNode.sirtDoseVolume)


class TheranosticPlanningLogic(ScriptedLoadableModuleLogic):
    """Thin: turns the parameter node into plain arguments for
    :mod:`TheranosticPlanningLib.panel` and stores the nodes it returns."""

    def getParameterNode(self):
        return TheranosticPlanningParameterNode(super().getParameterNode())

    def metadataRows(self, volumeNode):
        """The editable metadata rows of a volume; a volume another DICOM plugin loaded
        (DICOM instance UIDs, no Theranostics metadata) gets its metadata first."""
        from TheranosticPlanningLib.panel import metadata_rows

        if volumeNode.GetAttribute("DICOM.instanceUIDs") and not volumeNode.GetAttribute(
            "Theranostics.Modality"
        ):
            import logging

            from DICOMQuantitativePlugin import attachMetadataToDicomVolume

            from theranostics.errors import InputError

            try:
                attachMetadataToDicomVolume(volumeNode)
            except InputError as exc:  # files no longer in the database: the table stays empty
                logging.warning(f"{volumeNode.GetName()}: no metadata from DICOM: {exc}")
        return metadata_rows(volumeNode)

    def storeMetadata(self, volumeNode, rows):
        from TheranosticPlanningLib.panel import store_metadata_rows

        store_metadata_rows(volumeNode, rows)

    def segmentLesions(self, p, progress=None):
        from TheranosticPlanningLib.panel import segment_lesions

        made = segment_lesions(
            p.petVolume or p.spectVolume,
            method=p.lesionMethod,
            threshold_suv=p.lesionThresholdSuv,
            relative_threshold_percent=p.relativeThresholdPercent,
            min_volume_mL=p.minimumLesionVolumeML,
            exclusion_organs=p.exclusionOrgans,
            liver_reference=p.liverReference,
            seed_points=p.seedPoints,
            patient_weight_kg=p.patientWeightKg,
            injected_activity_MBq=p.injectedActivityMBq,
            progress=progress,
        )
        p.lesionSegmentation = made.segmentation_node
        p.biomarkerTable = made.table_node
        return made.biomarkers

    def detectCandidates(self, p):
        """Lesion candidates with physiological uptake set aside
        (:mod:`TheranosticPlanningLib.panel_candidates`); stores the candidates and
        biomarker nodes."""
        from TheranosticPlanningLib.panel_candidates import detect_candidates_for_panel

        detection, node, table = detect_candidates_for_panel(
            p.petVolume or p.spectVolume,
            p.ctVolume,
            p.candidateOrgans,
            tracer=p.candidateTracer,
            method=p.lesionMethod,
            min_volume_mL=p.minimumLesionVolumeML,
        )
        p.lesionCandidates, p.candidateBiomarkerTable = node, table
        return detection

    def candidateRows(self, candidatesNode):
        from TheranosticPlanningLib.panel_candidates import candidate_table_rows

        return candidate_table_rows(candidatesNode)

    def setCandidateIsLesion(self, p, row, isLesion):
        from TheranosticPlanningLib.panel_candidates import set_candidate_row_is_lesion

        return set_candidate_row_is_lesion(p.lesionCandidates, row, isLesion)

    def candidateBiomarkers(self, p):
        from TheranosticPlanningLib.panel_candidates import kept_lesion_biomarkers

        p.candidateBiomarkerTable = kept_lesion_biomarkers(
            p.petVolume or p.spectVolume, p.lesionCandidates
        )
        return p.candidateBiomarkerTable

    def runTotalSegmentator(self, p):
        """Organs with physiological uptake segmented on the CT by the TotalSegmentator
        extension (its Logic, SlicerTotalSegmentator TotalSegmentator.py:
        ``setupPythonRequirements()`` then ``process(inputVolume, outputSegmentation,
        quality, cpu, task, subset)``); the new segmentation node becomes the organ masks
        of the candidate detection. An empty node is removed when the run fails."""
        from TheranosticPlanningLib.panel_candidates import (
            TOTALSEGMENTATOR_SUBSET,
            new_organ_segmentation_node,
        )

        output = new_organ_segmentation_node(p.ctVolume)
        try:
            totalSegmentator = slicer.util.getModuleLogic("TotalSegmentator")
            totalSegmentator.setupPythonRequirements()
            totalSegmentator.process(
                p.ctVolume,
                output,
                quality="fast",
                task="total",
                subset=list(TOTALSEGMENTATOR_SUBSET),
            )
        except Exception:
            output.GetScene().RemoveNode(output)
            raise
        p.candidateOrgans = output
        return output

    def assessResponse(self, p, progress=None):
        from TheranosticPlanningLib.panel import assess_response

        made = assess_response(
            p.baselineVolume,
            p.baselineSegmentation,
            p.followupVolume,
            p.followupSegmentation,
            progress=progress,
        )
        p.responseTable = made.table_node
        return made.assessment

    def planRlt(self, p, scene):
        """Plan 177Lu from the panel's values (or results file) into ``scene``; returns the
        summary line."""
        from TheranosticPlanningLib.panel import (
            plan_rlt,
            rlt_structures,
            structures_from_results_file,
        )

        structures = structures_from_results_file(p.dosimetryResultsPath) or rlt_structures(
            p.kidneyDoseGyPerGBq,
            p.kidneyEffectiveHalfLifeH,
            p.marrowDoseGyPerGBq,
            p.marrowEffectiveHalfLifeH,
            p.salivaryDoseGyPerGBq,
            p.salivaryEffectiveHalfLifeH,
        )
        made = plan_rlt(scene, structures, cycles=p.cycles, risk_factors=p.kidneyRiskFactors)
        p.rltPlanTable = made.table_node
        return made.summary

    def loadSegmentationFile(self, p, scene):
        """Read the chosen .seg.nrrd, select it as the compartments; returns the chooser's
        rows."""
        from TheranosticPlanningLib.panel_seg_files import load_segmentation_for_panel

        p.sirtSegmentation = load_segmentation_for_panel(p.sirtSegFilePath, scene)
        return self.segmentRoleRows(p)

    def segmentRoleRows(self, p):
        from TheranosticPlanningLib.panel_seg_files import segment_role_rows

        return segment_role_rows(
            p.sirtSegmentation, p.tumorSegmentNames, p.normalSegmentName, p.lungSegmentName
        )

    def useSegmentRoles(self, p, rows):
        from TheranosticPlanningLib.panel_seg_files import roles_from_rows

        p.tumorSegmentNames, p.normalSegmentName, p.lungSegmentName = roles_from_rows(rows)

    def planSirt(self, p):
        """With a CT: masses from HU (:func:`TheranosticPlanningLib.panel.plan_sirt`);
        without: from the segmentation alone (:mod:`TheranosticPlanningLib.panel_seg_files`)."""
        if p.maaCtVolume is None:
            from TheranosticPlanningLib.panel_seg_files import plan_sirt_without_ct

            summary, nodes = plan_sirt_without_ct(
                p.maaSpectVolume,
                p.sirtSegmentation,
                tumor_segment_names=p.tumorSegmentNames,
                normal_segment_name=p.normalSegmentName,
                normal_role=p.sirtNormalRole,
                lung_segment_name=p.lungSegmentName,
                lung_shunt_percent=p.sirtLungShuntPercent,
                clip_negative=p.sirtClipNegative,
                method=p.sirtMethod,
                target_dose_Gy=p.sirtTargetDoseGy,
                previous_lung_dose_Gy=p.previousLungDoseGy,
            )
            p.sirtPlanTable = nodes.table_node
            p.sirtDoseVolume = nodes.dose_node
            return summary

        from TheranosticPlanningLib.panel import plan_sirt

        summary, nodes = plan_sirt(
            p.maaSpectVolume,
            p.maaCtVolume,
            p.sirtSegmentation,
            tumor_segment_names=p.tumorSegmentNames,
            lung_segment_name=p.lungSegmentName,
            normal_segment_name=p.normalSegmentName,
            method=p.sirtMethod,
            target_dose_Gy=p.sirtTargetDoseGy,
            previous_lung_dose_Gy=p.previousLungDoseGy,
        )
        p.sirtPlanTable = nodes.table_node
        p.sirtDoseVolume = nodes.dose_node
        return summary


class TheranosticPlanningTest(ScriptedLoadableModuleTest):
    """In-app self-tests of a clinician's first session, through the Logic and the real
    parameter node: a volume round trip, then on the small synthetic sample study (generated
    on first use, the Sample Data module's loaders) the metadata table, lesion segmentation
    and biomarkers, response assessment, 177Lu planning from typed values with no volume
    selected, and 90Y planning. The same Lib calls run headless in
    ``Testing/mrml/test_planning_panel.py`` (``test_the_self_test_session_headless``)."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        ensure_dependencies_for_self_test(REQUIREMENTS_FILE, "Theranostic Planning self-test")
        self.setUp()
        self.test_volume_round_trip()
        self.setUp()
        self.test_first_session_on_sample_data()

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

    def test_first_session_on_sample_data(self):
        import SimpleITK as sitk
        from TheranosticPlanningLib.sample_data import (
            load_sample_pet,
            load_sample_time_points,
            sample_study_dir,
        )
        from TheranosticPlanningLib.segmentations import segmentation_node_from_masks
        from TheranosticPlanningLib.volumes import image_from_volume_node

        from theranostics.io.masks import load_masks

        logic = TheranosticPlanningLogic()
        p = logic.getParameterNode()

        self.delayDisplay("177Lu planning from typed values, no volume selected")
        p.kidneyDoseGyPerGBq, p.kidneyEffectiveHalfLifeH = 0.6, 40.0
        p.marrowDoseGyPerGBq, p.marrowEffectiveHalfLifeH = 0.03, 40.0
        summary = logic.planRlt(p, slicer.mrmlScene)
        self.assertIn("GBq per cycle", summary)
        self.assertGreater(p.rltPlanTable.GetNumberOfRows(), 0)

        self.delayDisplay("Sample PET (generated on first use) and its metadata table")
        p.petVolume = load_sample_pet(slicer.mrmlScene)
        rows = dict(logic.metadataRows(p.petVolume))
        self.assertEqual(rows["Units"], "Bq/mL")

        self.delayDisplay("Lesion segmentation and biomarkers")
        p.lesionMethod = "percent-max"
        p.relativeThresholdPercent = 41.0
        biomarkers = logic.segmentLesions(p)
        segments = p.lesionSegmentation.GetSegmentation().GetNumberOfSegments()
        self.assertGreater(segments, 0)
        self.assertEqual(segments, len(biomarkers.lesions))
        self.assertGreater(p.biomarkerTable.GetNumberOfRows(), 0)

        self.delayDisplay("Lesion candidates: unticking a row sets it aside")
        p.candidateTracer = "none"  # no recognition: every candidate starts as a lesion
        detection = logic.detectCandidates(p)
        rows = logic.candidateRows(p.lesionCandidates)
        self.assertEqual(len(rows), detection.lesions.count)
        self.assertTrue(all(r["is_lesion"] for r in rows))
        self.assertEqual(logic.setCandidateIsLesion(p, 0, False), "physiological")
        kept = logic.candidateBiomarkers(p)
        self.assertEqual(kept.GetNumberOfRows(), len(rows) - 1 + 1)  # + total row

        self.delayDisplay("Response: the same study as baseline and follow-up is stable")
        p.baselineVolume = p.followupVolume = p.petVolume
        p.baselineSegmentation = p.followupSegmentation = p.lesionSegmentation
        assessment = logic.assessResponse(p)
        self.assertEqual(assessment.percist["category"], "SMD")
        self.assertEqual(p.responseTable.GetNumberOfRows(), segments)

        self.delayDisplay("90Y planning on the 24 h SPECT/CT with truth compartments")
        # The sample data has no 99mTc-MAA study: the 24 h 177Lu SPECT stands in for the
        # MAA distribution, to run the panel's 90Y path end to end (not a clinical plan).
        ct, spect = load_sample_time_points(slicer.mrmlScene)[1]
        masks = dict(
            load_masks(
                sample_study_dir() / "truth" / "structures_seg.dcm",
                image_from_volume_node(ct),
                structures=["liver", "lesion_01", "lung_left", "lung_right"],
            ).masks
        )
        compartments = {
            "Tumor": masks["lesion_01"],
            "Liver": masks["liver"],
            "Lung": sitk.Or(masks["lung_left"] > 0, masks["lung_right"] > 0),
        }
        p.maaSpectVolume, p.maaCtVolume = spect, ct
        p.sirtSegmentation = segmentation_node_from_masks(
            compartments, slicer.mrmlScene, "SIRT compartments"
        )
        p.normalSegmentName = "Liver"
        summary = logic.planSirt(p)
        self.assertIn("GBq 90Y", summary)
        self.assertEqual(p.sirtDoseVolume.GetAttribute("Theranostics.Units"), "Gy")

        self.delayDisplay("90Y planning without a CT: masses from the segmentation alone")
        p.maaCtVolume = None
        p.sirtClipNegative = True
        rows = logic.segmentRoleRows(p)
        self.assertEqual([r[2] for r in rows], ["tumour", "normal", "lung"])
        logic.useSegmentRoles(p, [(r[0], r[2]) for r in rows])
        self.assertEqual(p.tumorSegmentNames, "Tumor")
        summary = logic.planSirt(p)
        self.assertIn("no CT", summary)
        self.delayDisplay("Test passed")
