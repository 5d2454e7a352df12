"""Longest gap between two progress calls, per workflow stage of the standard-study dosimetry
(issue 14 section 4: at most 0.5 s of computation between calls, so that the Slicer progress
dialog moves and Cancel is honoured).

One :func:`theranostics.workflows.dosimetry.run_dosimetry` of the standard synthetic study with
a planned dose map (so that the gamma stage runs), the progress callback recording the wall
and process CPU time of every call. A gap is charged to the stage the call that ends it
belongs to, read from the fraction (the ranges ``run_dosimetry`` gives its stages). Wall gaps
grow with the machine's load; the CPU gap (both cores count) is the steadier figure, and
``wall_over_cpu`` says how loaded the run was. ``--quick`` uses the small study.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

#: run_dosimetry's progress ranges (fraction at the end of a gap -> stage).
STAGES = (
    (0.10, "load"),
    (0.35, "registration"),
    (0.40, "resampling onto the reference grid"),
    (0.60, "structure kinetics"),
    (0.70, "voxel kinetics"),
    (0.85, "dose"),
    (0.875, "structure doses"),
    (0.90, "gamma and DVH comparison"),
    (1.01, "exports (maps, DICOM, report)"),
)
GOAL_S = 0.5


def _stage(fraction: float) -> str:
    return next(name for top, name in STAGES if fraction <= top)


class GapRecorder:
    """A progress callback that keeps (wall, cpu, fraction, message) of every call."""

    def __init__(self) -> None:
        self.calls = [(time.perf_counter(), time.process_time(), 0.0, "start")]

    def __call__(self, fraction: float, message: str = "") -> None:
        self.calls.append((time.perf_counter(), time.process_time(), float(fraction), message))

    def per_stage(self) -> dict:
        """Longest wall and CPU gap per stage, with the messages around the longest."""
        out: dict = {}
        for before, after in zip(self.calls, self.calls[1:]):
            stage = _stage(after[2])
            wall, cpu = after[0] - before[0], after[1] - before[1]
            row = out.setdefault(stage, {"calls": 0, "max_wall_gap_s": 0.0, "max_cpu_gap_s": 0.0})
            row["calls"] += 1
            if wall > row["max_wall_gap_s"]:
                row["max_wall_gap_s"] = round(wall, 3)
                row["longest_between"] = [before[3], after[3]]
            row["max_cpu_gap_s"] = max(row["max_cpu_gap_s"], round(cpu, 3))
        for row in out.values():
            row["within_goal_cpu"] = row["max_cpu_gap_s"] <= GOAL_S
        return out


def _study(size: str) -> Path:
    from theranostics.demo import cache_key
    from theranostics.phantom.generate import PhantomConfig, generate_study

    from .run import HERE

    config = PhantomConfig() if size == "standard" else PhantomConfig(size=size)
    folder = HERE.parent / ".cache" / "phantom" / cache_key(config)
    if not (folder / "truth" / "ground_truth.json").is_file():
        generate_study(folder, config, overwrite=True)
    return folder


def _planned_dose(study: Path, out: Path) -> Path:
    """A planned dose map for the gamma stage: the kernel dose of the first time point's true
    activity held for its effective time (any plausible dose map exercises the stage)."""
    import SimpleITK as sitk

    from theranostics.dose.compute import compute_dose

    activity = sitk.ReadImage(str(study / "truth" / "activity_004h.nrrd"), sitk.sitkFloat32)
    tia = activity * 60.0  # MBq -> MBq·h for a 60 h mean life, a plausible scale
    path = out / "planned_dose_Gy.nrrd"
    sitk.WriteImage(compute_dose(tia, "Lu-177", method="kernel"), str(path))
    return path


def run(quick: bool = False) -> dict:
    """Measure the gaps (module docstring)."""
    from theranostics.workflows.dosimetry import run_dosimetry

    size = "small" if quick else "standard"
    study = _study(size)
    truth = json.loads((study / "truth" / "ground_truth.json").read_text())
    with tempfile.TemporaryDirectory(prefix="bench-progress-") as tmp:
        out = Path(tmp)
        planned = _planned_dose(study, out)
        recorder = GapRecorder()
        wall, cpu = time.perf_counter(), time.process_time()
        run_dosimetry(
            study / "dicom",
            study / "truth" / "labels.nrrd",
            out_dir=out / "dosimetry",
            calibration_cps_per_MBq=truth["config"]["calibration_cps_per_MBq"],
            planned_dose_path=planned,
            method="kernel",
            psf_fwhm_mm=truth["config"]["spect_fwhm_mm"],
            progress=recorder,
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stages = recorder.per_stage()
    return {
        "study": size,
        "goal_s": GOAL_S,
        "total_wall_s": round(wall, 2),
        "total_cpu_s": round(cpu, 2),
        "wall_over_cpu": round(wall / cpu, 2) if cpu else None,
        "progress_calls": len(recorder.calls) - 1,
        "stages": stages,
        "longest_wall_gap_s": max(r["max_wall_gap_s"] for r in stages.values()),
        "longest_cpu_gap_s": max(r["max_cpu_gap_s"] for r in stages.values()),
        "stages_over_goal_cpu": sorted(k for k, r in stages.items() if not r["within_goal_cpu"]),
    }
