"""Registration of the four time points of the standard synthetic study (2.4 mm CT).

Side by side in one run, on the same CTs (time points 2-4 registered to the first):

- ``rigid``: :func:`theranostics.registration.register_ct` as the study pipeline runs it;
- ``rigid_bspline``: the same with the B-spline stage (``deformable=True``);
- ``rigid_full_resolution``: rigid on the native 2.4 mm grid (``working_spacing_mm=2.4``),
  the baseline for the 4.8 mm working grid the default uses (``--quick`` skips it).

Reports wall time per registration and in total (s), and the accuracy against the known
motion: maximum displacement error over the corners of a box around the organs (mm) and the
residual rotation (degrees).
"""

from __future__ import annotations

import json
import time

from theranostics.registration import (
    box_corners,
    compare_transforms,
    register_ct,
    transform_from_motion,
)

ORGAN_BOX = box_corners((-150.0, -80.0, 20.0), (150.0, 120.0, 600.0))


def _study():
    from theranostics.demo import cache_key
    from theranostics.phantom.generate import PhantomConfig, generate_study
    from theranostics.study import load_spect_study

    from .run import HERE

    config = PhantomConfig()
    folder = HERE.parent / ".cache" / "phantom" / cache_key(config)
    if not (folder / "truth" / "ground_truth.json").is_file():
        generate_study(folder, config, overwrite=True)
    truth = json.loads((folder / "truth" / "ground_truth.json").read_text())
    return load_spect_study(folder / "dicom", calibration_cps_per_MBq=10.0), truth


def _variant(study, truth, **options) -> dict:
    rows, total = [], 0.0
    fixed = study.time_points[0].ct
    for index in range(1, len(study.time_points)):
        started = time.perf_counter()
        reg = register_ct(fixed, study.time_points[index].ct, **options)
        wall = time.perf_counter() - started
        total += wall
        motion = transform_from_motion(truth["time_points"][index]["motion"])
        error = compare_transforms(reg.transform, motion, ORGAN_BOX)
        rows.append({
            "time_point": study.time_points[index].name,
            "wall_s": round(wall, 2),
            "max_displacement_error_mm": round(error["max_displacement_error_mm"], 3),
            "residual_rotation_deg": round(error.get("residual_rotation_deg", float("nan")), 4),
            "mutual_information_before_after": [round(reg.quality["mutual_information_before"], 4),
                                                round(reg.quality["mutual_information_after"], 4)],
            "bspline_kept": reg.bspline is not None,
            "warnings": len(reg.warnings),
        })  # fmt: skip
    return {
        "per_registration": rows,
        "total_wall_s": round(total, 2),
        "max_error_mm": max(r["max_displacement_error_mm"] for r in rows),
    }


def run(quick: bool = False) -> dict:
    """Time and score the variants (see module docstring)."""
    started = time.perf_counter()
    study, truth = _study()
    results = {"load_study_s": round(time.perf_counter() - started, 2),
               "ct_grid": {"size": list(study.time_points[0].ct.size),
                           "spacing_mm": list(study.time_points[0].ct.spacing_mm)}}  # fmt: skip
    results["rigid"] = _variant(study, truth)
    results["rigid_bspline"] = _variant(study, truth, deformable=True)
    if not quick:
        results["rigid_full_resolution"] = _variant(study, truth, working_spacing_mm=2.4)
    base = results["rigid"]["total_wall_s"]
    for key in ("rigid_bspline", "rigid_full_resolution"):
        if key in results:
            results[key]["ratio_to_rigid"] = round(results[key]["total_wall_s"] / base, 2)
    return results
