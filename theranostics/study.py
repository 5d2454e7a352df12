"""A post-therapy SPECT/CT study: its time points loaded quantitatively, then registered.

:func:`load_spect_study` finds every NM reconstruction under a folder, pairs it with the CT
of the same session (same FrameOfReferenceUID: SPECT and CT share the scanner frame),
converts counts to Bq/mL at the acquisition start, checks that every time point belongs to
one patient and one administration, and sorts the time points by hours after administration.
:func:`register_study` registers every session's CT to the reference session's CT and
brings each SPECT onto the reference SPECT grid through its own CT's transform.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import SimpleITK as sitk

from .errors import InputError, MixedSeriesError, TimingError
from .image import QuantitativeImage
from .io.reader import load_series
from .io.scan import scan_directory
from .metadata import Administration, PatientInfo
from .progress import ProgressCallback, report, scaled
from .quant.spect import counts_to_activity_concentration


@dataclass(frozen=True)
class TimePoint:
    """One SPECT/CT session: CT (HU) and SPECT (Bq/mL at the acquisition start)."""

    name: str
    time_h: float
    ct: QuantitativeImage
    spect: QuantitativeImage
    acquisition_start: datetime
    duration_s: float | None


@dataclass(frozen=True)
class SpectStudy:
    """The time points of one therapy cycle, in time order, and what they share."""

    time_points: tuple[TimePoint, ...]
    administration: Administration
    patient: PatientInfo
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegisteredStudy:
    """Every SPECT (Bq/mL) on the reference grid, with the CT registrations that took it
    there (``None`` for the reference session)."""

    study: SpectStudy
    reference_index: int
    reference_ct: QuantitativeImage
    spect_on_reference: tuple[sitk.Image, ...]
    registrations: tuple = ()
    times_h: tuple[float, ...] = field(default=())


def _session_name(meta, index: int) -> str:
    return meta.series_description or f"time point {index + 1}"


def load_spect_study(
    study_dir: str | Path,
    *,
    calibration_cps_per_MBq: float | None,
    progress: ProgressCallback | None = None,
) -> SpectStudy:
    """Load every SPECT/CT session under ``study_dir`` (see the module docstring).

    Args:
        study_dir: folder holding the sessions' DICOM files (any layout).
        calibration_cps_per_MBq: SPECT calibration factor for count images; ``None`` only
            when every SPECT is already in Bq/mL.
        progress: callback(fraction, message).

    Raises:
        InputError: no SPECT in the folder; a SPECT without a CT of its frame of reference.
        MixedSeriesError: two CTs share one SPECT's frame of reference.
        TimingError: contradictory administrations, duplicate times, a time point before
            the administration.
    """
    scan = scan_directory(study_dir, progress=scaled(progress, 0.0, 0.2))
    spects = scan.by_kind("NM")
    if not spects:
        raise InputError(
            "no NM (SPECT) series found", path=study_dir, fix="point to the study folder"
        )
    cts: dict[str, list] = {}
    for record in scan.by_kind("CT"):
        cts.setdefault(str(record.headers[0].get("FrameOfReferenceUID", "")), []).append(record)
    problems = [f"{len(scan.by_kind('PT'))} PET series ignored"] if scan.by_kind("PT") else []
    loaded = []
    for index, record in enumerate(spects):
        report(progress, 0.2 + 0.7 * index / len(spects), f"loading SPECT/CT {index + 1}")
        frame = str(record.headers[0].get("FrameOfReferenceUID", ""))
        matches = cts.get(frame, [])
        if not matches:
            raise InputError(
                "this SPECT has no CT with its frame of reference",
                path=record.files[0],
                tag="FrameOfReferenceUID (0020,0052)",
                fix="add the CT of the same SPECT/CT session to the folder",
            )
        if len(matches) > 1:
            raise MixedSeriesError(
                f"{len(matches)} CT series share this SPECT's frame of reference",
                path=record.files[0],
                tag="FrameOfReferenceUID (0020,0052)",
                fix="keep one CT per session in the folder",
            )
        spect = load_series(record)
        if spect.meta.quantity.units == "counts":
            spect = counts_to_activity_concentration(spect, calibration_cps_per_MBq)
        loaded.append((spect, load_series(matches[0])))
    first = loaded[0][0].meta
    for spect, _ in loaded[1:]:
        _check_same_administration(first, spect.meta)
    admin = first.administration
    if admin.datetime is None:
        raise TimingError(
            "the administration time is unknown",
            path=first.source_files[0] if first.source_files else study_dir,
            tag="RadiopharmaceuticalStartDateTime (0018,1078)",
            fix="give the administration date and time (sidecar or DICOM)",
        )
    points = []
    for index, (spect, ct) in enumerate(loaded):
        start = spect.meta.acquisition.start
        hours = (start - admin.datetime).total_seconds() / 3600.0
        if hours < 0:
            raise TimingError(
                f"acquisition {hours:.2f} h before the administration",
                path=spect.meta.source_files[0],
                tag="AcquisitionDateTime (0008,002A)",
                fix="check the acquisition and administration times",
            )
        name = _session_name(spect.meta, index)
        points.append(TimePoint(name, hours, ct, spect, start, spect.meta.acquisition.duration_s))
    points.sort(key=lambda p: p.time_h)
    times = [p.time_h for p in points]
    if len(set(times)) != len(times):
        raise TimingError(
            f"two SPECTs share one acquisition time: {times} h",
            path=study_dir,
            tag="AcquisitionDateTime (0008,002A)",
            fix="remove the duplicate reconstruction",
        )
    report(progress, 1.0, f"{len(points)} time points")
    return SpectStudy(tuple(points), admin, first.patient, tuple(problems))


def _check_same_administration(a, b) -> None:
    x, y = a.administration, b.administration
    same = (
        x.nuclide == y.nuclide
        and x.datetime == y.datetime
        and (
            x.activity_MBq is None
            or y.activity_MBq is None
            or abs(x.activity_MBq - y.activity_MBq) <= 1e-6 * max(x.activity_MBq, 1.0)
        )
    )
    if not same:
        raise TimingError(
            f"time points disagree on the administration: {x.nuclide} {x.activity_MBq} MBq at "
            f"{x.datetime} vs {y.nuclide} {y.activity_MBq} MBq at {y.datetime}",
            path=f"{a.source_files[0] if a.source_files else '?'} and "
            f"{b.source_files[0] if b.source_files else '?'}",
            tag="RadiopharmaceuticalInformationSequence (0054,0016)",
            fix="keep the sessions of one therapy cycle in the folder",
        )


def register_study(
    study: SpectStudy,
    *,
    reference_index: int = 0,
    deformable: bool = False,
    progress: ProgressCallback | None = None,
) -> RegisteredStudy:
    """Register every session's CT to the reference CT and resample each SPECT onto the
    reference SPECT grid through its CT's transform (activity-conserving resampling)."""
    from .registration.ct import register_ct
    from .registration.resample import resample_activity

    points = study.time_points
    if not 0 <= reference_index < len(points):
        raise InputError(
            f"reference index {reference_index} outside 0..{len(points) - 1}",
            tag="reference_index",
        )
    ref = points[reference_index]
    grid = ref.spect.image
    images, registrations = [], []
    for index, tp in enumerate(points):
        part = scaled(progress, index / len(points), (index + 1) / len(points))
        if index == reference_index:
            registrations.append(None)
            transform = sitk.Transform()
        else:
            reg = register_ct(ref.ct, tp.ct, deformable=deformable, progress=part)
            registrations.append(reg)
            transform = reg.transform
        images.append(resample_activity(tp.spect, grid, transform).image)
    report(progress, 1.0, "time points registered")
    return RegisteredStudy(
        study=study,
        reference_index=reference_index,
        reference_ct=ref.ct,
        spect_on_reference=tuple(images),
        registrations=tuple(registrations),
        times_h=tuple(tp.time_h for tp in points),
    )
