"""Helpers shared by the DICOM writers (SEG, SR, RT Dose): deterministic UIDs, atomic
saving, DICOM date/time strings and reading the headers of the files an object references.

UIDs are derived from the content they identify (a name-based UUID under ``2.25``, DICOM
PS3.5 B.2), never from the clock or a random source, so the same input gives the same UIDs.
A site with its own UID root (registered with ISO/ANSI or from a vendor) sets it with
:func:`set_uid_root` (CLI: ``theranostics --uid-root ROOT ...``, or the environment variable
``THERANOSTICS_UID_ROOT``); the UIDs are then ``ROOT.`` followed by decimal digits of the same
SHA-256 digest, cut to the 64 characters DICOM allows (PS3.5 9.1). See docs/ingest.md.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from ..errors import InputError, NotDicomError

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://theranostics/dicom-export")


_UID_ROOT: str | None = None
_ROOT_PATTERN = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


def check_uid_root(root: str) -> str:
    """Validate a UID root: digits and dots, no leading zeros, at most 40 characters (so
    that at least 23 digits of the derived part remain within the 64 allowed).

    Raises:
        InputError: not a valid root.
    """
    root = str(root).strip().rstrip(".")
    if not _ROOT_PATTERN.match(root) or len(root) > 40:
        raise InputError(
            f"UID root {root!r} is not a DICOM UID root (digits and dots, no leading zeros, "
            "at most 40 characters)",
            tag="--uid-root",
            fix="give your organisation's registered root, e.g. 1.2.826.0.1.3680043.10.1234",
        )
    return root


def set_uid_root(root: str | None) -> None:
    """Use ``root`` for every UID derived from now on (``None``: the ``2.25`` UUID form)."""
    global _UID_ROOT
    _UID_ROOT = None if root is None else check_uid_root(root)


def uid_root() -> str | None:
    """The UID root in use: :func:`set_uid_root`, else $THERANOSTICS_UID_ROOT, else None."""
    if _UID_ROOT is not None:
        return _UID_ROOT
    env = os.environ.get("THERANOSTICS_UID_ROOT")
    return check_uid_root(env) if env else None


def derived_uid(*parts: object) -> str:
    """A UID derived from ``parts`` (strings, numbers or bytes): ``2.25.`` followed by the
    integer of a version 5 UUID of their SHA-256 digest (DICOM PS3.5 B.2), or, with a site
    root (:func:`set_uid_root`), the root followed by the digest's decimal digits. The same
    parts (and root) always give the same UID."""
    digest = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes | bytearray) else str(part).encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    root = uid_root()
    if root is None:
        return f"2.25.{uuid.uuid5(_NAMESPACE, digest.hexdigest()).int}"
    digits = str(int.from_bytes(digest.digest(), "big"))
    return f"{root}.{digits[: 64 - len(root) - 1].lstrip('0') or '1'}"


def dicom_date_time(moment: datetime) -> tuple[str, str]:
    """(DA, TM) strings of a datetime: ``YYYYMMDD`` and ``HHMMSS.ffffff``."""
    return moment.strftime("%Y%m%d"), moment.strftime("%H%M%S.%f")


def pin_times(ds: Dataset, moment: datetime) -> None:
    """Set the series, content and instance-creation dates and times (and any contribution
    datetime) of a highdicom object to ``moment``: highdicom stamps the wall clock, and a
    pinned time makes the same input give identical bytes."""
    date, time = dicom_date_time(moment)
    for keyword, value in (
        ("SeriesDate", date),
        ("SeriesTime", time),
        ("ContentDate", date),
        ("ContentTime", time),
        ("InstanceCreationDate", date),
        ("InstanceCreationTime", time),
    ):
        setattr(ds, keyword, value)
    for item in ds.get("ContributingEquipmentSequence", []):
        if "ContributionDateTime" in item:
            item.ContributionDateTime = date + time


def save_atomic(ds: Dataset, path: str | Path) -> Path:
    """Write ``ds`` as a DICOM file (with file meta information) to a temporary name in the
    target folder, then move it into place, so that no half-written file is ever visible."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        ds.save_as(tmp, enforce_file_format=True)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_headers(files: Iterable[str | Path], *, what: str) -> list[Dataset]:
    """Read the headers (no pixel data) of the referenced files.

    Raises:
        InputError: no file given, or a file is missing.
        NotDicomError: a file is not DICOM.
    """
    paths = [Path(f) for f in files]
    if not paths:
        raise InputError(
            f"no {what} files given",
            fix=f"pass the DICOM files of the {what} (e.g. sorted(folder.glob('*.dcm')))",
        )
    headers = []
    for path in paths:
        if not path.is_file():
            raise InputError(f"{what} file not found", path=path, fix="check the path")
        try:
            stat = path.stat()
            headers.append(_header(str(path), stat.st_mtime_ns, stat.st_size))
        except (InvalidDicomError, OSError) as exc:
            raise NotDicomError(
                f"{what} file is not readable DICOM ({exc})", path=path, fix="check the file"
            ) from exc
    return headers


@functools.lru_cache(maxsize=2048)
def _header(path: str, mtime_ns: int, size: int) -> Dataset:
    """One file's header, read once per process while the file is unchanged (mtime, size):
    the dosimetry's RT Dose, BED, SEG and SR writers all reference the same CT slices.
    Callers only read the headers."""
    return pydicom.dcmread(path, stop_before_pixels=True)


def check_one_series(headers: Sequence[Dataset], files: Sequence[str | Path], what: str) -> None:
    """All files belong to one series, patient and frame of reference.

    Raises:
        InputError: the files mix series, patients or frames of reference.
    """
    for keyword in ("SeriesInstanceUID", "PatientID", "FrameOfReferenceUID"):
        values = {str(h.get(keyword, "")) for h in headers}
        if len(values) > 1:
            raise InputError(
                f"the {what} files hold {len(values)} different {keyword} values",
                path=files[0],
                tag=keyword,
                fix=f"pass the files of one {what} series only",
            )
