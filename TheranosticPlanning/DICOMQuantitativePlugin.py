"""Slicer DICOM plugin: NM SPECT and PET series as quantitative volumes with metadata.

Thin: the examination and loading are :mod:`TheranosticPlanningLib.dicom_loading` (tested
headless). The plugin bids 0.6 for NM reconstructions and PET, above the generic scalar
volume plugin (0.5), the way PETDICOMExtension does for PET.

Slicer loads every top-level ``.py`` of a scripted-modules folder as a module and looks for
a class named after the file (``Base/QTGUI/qSlicerScriptedLoadableModule.cxx``,
``setPythonSource``: "class %1 was not found in file %2"). So this file defines the hidden
hook class :class:`DICOMQuantitativePlugin`, which registers the plugin class with the DICOM
module, as ``Modules/Scripted/DICOMPlugins/DICOMScalarVolumePlugin.py`` does.
"""

import slicer
from DICOMLib import DICOMLoadable, DICOMPlugin


class DICOMQuantitativePluginClass(DICOMPlugin):
    """Loads NM (SPECT reconstructions) and PT series in Bq/mL (or counts without a
    calibration factor) with the quantitative metadata read by the Theranostics core."""

    def __init__(self):
        from TheranosticPlanningLib.dicom_loading import EXAMINE_TAGS

        super().__init__()
        self.loadType = "Theranostics quantitative NM/PET"
        # The DICOM module precaches every plugin's tags in the database
        # (Modules/Scripted/DICOM/DICOM.py), so fileValue answers without opening files.
        self.tags.update(EXAMINE_TAGS)

    def examineFiles(self, files):
        """Loadables for one group of files (``DICOMPlugin.examineForImport`` caches them)."""
        from TheranosticPlanningLib.dicom_loading import examine_files

        loadables = []
        for series in examine_files(files, file_value=slicer.dicomDatabase.fileValue):
            loadable = DICOMLoadable()
            loadable.files = list(series.files)
            loadable.name = series.name
            loadable.tooltip = f"{series.kind} as a quantitative volume (Theranostics)"
            loadable.confidence = series.confidence
            loadable.warning = series.warning
            loadable.selected = True
            loadables.append(loadable)
        return loadables

    def load(self, loadable):
        from TheranosticPlanningLib.dicom_loading import load_quantitative_series

        node = load_quantitative_series(loadable.files, slicer.mrmlScene, name=loadable.name)
        instance_uids = [slicer.dicomDatabase.instanceForFile(f) for f in loadable.files]
        node.SetAttribute("DICOM.instanceUIDs", " ".join(instance_uids))
        # Patient/study/series items and DICOM UIDs in the subject hierarchy, as every
        # plugin's load() must do (Modules/Scripted/DICOMLib/DICOMPlugin.py).
        self.addSeriesInSubjectHierarchy(loadable, node)
        return node


def attachMetadataToDicomVolume(node):
    """Give a volume loaded by another DICOM plugin its ``Theranostics.*`` metadata, looked
    up from the files behind it in the DICOM database. Called by the Theranostic Planning
    Logic when a selected volume has DICOM instance UIDs but no quantitative metadata."""
    from TheranosticPlanningLib.dicom_loading import attach_metadata_from_dicom

    attach_metadata_from_dicom(node, slicer.dicomDatabase.fileForInstance)


class DICOMQuantitativePlugin:
    """The hook Slicer's module factory looks for: a hidden module that registers
    :class:`DICOMQuantitativePluginClass` with the DICOM module."""

    def __init__(self, parent):
        parent.title = "DICOM Quantitative NM/PET Plugin (Theranostics)"
        parent.categories = ["Developer Tools.DICOM Plugins"]
        parent.contributors = ["Theranostics contributors"]
        parent.helpText = """
Plugin to the DICOM module that loads NM (SPECT) and PET series as quantitative volumes with
the Theranostics metadata. No module interface here, only in the DICOM module.
"""
        parent.acknowledgementText = "Developed by the Theranostics contributors."
        # shown only through the DICOM module
        parent.hidden = True
        # The DICOM module may be created after this one: create the registry if needed.
        if not hasattr(slicer.modules, "dicomPlugins"):
            slicer.modules.dicomPlugins = {}
        slicer.modules.dicomPlugins["DICOMQuantitativePlugin"] = DICOMQuantitativePluginClass
