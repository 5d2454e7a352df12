"""Ingest of the real Siemens SPECT/CT (78 CT slices + one 80-frame NM file).

Side by side in one run, on the same files:

- ``theranostics``: scan the folder (headers), classify, load CT and NM with all geometry and
  metadata checks (:func:`theranostics.io.scan_directory` + :func:`read_image`);
- ``plain_pydicom``: ``pydicom.dcmread`` every file, sort CT slices by z, stack pixel arrays,
  apply rescale, build SimpleITK images (no validation, no metadata);
- ``simpleitk_gdcm``: SimpleITK's ``ImageSeriesReader`` (GDCM) for the CT and ``ReadImage``
  for the NM file.

Reports the median wall time over repeats, the peak resident memory of a fresh process that
does one read (``ru_maxrss``; it includes the interpreter and imported libraries, the same for
all three), and whether our CT equals SimpleITK's voxel for voxel.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
DATA = Path(os.environ.get("THERANOSTICS_REAL_DATA", _SHARED)) / "siemens-maa-spect-ct"


def ours(root: Path):
    from theranostics.io import read_image, scan_directory

    scan = scan_directory(root)
    return {s.kind: read_image(s).image for s in scan.series if s.is_image}


def plain_pydicom(root: Path):
    slices = [pydicom.dcmread(p) for p in sorted((root / "CT").glob("*.dcm"))]
    slices.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    volume = np.stack(
        [ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in slices]
    ).astype(np.float32)
    ct = sitk.GetImageFromArray(volume)
    ct.SetSpacing(
        (
            *map(float, slices[0].PixelSpacing),
            float(slices[1].ImagePositionPatient[2]) - float(slices[0].ImagePositionPatient[2]),
        )
    )
    ct.SetOrigin(tuple(map(float, slices[0].ImagePositionPatient)))
    nm_ds = pydicom.dcmread(next((root / "NM").glob("*.dcm")))
    nm = sitk.GetImageFromArray(nm_ds.pixel_array.astype(np.float32))
    return {"CT": ct, "NM": nm}


def simpleitk_gdcm(root: Path):
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(root / "CT")))
    ct = reader.Execute()
    nm = sitk.ReadImage(str(next((root / "NM").glob("*.dcm"))))
    return {"CT": ct, "NM": nm}


def _time(fn, root, repeats):
    fn(root)  # warm the file cache and imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(root)
        times.append(time.perf_counter() - start)
    return {
        "median_s": round(statistics.median(times), 4),
        "min_s": round(min(times), 4),
        "repeats": repeats,
    }


def _peak_rss_MiB(name: str, root: Path) -> float:
    """Peak RSS of a fresh interpreter that imports everything and runs ``name`` once."""
    code = (
        "import resource, json, sys; from pathlib import Path; "
        "import benchmarks.bench_ingest as b, theranostics.io; "
        f"b.{name}(Path({str(root)!r})); "
        "print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return round(json.loads(out.stdout.strip().splitlines()[-1]) / 1024.0, 1)  # KiB on Linux


def run(quick: bool = False) -> dict:
    """Measure the three readers; figures as a dict (see module docstring)."""
    if not DATA.exists():
        return {"skipped": f"real data not found at {DATA}"}
    repeats = 3 if quick else 7
    # Fresh-process memory first: Linux keeps a forked child's high-water mark across exec, so
    # it must be measured before this process has grown.
    rss = {name: _peak_rss_MiB(name, DATA) for name in ("ours", "plain_pydicom", "simpleitk_gdcm")}
    results = {
        name: _time(fn, DATA, repeats)
        for name, fn in (
            ("theranostics", ours),
            ("plain_pydicom", plain_pydicom),
            ("simpleitk_gdcm", simpleitk_gdcm),
        )
    }
    for name, key in (
        ("ours", "theranostics"),
        ("plain_pydicom", "plain_pydicom"),
        ("simpleitk_gdcm", "simpleitk_gdcm"),
    ):
        results[key]["peak_rss_MiB"] = rss[name]
    base = results["plain_pydicom"]["median_s"]
    for entry in results.values():
        entry["ratio_to_plain_pydicom"] = round(entry["median_s"] / base, 2)
    our, gdcm = ours(DATA), simpleitk_gdcm(DATA)
    same_ct = np.array_equal(
        sitk.GetArrayFromImage(our["CT"]).astype(np.float32),
        sitk.GetArrayFromImage(gdcm["CT"]).astype(np.float32),
    )
    origin_diff = float(np.max(np.abs(np.subtract(our["CT"].GetOrigin(), gdcm["CT"].GetOrigin()))))
    results["ct_voxels_equal_to_simpleitk"] = bool(same_ct)
    results["ct_origin_max_diff_mm"] = origin_diff
    results["nm_origin_ours_mm"] = list(our["NM"].GetOrigin())
    results["nm_origin_simpleitk_mm"] = list(gdcm["NM"].GetOrigin())
    results["files"] = {"CT": 78, "NM": 1}
    return results
