"""Single-time-point 90Y microsphere dosimetry (permanent implant) on MRML nodes.

From one post-treatment 90Y PET or bremsstrahlung SPECT volume node (``Theranostics.*``
attributes: units, nuclide, administration and acquisition date-times) and a segmentation
node (e.g. a ``.seg.nrrd`` the user loaded) to the core workflow
(:func:`theranostics.workflows.sirt_dosimetry.sirt_dosimetry`) and back to nodes: the dose map
(Gy) as an RT dose volume node and the per-structure table (volume, mass, activity, mean dose,
D70/D50, V100Gy/V150Gy, tumour-to-normal ratio) as a table node. The time reference is the
core's: either ``decay_corrected_to_implantation`` or the implantation and acquisition
date-times (arguments or node attributes); it is never guessed.

No Qt and no application-wide globals: the scene comes from the nodes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from TheranosticPlanningLib.lesions import table_node_from_rows
from TheranosticPlanningLib.seg_files import slicer_segmentation_from_node
from TheranosticPlanningLib.volumes import image_from_volume_node

from theranostics.io.slicer_files import segmentation_masks

from .dose import dose_volume_node

#: Table attribute holding the results JSON (without the structures, which are the rows).
RESULTS_ATTRIBUTE = "Theranostics.SirtDosimetry"


@dataclass(frozen=True)
class SirtDosimetryNodes:
    """The core result and the nodes made for it."""

    result: object
    dose_node: object
    table_node: object

    @property
    def results(self) -> dict:
        """The results JSON document of the core workflow."""
        return self.result.results


def sirt_dosimetry_from_nodes(
    volume_node,
    segmentation_node,
    *,
    structure_names=None,
    name: str = "SIRT dosimetry",
    dose_node=None,
    progress=None,
    **options,
) -> SirtDosimetryNodes:
    """Permanent-implant dosimetry of one 90Y PET/SPECT volume node with a segmentation.

    Args:
        volume_node: post-treatment scalar volume (Bq/mL, or counts/cps with
            ``calibration_cps_per_MBq``).
        segmentation_node: the structures (segment names as the user wrote them).
        structure_names: only these segments (default: all).
        name: prefix of the new nodes' names.
        dose_node: an existing scalar volume node to overwrite with the dose.
        progress: ``progress(fraction, message)`` callback (the Widget's progress dialog).
        options: keyword arguments of ``sirt_dosimetry``: nuclide, calibration_cps_per_MBq,
            method ("led"/"kernel"), decay_corrected_to_implantation, implantation_datetime,
            acquisition_datetime, acquisition_duration_s, tumors, normal, lung,
            density_g_per_mL, lung_density_g_per_mL, administered_activity_MBq,
            clip_negative.

    Returns:
        :class:`SirtDosimetryNodes` (dose volume node in Gy marked as RT dose; table node with
        one row per structure and the rest of the results as a JSON attribute).

    Raises:
        InputError: any refusal of the core (time reference unknown, units, negative or NaN
            voxels, unknown segment names ...).
    """
    from theranostics.workflows.sirt_dosimetry import sirt_dosimetry

    scene = volume_node.GetScene()
    image = image_from_volume_node(volume_node)
    seg = slicer_segmentation_from_node(segmentation_node)
    masks = segmentation_masks(seg, image, structures=structure_names)
    result = sirt_dosimetry(image, masks, progress=progress, **options)
    dose = dose_volume_node(
        result.dose, scene, f"{name} dose", node=dose_node, reference_meta=image.meta
    )
    rows = [{"structure": n, **e} for n, e in result.results["structures"].items()]
    table = table_node_from_rows(rows, scene, f"{name} structures")
    summary = {k: v for k, v in result.results.items() if k != "structures"}
    table.SetAttribute(RESULTS_ATTRIBUTE, json.dumps(summary))
    return SirtDosimetryNodes(result=result, dose_node=dose, table_node=table)
