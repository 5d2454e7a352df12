"""Body masks of CT images and the checks that a CT is usable for registration.

The body is every voxel above a HU threshold (default −500 HU: halfway between air, −1000 HU,
and water, 0 HU), reduced to its largest connected component (the couch and loose objects
are smaller and detached), with holes filled slice by slice so the lungs and the bowel gas
count as body even where they touch the top or bottom of the field of view.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..errors import GeometryError, UnitsError
from ..image import QuantitativeImage, physical_bounds_lps

#: Default body threshold (HU): halfway between air (−1000 HU) and water (0 HU).
DEFAULT_BODY_THRESHOLD_HU = -500.0
#: A CT whose "body" covers more than this fraction of its voxels has no air around the
#: patient: it is not a CT in HU (an emission image, a cropped CT, wrong rescale).
MAX_BODY_FRACTION = 0.98

# In-plane 4-connectivity: background regions are connected within a slice only, so a hole
# is filled when a slice encloses it, whether or not it is closed in 3D.
_IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
_IN_PLANE[1] = [[False, True, False], [True, True, True], [False, True, False]]


def as_ct_image(ct: sitk.Image | QuantitativeImage, *, argument: str = "ct") -> sitk.Image:
    """The CT as a 3D float32 ``sitk.Image`` in HU.

    Args:
        ct: a ``sitk.Image`` (assumed in HU) or a :class:`QuantitativeImage` whose units must
            be ``"HU"``.
        argument: the argument name used in error messages.

    Raises:
        UnitsError: a QuantitativeImage whose units are not HU.
        GeometryError: not a 3D scalar image.
    """
    path = None
    if isinstance(ct, QuantitativeImage):
        path = ct.meta.source_files[0] if ct.meta.source_files else None
        if ct.meta.quantity.units != "HU":
            raise UnitsError(
                f"{argument} is a {ct.meta.modality} image in {ct.meta.quantity.units!r}; "
                "a CT in HU is needed for CT-to-CT registration",
                path=path,
                tag=argument,
                fix="pass the CT of the SPECT/CT session, not the emission image",
            )
        ct = ct.image
    if not isinstance(ct, sitk.Image):
        raise TypeError(f"{argument} must be a SimpleITK image or QuantitativeImage")
    if ct.GetDimension() != 3 or ct.GetNumberOfComponentsPerPixel() != 1:
        raise GeometryError(
            f"{argument} must be a 3D scalar image (got {ct.GetDimension()}D with "
            f"{ct.GetNumberOfComponentsPerPixel()} components)",
            path=path,
            tag=argument,
            fix="pass a 3D CT volume",
        )
    return sitk.Cast(ct, sitk.sitkFloat32)


def body_mask(
    ct: sitk.Image,
    *,
    threshold_hu: float = DEFAULT_BODY_THRESHOLD_HU,
    argument: str = "ct",
) -> sitk.Image:
    """The patient's body in a CT as a uint8 mask (1 inside) on the CT's grid.

    Threshold at ``threshold_hu`` (voxel > threshold), keep the largest 26-connected
    component, fill holes in every slice (index k).

    Raises:
        GeometryError: no voxel above the threshold (empty body).
        UnitsError: no air around the body (more than 98 % of the voxels above the
            threshold): the image is not a CT in HU.
    """
    values = sitk.GetArrayViewFromImage(ct)
    above = values > threshold_hu
    fraction = float(above.mean()) if above.size else 0.0
    if not above.any():
        raise GeometryError(
            f"{argument}: no voxel above {threshold_hu:g} HU: the body mask is empty",
            tag="body_threshold_hu",
            fix="check that the image is a CT in HU holding the patient, or lower "
            "body_threshold_hu",
        )
    if fraction > MAX_BODY_FRACTION:
        raise UnitsError(
            f"{argument}: {fraction:.1%} of the voxels are above {threshold_hu:g} HU, so there "
            "is no air around the body; this does not look like a CT in HU",
            tag=argument,
            fix="pass the CT of the session (HU, with air around the patient), not an "
            "emission image or a CT cropped to the body",
        )
    labels, count = ndimage.label(above, structure=np.ones((3, 3, 3), dtype=bool))
    if count > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        above = labels == int(np.argmax(sizes))
    # Pad one empty slice at each end so the end slices are interior and get filled too.
    padded = np.pad(above, ((1, 1), (0, 0), (0, 0)))
    filled = ndimage.binary_fill_holes(padded, structure=_IN_PLANE)[1:-1]
    mask = sitk.GetImageFromArray(filled.astype(np.uint8))
    mask.CopyInformation(ct)
    return mask


def dilate_mask(mask: sitk.Image, radius_mm: float) -> sitk.Image:
    """``mask`` dilated by a ball of about ``radius_mm`` (per-axis radius in voxels)."""
    if radius_mm <= 0:
        return mask
    radius = [max(1, round(radius_mm / s)) for s in mask.GetSpacing()]
    return sitk.BinaryDilate(mask, radius, sitk.sitkBall, 0, 1)


def mask_centroid_lps(mask: sitk.Image) -> np.ndarray:
    """Centroid (mm, LPS) of the voxels of a non-empty mask."""
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(mask)
    return np.array(stats.GetCentroid(1))


def check_boxes_overlap(fixed: sitk.Image, moving: sitk.Image) -> None:
    """Raise :class:`GeometryError` when the two images' bounding boxes are disjoint.

    Two CTs of one patient on one scanner share scanner coordinates to within centimetres;
    disjoint boxes mean another patient, another body region or a broken origin.
    """
    check_bounds_overlap(physical_bounds_lps(fixed), physical_bounds_lps(moving))


def check_bounds_overlap(fixed_bounds, moving_bounds) -> None:
    """:func:`check_boxes_overlap` on ``(min, max)`` corner pairs (LPS mm) of the two images
    (:func:`theranostics.image.physical_bounds_lps`)."""
    a_min, a_max = (np.asarray(v, dtype=float) for v in fixed_bounds)
    b_min, b_max = (np.asarray(v, dtype=float) for v in moving_bounds)
    gap = np.maximum(a_min, b_min) - np.minimum(a_max, b_max)
    if np.any(gap >= 0):
        raise GeometryError(
            "the fixed and moving CTs do not overlap in patient coordinates (fixed box "
            f"{np.round(a_min, 1).tolist()}..{np.round(a_max, 1).tolist()} mm, moving box "
            f"{np.round(b_min, 1).tolist()}..{np.round(b_max, 1).tolist()} mm, LPS)",
            tag="ImagePositionPatient (0020,0032)",
            fix="check that both CTs show the same patient and body region; if the scanner "
            "coordinates differ, shift one image's origin so that they overlap first",
        )
