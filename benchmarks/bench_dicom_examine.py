"""DICOM plugin examine on the real Siemens SPECT/CT (78 CT slices, one 80-frame NM file,
one RTSTRUCT): what the Theranostics DICOM plugin costs each time the DICOM browser asks
which loadables a selection offers.

Side by side in one run, on the same 80 files (issue 14):

- ``before``: :func:`TheranosticPlanningLib.dicom_loading.examine_files` without
  ``file_value`` — the plugin's examine before issue 14: every file's header is read with
  pydicom (stop before pixels), then the NM/PET series' metadata from all their headers;
- ``after``: the same function with ``file_value`` answering from the tags the DICOM
  database caches at import (``slicer.dicomDatabase.fileValue`` with the plugin's ``tags``
  precached, ``Modules/Scripted/DICOM/DICOM.py``). Headless there is no ctkDICOMDatabase, so
  the cache is a dict filled beforehand from the headers (its filling is what the database
  pays once at import, reported as ``cache_fill_s`` and not part of ``after``). Only the NM
  file is opened.

Not measured: the database lookup itself (an in-memory/SQLite query in Slicer, here a dict
lookup), so ``after`` is a lower bound of the plugin's examine in Slicer. Reports the median
wall time over repeats and the number of files opened.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
_SHARED = _REPO.parent / "shared" / "data" / "real"
DATA = Path(os.environ.get("THERANOSTICS_REAL_DATA", _SHARED)) / "siemens-maa-spect-ct"


def _median_s(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(quick: bool = False) -> dict:
    """Median examine time before and after, on the Siemens study's files."""
    sys.path.insert(0, str(_REPO / "TheranosticPlanning"))
    from TheranosticPlanningLib import dicom_loading
    from TheranosticPlanningLib.dicom_loading import EXAMINE_TAGS, examine_files

    files = sorted(str(p) for p in DATA.rglob("*") if p.is_file())
    start = time.perf_counter()
    cache = {
        (f, tag): dicom_loading.header_file_value(f, tag)
        for f in files
        for tag in EXAMINE_TAGS.values()
    }
    cache_fill_s = time.perf_counter() - start

    def lookup(path, tag):
        return cache[(path, tag)]

    opened = []
    original = dicom_loading.read_header

    def counting(path):
        opened.append(path)
        return original(path)

    dicom_loading.read_header = counting
    try:
        examine_files(files)
        before_opened = len(opened)
        opened.clear()
        examine_files(files, lookup)
        after_opened = len(opened)
    finally:
        dicom_loading.read_header = original
    same = [(s.name, s.files, s.warning) for s in examine_files(files)] == [
        (s.name, s.files, s.warning) for s in examine_files(files, lookup)
    ]
    repeats = 3 if quick else 7
    before_s = _median_s(lambda: examine_files(files), repeats)
    after_s = _median_s(lambda: examine_files(files, lookup), repeats)
    return {
        "data": "siemens-maa-spect-ct (NM 1 file, CT 78, RTSTRUCT 1)",
        "files": len(files),
        "repeats": repeats,
        "before_examine_s": round(before_s, 4),
        "after_examine_s": round(after_s, 4),
        "speedup": round(before_s / after_s, 1) if after_s > 0 else None,
        "files_opened_before": before_opened,
        "files_opened_after": after_opened,
        "cache_fill_s": round(cache_fill_s, 4),
        "same_loadables": same,
        "note": (
            "before = every header read with pydicom; after = tags from a pre-filled cache "
            "standing for the DICOM database's precached tags (lookup cost not measured), "
            "only the first file of each NM/PET series opened. Ratios from one run on a "
            "shared 2-core machine."
        ),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
