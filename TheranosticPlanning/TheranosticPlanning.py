"""TheranosticPlanning: pre-therapy imaging, lesion biomarkers and activity prescription.

This file holds Slicer's module classes only. Computation lives in the ``theranostics`` core
and MRML conversion in ``TheranosticPlanningLib``; the panel (Widget) is added with the GUI
issue, so until then the module offers its Lib to the Python console and its self-test.
"""

import slicer
from slicer.ScriptedLoadableModule import ScriptedLoadableModule, ScriptedLoadableModuleTest


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
<li><b>Ingest</b> quantitative PET/SPECT/CT from DICOM or NIfTI/NRRD with a JSON sidecar:
nuclide, administered activity (MBq), administration and acquisition times, units
(Bq/mL, counts, HU) and decay-correction state are read once and checked.</li>
<li><b>SUV</b> (g/mL) by body weight, lean body mass (Janmahasatian 2005) or body surface area,
decay-corrected following the QIBA FDG-PET/CT profile.</li>
<li><b>Dose planning</b> (absorbed dose in Gy, BED in Gy) for 177Lu radioligand therapy and
90Y radioembolization from 99mTc-MAA SPECT/CT.</li>
</ul>
Coordinates: Slicer RAS; the core computes in DICOM LPS and the module converts in one place.
Units are part of every quantity name. See the documentation for the ingest rules:
<a href="https://github.com/theranostics-slicer/SlicerTheranostics/blob/main/docs/ingest.md">docs/ingest.md</a>.
"""
        self.parent.acknowledgementText = """
Developed by the Theranostics contributors. Decay data: ICRP Publication 107 (2008).
SUV rules: QIBA FDG-PET/CT Profile (2019); lean body mass: Janmahasatian et al.,
Clin Pharmacokinet 44:1051 (2005). Built on 3D Slicer, SimpleITK, pydicom and highdicom.
"""


class TheranosticPlanningTest(ScriptedLoadableModuleTest):
    """In-app self-test: a quantitative image survives the trip into and out of the scene."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_volume_round_trip()

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
