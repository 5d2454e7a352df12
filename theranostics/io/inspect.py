"""The series table of ``theranostics inspect``: one row per series, problems included.

Every image series is loaded in full (pixels too), so truncated files and broken geometry
show up here rather than later. A broken series becomes a row with its ``problems`` and
``error``; it never stops the others from being reported.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..image import QuantitativeImage
from ..progress import ProgressCallback, report, scaled
from .reader import load_series
from .scan import ScanResult, SeriesRecord, scan_directory

#: Human-readable quantification state per units value.
QUANTIFICATION_STATE = {
    "Bq/mL": "quantitative (activity concentration)",
    "counts": "counts: needs a calibration factor (cps/MBq) for Bq/mL",
    "cps": "count rate: needs a calibration factor (cps/MBq) for Bq/mL",
    "HU": "CT Hounsfield units",
    "SUVbw": "SUV (body weight)",
    "SUVlbm": "SUV (lean body mass)",
    "SUVbsa": "SUV (body surface area)",
    "Gy": "absorbed dose",
    "MBq*h": "time-integrated activity",
    "1": "unknown units",
}


#: (row key, column title) of the series summary shown by the CLI table and the demo report.
SUMMARY_COLUMNS = (
    ("modality", "Mod"),
    ("series_description", "Description"),
    ("size", "Size"),
    ("spacing_mm", "Spacing mm"),
    ("nuclide", "Nuclide"),
    ("administered_activity_MBq", "Activity MBq"),
    ("administration_datetime", "Administered"),
    ("acquisition_datetime", "Acquired"),
    ("acquisition_duration_s", "Duration s"),
    ("units", "Units"),
)


ROW_KEYS = (
    "files",
    "modality",
    "kind",
    "series_instance_uid",
    "series_description",
    "frame_of_reference_uid",
    "size",
    "spacing_mm",
    "nuclide",
    "radiopharmaceutical",
    "administered_activity_MBq",
    "activity_rule",
    "administration_datetime",
    "acquisition_datetime",
    "acquisition_duration_s",
    "units",
    "decay_correction",
    "decay_reference_datetime",
    "quantification",
    "problems",
)
"""Keys of every row, in the order of the JSON output."""


def _iso(value):
    return value.isoformat() if value is not None else None


def empty_row(**known) -> dict:
    """An ``inspect`` row with every key present: what is not ``known`` is None (the file
    list and problems empty). One template for DICOM series and volume files alike."""
    row = {key: None for key in ROW_KEYS}
    row.update(files=[], problems=[])
    row.update(known)
    return row


def _base_row(record: SeriesRecord) -> dict:
    first = record.headers[0]
    return empty_row(
        files=list(record.files),
        modality=record.modality or record.kind,
        kind=record.kind,
        series_instance_uid=record.series_instance_uid,
        series_description=record.description,
        frame_of_reference_uid=str(first.get("FrameOfReferenceUID", "") or "") or None,
    )


def image_row(record: SeriesRecord, qimage: QuantitativeImage) -> dict:
    """The table row of a loaded image series."""
    meta = qimage.meta
    row = _base_row(record)
    row.update(
        size=list(qimage.size),
        spacing_mm=[round(s, 6) for s in qimage.spacing_mm],
        nuclide=meta.administration.nuclide,
        radiopharmaceutical=meta.administration.radiopharmaceutical,
        administered_activity_MBq=meta.administration.activity_MBq,
        activity_rule=meta.administration.activity_rule or None,
        administration_datetime=_iso(meta.administration.datetime),
        acquisition_datetime=_iso(meta.acquisition.start),
        acquisition_duration_s=meta.acquisition.duration_s,
        units=meta.quantity.units,
        decay_correction=meta.quantity.decay_correction,
        decay_reference_datetime=_iso(meta.quantity.decay_reference),
        quantification=QUANTIFICATION_STATE.get(meta.quantity.units, meta.quantity.units),
        problems=list(meta.problems),
    )
    return row


def _structure_row(record: SeriesRecord) -> dict:
    row = _base_row(record)
    ds = record.headers[0]
    names = [str(r.get("ROIName", "")) for r in ds.get("StructureSetROISequence", [])]
    refs = ds.get("ReferencedFrameOfReferenceSequence") or []
    if refs and not row["frame_of_reference_uid"]:
        row["frame_of_reference_uid"] = str(refs[0].get("FrameOfReferenceUID", "")) or None
    row["structures"] = names
    if not names:
        row["problems"].append("no ROIs (StructureSetROISequence empty)")
    try:
        from .rtstruct import read_rtstruct

        row["problems"].extend(read_rtstruct(record.files[0]).problems)
    except InputError as exc:
        row["error"] = str(exc)
        row["problems"].append(f"not read: {exc}")
    return row


def inspect_directory(
    path: str | Path,
    *,
    scan: ScanResult | None = None,
    activity_unit: str = "auto",
    progress: ProgressCallback | None = None,
) -> list[dict]:
    """One row (a JSON-ready dict) per series under ``path``.

    Keys: ``files``, ``modality``, ``kind``, ``series_instance_uid``, ``series_description``,
    ``frame_of_reference_uid``, ``size`` (x, y, z voxels), ``spacing_mm``, ``nuclide``,
    ``radiopharmaceutical``, ``administered_activity_MBq``, ``activity_rule``,
    ``administration_datetime``, ``acquisition_datetime``, ``acquisition_duration_s``,
    ``units``, ``decay_correction``, ``decay_reference_datetime``, ``quantification``,
    ``problems`` (list of notes) and, for a series that could not be loaded, ``error``.
    RTSTRUCT rows add ``structures`` (ROI names).
    """
    if scan is None:
        scan = scan_directory(path, progress=scaled(progress, 0.0, 0.3))
    rows = []
    total = max(len(scan.series), 1)
    for n, record in enumerate(scan.series):
        report(progress, 0.3 + 0.7 * n / total, f"loading {record.kind} {record.description}")
        if record.kind == "RTSTRUCT":
            rows.append(_structure_row(record))
            continue
        if not record.is_image:
            row = _base_row(record)
            row["problems"].append(f"{record.kind} series listed only (not an image series)")
            rows.append(row)
            continue
        try:
            rows.append(image_row(record, load_series(record, activity_unit=activity_unit)))
        except InputError as exc:
            row = _base_row(record)
            row["error"] = str(exc)
            row["problems"].append(f"not loaded: {exc}")
            rows.append(row)
    if scan.volume_files:  # NRRD/NIfTI volumes and Slicer segmentations (no DICOM header)
        from .slicer_files import volume_file_row

        rows.extend(volume_file_row(f) for f in scan.volume_files)
    _frame_of_reference_problems(rows)
    report(progress, 1.0, "done")
    return rows


def _frame_of_reference_problems(rows: list[dict]) -> None:
    """Across the folder: an NM/PET series in no CT's frame of reference needs a
    registration; an RTSTRUCT whose frame no image has cannot be placed on them."""
    ct_frames = {r["frame_of_reference_uid"] for r in rows if r["kind"] == "CT"} - {None}
    image_frames = {
        r["frame_of_reference_uid"] for r in rows if r["kind"] in ("CT", "NM", "PT")
    } - {None}
    for row in rows:
        frame = row.get("frame_of_reference_uid")
        if row["kind"] in ("NM", "PT") and ct_frames and frame and frame not in ct_frames:
            row["problems"].append(
                f"frame of reference {frame} differs from every CT's in this folder: the "
                "images must be registered before they are combined"
            )
        if row["kind"] == "RTSTRUCT" and image_frames and frame not in image_frames:
            row["problems"].append(
                f"structure set frame of reference {frame or '(none)'} matches no image "
                "series in this folder: its contours may belong to another study"
            )
