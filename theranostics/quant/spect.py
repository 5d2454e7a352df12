"""SPECT counts to activity concentration (Bq/mL).

For a reconstruction in counts per voxel acquired over ``duration_s`` seconds, with a
system calibration factor ``S`` in cps/MBq (counts per second per MBq in the field of view,
measured on a phantom with the same reconstruction; EANM/MIRD guidance, Dewaraja et al.
JNM 53:1310 (2012), MIRD Pamphlet 23):

    A_mean [MBq]  = counts / (S * duration_s)                 (mean over the acquisition)
    A(t0)         = A_mean / ((1 - exp(-lambda dt)) / (lambda dt))   (decay during acquisition)
    A(t_ref)      = A(t0) * 2^(-(t_ref - t0) / T1/2)
    C [Bq/mL]     = A * 1e6 / voxel volume [mL]

Images already in Bq/mL (Units BQML or a Real World Value Mapping) are recognised and not
calibrated twice.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import SimpleITK as sitk

from .. import plausibility
from ..errors import InputError, MissingTagError, QuantificationError, UnitsError
from ..image import QuantitativeImage
from ..metadata import QuantityInfo
from ..nuclides import get_nuclide
from .decay import acquisition_average_factor, decay_factor, elapsed_s


def _reference(meta, reference, path) -> tuple[datetime | None, str]:
    acq, admin = meta.acquisition, meta.administration
    if reference == "acquisition_start":
        return acq.start, "START"
    if reference == "administration":
        if admin.datetime is None:
            raise MissingTagError(
                "administration time missing for decay correction to administration",
                path=path,
                tag="RadiopharmaceuticalStartDateTime (0018,1078)",
                fix="give the administration time, or correct to the acquisition start",
            )
        return admin.datetime, "ADMIN"
    if reference == "none":
        return None, "NONE"
    if isinstance(reference, datetime):
        return reference, "REF"
    raise ValueError(
        "reference must be 'acquisition_start', 'administration', 'none' or a "
        f"datetime, not {reference!r}"
    )


def counts_to_activity_concentration(
    qimage: QuantitativeImage,
    calibration_cps_per_MBq: float | None,
    *,
    reference: str | datetime = "acquisition_start",
    acquisition_duration_s: float | None = None,
) -> QuantitativeImage:
    """A new image in Bq/mL from a SPECT image in counts (the input is not modified).

    Args:
        qimage: SPECT image in ``counts`` (or already in ``Bq/mL``).
        calibration_cps_per_MBq: system calibration factor (cps/MBq); must be ``None`` for
            an image that is already quantitative.
        reference: time the result is decay-corrected to: ``"acquisition_start"``
            (default), ``"administration"``, ``"none"`` (mean over the acquisition) or a
            ``datetime``.
        acquisition_duration_s: overrides the duration read from the header.

    Raises:
        QuantificationError: a calibration factor for an already-quantitative image.
        UnitsError: input units are neither counts nor Bq/mL.
        MissingTagError: duration, acquisition time or nuclide missing.
    """
    meta = qimage.meta
    path = meta.source_files[0] if meta.source_files else None
    units = meta.quantity.units
    if units == "Bq/mL":
        if calibration_cps_per_MBq is not None:
            raise QuantificationError(
                "image is already quantitative (Bq/mL); a calibration factor would apply twice",
                path=path,
                tag=meta.quantity.units_source or "Units (0054,1001)",
                fix="leave the calibration factor out for this image",
            )
        return _redecay(qimage, reference, path)
    if units not in ("counts", "cps"):
        raise UnitsError(
            f"cannot calibrate an image in {units!r}; counts expected",
            path=path,
            tag=meta.quantity.units_source or "Units",
            fix="give a SPECT reconstruction in counts",
        )
    cal = calibration_cps_per_MBq
    if cal is None or not math.isfinite(cal) or cal <= 0:
        raise InputError(
            f"calibration factor {cal!r} cps/MBq must be a positive number",
            path=path,
            tag="calibration_cps_per_MBq",
            fix="measure it on a phantom with the same reconstruction",
        )
    cal_notes = plausibility.check(
        cal,
        plausibility.CALIBRATION_CPS_PER_MBQ,
        path=path,
        tag="calibration_cps_per_MBq (--calibration-cps-per-MBq)",
        fix="give the phantom-measured sensitivity in cps/MBq (counts per second per MBq)",
    )
    duration = acquisition_duration_s or meta.acquisition.duration_s
    if units == "cps":
        duration = 1.0
    elif not duration or duration <= 0:
        raise MissingTagError(
            "acquisition duration missing",
            path=path,
            tag="RotationInformationSequence > ActualFrameDuration (0018,1242)",
            fix="give the duration (acquisition_duration_s / --duration-s)",
        )
    if meta.acquisition.start is None:
        raise MissingTagError(
            "acquisition time missing",
            path=path,
            tag="AcquisitionDate/AcquisitionTime (0008,0022/0032)",
            fix="give the acquisition time explicitly",
        )
    if not meta.administration.nuclide:
        raise MissingTagError(
            "nuclide unknown",
            path=path,
            tag="RadionuclideCodeSequence (0054,0300)",
            fix="give the nuclide explicitly (--nuclide)",
        )
    half_life_s = get_nuclide(meta.administration.nuclide).half_life_s
    ref, state = _reference(meta, reference, path)
    voxel_mL = qimage.voxel_volume_mL
    # Bq/mL of the activity averaged over the acquisition:
    scale = 1e6 / (cal * duration * voxel_mL)
    if units == "counts" and ref is not None:
        t0 = meta.acquisition.start
        scale /= acquisition_average_factor(duration, half_life_s)
        scale *= decay_factor(elapsed_s(t0, ref), half_life_s)
    array = sitk.GetArrayViewFromImage(qimage.image).astype(np.float32) * np.float32(scale)
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(qimage.image)
    new_quantity = QuantityInfo(
        units="Bq/mL",
        decay_correction=state,
        decay_reference=ref,
        units_source=f"calibrated from {units} with {cal:g} cps/MBq over {duration:g} s",
    )
    return QuantitativeImage(
        out, meta.replace(quantity=new_quantity, problems=(*meta.problems, *cal_notes))
    )


def _redecay(qimage: QuantitativeImage, reference, path) -> QuantitativeImage:
    """Move the decay reference of a Bq/mL image (no-op when it already matches)."""
    meta = qimage.meta
    ref, state = _reference(meta, reference, path)
    current = meta.quantity.decay_reference
    if meta.quantity.decay_correction == "NONE" or current is None:
        if ref is None:
            return qimage
        raise QuantificationError(
            "image in Bq/mL is not decay-corrected; its values mix times across the frame",
            path=path,
            tag="DecayCorrection (0054,1102)",
            fix="use reference='none'",
        )
    if ref is None or ref == current:
        return qimage
    half_life_s = get_nuclide(meta.administration.nuclide).half_life_s
    factor = decay_factor(elapsed_s(current, ref), half_life_s)
    array = sitk.GetArrayViewFromImage(qimage.image).astype(np.float32) * np.float32(factor)
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(qimage.image)
    quantity = QuantityInfo(
        units="Bq/mL",
        decay_correction=state,
        decay_reference=ref,
        units_source=meta.quantity.units_source,
    )
    return QuantitativeImage(out, meta.replace(quantity=quantity))
