"""MRML adapters of the DoseMapping module (no Qt)."""

# Volume and segmentation conversion is shared with TheranosticPlanning: one implementation,
# one LPS <-> RAS flip. Slicer puts every scripted module's folder on sys.path, so the sibling
# Lib is importable here as it is in the tests (pyproject's pytest pythonpath).
from TheranosticPlanningLib.segmentations import (
    masks_from_segmentation_node,
    segmentation_node_from_masks,
)
from TheranosticPlanningLib.volumes import image_from_volume_node, volume_node_from_image

__all__ = [
    "image_from_volume_node",
    "masks_from_segmentation_node",
    "segmentation_node_from_masks",
    "volume_node_from_image",
]
