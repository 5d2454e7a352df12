"""Standard- and small-study dosimetry, stage by stage, with peak memory, in fresh processes.

Each study runs :func:`theranostics.workflows.dosimetry.run_dosimetry` (kernel dose, GTM with
the phantom's PSF, a planned dose map so that the gamma stage runs, DICOM RT Dose/SEG/SR and
the report) in a child process of its own; the child's peak resident memory comes from
``resource.getrusage(RUSAGE_CHILDREN)`` and the stage times from ``results.json``
(``provenance.timing_s``). Side by side in the same run: a plain SimpleITK read of the same
study's DICOM series (every CT and NM series with ``ImageSeriesReader``), the issue-15 yardstick
("dosimetry of the small study at most 15 times the plain read"). ``--quick``: small only.

Goals (issue 15): standard <= 30 s, small <= 15 s, DICOM export <= 5 s, registration <= 3 s
per registered session, peak RSS <= 2 GB. The machine is shared: ``cpu_s`` and
``load_average`` say how loaded the run was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = r"""
import json, sys, time
from pathlib import Path
from theranostics.workflows.dosimetry import run_dosimetry
study, out, planned = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
truth = json.loads((study / "truth" / "ground_truth.json").read_text())
t = time.perf_counter()
run_dosimetry(study / "dicom", study / "truth" / "labels.nrrd", out_dir=out,
              calibration_cps_per_MBq=truth["config"]["calibration_cps_per_MBq"],
              planned_dose_path=planned, method="kernel",
              psf_fwhm_mm=truth["config"]["spect_fwhm_mm"])
print(json.dumps({"in_process_wall_s": round(time.perf_counter() - t, 3)}))
"""

_WRAPPER = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
inner = json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else {}
cpu = round(ru.ru_utime + ru.ru_stime, 2)
print(json.dumps({"rc": p.returncode, "wall_s": round(wall, 2), "cpu_s": cpu,
                  "peak_rss_MiB": round(ru.ru_maxrss / 1024, 1), **inner,
                  "stderr_tail": p.stderr[-2000:]}))
"""


def plain_read_s(dicom_dir: Path) -> float:
    """Wall time of a plain SimpleITK read of every series (CT and NM folders) of a study."""
    import SimpleITK as sitk

    started = time.perf_counter()
    for folder in sorted(p for p in dicom_dir.glob("spect_*/*") if p.is_dir()):
        reader = sitk.ImageSeriesReader()
        names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder))
        reader.SetFileNames(names)
        reader.Execute()
    return time.perf_counter() - started


def _run_one(size: str, root: Path) -> dict:
    from .bench_progress import _planned_dose, _study

    study = _study(size)
    planned = _planned_dose(study, root)
    out = root / f"out-{size}"
    cmd = [sys.executable, "-c", _WRAPPER, sys.executable, "-c", _CHILD, str(study), str(out),
           str(planned)]  # fmt: skip
    figures = json.loads(subprocess.run(cmd, capture_output=True, text=True).stdout.strip())
    if figures["rc"] != 0:
        raise RuntimeError(f"dosimetry of the {size} study failed: {figures['stderr_tail']}")
    figures.pop("stderr_tail")
    timing = json.loads((out / "results.json").read_text())["provenance"]["timing_s"]
    figures["stages_s"] = timing
    figures["registration_per_session_s"] = {
        k: v for k, v in timing.items() if k.startswith("registration_") and k.endswith("total_s")
    }
    figures["plain_sitk_read_s"] = round(plain_read_s(study / "dicom"), 3)
    figures["ratio_to_plain_read"] = round(figures["wall_s"] / figures["plain_sitk_read_s"], 1)
    figures["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    return figures


def run(quick: bool = False) -> dict:
    """Measure the studies (module docstring)."""
    sizes = ["small"] if quick else ["small", "standard"]
    results: dict = {"load_average_before": [round(v, 2) for v in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="bench-dosimetry-") as tmp:
        for size in sizes:
            results[size] = _run_one(size, Path(tmp))
    goals = {"small": 15.0, "standard": 30.0}
    for size in sizes:
        r = results[size]
        r["goal_wall_s"] = goals[size]
        r["within_goal"] = r["wall_s"] <= goals[size]
        r["dicom_within_5_s"] = r["stages_s"].get("dicom_s", 0.0) <= 5.0
        r["rss_within_2_GB"] = r["peak_rss_MiB"] <= 2048
    return results
