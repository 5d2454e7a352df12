"""Every Slicer, CTK and Qt API name our Slicer-side files use, with the source file it was
checked against (Slicer at :data:`slicer_reference.SLICER_TAG`, CTK at the commit Slicer
5.12 pins in ``SuperBuild/External_CTK.cmake``).

Names are as :func:`widget_api.all_used_names` spells them. Each maps to
``(file, needle)``: the file that defines (or, for Qt classes reached through PythonQt,
uses the same way) the name, and a string that file contains. ``test_slicer_conformance``
checks that every name used is recorded here and, when the Slicer and CTK mirrors are on
this machine, that each file contains its needle. Adding a call to a Widget means reading
its definition and adding a line here.
"""

from __future__ import annotations

#: The CTK commit Slicer v5.12.3 builds (SuperBuild/External_CTK.cmake, Slicer_CTK_GIT_TAG).
CTK_COMMIT = "5056664a20a3d0a393bb6d91f040525581e0dcdf"
CTK = f"CTK@{CTK_COMMIT}:"

_SLM = "Base/Python/slicer/ScriptedLoadableModule.py"
_UTIL = "Base/Python/slicer/util.py"
_WRAPPER = "Base/Python/slicer/parameterNodeWrapper/wrapper.py"
_VALIDATORS = "Base/Python/slicer/parameterNodeWrapper/validators.py"
_DICOM_PLUGIN = "Modules/Scripted/DICOMLib/DICOMPlugin.py"
_DICOM_BROWSER = "Modules/Scripted/DICOMLib/DICOMBrowser.py"
_DB = CTK + "Libs/DICOM/Core/ctkDICOMDatabase.h"
_MODULE = "Base/QTGUI/qSlicerScriptedLoadableModule.h"
_TEMPLATE = "Utilities/Templates/Modules/Scripted/TemplateKey.py"

