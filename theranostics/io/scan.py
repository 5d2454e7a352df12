"""Find DICOM series in a folder tree and classify them.

Only headers are read here (``stop_before_pixels``); pixel data is read when a series is
loaded. Files that are not DICOM, DICOMDIR index files and unreadable files are listed in
:attr:`ScanResult.skipped` with the reason, never silently dropped.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from ..progress import ProgressCallback, report
from .slicer_files import VOLUME_SUFFIXES

#: SOP Class UID -> our series kind.
SOP_CLASS_KIND = {
    "1.2.840.10008.5.1.4.1.1.2": "CT",
    "1.2.840.10008.5.1.4.1.1.2.1": "CT-ENHANCED",
    "1.2.840.10008.5.1.4.1.1.20": "NM",
    "1.2.840.10008.5.1.4.1.1.128": "PT",
    "1.2.840.10008.5.1.4.1.1.130": "PT-ENHANCED",
    "1.2.840.10008.5.1.4.1.1.481.3": "RTSTRUCT",
    "1.2.840.10008.5.1.4.1.1.481.2": "RTDOSE",
    "1.2.840.10008.5.1.4.1.1.66.4": "SEG",
    "1.2.840.10008.5.1.4.1.1.7": "SC",
}
#: Kinds that :func:`theranostics.io.read_image` turns into a 3D image.
IMAGE_KINDS = ("CT", "NM", "PT")


@dataclass(frozen=True)
class SkippedFile:
    """A file the scan did not use, and why."""

    path: str
    reason: str


@dataclass(frozen=True, eq=False)
class SeriesRecord:
    """One DICOM series found by :func:`scan_directory`.

    Attributes:
        series_instance_uid: SeriesInstanceUID (0020,000E).
        kind: ``"CT"``, ``"NM"``, ``"PT"``, ``"RTSTRUCT"``, ``"SEG"``, ``"RTDOSE"`` or the
            modality of something else.
        files: the series' files, in path order.
        headers: their headers (no pixel data), in the same order.
    """

    series_instance_uid: str
    kind: str
    files: tuple[str, ...]
    headers: tuple[Dataset, ...] = field(repr=False)

    @property
    def modality(self) -> str:
        """DICOM Modality of the first file."""
        return str(self.headers[0].get("Modality", "") or "")

    @property
    def description(self) -> str:
        """SeriesDescription of the first file."""
        return str(self.headers[0].get("SeriesDescription", "") or "").strip()

    @property
    def is_image(self) -> bool:
        """True for series :func:`theranostics.io.read_image` can load as a 3D image."""
        return self.kind in IMAGE_KINDS


@dataclass(frozen=True)
class ScanResult:
    """Series found under a folder, plus the files that were skipped."""

    root: str
    series: tuple[SeriesRecord, ...]
    skipped: tuple[SkippedFile, ...]
    #: NRRD/NIfTI/MetaImage files (3D Slicer volumes and .seg.nrrd segmentations), listed by
    #: ``inspect`` through :func:`theranostics.io.slicer_files.volume_file_row`.
    volume_files: tuple[str, ...] = ()

    def by_kind(self, kind: str) -> list[SeriesRecord]:
        """The series of one kind (e.g. ``"CT"``)."""
        return [s for s in self.series if s.kind == kind]


def classify(ds: Dataset) -> str:
    """Our series kind for a header: from the SOP Class UID, else the Modality."""
    sop = str(ds.get("SOPClassUID", "") or "")
    kind = SOP_CLASS_KIND.get(sop)
    if kind is None:
        kind = str(ds.get("Modality", "") or "UNKNOWN").upper()
    return kind


def read_header(path: str | Path) -> Dataset:
    """Read a DICOM header without pixel data.

    Raises:
        InvalidDicomError: not a DICOM file.
    """
    return pydicom.dcmread(str(path), stop_before_pixels=True)


def _iter_files(root: Path):
    if root.is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def scan_directory(path: str | Path, *, progress: ProgressCallback | None = None) -> ScanResult:
    """Scan ``path`` (a folder, recursively, or a single file) for DICOM series.

    Args:
        path: folder or file.
        progress: optional ``progress(fraction, message)`` callback.

    Returns:
        The series (grouped by SeriesInstanceUID and kind, in path order of their first
        file) and the skipped files with reasons.
    """
    root = Path(path)
    if not root.exists():
        from ..errors import InputError

        raise InputError("no such file or folder", path=root, fix="check the path")
    files = list(_iter_files(root))
    groups: dict[tuple[str, str], list[tuple[str, Dataset]]] = defaultdict(list)
    skipped: list[SkippedFile] = []
    volume_files: list[str] = []
    for n, file in enumerate(files):
        report(progress, n / max(len(files), 1), f"reading headers {n + 1}/{len(files)}")
        if file.name.upper() == "DICOMDIR":
            skipped.append(SkippedFile(str(file), "DICOMDIR index file (series are read directly)"))
            continue
        if file.name.lower().endswith(VOLUME_SUFFIXES):
            volume_files.append(str(file))
            continue
        try:
            ds = read_header(file)
        except InvalidDicomError:
            skipped.append(SkippedFile(str(file), "not a DICOM file (no DICM preamble)"))
            continue
        except (OSError, EOFError, ValueError, TypeError, AttributeError, KeyError) as exc:
            skipped.append(SkippedFile(str(file), f"unreadable DICOM header: {exc}"))
            continue
        uid = str(ds.get("SeriesInstanceUID", "") or "")
        if not uid:
            skipped.append(SkippedFile(str(file), "no SeriesInstanceUID (0020,000E)"))
            continue
        groups[(uid, classify(ds))].append((str(file), ds))
    report(progress, 1.0, "headers read")
    series = tuple(
        SeriesRecord(
            series_instance_uid=uid,
            kind=kind,
            files=tuple(f for f, _ in members),
            headers=tuple(d for _, d in members),
        )
        for (uid, kind), members in groups.items()
    )
    return ScanResult(
        root=str(root), series=series, skipped=tuple(skipped), volume_files=tuple(volume_files)
    )
