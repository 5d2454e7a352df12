"""Standardised uptake value (SUV) factors for PET (and quantitative SPECT) in Bq/mL.

SUV = C / (A_inj,decayed / M): with C in Bq/mL, the decay-corrected administered activity in
Bq and the normalising mass M in g, SUV is in g/mL. Each ``*_factor`` multiplies Bq/mL.

Decay correction follows the QIBA FDG-PET/CT Profile's vendor-neutral SUV pseudo-code
(QIBA 2019, appendix "SUV calculation"):

- DecayCorrection ``START``: voxel values are decay-corrected to the scan start (the series
  datetime, or the earliest acquisition datetime when the series datetime is later); the
  administered activity is decayed from the administration time to that time.
- ``ADMIN``: values are corrected to the administration time; no decay of the activity.
- ``NONE``: values are the mean activity over the frame; the activity is decayed to the frame
  reference time (acquisition start + the offset whose activity equals the frame mean).

Normalising masses: body weight (SUVbw); lean body mass after Janmahasatian et al., Clin
Pharmacokinet 44:1051-65 (2005) (SUL, as in PERCIST, Wahl et al. JNM 2009); body surface area
after Du Bois & Du Bois, Arch Intern Med 17:863 (1916) (SUVbsa, in cm^2/mL).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from .. import plausibility
from ..errors import MissingTagError, NuclideError, QuantificationError, TimingError
from ..metadata import ImageMetadata
from ..nuclides import get_nuclide
from .decay import decay_factor, elapsed_s, frame_reference_offset_s


@dataclass(frozen=True)
class SUVFactors:
    """Factors that turn Bq/mL into SUVs, and how they were derived.

    Attributes:
        suv_bw_factor: g/Bq; SUVbw [g/mL] = C [Bq/mL] * factor.
        sul_factor: g/Bq for SUV normalised by lean body mass (``None`` without height/sex).
        suv_bsa_factor: cm^2/Bq for SUVbsa (``None`` without height).
        decay_corrected_activity_Bq: administered activity decayed to ``reference_datetime``.
        reference_datetime: time the image values (and the activity) refer to.
        half_life_s: half-life used, and ``half_life_source`` where it came from.
        lean_body_mass_kg, body_surface_area_m2: the normalising quantities.
        rule: which decay rule fired, in words.
    """

    suv_bw_factor: float
    sul_factor: float | None
    suv_bsa_factor: float | None
    decay_corrected_activity_Bq: float
    reference_datetime: datetime
    half_life_s: float
    half_life_source: str
    lean_body_mass_kg: float | None
    body_surface_area_m2: float | None
    rule: str


def lean_body_mass_kg(weight_kg: float, height_m: float, sex: str) -> float:
    """Lean body mass (kg) after Janmahasatian et al. 2005:
    male 9270 W / (6680 + 216 BMI), female 9270 W / (8780 + 244 BMI), BMI = W / H^2."""
    bmi = weight_kg / height_m**2
    if sex == "M":
        return 9270.0 * weight_kg / (6680.0 + 216.0 * bmi)
    if sex == "F":
        return 9270.0 * weight_kg / (8780.0 + 244.0 * bmi)
    raise ValueError(f"sex must be 'M' or 'F' for lean body mass, got {sex!r}")


def body_surface_area_m2(weight_kg: float, height_m: float) -> float:
    """Body surface area (m^2) after Du Bois & Du Bois 1916: 0.007184 W^0.425 H_cm^0.725."""
    return 0.007184 * weight_kg**0.425 * (height_m * 100.0) ** 0.725


def _half_life(meta: ImageMetadata, path) -> tuple[float, str]:
    admin = meta.administration
    if admin.half_life_s:
        table_s = None
        if admin.nuclide:
            try:
                table_s = get_nuclide(admin.nuclide).half_life_s
            except NuclideError:
                table_s = None
        plausibility.check_half_life(admin.half_life_s, admin.nuclide, table_s, path=path)
        return admin.half_life_s, "RadionuclideHalfLife (0018,1075)"
    if admin.nuclide:
        return get_nuclide(admin.nuclide).half_life_s, f"ICRP 107 half-life of {admin.nuclide}"
    raise NuclideError(
        "half-life unknown: no RadionuclideHalfLife and no nuclide",
        path=path,
        tag="RadionuclideHalfLife (0018,1075) / RadionuclideCodeSequence",
        fix="give the nuclide explicitly (--nuclide)",
    )


def reference_time(meta: ImageMetadata, half_life_s: float, path=None) -> tuple[datetime, str]:
    """The time the voxel values refer to, after the QIBA rules (see module docstring)."""
    q, acq, admin = meta.quantity, meta.acquisition, meta.administration
    if q.decay_correction == "ADMIN":
        if admin.datetime is None:
            raise MissingTagError(
                "administration time missing",
                path=path,
                tag="RadiopharmaceuticalStartDateTime (0018,1078)",
                fix="give the administration time explicitly",
            )
        return admin.datetime, "DecayCorrection ADMIN: values refer to the administration time"
    if q.decay_correction == "START":
        if q.decay_reference is None:
            raise MissingTagError(
                "scan start unknown for DecayCorrection START",
                path=path,
                tag="SeriesDate/SeriesTime (0008,0021/0031)",
                fix="give the acquisition time explicitly",
            )
        return q.decay_reference, "DecayCorrection START: values refer to the scan start (QIBA)"
    if acq.start is None:
        raise MissingTagError(
            "acquisition time missing",
            path=path,
            tag="AcquisitionDateTime / AcquisitionTime (0008,002A/0032)",
            fix="give the acquisition time explicitly",
        )
    offset = frame_reference_offset_s(acq.duration_s or 0.0, half_life_s)
    return acq.start + timedelta(seconds=offset), (
        "DecayCorrection NONE: values refer to the frame reference time "
        f"(acquisition start + {offset:.1f} s)"
    )


def expected_decay_factor(meta: ImageMetadata) -> float:
    """The DecayFactor (0054,1321) a scanner should store for a decay-corrected frame:
    2^((t_frame_ref - t_reference) / T1/2), with the frame reference time computed from the
    acquisition start and duration (see :mod:`.decay`)."""
    half_life_s, _ = _half_life(meta, None)
    ref, _ = reference_time(meta, half_life_s)
    acq = meta.acquisition
    if acq.start is None:
        raise MissingTagError(
            "acquisition time missing",
            tag="AcquisitionTime (0008,0032)",
            fix="the decay factor cannot be checked without it",
        )
    frame_ref = acq.start + timedelta(
        seconds=frame_reference_offset_s(acq.duration_s or 0.0, half_life_s)
    )
    return 1.0 / decay_factor(elapsed_s(ref, frame_ref), half_life_s)


def suv_factors(meta: ImageMetadata) -> SUVFactors:
    """SUV factors for an image in Bq/mL.

    Raises:
        QuantificationError: the image is not in Bq/mL.
        MissingTagError: weight, administered activity or a needed time is missing
            (Bq/mL values stay usable; only SUV is refused).
        TimingError: the reference time is before the administration.
    """
    path = meta.source_files[0] if meta.source_files else None
    if meta.quantity.units != "Bq/mL":
        raise QuantificationError(
            f"SUV needs activity concentration in Bq/mL, the image is in {meta.quantity.units!r}",
            path=path,
            tag="Units (0054,1001)",
            fix="calibrate SPECT counts to Bq/mL first (calibration factor in cps/MBq)",
        )
    weight = meta.patient.weight_kg
    if not weight:
        raise MissingTagError(
            "patient weight missing: SUV cannot be computed (Bq/mL is fine)",
            path=path,
            tag="PatientWeight (0010,1030)",
            fix="give the weight explicitly (--weight-kg)",
        )
    admin = meta.administration
    if not admin.activity_MBq:
        raise MissingTagError(
            "administered activity missing",
            path=path,
            tag="RadionuclideTotalDose (0018,1074)",
            fix="give the activity explicitly (--activity-MBq)",
        )
    half_life_s, hl_source = _half_life(meta, path)
    ref, rule = reference_time(meta, half_life_s, path)
    activity_Bq = admin.activity_MBq * 1e6
    if meta.quantity.decay_correction != "ADMIN":
        if admin.datetime is None:
            raise MissingTagError(
                "administration (injection) time missing: SUV cannot be "
                "decay-corrected (Bq/mL is fine)",
                path=path,
                tag="RadiopharmaceuticalStartDateTime (0018,1078)",
                fix="give the administration time explicitly (--administration-datetime)",
            )
        dt = elapsed_s(admin.datetime, ref)
        if dt < -60:
            raise TimingError(
                f"image reference time {ref.isoformat()} is before the administration "
                f"{admin.datetime.isoformat()}",
                path=path,
                tag="RadiopharmaceuticalStartDateTime vs SeriesTime/AcquisitionTime",
                fix="check the times in the header",
            )
        plausibility.check_elapsed(admin.datetime, ref, half_life_s, path=path)
        activity_Bq *= decay_factor(dt, half_life_s)
    if not activity_Bq > 0 or not math.isfinite(activity_Bq):
        raise QuantificationError(
            f"the administered activity decayed to the image time is {activity_Bq:g} Bq",
            path=path,
            tag="RadionuclideTotalDose / RadiopharmaceuticalStartDateTime",
            fix="check the administered activity and the administration time",
        )
    if not weight > 0 or not math.isfinite(weight):
        raise MissingTagError(
            f"patient weight {weight} is not a usable weight",
            path=path,
            tag="PatientWeight (0010,1030)",
            fix="give the weight explicitly (--weight-kg)",
        )
    patient = meta.patient
    lbm = bsa = None
    if patient.height_m and patient.sex in ("F", "M"):
        lbm = lean_body_mass_kg(weight, patient.height_m, patient.sex)
    if patient.height_m:
        bsa = body_surface_area_m2(weight, patient.height_m)
    return SUVFactors(
        suv_bw_factor=weight * 1000.0 / activity_Bq,
        sul_factor=None if lbm is None else lbm * 1000.0 / activity_Bq,
        suv_bsa_factor=None if bsa is None else bsa * 1e4 / activity_Bq,
        decay_corrected_activity_Bq=activity_Bq,
        reference_datetime=ref,
        half_life_s=half_life_s,
        half_life_source=hl_source,
        lean_body_mass_kg=lbm,
        body_surface_area_m2=bsa,
        rule=rule,
    )