CHECKED: dict[str, tuple[str, str]] = {
    # Slicer's Python packages
    "slicer.ScriptedLoadableModule.ScriptedLoadableModule": (_SLM, "class ScriptedLoadableModule:"),
    "slicer.ScriptedLoadableModule.ScriptedLoadableModuleWidget": (
        _SLM,
        "class ScriptedLoadableModuleWidget:",
    ),
    "slicer.ScriptedLoadableModule.ScriptedLoadableModuleLogic": (
        _SLM,
        "class ScriptedLoadableModuleLogic:",
    ),
    "slicer.ScriptedLoadableModule.ScriptedLoadableModuleTest": (
        _SLM,
        "class ScriptedLoadableModuleTest(unittest.TestCase):",
    ),
    "ScriptedLoadableModuleWidget.resourcePath": (_SLM, "def resourcePath"),
    "ScriptedLoadableModuleWidget.layout": (_SLM, "self.layout"),
    "ScriptedLoadableModuleWidget.parent.isEntered": (
        "Base/QTGUI/qSlicerAbstractModuleWidget.h",
        "Q_PROPERTY(bool isEntered READ isEntered)",
    ),
    "ScriptedLoadableModuleWidget.addObserver": (_UTIL, "def addObserver(self, obj, event"),
    "ScriptedLoadableModuleWidget.removeObserver": (_UTIL, "def removeObserver(self, obj"),
    "ScriptedLoadableModuleWidget.removeObservers": (_UTIL, "def removeObservers(self"),
    "ScriptedLoadableModuleTest.delayDisplay": (_SLM, "def delayDisplay"),
    "ScriptedLoadableModuleTest.assertAlmostEqual": (_SLM, "unittest.TestCase"),
    "ScriptedLoadableModuleTest.assertEqual": (_SLM, "unittest.TestCase"),
    "ScriptedLoadableModuleTest.assertGreater": (_SLM, "unittest.TestCase"),
    "ScriptedLoadableModuleTest.assertIn": (_SLM, "unittest.TestCase"),
    "ScriptedLoadableModuleTest.assertIsNone": (_SLM, "unittest.TestCase"),
    "ScriptedLoadableModuleTest.assertIsNotNone": (_SLM, "unittest.TestCase"),
    "ScriptedLoadableModuleTest.assertTrue": (_SLM, "unittest.TestCase"),
    "slicer.parameterNodeWrapper.parameterNodeWrapper": (
        _WRAPPER,
        "def parameterNodeWrapper(classtype=None)",
    ),
    "slicer.parameterNodeWrapper.Choice": (_VALIDATORS, "class Choice(Validator)"),
    "slicer.parameterNodeWrapper.WithinRange": (_VALIDATORS, "class WithinRange(Validator)"),
    "parameterNodeWrapper.connectGui": (_WRAPPER, '"connectGui", _connectGui'),
    "parameterNodeWrapper.disconnectGui": (_WRAPPER, '"disconnectGui", _disconnectGui'),
    "slicer.util.VTKObservationMixin": (_UTIL, "class VTKObservationMixin"),
    "slicer.util.loadUI": (_UTIL, "def loadUI(path)"),
    "slicer.util.childWidgetVariables": (_UTIL, "def childWidgetVariables(widget)"),
    "slicer.util.createProgressDialog": (_UTIL, "def createProgressDialog("),
    "slicer.util.tryWithErrorDisplay": (_UTIL, "def tryWithErrorDisplay(message=None"),
    "slicer.util.showStatusMessage": (_UTIL, "def showStatusMessage(message, duration=0)"),
    "slicer.util.setSliceViewerLayers": (_UTIL, "foregroundOpacity"),
    "slicer.packaging.pip_ensure": ("Base/Python/slicer/packaging.py", "def pip_ensure("),
    "slicer.packaging.load_requirements": (
        "Base/Python/slicer/packaging.py",
        "def load_requirements(path",
    ),
    "slicer.mrmlScene": ("Base/Python/slicer/__init__.py", "py:attribute:: mrmlScene"),
    "slicer.mrmlScene.Clear": ("Libs/MRML/Core/vtkMRMLScene.h", "void Clear(int removeSingletons"),
    "slicer.mrmlScene.GetNodeByID": ("Libs/MRML/Core/vtkMRMLScene.h", "GetNodeByID(const char*"),
    "slicer.mrmlScene.StartCloseEvent": ("Libs/MRML/Core/vtkMRMLScene.h", "StartCloseEvent"),
    "slicer.mrmlScene.EndCloseEvent": ("Libs/MRML/Core/vtkMRMLScene.h", "EndCloseEvent"),
    "slicer.modules": ("Base/Python/slicer/util.py", "slicer.modules"),
    "slicer.modules.dicomPlugins": (
        "Modules/Scripted/DICOMPlugins/DICOMScalarVolumePlugin.py",
        'slicer.modules.dicomPlugins["DICOMScalarVolumePlugin"]',
    ),
    "slicer.modules.plots.logic.ShowChartInLayout": (
        "Modules/Loadable/Plots/Logic/vtkSlicerPlotsLogic.h",
        "void ShowChartInLayout(vtkMRMLPlotChartNode* chartNode)",
    ),
    "slicer.app.processEvents": (_UTIL, "slicer.app.processEvents()"),
    "slicer.app.connect": (_TEMPLATE, ".connect("),
    "qSlicerApplication.startupCompleted()": (
        "Base/QTGUI/qSlicerApplication.h",
        "startupCompleted",
    ),
    "slicer.app.applicationLogic.GetSelectionNode": (
        "Libs/MRML/Logic/vtkMRMLApplicationLogic.h",
        "vtkMRMLSelectionNode* GetSelectionNode() const",
    ),
    "slicer.app.applicationLogic.GetSelectionNode.SetActiveTableID": (
        "Libs/MRML/Core/vtkMRMLSelectionNode.h",
        "void SetActiveTableID(const char* id)",
    ),
    "slicer.app.applicationLogic.PropagateTableSelection": (
        "Libs/MRML/Logic/vtkMRMLApplicationLogic.h",
        "void PropagateTableSelection()",
    ),
    "slicer.dicomDatabase.fileValue": (
        _DB,
        "Q_INVOKABLE QString fileValue (const QString fileName",
    ),
    "slicer.dicomDatabase.fileForInstance": (_DB, "Q_INVOKABLE QString fileForInstance("),
    "slicer.dicomDatabase.instanceForFile": (_DB, "Q_INVOKABLE QString instanceForFile("),
    "slicer.vtkMRMLScalarVolumeNode": (
        "Libs/MRML/Core/vtkMRMLScalarVolumeNode.h",
        "class VTK_MRML_EXPORT vtkMRMLScalarVolumeNode",
    ),
    "slicer.vtkMRMLSegmentationNode": (
        "Libs/MRML/Core/vtkMRMLSegmentationNode.h",
        "vtkMRMLSegmentationNode : public",
    ),
    "slicer.vtkMRMLTableNode": ("Libs/MRML/Core/vtkMRMLTableNode.h", "vtkMRMLTableNode : public"),
    "slicer.vtkMRMLMarkupsFiducialNode": (
        "Libs/MRML/Core/vtkMRMLMarkupsFiducialNode.h",
        "vtkMRMLMarkupsFiducialNode : public",
    ),
    "vtk.vtkCommand.ModifiedEvent": (_WRAPPER, "vtk.vtkCommand.ModifiedEvent"),
    # methods of the parameter node's MRML node fields
    "vtkMRMLScalarVolumeNode.GetAttribute": (
        "Libs/MRML/Core/vtkMRMLNode.h",
        "const char* GetAttribute(const char* name)",
    ),
    "vtkMRMLScalarVolumeNode.GetID": ("Libs/MRML/Core/vtkMRMLNode.h", "vtkGetStringMacro(ID)"),
    "vtkMRMLTableNode.GetID": ("Libs/MRML/Core/vtkMRMLNode.h", "vtkGetStringMacro(ID)"),
    "vtkMRMLTableNode.GetNumberOfRows": (
        "Libs/MRML/Core/vtkMRMLTableNode.h",
        "int GetNumberOfRows()",
    ),
    "vtkMRMLTableNode.GetNumberOfColumns": (
        "Libs/MRML/Core/vtkMRMLTableNode.h",
        "int GetNumberOfColumns()",
    ),
    "vtkMRMLSegmentationNode.GetSegmentation.GetNumberOfSegments": (
        "Libs/vtkSegmentationCore/vtkSegmentation.h",
        "int GetNumberOfSegments() const",
    ),
    # module metadata, set on the qSlicerScriptedLoadableModule ``parent``
    "qSlicerAbstractCoreModule.title": (_MODULE, "Q_PROPERTY(QString title READ title WRITE"),
    "qSlicerAbstractCoreModule.categories": (_MODULE, "categories READ categories WRITE"),
    "qSlicerAbstractCoreModule.contributors": (_MODULE, "contributors READ contributors WRITE"),
    "qSlicerAbstractCoreModule.helpText": (_MODULE, "helpText READ helpText WRITE"),
    "qSlicerAbstractCoreModule.acknowledgementText": (_MODULE, "acknowledgementText WRITE"),
    "qSlicerAbstractCoreModule.dependencies": (_MODULE, "dependencies READ dependencies WRITE"),
    "qSlicerAbstractCoreModule.hidden": (_MODULE, "Q_PROPERTY(bool hidden READ isHidden WRITE"),
    # the DICOM module's plugin API
    "DICOMLib.DICOMPlugin": (_DICOM_PLUGIN, "class DICOMPlugin:"),
    "DICOMLib.DICOMLoadable": (_DICOM_PLUGIN, "class DICOMLoadable:"),
    "DICOMPlugin.tags": (_DICOM_PLUGIN, "self.tags = {}"),
    "DICOMPlugin.addSeriesInSubjectHierarchy": (
        _DICOM_PLUGIN,
        "def addSeriesInSubjectHierarchy(self, loadable, dataNode)",
    ),
    "SampleData.SampleDataLogic.registerCustomSampleDataSource": (
        "Modules/Scripted/SampleData/SampleData.py",
        "def registerCustomSampleDataSource(",
    ),
    # MRML widgets
    "qMRMLTableView.setMRMLTableNode": (
        "Libs/MRML/Widgets/qMRMLTableView.h",
        "void setMRMLTableNode(vtkMRMLTableNode* tableNode)",
    ),
    # Qt classes through PythonQt: the Slicer file that uses them the same way
    "QProgressDialog.setValue": (_DICOM_BROWSER, "progressDialog.setValue("),
    "QProgressDialog.wasCanceled": (_DICOM_BROWSER, "progressDialog.wasCanceled"),
    "QProgressDialog.setParent": (_DICOM_BROWSER, "progressDialog.setParent(None)"),
    "QProgressDialog.close": (_DICOM_BROWSER, "progressDialog.close()"),
    "QProgressDialog.setLabelText": (
        "Modules/Scripted/WebServer/WebServerLib/SlicerRequestHandler.py",
        "setLabelText",
    ),
    "QProgressDialog.setCancelButtonText": (_UTIL, "qt.QProgressDialog("),
    "QTableWidget.item": (_DICOM_BROWSER, ".item("),
    "QTableWidget.rowCount": (_DICOM_BROWSER, ".rowCount"),
    "qt.QTableWidget": (_DICOM_BROWSER, "qt.QTableWidget"),
    "qt.QTableWidgetItem": (_DICOM_BROWSER, "qt.QTableWidgetItem("),
    "QLabel.text": ("Modules/Scripted/DICOM/DICOM.py", "listenerStateLabel.text = "),
    "QPushButton.connect": (_TEMPLATE, 'applyButton.connect("clicked(bool)"'),
    "QPushButton.clicked(bool)": (_TEMPLATE, '"clicked(bool)"'),
    "qt.QDesktopServices.openUrl": (_SLM, "qt.QDesktopServices.openUrl("),
    # the lesion-candidate table: checkable read-only items as DICOMBrowser.py's loadables
    "QTableWidget.itemChanged": (_DICOM_BROWSER, "self.loadableTable.itemChanged.connect("),
    "QTableWidget.setRowCount": (_DICOM_BROWSER, "self.setRowCount(0)"),
    "qt.Qt.Checked": (_DICOM_BROWSER, "qt.Qt.Checked if loadable.selected else qt.Qt.Unchecked"),
    "qt.Qt.Unchecked": (_DICOM_BROWSER, "else qt.Qt.Unchecked"),
    "qt.Qt.ItemIsEditable": (_DICOM_BROWSER, "readerItem.flags() ^ qt.Qt.ItemIsEditable"),
    "qt.QColor.fromRgbF": ("Modules/Scripted/DataProbe/DataProbe.py", "qt.QColor.fromRgbF("),
    "qt.QBrush": (
        "Modules/Scripted/ExtensionWizard/ExtensionWizardLib/EditableTreeWidget.py",
        "item.setForeground(0, qt.QBrush(color))",
    ),
    # a button shown only when the TotalSegmentator extension is installed
    "QPushButton.visible": (
        "Modules/Scripted/DICOM/DICOM.py",
        "ui.showVisualBrowserButton.visible = False",
    ),
    "slicer.util.getModuleLogic": (_UTIL, "def getModuleLogic(module)"),
    "qt.QUrl.fromLocalFile": (_SLM, "qt.QUrl("),
}
