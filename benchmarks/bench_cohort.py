"""Cohort runner against a plain serial loop of the CLI: six small synthetic patients
(seeds 1-6, ``PhantomConfig(size="small")``), post-therapy dosimetry of each
(``theranostics dosimetry STUDY --masks truth/labels.nrrd --calibration-cps-per-MBq 10
--no-report``).

Side by side, in the same run on the same machine:

- ``serial``: one ``theranostics dosimetry`` process per study, one after the other (what a
  shell loop does): wall time, per-study time, peak memory of the largest process;
- ``cohort``: ``theranostics cohort run MANIFEST --workers 2`` (a local Dask cluster of two
  worker processes): wall time (cluster start included), speed-up over the loop, time each
  study took inside its worker, per-task overhead, peak memory of each worker process;
- ``resume``: the same cohort command again, everything up to date (fingerprints only).

Per-task overhead = (cohort wall time x workers - sum of the studies' times inside the
workers) / studies: worker time not spent computing a study (cluster start, scheduling,
the idle tail when the studies do not divide evenly), per study. The machine's load average
is recorded before and after: on a shared machine both sides see the same load.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKERS = 2


def _studies(n: int) -> list[Path]:
    from theranostics.demo import cache_key
    from theranostics.phantom.generate import PhantomConfig, generate_study

    root = Path(os.environ.get("THERANOSTICS_TEST_CACHE", REPO / ".cache" / "phantom"))
    folders = []
    for seed in range(1, n + 1):
        config = PhantomConfig(size="small", seed=seed)
        folder = root / cache_key(config)
        if not (folder / "truth" / "ground_truth.json").is_file():
            generate_study(folder, config, overwrite=True)
        folders.append(folder)
    return folders


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("theranostics")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "theranostics"]


TASK_OPTIONS = ["--calibration-cps-per-MBq", "10", "--no-report"]


def run(quick: bool = False) -> dict:
    n = 2 if quick else 6
    studies = _studies(n)
    work = Path(tempfile.mkdtemp(prefix="bench-cohort-"))
    try:
        load_before = os.getloadavg()
        # serial: a plain loop of the CLI
        serial_times = []
        started = time.perf_counter()
        for k, study in enumerate(studies):
            t0 = time.perf_counter()
            subprocess.run(
                [
                    *_cli(),
                    "dosimetry",
                    str(study),
                    "--masks",
                    str(study / "truth" / "labels.nrrd"),
                    *TASK_OPTIONS,
                    "--quiet",
                    "-o",
                    str(work / "serial" / f"p{k + 1}"),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            serial_times.append(time.perf_counter() - t0)
        serial_wall = time.perf_counter() - started
        serial_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0

        # cohort: the same studies on a local Dask cluster of two workers
        manifest = work / "cohort.csv"
        with open(manifest, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", "study_dir", "masks"])
            for k, study in enumerate(studies):
                writer.writerow([f"p{k + 1}", study, study / "truth" / "labels.nrrd"])
        command = [
            *_cli(),
            "cohort",
            "run",
            str(manifest),
            "-o",
            str(work / "cohort"),
            "--task",
            "dosimetry",
            "--workers",
            str(WORKERS),
            *TASK_OPTIONS,
        ]
        t0 = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        cohort_wall = time.perf_counter() - t0
        doc = json.loads((work / "cohort" / "cohort.json").read_text())
        t0 = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        resume_wall = time.perf_counter() - t0
        load_after = os.getloadavg()
        resumed = json.loads((work / "cohort" / "cohort.json").read_text())
        records = [s for s in doc["studies"] if s["status"] == "ok"]
        inside = [float(s["wall_s"]) for s in records]
        per_worker: dict[str, float] = {}
        for s in records:
            key = f"{s.get('host')}:{s.get('pid')}"
            per_worker[key] = max(per_worker.get(key, 0.0), float(s.get("peak_memory_MiB") or 0))
        overhead = (cohort_wall * WORKERS - sum(inside)) / n
        return {
            "studies": n,
            "task": "dosimetry " + " ".join(TASK_OPTIONS),
            "study_grid": "small (SPECT 9.6 mm, 4 time points)",
            "workers": WORKERS,
            "cores": os.cpu_count(),
            "load_average_1_5_15_before": [round(x, 2) for x in load_before],
            "load_average_1_5_15_after": [round(x, 2) for x in load_after],
            "serial": {
                "wall_s": round(serial_wall, 2),
                "per_study_s": [round(t, 2) for t in serial_times],
                "mean_per_study_s": round(serial_wall / n, 2),
                "peak_memory_largest_process_MiB": round(serial_peak, 1),
            },
            "cohort": {
                "wall_s": round(cohort_wall, 2),
                "speed_up": round(serial_wall / cohort_wall, 2),
                "study_time_inside_worker_s": [round(t, 2) for t in inside],
                "mean_study_time_inside_worker_s": round(sum(inside) / n, 2),
                "per_task_overhead_s": round(overhead, 2),
                "peak_memory_per_worker_MiB": {k: round(v, 1) for k, v in per_worker.items()},
                "counts": doc["counts"],
            },
            "resume": {
                "wall_s": round(resume_wall, 2),
                "counts": resumed["counts"],
                "submitted": resumed["submitted"],
                "faster_than_first_run": round(cohort_wall / resume_wall, 1),
            },
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
