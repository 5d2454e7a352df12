"""DoseMapping: post-therapy SPECT/CT dosimetry and planned-versus-delivered verification.

This file holds Slicer's module classes only. Computation lives in the ``theranostics`` core
and MRML conversion in ``DoseMappingLib``; the panel (Widget) is added with the GUI issue.
"""

import slicer
from slicer.ScriptedLoadableModule import ScriptedLoadableModule, ScriptedLoadableModuleTest


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
<li>SPECT counts to activity concentration (Bq/mL) from a calibration factor (cps/MBq) and the
acquisition duration (s), decay-corrected to a chosen reference time.</li>
<li>Time-activity curves (MBq over h), time-integrated activity (MBq·h), absorbed dose (Gy)
by local deposition or voxel S-value kernels (MIRD Pamphlet 17), BED (Gy) after Dale.</li>
<li>Planned-versus-delivered comparison: dose difference, gamma index (Low et al. 1998), DVHs.</li>
</ul>
Coordinates: Slicer RAS; the core computes in DICOM LPS and the module converts in one place.
"""
        self.parent.acknowledgementText = """
Developed by the Theranostics contributors. Decay data: ICRP Publication 107 (2008).
Dosimetry follows the MIRD schema (Bolch et al., J Nucl Med 50:477, 2009) and EANM guidance
for 177Lu dosimetry (Sjögreen Gleisner et al., EJNMMI Phys 9:30, 2022).
"""


class DoseMappingTest(ScriptedLoadableModuleTest):
    """In-app self-test: a SPECT image keeps its nuclide, units and geometry in the scene."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_spect_attributes_round_trip()

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
