"""Masks on the image grid and the exclusion of physiological uptake.

PSMA and somatostatin-receptor tracers accumulate physiologically in kidneys, urinary bladder,
salivary glands, liver, spleen and bowel; a threshold alone would call them lesions. Voxels of
these organs (optionally dilated by a margin in mm, to also drop the partial-volume spill of
a hot organ into its neighbours) are removed before lesions are grown, and a lesion whose
maximum lies in them is not a lesion.

A mask on another grid than the image is resampled with nearest-neighbour interpolation (the
grids are both in LPS; no registration is implied) and a note says so.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..errors import GeometryError, InputError
from ..image import overlap_fraction

#: Name fragments (lower case) of organs with physiological uptake of PSMA/SSTR tracers.
PHYSIOLOGICAL_KEYWORDS = (
    "kidney",
    "renal",
    "bladder",
    "parotid",
    "submandibular",
    "sublingual",
    "salivary",
    "lacrimal",
    "liver",
    "spleen",
    "bowel",
    "intestine",
    "colon",
    "duodenum",
    "stomach",
)


def select_physiological(names) -> list[str]:
    """The names that denote organs with physiological uptake (case-insensitive match of
    :data:`PHYSIOLOGICAL_KEYWORDS`)."""
    return [n for n in names if any(k in n.lower() for k in PHYSIOLOGICAL_KEYWORDS)]


def same_grid(a: sitk.Image, b: sitk.Image, tolerance_mm: float = 1e-3) -> bool:
    """True when both images have the same size, and origin, spacing and direction within
    ``tolerance_mm`` (direction within 1e-6)."""
    return (
        a.GetSize() == b.GetSize()
        and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=tolerance_mm)
        and np.allclose(a.GetSpacing(), b.GetSpacing(), atol=tolerance_mm)
        and np.allclose(a.GetDirection(), b.GetDirection(), atol=1e-6)
    )


def mask_on_grid(mask: sitk.Image, reference: sitk.Image, name: str) -> tuple[np.ndarray, str]:
    """A mask as a boolean array ``[k, j, i]`` on ``reference``'s grid.

    Returns:
        ``(array, note)``; ``note`` is ``""`` when the mask was already on the grid, otherwise
        it says that the mask was resampled (nearest neighbour) and from which spacing.

    Raises:
        GeometryError: the mask is not 3D or does not overlap the image at all.
    """
    if mask.GetDimension() != 3:
        raise GeometryError(
            f"mask {name!r} is {mask.GetDimension()}D; a 3D mask is needed",
            tag=f"mask {name}",
            fix="give 3D masks (label maps, RTSTRUCT or SEG rasterised on a 3D grid)",
        )
    if same_grid(mask, reference):
        return sitk.GetArrayFromImage(mask) != 0, ""
    if overlap_fraction(mask, reference) == 0.0:
        raise GeometryError(
            f"mask {name!r} does not overlap the image",
            tag=f"mask {name}",
            fix="check that the mask belongs to this patient and frame of reference",
        )
    resampled = sitk.Resample(
        sitk.Cast(mask != 0, sitk.sitkUInt8),
        reference,
        sitk.Transform(),
        sitk.sitkNearestNeighbor,
        0,
        sitk.sitkUInt8,
    )
    spacing = ", ".join(f"{s:g}" for s in mask.GetSpacing())
    note = (
        f"mask {name!r} was on another grid (spacing {spacing} mm, size "
        f"{'x'.join(map(str, mask.GetSize()))}); resampled onto the image grid "
        "(nearest neighbour)"
    )
    return sitk.GetArrayFromImage(resampled) != 0, note


def dilate_mm(mask: np.ndarray, margin_mm: float, spacing_mm) -> np.ndarray:
    """Dilate a boolean mask ``[k, j, i]`` by a Euclidean margin in mm (anisotropic spacing
    honoured through a distance transform)."""
    if margin_mm <= 0 or not mask.any():
        return mask.copy()
    sampling = tuple(float(s) for s in spacing_mm)[::-1]
    # Only the bounding box of the mask plus the margin can change: work on that crop.
    where = np.argwhere(mask)
    pads = [int(np.ceil(margin_mm / s)) + 1 for s in sampling]
    box = tuple(
        slice(max(0, lo - p), min(n, hi + 1 + p))
        for lo, hi, p, n in zip(where.min(axis=0), where.max(axis=0), pads, mask.shape)
    )
    result = np.zeros_like(mask)
    result[box] = ndimage.distance_transform_edt(~mask[box], sampling=sampling) <= margin_mm
    return result


def exclusion_mask(
    exclude: dict[str, sitk.Image] | None,
    reference: sitk.Image,
    *,
    margin_mm: float = 0.0,
) -> tuple[np.ndarray, list[str]]:
    """The union of the exclusion masks on the reference grid, dilated by ``margin_mm``.

    Returns:
        ``(mask [k, j, i] bool, notes)``.

    Raises:
        InputError: a negative margin.
    """
    if margin_mm < 0:
        raise InputError(
            f"exclusion margin {margin_mm} mm is negative",
            tag="exclusion_margin_mm",
            fix="give a margin of 0 mm or more",
        )
    shape = reference.GetSize()[::-1]
    union = np.zeros(shape, dtype=bool)
    notes: list[str] = []
    for name, mask in (exclude or {}).items():
        array, note = mask_on_grid(mask, reference, name)
        union |= array
        if note:
            notes.append(note)
    if exclude:
        notes.append(
            f"excluded physiological uptake: {', '.join(exclude)} "
            f"(margin {margin_mm:g} mm, {int(union.sum())} voxels before the margin)"
        )
    return dilate_mm(union, margin_mm, reference.GetSpacing()), notes
