"""One entry point that turns any supported input into a :class:`QuantitativeImage`."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError, MixedSeriesError
from ..image import QuantitativeImage
from .dicom_images import read_nm_multiframe, read_slice_stack
from .dicom_meta import image_metadata
from .scan import IMAGE_KINDS, SeriesRecord, scan_directory
from .sidecar import SIDECAR_IMAGE_SUFFIXES, read_image_with_sidecar


def read_image(
    source: str | Path | SeriesRecord,
    *,
    series_uid: str | None = None,
    activity_unit: str = "auto",
) -> QuantitativeImage:
    """Read one quantitative image.

    Args:
        source: a :class:`SeriesRecord` from :func:`scan_directory`; a folder holding one
            image series (or several, with ``series_uid``); a DICOM file (a multi-frame NM or
            a single slice); or a NIfTI/NRRD file with its JSON sidecar.
        series_uid: which series to read when a folder holds several.
        activity_unit: how to read RadionuclideTotalDose: ``"auto"`` (documented rule),
            ``"Bq"`` or ``"MBq"``.

    Returns:
        Voxels in the units of ``meta.quantity.units`` (CT: HU; PET: as stored, typically
        Bq/mL; SPECT: counts unless the file is quantitative), geometry in LPS.

    Raises:
        MixedSeriesError: the folder holds several image series and none was chosen.
        InputError (subclasses): anything wrong with the files, naming file, tag and fix.
    """
    if isinstance(source, SeriesRecord):
        return load_series(source, activity_unit=activity_unit)
    path = Path(source)
    if path.is_file() and path.name.lower().endswith(SIDECAR_IMAGE_SUFFIXES):
        return read_image_with_sidecar(path)
    scan = scan_directory(path)
    images = [s for s in scan.series if s.is_image]
    if series_uid is not None:
        images = [s for s in images if s.series_instance_uid == series_uid]
    if not images:
        why = "; ".join(f"{s.path}: {s.reason}" for s in scan.skipped[:3])
        others = ", ".join(sorted({s.kind for s in scan.series}))
        raise InputError(
            "no CT, NM or PET image series found"
            + (f" (series found: {others})" if others else "")
            + (f" (skipped: {why})" if why else ""),
            path=path,
            tag="SeriesInstanceUID (0020,000E)" if series_uid else None,
            fix="point to a folder or file holding an image series"
            + (f"; no series has UID {series_uid}" if series_uid else ""),
        )
    if len(images) > 1:
        listing = "; ".join(
            f"{s.kind} {s.series_instance_uid} '{s.description}' ({len(s.files)} files)"
            for s in images
        )
        raise MixedSeriesError(
            f"{len(images)} image series found: {listing}",
            path=path,
            tag="SeriesInstanceUID (0020,000E)",
            fix="choose one with series_uid=... (CLI: --series-uid), or give a folder holding "
            "one series",
        )
    return load_series(images[0], activity_unit=activity_unit)


def load_series(record: SeriesRecord, *, activity_unit: str = "auto") -> QuantitativeImage:
    """Load a scanned image series (CT, NM multi-frame reconstruction or PET).

    Raises:
        InputError: the series is not an image series this project reads, or is broken.
    """
    if record.kind not in IMAGE_KINDS:
        raise InputError(
            f"series of kind {record.kind} is not an image series",
            path=record.files[0],
            tag="SOPClassUID (0008,0016)",
            fix="RTSTRUCT/SEG are read as masks on an image grid; choose a CT, NM or PET series",
        )
    if record.kind == "NM":
        if len(record.files) != 1:
            raise MixedSeriesError(
                f"NM series has {len(record.files)} files; one multi-frame reconstruction "
                "was expected",
                path=record.files[0],
                tag="NumberOfFrames (0028,0008)",
                fix="the series holds several reconstructions or windows: load one file",
            )
        image, notes = read_nm_multiframe(record.headers[0], record.files[0])
    else:
        image, notes = read_slice_stack(
            record.headers, record.files, integer_hu=record.kind == "CT"
        )
    modality = record.kind
    meta = image_metadata(
        record.headers,
        record.files,
        modality=modality,
        activity_unit=activity_unit,
        extra_problems=notes,
    )
    return QuantitativeImage(image=image, meta=meta)
