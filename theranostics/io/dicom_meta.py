"""DICOM headers to validated :class:`~theranostics.metadata.ImageMetadata`.

The rules (which tag wins, vendor fallbacks, units) are documented in ``docs/ingest.md``;
each function here returns the value it found *and* notes on which rule fired, so the user
can see and override it. Absent optional data gives ``None`` plus a note; contradictory or
malformed data raises an :class:`~theranostics.errors.InputError` subclass.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from pydicom.dataset import Dataset

from .. import plausibility
from ..errors import InvalidTagError, NuclideError, PlausibilityError, TimingError, UnitsError
from ..metadata import (
    AcquisitionInfo,
    Administration,
    ImageMetadata,
    PatientInfo,
    QuantityInfo,
)
from ..nuclides import get_nuclide, normalise_nuclide_name
from .dicom_values import datetime_from, first_item, number, parse_da, tag_label, text

#: RadionuclideTotalDose above this value is taken as Bq, at or below as MBq. No patient
#: receives less than 0.1 MBq (1e5 Bq) or more than 100 GBq (1e5 MBq), so the ranges cannot
#: overlap for a real administration. PET IODs specify Bq; NM files often hold MBq.
ACTIVITY_BQ_THRESHOLD = 1.0e5

#: DICOM code values (CID 18 / CID 4020, SNOMED-RT "C-" codes) seen in real files, used when the
#: code meaning cannot be parsed.
NUCLIDE_CODES = {
    "C-111A1": "F-18",
    "C-163A8": "Tc-99m",
    "C-131A3": "Ga-68",
    "C-145A4": "In-111",
    "C-114B1": "I-131",
    "C-162F9": "Y-90",
}

#: DICOM Units (0054,1001) values to canonical units.
PET_UNITS = {
    "BQML": "Bq/mL",
    "CNTS": "counts",
    "GML": "SUVbw",
    "CM2ML": "SUVbsa",
    "NONE": "1",
}

#: Real World Value Mapping measurement-unit code values (UCUM) to canonical units.
RWV_UNITS = {
    "Bq/ml": "Bq/mL",
    "Bq/mL": "Bq/mL",
    "{counts}": "counts",
    "g/ml": "SUVbw",
    "1": "1",
    "{SUVbw}g/ml": "SUVbw",
    "{SUVlbm}g/ml": "SUVlbm",
}


def patient_info(ds: Dataset, path=None) -> tuple[PatientInfo, list[str]]:
    """Weight (kg), height (m) and sex, with notes on implausible values."""
    notes: list[str] = []
    weight = number(ds, "PatientWeight", path=path)
    if weight is not None and weight <= 0:
        notes.append("PatientWeight is zero or negative: ignored")
        weight = None
    elif weight is not None and weight > plausibility.WEIGHT_KG.high:
        notes.append(f"PatientWeight {weight} is implausible for kg (grams?): ignored")
        weight = None
    elif weight is not None and weight < plausibility.WEIGHT_KG.low:
        notes.append(
            f"PatientWeight {weight} kg is below any patient's weight (tonnes, or a typing "
            "error?): ignored"
        )
        weight = None
    elif weight is not None:
        notes += plausibility.check(
            weight, plausibility.WEIGHT_KG, path=path, tag=tag_label("PatientWeight")
        )
    height = number(ds, "PatientSize", path=path)
    if height is not None and height <= 0:
        notes.append("PatientSize is zero or negative: ignored")
        height = None
    elif height is not None and height > 3.0:
        if 50 <= height <= 250:
            notes.append(f"PatientSize {height} read as cm (the standard says m): {height / 100} m")
            height = height / 100.0
        else:
            notes.append(f"PatientSize {height} is implausible for m: ignored")
            height = None
    elif height is not None and height < plausibility.HEIGHT_M.low:
        notes.append(f"PatientSize {height} m is below any patient's height: ignored")
        height = None
    sex = (text(ds, "PatientSex") or "").upper()[:1] or None
    if sex not in ("F", "M"):
        sex = None
    return PatientInfo(weight_kg=weight, height_m=height, sex=sex), notes


def _nuclide_from_sequence(item: Dataset | None, path=None) -> tuple[str | None, str]:
    if item is None:
        return None, ""
    code = first_item(item, "RadionuclideCodeSequence")
    if code is not None:
        key = normalise_nuclide_name(text(code, "CodeMeaning") or "")
        by_value = NUCLIDE_CODES.get(text(code, "CodeValue") or "")
        if key and by_value and key != by_value:
            raise InvalidTagError(
                f"the nuclide code value {text(code, 'CodeValue')} means {by_value} but its "
                f"code meaning says {text(code, 'CodeMeaning')!r} ({key})",
                path=path,
                tag="RadionuclideCodeSequence (0054,0300) CodeValue vs CodeMeaning",
                fix="correct the code value or the code meaning, or give the nuclide explicitly",
            )
        if key:
            return key, "RadionuclideCodeSequence.CodeMeaning"
        key = NUCLIDE_CODES.get(text(code, "CodeValue") or "")
        if key:
            return key, "RadionuclideCodeSequence.CodeValue"
    key = normalise_nuclide_name(text(item, "Radionuclide") or "")
    if key:
        return key, "Radionuclide (0018,0030)"
    return None, ""


def _nuclide_from_half_life(half_life_s: float | None) -> str | None:
    if half_life_s is None:
        return None
    for key in (
        "F-18",
        "Ga-68",
        "Tc-99m",
        "Lu-177",
        "Y-90",
        "I-131",
        "In-111",
        "Cu-64",
        "Zr-89",
        "I-123",
        "Tb-161",
    ):
        try:
            if abs(get_nuclide(key).half_life_s / half_life_s - 1) < 0.01:
                return key
        except Exception:  # a nuclide missing from the decay data is just skipped
            continue
    return None


def administration(
    ds: Dataset,
    path=None,
    *,
    modality: str,
    scan_date: date | None,
    activity_unit: str = "auto",
) -> tuple[Administration, list[str]]:
    """Nuclide, radiopharmaceutical, administered activity (MBq) and administration time.

    ``activity_unit`` ("auto", "Bq" or "MBq") says how to read RadionuclideTotalDose; "auto"
    applies :data:`ACTIVITY_BQ_THRESHOLD` and says so in ``activity_rule``.
    """
    item = first_item(ds, "RadiopharmaceuticalInformationSequence") or Dataset()
    nuclide, nuclide_source = _nuclide_from_sequence(item, path)
    half_life_s = number(item, "RadionuclideHalfLife", path=path)
    table_s = None
    if nuclide is not None:
        try:
            table_s = get_nuclide(nuclide).half_life_s
        except NuclideError:
            table_s = None
    notes: list[str] = plausibility.check_half_life(half_life_s, nuclide, table_s, path=path)
    if nuclide is None:
        window = first_item(ds, "EnergyWindowInformationSequence")
        key = normalise_nuclide_name(text(window, "EnergyWindowName") or "") if window else None
        if key:
            nuclide, nuclide_source = key, "EnergyWindowName"
    if nuclide is None and (key := _nuclide_from_half_life(half_life_s)):
        nuclide, nuclide_source = key, "RadionuclideHalfLife (matched to ICRP 107 within 1 %)"
    if nuclide is None:
        notes.append(
            "nuclide not found (RadionuclideCodeSequence, Radionuclide, "
            "EnergyWindowName, RadionuclideHalfLife all absent or unknown)"
        )
    elif nuclide_source != "RadionuclideCodeSequence.CodeMeaning":
        notes.append(f"nuclide {nuclide} taken from {nuclide_source}")

    activity_MBq, rule = _activity_MBq(item, path, modality, activity_unit, notes)

    given, source = datetime_from(
        item,
        "RadiopharmaceuticalStartDateTime",
        None,
        "RadiopharmaceuticalStartTime",
        path=path,
        fallback_date=scan_date,
    )
    if given is None:
        notes.append(
            "administration time missing (RadiopharmaceuticalStartDateTime/"
            "RadiopharmaceuticalStartTime)"
        )
    elif source.startswith("RadiopharmaceuticalStartTime"):
        notes.append(
            "administration date taken from the series date (only "
            "RadiopharmaceuticalStartTime present)"
        )
    return (
        Administration(
            nuclide=nuclide,
            radiopharmaceutical=text(item, "Radiopharmaceutical"),
            activity_MBq=activity_MBq,
            datetime=given,
            activity_rule=rule,
            half_life_s=half_life_s,
        ),
        notes,
    )


def _activity_MBq(
    item: Dataset, path, modality: str, activity_unit: str, notes: list[str]
) -> tuple[float | None, str]:
    value = number(item, "RadionuclideTotalDose", path=path)
    if value is None:
        notes.append("administered activity missing (RadionuclideTotalDose)")
        return None, ""
    if value <= 0:
        raise InvalidTagError(
            f"administered activity {value} is not positive",
            path=path,
            tag=tag_label("RadionuclideTotalDose"),
            fix="correct the tag or give the activity explicitly",
        )
    if activity_unit == "Bq":
        _check_activity(value / 1e6, "read as Bq (user override)", path, notes)
        return value / 1e6, "RadionuclideTotalDose read as Bq (user override)"
    if activity_unit == "MBq":
        _check_activity(value, "read as MBq (user override)", path, notes)
        return value, "RadionuclideTotalDose read as MBq (user override)"
    if activity_unit != "auto":
        raise ValueError(f"activity_unit must be 'auto', 'Bq' or 'MBq', not {activity_unit!r}")
    if value > ACTIVITY_BQ_THRESHOLD:
        rule = f"RadionuclideTotalDose {value:g} > 1e5 read as Bq"
        _check_activity(value / 1e6, rule, path, notes)
        return value / 1e6, rule
    rule = f"RadionuclideTotalDose {value:g} <= 1e5 read as MBq"
    _check_activity(value, rule, path, notes)
    if modality == "PT":
        notes.append(
            f"PET file stores RadionuclideTotalDose {value:g}, which only makes sense "
            "in MBq although PET specifies Bq; read as MBq"
        )
    return value, rule


def _check_activity(activity_MBq: float, rule: str, path, notes: list[str]) -> None:
    try:
        notes += plausibility.check(
            activity_MBq,
            plausibility.ACTIVITY_MBQ,
            path=path,
            tag=tag_label("RadionuclideTotalDose"),
        )
    except PlausibilityError as exc:
        raise PlausibilityError(
            f"{exc.message} ({rule})",
            path=path,
            tag=exc.tag,
            fix="correct the tag, or give the unit (--activity-unit Bq|MBq) or the activity "
            "explicitly",
        ) from None


def _series_and_acquisition_times(headers: Sequence[Dataset], path):
    """Series datetime and the earliest acquisition datetime over all files of the series."""
    first = headers[0]
    series_dt, _ = datetime_from(
        first, None, "SeriesDate", "SeriesTime", path=path, fallback_date=_scan_date(first, path)
    )
    best, best_source = None, ""
    for ds in headers:
        fallback = _scan_date(ds, path)
        value, source = datetime_from(
            ds,
            "AcquisitionDateTime",
            "AcquisitionDate",
            "AcquisitionTime",
            path=path,
            fallback_date=fallback,
        )
        if value is None:
            value, source = _per_frame_time(ds, path)
        if value is not None and (best is None or value < best):
            best, best_source = value, source
    return series_dt, best, best_source


def _per_frame_time(ds: Dataset, path) -> tuple[datetime | None, str]:
    seq = ds.get("PerFrameFunctionalGroupsSequence")
    if not seq:
        return None, ""
    times = []
    for frame in seq:
        content = first_item(frame, "FrameContentSequence")
        if content is not None:
            value, _ = datetime_from(content, "FrameAcquisitionDateTime", None, None, path=path)
            if value is not None:
                times.append(value)
    return (min(times), "FrameContentSequence.FrameAcquisitionDateTime") if times else (None, "")


def _scan_date(ds: Dataset, path) -> date | None:
    for keyword in ("AcquisitionDate", "SeriesDate", "StudyDate", "ContentDate"):
        if value := text(ds, keyword):
            return parse_da(value, path=path, keyword=keyword)
    return None


def scan_date(ds: Dataset, path=None) -> date | None:
    """The calendar date of the scan (AcquisitionDate, else SeriesDate, StudyDate ...)."""
    return _scan_date(ds, path)


def acquisition(
    headers: Sequence[Dataset], path=None, *, modality: str
) -> tuple[AcquisitionInfo, datetime | None, list[str]]:
    """Acquisition start and duration (s), plus the series datetime for decay rules."""
    notes: list[str] = []
    series_dt, start, source = _series_and_acquisition_times(headers, path)
    if start is None and series_dt is not None:
        start, source = series_dt, "SeriesDate+SeriesTime (no acquisition time found)"
        notes.append("acquisition start taken from SeriesDate/SeriesTime")
    elif start is None:
        notes.append(
            "acquisition start missing (AcquisitionDateTime, AcquisitionDate/Time, "
            "per-frame times, SeriesDate/Time)"
        )
    duration_s, duration_source = _duration_s(headers[0], path, modality)
    if duration_s is not None and modality in ("NM", "PT"):
        notes += plausibility.check(
            duration_s,
            plausibility.DURATION_S,
            path=path,
            tag=duration_source,
            fix="correct the frame duration (ms) or the number of frames",
        )
    if duration_s is None and modality in ("NM", "PT"):
        notes.append(
            "acquisition duration missing (ActualFrameDuration, RotationInformationSequence)"
        )
    return (
        AcquisitionInfo(
            start=start, duration_s=duration_s, start_source=source, duration_source=duration_source
        ),
        series_dt,
        notes,
    )


def _duration_s(ds: Dataset, path, modality: str) -> tuple[float | None, str]:
    rotations = ds.get("RotationInformationSequence")
    if modality == "NM" and rotations:
        total_ms, used = 0.0, False
        for rot in rotations:
            per_frame_ms = number(rot, "ActualFrameDuration", path=path)
            if per_frame_ms is None:
                per_frame_ms = number(ds, "ActualFrameDuration", path=path)
            frames = number(rot, "NumberOfFramesInRotation", path=path)
            if per_frame_ms is not None and frames is not None:
                total_ms += per_frame_ms * frames
                used = True
        if used:
            return total_ms / 1000.0, (
                "RotationInformationSequence: ActualFrameDuration x NumberOfFramesInRotation"
            )
    value = number(ds, "ActualFrameDuration", path=path)
    if value is not None:
        return value / 1000.0, "ActualFrameDuration"
    seq = ds.get("PerFrameFunctionalGroupsSequence")
    if seq:
        content = first_item(seq[0], "FrameContentSequence")
        if content is not None and (v := number(content, "FrameAcquisitionDuration", path=path)):
            return v / 1000.0, "FrameContentSequence.FrameAcquisitionDuration"
    return None, ""


def quantity(
    ds: Dataset,
    path=None,
    *,
    modality: str,
    series_dt: datetime | None,
    acquisition_start: datetime | None,
    administration_dt: datetime | None,
) -> tuple[QuantityInfo, list[str]]:
    """Pixel units and decay-correction state.

    Raises:
        UnitsError: a Units (0054,1001) value this project does not know.
    """
    notes: list[str] = []
    if modality == "CT":
        return QuantityInfo(units="HU", units_source="CT modality (rescaled)"), notes
    units, source = None, ""
    rwvm = first_item(ds, "RealWorldValueMappingSequence")
    if rwvm is not None:
        code = first_item(rwvm, "MeasurementUnitsCodeSequence")
        value = text(code, "CodeValue") if code is not None else None
        if value in RWV_UNITS:
            units, source = RWV_UNITS[value], "RealWorldValueMappingSequence"
    if units is None:
        raw_units = text(ds, "Units")
        if raw_units is not None:
            if raw_units.upper() not in PET_UNITS:
                raise UnitsError(
                    f"pixel units {raw_units!r} are not supported",
                    path=path,
                    tag=tag_label("Units"),
                    fix="supported: " + ", ".join(PET_UNITS) + "; convert the series or "
                    "give the units explicitly (units=... / --units)",
                )
            units, source = PET_UNITS[raw_units.upper()], "Units (0054,1001)"
        elif modality == "NM":
            units, source = "counts", "NM without Units: reconstructed counts"
        else:
            units, source = "1", "no Units tag"
            notes.append("pixel units unknown (no Units tag)")

    correction = (text(ds, "DecayCorrection") or "").upper() or None
    corrected_image = [str(v).upper() for v in (ds.get("CorrectedImage") or [])]
    if correction is None:
        if "DECY" in corrected_image:
            correction = "START"
            notes.append("CorrectedImage has DECY but DecayCorrection is absent: assumed START")
        else:
            correction = "NONE"
    if correction not in ("START", "ADMIN", "NONE"):
        raise InvalidTagError(
            f"DecayCorrection {correction!r} is not START, ADMIN or NONE",
            path=path,
            tag=tag_label("DecayCorrection"),
            fix="correct the tag",
        )
    reference = None
    if correction == "ADMIN":
        reference = administration_dt
    elif correction == "START":
        reference, rule = start_reference_time(ds, series_dt, acquisition_start)
        if rule:
            notes.append(rule)
    return (
        QuantityInfo(
            units=units,
            decay_correction=correction,
            decay_reference=reference,
            decay_factor=number(ds, "DecayFactor", path=path),
            units_source=source,
        ),
        notes,
    )


def start_reference_time(
    ds: Dataset, series_dt: datetime | None, acquisition_start: datetime | None
) -> tuple[datetime | None, str]:
    """The time START-decay-corrected values refer to, after the QIBA rule.

    QIBA FDG-PET/CT profile (SUV calculation, vendor-neutral pseudo-code): the series
    datetime is the scan start unless it is later than the earliest acquisition datetime
    (series re-created by post-processing); then GE's private scan datetime (0009,100D) if
    present, else the earliest acquisition datetime.
    """
    if series_dt is not None and (acquisition_start is None or series_dt <= acquisition_start):
        return series_dt, ""
    ge_private = ds.get((0x0009, 0x100D))
    if ge_private is not None and ge_private.value:
        try:
            from .dicom_values import parse_dt

            return parse_dt(str(ge_private.value), keyword="GE private (0009,100D)"), (
                "series time after acquisition time: decay reference from GE private (0009,100D)"
            )
        except InvalidTagError:
            pass
    if acquisition_start is not None:
        return acquisition_start, (
            "series time missing or after acquisition time: decay reference = earliest "
            "acquisition time (QIBA)"
        )
    return None, "decay reference time unknown"


def image_metadata(
    headers: Sequence[Dataset],
    files: Sequence[str],
    *,
    modality: str,
    activity_unit: str = "auto",
    extra_problems: Sequence[str] = (),
) -> ImageMetadata:
    """All metadata of one series, validated; raises on impossible timing.

    Raises:
        TimingError: acquisition before administration.
    """
    first, path = headers[0], files[0]
    patient, p_notes = patient_info(first, path)
    acq, series_dt, a_notes = acquisition(headers, path, modality=modality)
    admin, d_notes = (
        administration(
            first,
            path,
            modality=modality,
            scan_date=_scan_date(first, path),
            activity_unit=activity_unit,
        )
        if modality in ("NM", "PT")
        else (Administration(), [])
    )
    # One minute of slack: clocks of injection room and scanner are not synchronised.
    if (
        admin.datetime is not None
        and acq.start is not None
        and acq.start < admin.datetime - timedelta(minutes=1)
    ):
        raise TimingError(
            f"acquisition start {acq.start.isoformat()} is before the administration "
            f"{admin.datetime.isoformat()}",
            path=path,
            tag=f"{acq.start_source} vs RadiopharmaceuticalStartDateTime (0018,1078)",
            fix="check both times (date, clock, time zone); correct the header or give the "
            "administration time explicitly",
        )
    qty, q_notes = quantity(
        first,
        path,
        modality=modality,
        series_dt=series_dt,
        acquisition_start=acq.start,
        administration_dt=admin.datetime,
    )
    if modality == "PT" and admin.nuclide and admin.nuclide not in POSITRON_EMITTERS:
        q_notes.append(f"SPECT stored as PT: {admin.nuclide} is not a positron emitter")
    if modality in ("NM", "PT"):
        q_notes += _study_consistency(first, path, modality, admin, acq, qty)
    for stored_modality in sorted({text(h, "Modality") or "" for h in headers}):
        if stored_modality != modality:
            q_notes.append(
                f"Modality (0008,0060) is {stored_modality!r} in some files but the SOP "
                f"class is {modality}: read as {modality}"
            )
    if not text(first, "FrameOfReferenceUID") and modality in ("NM", "PT", "CT"):
        q_notes.append(
            "no FrameOfReferenceUID (0020,0052): the image cannot be matched to other "
            "series without registration"
        )
    return ImageMetadata(
        modality=modality,
        series_instance_uid=text(first, "SeriesInstanceUID"),
        series_description=text(first, "SeriesDescription") or "",
        frame_of_reference_uid=text(first, "FrameOfReferenceUID"),
        manufacturer=text(first, "Manufacturer") or "",
        patient=patient,
        administration=admin,
        acquisition=acq,
        quantity=qty,
        source_files=tuple(str(f) for f in files),
        problems=tuple([*extra_problems, *p_notes, *a_notes, *d_notes, *q_notes]),
    )


def _half_life_of(admin: Administration) -> float | None:
    if admin.half_life_s:
        return admin.half_life_s
    if admin.nuclide:
        try:
            return get_nuclide(admin.nuclide).half_life_s
        except NuclideError:
            return None
    return None


def _study_consistency(ds, path, modality, admin, acq, qty) -> list[str]:
    """Times against the half-life, DecayFactor against the timing, energy window against
    the nuclide (rules in :mod:`theranostics.plausibility`)."""
    notes: list[str] = []
    half_life_s = _half_life_of(admin)
    notes += plausibility.check_elapsed(admin.datetime, acq.start, half_life_s, path=path)
    if qty.decay_factor is not None:
        notes += plausibility.check(
            qty.decay_factor, plausibility.DECAY_FACTOR, path=path, tag=tag_label("DecayFactor")
        )
        if half_life_s and qty.decay_correction in ("START", "ADMIN"):
            ref = qty.decay_reference
            if ref is not None and acq.start is not None:
                from ..quant.decay import frame_reference_offset_s

                frame_ref_s = (acq.start - ref).total_seconds() + frame_reference_offset_s(
                    acq.duration_s or 0.0, half_life_s
                )
                expected = 2.0 ** (frame_ref_s / half_life_s)
                if abs(qty.decay_factor / expected - 1.0) > 0.05:
                    notes.append(
                        f"DecayFactor {qty.decay_factor:g} disagrees with the timing "
                        f"(expected {expected:.5g} from the decay reference time, the frame "
                        "start and duration): check DecayFactor (0054,1321) and the times"
                    )
    notes += _energy_window_notes(ds, path, admin.nuclide)
    return notes


def _energy_window_notes(ds, path, nuclide: str | None) -> list[str]:
    """Energy window limits must be ordered and in the camera's range (errors); when no
    window holds a photon line of the nuclide, a problem (scatter windows hold none, so the
    photopeak window may be any of them)."""
    windows = []
    for w_index, window in enumerate(ds.get("EnergyWindowInformationSequence") or []):
        for rng in window.get("EnergyWindowRangeSequence") or []:
            lower = number(rng, "EnergyWindowLowerLimit", path=path)
            upper = number(rng, "EnergyWindowUpperLimit", path=path)
            if lower is None or upper is None:
                continue
            tag = "EnergyWindowRangeSequence (0054,0013) Lower/UpperLimit"
            for value in (lower, upper):
                plausibility.check(value, plausibility.ENERGY_KEV, path=path, tag=tag)
            if lower >= upper:
                raise PlausibilityError(
                    f"energy window {w_index + 1}: lower limit {lower:g} keV is not below the "
                    f"upper limit {upper:g} keV",
                    path=path,
                    tag=tag,
                    fix="correct the window limits",
                )
            windows.append((lower, upper))
    if not windows or not nuclide:
        return []
    # The nuclide's own lines first: they settle almost every study (99mTc, 177Lu, 111In,
    # 131I) without loading the decay-chain library (radioactivedecay, ~1.5 s to import);
    # the progeny's lines are looked up only when none of the own lines is in a window
    # (e.g. 225Ac imaged on the 218 keV line of 221Fr).
    for include_progeny in (False, True):
        lines = _photon_lines_keV(nuclide, include_progeny=include_progeny)
        if lines is None or any(lo <= e <= hi for lo, hi in windows for e in lines):
            return []
    shown = ", ".join(f"{lo:g}-{hi:g}" for lo, hi in windows)
    return [
        f"no energy window ({shown} keV) holds a photon line of {nuclide} (yield >= 1 %): "
        "wrong nuclide or window? check EnergyWindowInformationSequence and "
        "RadionuclideCodeSequence"
    ]


def _photon_lines_keV(nuclide: str, *, include_progeny: bool) -> list[float] | None:
    """Photon energies (keV) of yield >= 1 % per decay, or None when the nuclide is unknown."""
    try:
        from ..nuclide_data.emissions import get_emissions

        photons = get_emissions(nuclide, include_progeny=include_progeny).photon_lines
    except (NuclideError, OSError, KeyError, ValueError):
        return None
    return [float(e) * 1000.0 for e, y in photons if y >= 0.01]


#: Nuclides imaged by PET (a PT series with another nuclide is a SPECT stored as PT).
POSITRON_EMITTERS = frozenset(
    {
        "F-18",
        "Ga-68",
        "Cu-64",
        "Zr-89",
        "C-11",
        "N-13",
        "O-15",
        "Rb-82",
        "Y-86",
        "I-124",
        "Sc-44",
        "Y-90",
    }
)
