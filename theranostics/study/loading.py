"""Load a multi-time-point SPECT/CT study from a folder of DICOM files.

Rules (``docs/registration.md``, "Study loading"):

* every NM series (a SPECT reconstruction) is one time point; it is paired with the CT that
  shares its FrameOfReferenceUID (one SPECT/CT session = one scanner frame). A SPECT with no
  such CT, or with several, is an error naming the series;
* PET series, and CTs that belong to no SPECT (e.g. of a planning PET/CT), are ignored and
  listed in :attr:`SpectStudy.problems`;
* all SPECT and CT series must name one patient (PatientID, PatientName), all SPECTs one
  administration (nuclide, activity, date and time): a contradiction is an error naming both
  files;
* counts become Bq/mL at the acquisition start (system calibration in cps/MBq); images
  already in Bq/mL are only re-referenced to their acquisition start;
* time points are sorted by time after administration (hours); two at the same time
  (within one minute) or one before the administration are refused (:class:`TimingError`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..errors import GeometryError, InputError, InvalidTagError, MissingTagError, TimingError
from ..image import QuantitativeImage
from ..io.dicom_meta import image_metadata
from ..io.reader import load_series
from ..io.scan import SeriesRecord, scan_directory
from ..metadata import Administration, PatientInfo
from ..progress import ProgressCallback, report, scaled
from ..quant.spect import counts_to_activity_concentration

#: Two time points closer than this (hours) are the same acquisition twice.
DUPLICATE_TOLERANCE_H = 1.0 / 60.0
#: Administered activities agreeing to this relative tolerance are the same administration.
ACTIVITY_RTOL = 1e-3


@dataclass(frozen=True)
class TimePoint:
    """One SPECT/CT session.

    Attributes:
        name: short label, e.g. ``"24h"`` (time after administration, rounded).
        time_h: acquisition start, hours after administration (``None`` only for a
            single-time-point study without an administration time).
        ct: the session's CT (HU), LPS.
        spect: activity concentration (Bq/mL) decay-corrected to the acquisition start,
            in the same scanner frame as ``ct``.
        acquisition_start: SPECT acquisition start.
        duration_s: SPECT acquisition duration (s).
    """

    name: str
    time_h: float | None
    ct: QuantitativeImage
    spect: QuantitativeImage
    acquisition_start: datetime | None
    duration_s: float | None


@dataclass(frozen=True)
class SpectStudy:
    """Time points of one patient and one administration, sorted by time.

    Attributes:
        time_points: the sessions, earliest first.
        administration: nuclide, radiopharmaceutical, activity (MBq) and date-time.
        patient: body measures; ``patient_id`` and ``patient_name`` from the headers.
        problems: non-fatal findings (ignored series, missing times, notes of the readers).
        root: the folder that was loaded.
        calibration_cps_per_MBq: the calibration applied to images in counts.
    """

    time_points: tuple[TimePoint, ...]
    administration: Administration
    patient: PatientInfo
    patient_id: str = ""
    patient_name: str = ""
    problems: tuple[str, ...] = ()
    root: str = ""
    calibration_cps_per_MBq: float | None = None

    @property
    def times_h(self) -> list[float | None]:
        """Times after administration (h) of the time points."""
        return [tp.time_h for tp in self.time_points]


def _uid(record: SeriesRecord) -> str:
    return str(record.headers[0].get("FrameOfReferenceUID", "") or "")


def _label(record: SeriesRecord) -> str:
    return f"{record.kind} series '{record.description}' ({record.files[0]})"


def _pair_sessions(scan, problems: list[str]) -> list[tuple[SeriesRecord, SeriesRecord]]:
    """(NM, CT) pairs sharing a FrameOfReferenceUID; notes on everything left out."""
    nms, cts = scan.by_kind("NM"), scan.by_kind("CT")
    if not nms:
        found = ", ".join(sorted({s.kind for s in scan.series})) or "none"
        raise InputError(
            f"no SPECT (NM) series found (series found: {found})",
            path=scan.root,
            tag="SOPClassUID (0008,0016)",
            fix="point to a folder holding the SPECT/CT sessions of the study",
        )
    pairs, used = [], set()
    for nm in nms:
        frame = _uid(nm)
        if not frame:
            raise MissingTagError(
                f"{_label(nm)} has no FrameOfReferenceUID: its CT cannot be identified",
                path=nm.files[0],
                tag="FrameOfReferenceUID (0020,0052)",
                fix="export the SPECT with its frame of reference",
            )
        matches = [ct for ct in cts if _uid(ct) == frame]
        if not matches:
            raise GeometryError(
                f"{_label(nm)} has no CT sharing its FrameOfReferenceUID {frame}",
                path=nm.files[0],
                tag="FrameOfReferenceUID (0020,0052)",
                fix="add the CT of this SPECT/CT session to the folder",
            )
        if len(matches) > 1:
            listing = "; ".join(_label(ct) for ct in matches)
            raise InputError(
                f"{_label(nm)} shares its FrameOfReferenceUID with {len(matches)} CT series "
                f"({listing}); which one belongs to it is ambiguous",
                path=nm.files[0],
                tag="FrameOfReferenceUID (0020,0052)",
                fix="keep one CT per SPECT/CT session in the folder (move the other out)",
            )
        pairs.append((nm, matches[0]))
        used.add(id(matches[0]))
    for record in scan.series:
        if record.kind in ("PT", "PT-ENHANCED"):
            problems.append(f"ignored PET {_label(record)}: not part of the SPECT study")
        elif record.kind == "CT" and id(record) not in used:
            problems.append(f"ignored {_label(record)}: it belongs to no SPECT")
        elif record.kind not in ("NM", "CT"):
            problems.append(f"ignored {_label(record)}")
    if scan.skipped:
        problems.append(f"{len(scan.skipped)} files skipped (not DICOM or unreadable)")
    return pairs


def _patient_key(record: SeriesRecord) -> tuple[str, str]:
    ds = record.headers[0]
    return str(ds.get("PatientID", "") or ""), str(ds.get("PatientName", "") or "")


def _check_same_patient(pairs) -> tuple[str, str]:
    first = pairs[0][0]
    key = _patient_key(first)
    for nm, ct in pairs:
        for record in (nm, ct):
            other = _patient_key(record)
            if other != key:
                raise InvalidTagError(
                    f"two patients in one study: {first.files[0]} has PatientID/Name {key}, "
                    f"{record.files[0]} has {other}",
                    path=record.files[0],
                    tag="PatientID (0010,0020) / PatientName (0010,0010)",
                    fix="load the sessions of one patient only",
                )
    return key


def _check_same_administration(metas) -> None:
    (first_nm, first), rest = metas[0], metas[1:]
    a = first.administration
    for record, meta in rest:
        b = meta.administration
        clash = None
        if a.nuclide and b.nuclide and a.nuclide != b.nuclide:
            clash = ("nuclide", a.nuclide, b.nuclide, "RadionuclideCodeSequence (0054,0300)")
        elif (
            a.activity_MBq
            and b.activity_MBq
            and not math.isclose(a.activity_MBq, b.activity_MBq, rel_tol=ACTIVITY_RTOL)
        ):
            clash = ("administered activity (MBq)", a.activity_MBq, b.activity_MBq,
                     "RadionuclideTotalDose (0018,1074)")  # fmt: skip
        elif a.datetime and b.datetime and a.datetime != b.datetime:
            clash = ("administration time", a.datetime.isoformat(), b.datetime.isoformat(),
                     "RadiopharmaceuticalStartDateTime (0018,1078)")  # fmt: skip
        if clash:
            what, va, vb, tag = clash
            raise InvalidTagError(
                f"two administrations in one study: {what} {va} in {first_nm.files[0]} but "
                f"{vb} in {record.files[0]}",
                path=record.files[0],
                tag=tag,
                fix="load the sessions of one therapy cycle only, or correct the header",
            )


def load_spect_study(
    study_dir: str | Path,
    *,
    calibration_cps_per_MBq: float | None,
    administration_datetime: datetime | None = None,
    progress: ProgressCallback | None = None,
) -> SpectStudy:
    """Load every SPECT/CT session under ``study_dir`` as a time point.

    Args:
        study_dir: folder (searched recursively) holding the DICOM files.
        calibration_cps_per_MBq: SPECT system calibration (cps/MBq) for images in counts;
            ``None`` is allowed when every SPECT is already in Bq/mL.
        administration_datetime: administration start, when the headers lack it (or to
            override it; a note says so).
        progress: optional ``progress(fraction, message)``.

    Returns:
        :class:`SpectStudy` with time points sorted by time after administration.

    Raises:
        InputError: no SPECT found, a SPECT without a CT, an ambiguous CT;
        InvalidTagError: two patients or two administrations;
        TimingError: duplicate times, a time before administration, several time points
        without an administration time; errors of the readers and of the calibration.
    """
    problems: list[str] = []
    scan = scan_directory(study_dir, progress=scaled(progress, 0.0, 0.15))
    pairs = _pair_sessions(scan, problems)
    patient_id, patient_name = _check_same_patient(pairs)
    # Header-level checks first (cheap); pixel data is read only for a consistent study.
    metas = [(nm, image_metadata(nm.headers, nm.files, modality="NM")) for nm, _ in pairs]
    _check_same_administration(metas)
    admin = metas[0][1].administration
    if administration_datetime is not None:
        if admin.datetime is not None and admin.datetime != administration_datetime:
            problems.append(
                f"administration time {admin.datetime.isoformat()} of the headers replaced by "
                f"{administration_datetime.isoformat()} (given)"
            )
        admin = Administration(**{**admin.__dict__, "datetime": administration_datetime})
    if admin.datetime is None:
        if len(pairs) > 1:
            raise TimingError(
                "the administration time is missing, so the time points cannot be placed "
                "on a time axis",
                path=pairs[0][0].files[0],
                tag="RadiopharmaceuticalStartDateTime (0018,1078)",
                fix="give administration_datetime (CLI: --administration-datetime)",
            )
        problems.append("administration time unknown: time after administration not computed")

    entries = []
    for n, ((nm, ct), (_, meta)) in enumerate(zip(pairs, metas)):
        step = scaled(progress, 0.15 + 0.85 * n / len(pairs), 0.15 + 0.85 * (n + 1) / len(pairs))
        start = meta.acquisition.start
        time_h = None
        if admin.datetime is not None and start is not None:
            time_h = (start - admin.datetime).total_seconds() / 3600.0
            if time_h < 0:
                raise TimingError(
                    f"SPECT acquired {-time_h:.2f} h before the administration "
                    f"({start.isoformat()} < {admin.datetime.isoformat()})",
                    path=nm.files[0],
                    tag="AcquisitionDateTime (0008,002A)",
                    fix="check the acquisition and administration times",
                )
        entries.append((time_h, nm, ct, step))
    entries.sort(key=lambda e: (e[0] is None, e[0] if e[0] is not None else 0.0))
    for (t_a, nm_a, _, _), (t_b, nm_b, _, _) in itertools.pairwise(entries):
        if t_a is not None and t_b is not None and t_b - t_a < DUPLICATE_TOLERANCE_H:
            raise TimingError(
                f"two SPECTs at the same time after administration ({t_a:.3f} h and "
                f"{t_b:.3f} h): {nm_a.files[0]} and {nm_b.files[0]}",
                path=nm_b.files[0],
                tag="AcquisitionDateTime (0008,002A)",
                fix="keep one reconstruction per session in the folder",
            )
    time_points = []
    for index, (time_h, nm, ct, step) in enumerate(entries):
        report(step, 0.0, f"loading SPECT/CT {index + 1}/{len(entries)}")
        spect = _activity(load_series(nm), admin, calibration_cps_per_MBq, problems)
        report(step, 0.5, f"loading CT {index + 1}/{len(entries)}")
        ct_image = load_series(ct)
        name = f"{round(time_h, 1):g}h" if time_h is not None else f"tp{index + 1}"
        problems.extend(f"{name}: {p}" for p in (*spect.meta.problems, *ct_image.meta.problems))
        time_points.append(
            TimePoint(
                name=name,
                time_h=time_h,
                ct=ct_image,
                spect=spect,
                acquisition_start=spect.meta.acquisition.start,
                duration_s=spect.meta.acquisition.duration_s,
            )
        )
    report(progress, 1.0, f"{len(time_points)} time points loaded")
    return SpectStudy(
        time_points=tuple(time_points),
        administration=admin,
        patient=metas[0][1].patient,
        patient_id=patient_id,
        patient_name=patient_name,
        problems=tuple(dict.fromkeys(problems)),
        root=str(study_dir),
        calibration_cps_per_MBq=calibration_cps_per_MBq,
    )


def _activity(
    spect: QuantitativeImage, admin: Administration, calibration, problems: list[str]
) -> QuantitativeImage:
    """Bq/mL at the acquisition start, with the study's administration in the metadata."""
    spect = QuantitativeImage(spect.image, spect.meta.replace(administration=admin))
    if spect.meta.quantity.units == "Bq/mL":
        if calibration is not None:
            problems.append(
                f"{spect.meta.source_files[0]}: already in Bq/mL; the calibration factor "
                "was not applied"
            )
        return counts_to_activity_concentration(spect, None)
    return counts_to_activity_concentration(spect, calibration)
