"""The uptake quantity lesions are segmented and measured in: SUVbw for PET, Bq/mL for
quantitative SPECT.

SUVbw [g/mL] = C [Bq/mL] × body weight [g] / decay-corrected administered activity [Bq], with
the decay rules of :func:`theranostics.quant.suv.suv_factors` (QIBA). Thresholds such as
"SUV 3" only mean something in SUV, so a PET without the patient weight is refused rather than
segmented in Bq/mL behind the user's back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from ..errors import GeometryError, InputError, MissingTagError, UnitsError
from ..image import QuantitativeImage
from ..quant.suv import suv_factors

#: Quantities accepted by ``quantity=``.
QUANTITIES = ("auto", "SUVbw", "Bq/mL")


@dataclass(frozen=True)
class Uptake:
    """Voxel values in the segmentation quantity and how they were obtained.

    Attributes:
        values: float32 array ``[k, j, i]`` in ``unit``.
        unit: ``"SUVbw"`` (g/mL) or ``"Bq/mL"``.
        to_bq_per_mL: factor from ``unit`` back to Bq/mL (``None`` when unknown, e.g. an
            image stored in SUV without the factors).
        sul_per_suv: lean body mass / body weight (SUL = SUVbw × this), when height and sex
            are known (Janmahasatian 2005; PERCIST uses SUL).
        spacing_mm: voxel spacing (i, j, k) in mm.
    """

    values: np.ndarray
    unit: str
    to_bq_per_mL: float | None
    sul_per_suv: float | None
    spacing_mm: tuple[float, float, float]

    @property
    def voxel_volume_mL(self) -> float:
        """Volume of one voxel in mL."""
        return float(np.prod(self.spacing_mm)) / 1000.0


def _path(qimage: QuantitativeImage):
    return qimage.meta.source_files[0] if qimage.meta.source_files else None


def check_image(qimage: QuantitativeImage) -> None:
    """Refuse images that cannot hold lesions: not 3D, non-finite voxels, or no voxel above 0.

    Raises:
        GeometryError: the image is not 3D.
        InputError: NaN/inf voxels, or an empty image (every voxel <= 0).
    """
    image = qimage.image
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise GeometryError(
            f"image is {image.GetDimension()}D with {image.GetNumberOfComponentsPerPixel()} "
            "components; lesions need a 3D scalar image",
            path=_path(qimage),
            tag="image",
            fix="give the 3D PET or SPECT volume",
        )
    values = sitk.GetArrayViewFromImage(image)
    if not np.all(np.isfinite(values)):
        raise InputError(
            "image holds NaN or infinite voxels",
            path=_path(qimage),
            tag="pixel data",
            fix="replace non-finite voxels (e.g. outside the reconstruction) by 0",
        )
    if values.size == 0 or float(values.max()) <= 0.0:
        raise InputError(
            "image is empty: no voxel has uptake above 0",
            path=_path(qimage),
            tag="pixel data",
            fix="check that the right series (the emission image, not a blank or mask) was given",
        )


def uptake(qimage: QuantitativeImage, quantity: str = "auto") -> Uptake:
    """The voxel values of ``qimage`` in the segmentation quantity.

    Args:
        qimage: PET or SPECT image in Bq/mL (or already in SUVbw).
        quantity: ``"auto"`` (SUVbw for a PET (modality PT) in Bq/mL, Bq/mL for any other
            activity-concentration image, SUVbw for an image stored in SUVbw), ``"SUVbw"`` or
            ``"Bq/mL"``.

    Raises:
        MissingTagError: SUV requested (explicitly or as the PET default) without the patient
            weight, activity or times; the message names PatientWeight and the override.
        UnitsError: the image is in counts or another unit that is not a concentration.
    """
    if quantity not in QUANTITIES:
        raise InputError(
            f"unknown quantity {quantity!r}",
            tag="quantity",
            fix=f"use one of {', '.join(QUANTITIES)}",
        )
    check_image(qimage)
    meta = qimage.meta
    units = meta.quantity.units
    spacing = tuple(float(s) for s in qimage.image.GetSpacing())
    values = sitk.GetArrayFromImage(qimage.image).astype(np.float32)
    if units == "SUVbw":
        if quantity == "Bq/mL":
            raise UnitsError(
                "the image is stored in SUVbw; Bq/mL cannot be recovered without the SUV factors",
                path=_path(qimage),
                tag="Units (0054,1001)",
                fix="use quantity='SUVbw' or load the Bq/mL series",
            )
        return Uptake(values, "SUVbw", None, None, spacing)
    if units != "Bq/mL":
        raise UnitsError(
            f"lesions are segmented on activity concentration, the image is in {units!r}",
            path=_path(qimage),
            tag="Units (0054,1001)",
            fix="calibrate SPECT counts to Bq/mL first "
            "(theranostics.quant.spect.counts_to_activity_concentration; CLI "
            "--calibration-cps-per-MBq)",
        )
    wants_suv = quantity == "SUVbw" or (quantity == "auto" and meta.modality == "PT")
    if not wants_suv:
        return Uptake(values, "Bq/mL", 1.0, None, spacing)
    try:
        factors = suv_factors(meta)
    except MissingTagError as exc:
        raise MissingTagError(
            f"SUV requested for lesion segmentation but {exc.message}",
            path=exc.path or _path(qimage),
            tag=exc.tag,
            fix=(exc.fix or "") + "; in Python pass an image whose meta.patient.weight_kg is set "
            "(meta.replace(patient=...)), or segment in Bq/mL (quantity='Bq/mL') with a "
            "threshold in Bq/mL",
        ) from None
    sul = None
    if factors.lean_body_mass_kg is not None and meta.patient.weight_kg:
        sul = factors.lean_body_mass_kg / meta.patient.weight_kg
    values *= np.float32(factors.suv_bw_factor)
    return Uptake(values, "SUVbw", 1.0 / factors.suv_bw_factor, sul, spacing)
