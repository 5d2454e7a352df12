"""Global thresholds: fixed, and the PERCIST liver-based threshold.

PERCIST 1.0 (Wahl RL et al., J Nucl Med 2009;50(Suppl 1):122S-150S) calls a lesion measurable
when its SULpeak is at least 1.5 × the mean + 2 × the standard deviation of the normal liver
in a 3 cm diameter spherical reference region in the right lobe. Used as a segmentation
threshold (as in qPSMA-type whole-body tools), every voxel above it belongs to a lesion
candidate.

The reference sphere is placed automatically: its centre is the liver voxel furthest from the
liver boundary (Euclidean distance transform in mm), so the sphere lies inside the liver
whenever the liver is at least 3 cm thick. Where it is thinner the sphere is clipped to the
liver and a note says so. The formula is linear in the voxel unit, so the threshold computed
on SUVbw (or Bq/mL) values is the same threshold as on SUL values of the same image.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..errors import InputError

#: PERCIST liver reference sphere diameter (mm).
PERCIST_SPHERE_DIAMETER_MM = 30.0


@dataclass(frozen=True)
class LiverReference:
    """The PERCIST liver reference region and the threshold derived from it.

    Attributes:
        centre_lps_mm: sphere centre (LPS, mm), the liver voxel deepest inside the liver.
        depth_mm: distance of that voxel from the liver boundary (mm); below 15 mm the sphere
            is clipped to the liver.
        diameter_mm: sphere diameter (30 mm in PERCIST).
        mean, sd: mean and sample standard deviation of the voxels in sphere ∩ liver (unit of
            the image values).
        voxels: how many voxels the reference region holds.
        threshold: 1.5 × mean + 2 × sd.
        unit: unit of ``mean``, ``sd``, ``threshold``.
    """

    centre_lps_mm: tuple[float, float, float]
    depth_mm: float
    diameter_mm: float
    mean: float
    sd: float
    voxels: int
    threshold: float
    unit: str

    def to_json(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


def liver_reference(
    values: np.ndarray,
    liver: np.ndarray,
    reference: sitk.Image,
    unit: str,
    *,
    diameter_mm: float = PERCIST_SPHERE_DIAMETER_MM,
) -> LiverReference:
    """PERCIST liver reference region and threshold.

    Args:
        values: uptake ``[k, j, i]``.
        liver: boolean liver mask on the same grid.
        reference: the image (for the voxel-to-LPS conversion and spacing).
        unit: unit of ``values``.
        diameter_mm: sphere diameter.

    Raises:
        InputError: the liver mask is empty or holds fewer than 2 voxels in the sphere.
    """
    if not liver.any():
        raise InputError(
            "liver mask is empty: the PERCIST threshold needs the liver",
            tag="liver_mask",
            fix="give a liver mask on (or overlapping) the image, or use method='fixed'",
        )
    spacing = np.asarray(reference.GetSpacing(), dtype=float)
    depth = ndimage.distance_transform_edt(liver, sampling=tuple(spacing[::-1]))
    centre = np.unravel_index(int(np.argmax(depth)), depth.shape)
    radius = diameter_mm / 2.0
    box = tuple(
        slice(max(0, c - int(radius // s) - 1), min(n, c + int(radius // s) + 2))
        for c, s, n in zip(centre, spacing[::-1], liver.shape)
    )
    k, j, i = np.indices(values[box].shape)
    k = (k + box[0].start - centre[0]) * spacing[2]
    j = (j + box[1].start - centre[1]) * spacing[1]
    i = (i + box[2].start - centre[2]) * spacing[0]
    region = (k * k + j * j + i * i <= radius * radius) & liver[box]
    samples = values[box][region].astype(np.float64)
    if samples.size < 2:
        raise InputError(
            f"liver reference region holds {samples.size} voxel(s)",
            tag="liver_mask",
            fix="the liver mask is too small for a reference region; check it",
        )
    mean = float(samples.mean())
    sd = float(samples.std(ddof=1))
    centre_lps = reference.TransformIndexToPhysicalPoint(tuple(int(c) for c in centre[::-1]))
    return LiverReference(
        centre_lps_mm=tuple(float(c) for c in centre_lps),
        depth_mm=float(depth[centre]),
        diameter_mm=diameter_mm,
        mean=mean,
        sd=sd,
        voxels=int(samples.size),
        threshold=1.5 * mean + 2.0 * sd,
        unit=unit,
    )
