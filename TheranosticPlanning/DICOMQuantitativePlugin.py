"""Slicer DICOM plugin: NM SPECT and PET series as quantitative volumes with metadata.

Thin: the examination and loading are :mod:`TheranosticPlanningLib.dicom_loading` (tested
headless). The plugin bids 0.6 for NM reconstructions and PET, above the generic scalar
volume plugin (0.5), the way PETDICOMExtension does for PET; it also gives the volumes that
other plugins load their ``Theranostics.*`` metadata from the DICOM database.
"""

import slicer
from DICOMLib import DICOMLoadable, DICOMPlugin


class DICOMQuantitativePluginClass(DICOMPlugin):
    """Loads NM (SPECT reconstructions) and PT series in Bq/mL (or counts without a
    calibration factor) with the quantitative metadata read by the Theranostics core."""

    def __init__(self):
        super().__init__()
        self.loadType = "Theranostics quantitative NM/PET"

    def examineForImport(self, fileLists):
        from TheranosticPlanningLib.dicom_loading import examine_files

        loadables = []
        for files in fileLists:
            for series in examine_files(files):
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
        return node


def attachMetadataToDicomVolume(node):
    """Metadata for a volume loaded by another plugin (looked up in the DICOM database)."""
    from TheranosticPlanningLib.dicom_loading import attach_metadata_from_dicom

    attach_metadata_from_dicom(node, slicer.dicomDatabase.fileForInstance)
