"""The core's image type: a SimpleITK image in LPS plus its validated metadata."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from .errors import GeometryError
from .metadata import ImageMetadata


@dataclass(frozen=True)
class QuantitativeImage:
    """A 3D image in DICOM/ITK LPS patient coordinates with its metadata.

    ``image`` holds the voxels (float32/float64 for quantitative data, int16 for CT HU) with
    origin (mm), spacing (mm) and direction cosines (columns are the i, j, k axes in LPS).
    ``meta.quantity.units`` says what a voxel value means.
    """

    image: sitk.Image
    meta: ImageMetadata

    def array(self) -> np.ndarray:
        """A copy of the voxels as a numpy array indexed ``[k, j, i]`` (slice, row, column)."""
        return sitk.GetArrayFromImage(self.image)

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        """Voxel spacing (i, j, k) in mm."""
        return tuple(self.image.GetSpacing())

    @property
    def size(self) -> tuple[int, int, int]:
        """Number of voxels along (i, j, k)."""
        return tuple(self.image.GetSize())

    @property
    def voxel_volume_mL(self) -> float:
        """Volume of one voxel in mL (1 mL = 1000 mm^3)."""
        return float(np.prod(self.image.GetSpacing())) / 1000.0


def physical_bounds_lps(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned bounding box (min, max) in LPS mm of the image's voxel *edges*."""
    size = np.array(image.GetSize())
    corners = []
    for ci in (-0.5, size[0] - 0.5):
        for cj in (-0.5, size[1] - 0.5):
            for ck in (-0.5, size[2] - 0.5 if len(size) > 2 else 0.0):
                corners.append(image.TransformContinuousIndexToPhysicalPoint((ci, cj, ck)))
    corners = np.array(corners)
    return corners.min(axis=0), corners.max(axis=0)


def overlap_fraction(moving: sitk.Image, reference: sitk.Image) -> float:
    """Fraction of ``moving``'s bounding box volume that lies inside ``reference``'s.

    A quick check that two images share a region of the patient (0: disjoint, 1: inside).
    """
    a_min, a_max = physical_bounds_lps(moving)
    b_min, b_max = physical_bounds_lps(reference)
    inter = np.clip(np.minimum(a_max, b_max) - np.maximum(a_min, b_min), 0, None)
    vol = np.prod(a_max - a_min)
    return float(np.prod(inter) / vol) if vol > 0 else 0.0


def check_spacing(spacing_mm, *, path=None, tag: str = "PixelSpacing / SpacingBetweenSlices"):
    """Raise :class:`GeometryError` unless every spacing is finite and > 0 mm."""
    sp = np.asarray(spacing_mm, dtype=float)
    if sp.size == 0 or not np.all(np.isfinite(sp)) or np.any(sp <= 0):
        raise GeometryError(
            f"voxel spacing {list(sp)} mm is not positive and finite",
            path=path,
            tag=tag,
            fix="correct the spacing in the header; a zero or negative spacing has no meaning",
        )
    return tuple(float(s) for s in sp)
