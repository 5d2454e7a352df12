"""Small synthetic PET images with known lesions, for tests and benchmarks.

Ellipsoidal "blobs" of uniform SUV inside an ellipsoidal body of background SUV, painted with
the voxel-centre rule, blurred by a Gaussian point-spread function (FWHM in mm) and given
Gaussian noise proportional to the square root of the value (a rough Poisson-like model,
``noise`` = relative SD at SUV 1). Voxels are stored in Bq/mL with metadata that make
:func:`theranostics.quant.suv.suv_factors` return exactly SUV = value × weight / activity
(DecayCorrection ADMIN: no decay between administration and scan).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..image import QuantitativeImage
from ..metadata import Administration, ImageMetadata, PatientInfo, QuantityInfo

WEIGHT_KG = 80.0
ACTIVITY_MBQ = 200.0
#: Bq/mL per SUVbw unit for the metadata of :func:`synthetic_pet`.
BQ_PER_ML_PER_SUV = ACTIVITY_MBQ * 1e6 / (WEIGHT_KG * 1000.0)


@dataclass(frozen=True)
class Blob:
    """An ellipsoid of uniform uptake: centre (LPS mm), semi-axes (mm), SUVbw."""

    name: str
    centre_lps_mm: tuple[float, float, float]
    radii_mm: tuple[float, float, float]
    suv: float

    @staticmethod
    def sphere(name: str, centre_lps_mm, volume_mL: float, suv: float) -> Blob:
        """A sphere of ``volume_mL``."""
        r = (3.0 * volume_mL * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0)
        return Blob(name, tuple(centre_lps_mm), (r, r, r), suv)


def pet_metadata(
    *, weight_kg: float | None = WEIGHT_KG, height_m: float | None = 1.78
) -> ImageMetadata:
    """PET metadata (Bq/mL, DecayCorrection ADMIN) for the synthetic images."""
    when = datetime(2024, 1, 1, 9, 0)
    return ImageMetadata(
        modality="PT",
        series_description="synthetic PET",
        patient=PatientInfo(weight_kg=weight_kg, height_m=height_m, sex="M"),
        administration=Administration(
            nuclide="Ga-68", activity_MBq=ACTIVITY_MBQ, datetime=when, activity_rule="synthetic"
        ),
        quantity=QuantityInfo(units="Bq/mL", decay_correction="ADMIN", decay_reference=when),
    )


def synthetic_pet(
    blobs: Sequence[Blob],
    *,
    size: tuple[int, int, int] = (64, 64, 64),
    spacing_mm: tuple[float, float, float] = (4.0, 4.0, 4.0),
    background_suv: float = 1.0,
    body_radii_mm: tuple[float, float, float] | None = None,
    fwhm_mm: float = 6.0,
    noise: float = 0.0,
    seed: int = 0,
    weight_kg: float | None = WEIGHT_KG,
) -> tuple[QuantitativeImage, dict[str, sitk.Image]]:
    """A PET image and the true mask of each blob (uint8, same grid).

    The grid is centred on the LPS origin with identity direction. Blobs overwrite the body
    and earlier blobs. ``weight_kg=None`` gives an image without PatientWeight.
    """
    size_kji = tuple(size)[::-1]
    origin = [-(n - 1) * s / 2.0 for n, s in zip(size, spacing_mm)]
    k, j, i = np.indices(size_kji, dtype=np.float64)
    x = origin[0] + i * spacing_mm[0]
    y = origin[1] + j * spacing_mm[1]
    z = origin[2] + k * spacing_mm[2]
    suv = np.zeros(size_kji, dtype=np.float64)
    radii = body_radii_mm or tuple(0.45 * n * s for n, s in zip(size, spacing_mm))
    suv[(x / radii[0]) ** 2 + (y / radii[1]) ** 2 + (z / radii[2]) ** 2 <= 1.0] = background_suv
    masks = {}
    for blob in blobs:
        (cx, cy, cz), (rx, ry, rz) = blob.centre_lps_mm, blob.radii_mm
        inside = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 + ((z - cz) / rz) ** 2 <= 1.0
        suv[inside] = blob.suv
        masks[blob.name] = inside
    if fwhm_mm > 0:
        sigma = [fwhm_mm / (2.0 * np.sqrt(2.0 * np.log(2.0))) / s for s in spacing_mm[::-1]]
        suv = ndimage.gaussian_filter(suv, sigma, mode="constant")
    if noise > 0:
        rng = np.random.default_rng(seed)
        suv = suv + rng.normal(0.0, 1.0, suv.shape) * noise * np.sqrt(np.clip(suv, 0, None))
        suv = np.clip(suv, 0.0, None)
    image = sitk.GetImageFromArray((suv * BQ_PER_ML_PER_SUV).astype(np.float32))
    image.SetSpacing(tuple(float(s) for s in spacing_mm))
    image.SetOrigin(origin)
    truth = {}
    for name, inside in masks.items():
        mask = sitk.GetImageFromArray(inside.astype(np.uint8))
        mask.CopyInformation(image)
        truth[name] = mask
    qimage = QuantitativeImage(image=image, meta=pet_metadata(weight_kg=weight_kg))
    return qimage, truth
