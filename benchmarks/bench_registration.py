"""Registration of the four time points of the standard synthetic study (2.4 mm CT).

Side by side in one run, on the same CTs (time points 2-4 registered to the first):

- ``rigid``: :func:`theranostics.registration.register_ct` as the study pipeline runs it
  (4.8 mm working grid cropped to the body, two levels, one thread, the reference CT
  prepared once as :func:`theranostics.study.register_study` does);
- ``rigid_previous``: our settings before issue 15 (three levels 4-2-1, whole field of view,
  SimpleITK's default thread count, reference prepared for every pair);
- ``plain_simpleitk``: a plain SimpleITK rigid registration with the settings of the
  SimpleITK registration notebooks, on the full-resolution CTs: Euler3D initialised on the
  image centres, Mattes MI (50 bins, random 1 %), linear interpolation, gradient descent
  (learning rate 1, 100 iterations, convergence 1e-6 over 10), scales from physical shift,
  three levels (shrink 4, 2, 1; sigma 2, 1, 0 physical mm);
- ``rigid_bspline``: ours with the B-spline stage (``deformable=True``; ``--quick`` skips it).

Reports wall and CPU time (s) per registration and in total, the accuracy against the known
motion (maximum displacement error over the corners of a box around the organs, mm; residual
rotation, degrees), the body-centroid residual (mm), and the ratios to ``rigid`` in this run.
The machine is shared: wall times move with the load, CPU times and ratios less so.
"""

from __future__ import annotations

import json
import time

import SimpleITK as sitk

from theranostics.registration import (
    box_corners,
    compare_transforms,
    register_ct,
    transform_from_motion,
)
from theranostics.registration.body import as_ct_image
from theranostics.registration.ct import prepare_ct

ORGAN_BOX = box_corners((-150.0, -80.0, 20.0), (150.0, 120.0, 600.0))
PREVIOUS = {"shrink_factors": (4, 2, 1), "smoothing_sigmas": (2, 1, 0), "crop_margin_mm": None,
            "threads": 0}  # fmt: skip


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


def plain_simpleitk_rigid(fixed: sitk.Image, moving: sitk.Image) -> sitk.Transform:
    """The baseline: a plain SimpleITK rigid registration (module docstring)."""
    fixed = sitk.Cast(fixed, sitk.sitkFloat32)
    moving = sitk.Cast(moving, sitk.sitkFloat32)
    initial = sitk.CenteredTransformInitializer(
        fixed, moving, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.GEOMETRY
    )
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=50)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.01, 1)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsGradientDescent(
        learningRate=1.0, numberOfIterations=100, convergenceMinimumValue=1e-6,
        convergenceWindowSize=10,
    )  # fmt: skip
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([4, 2, 1])
    method.SetSmoothingSigmasPerLevel([2, 1, 0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    rigid = sitk.Euler3DTransform(initial)
    method.SetInitialTransform(rigid, inPlace=True)
    method.Execute(fixed, moving)
    return rigid


def _row(index, name, wall, cpu, transform, truth, residual=None) -> dict:
    motion = transform_from_motion(truth["time_points"][index]["motion"])
    error = compare_transforms(transform, motion, ORGAN_BOX)
    row = {
        "time_point": name,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "max_displacement_error_mm": round(error["max_displacement_error_mm"], 3),
        "residual_rotation_deg": round(error.get("residual_rotation_deg", float("nan")), 4),
    }
    if residual is not None:
        row["body_centroid_residual_mm"] = round(residual, 3)
    return row


def _summary(rows) -> dict:
    return {
        "per_registration": rows,
        "total_wall_s": round(sum(r["wall_s"] for r in rows), 3),
        "total_cpu_s": round(sum(r["cpu_s"] for r in rows), 3),
        "max_error_mm": max(r["max_displacement_error_mm"] for r in rows),
    }


def _ours(study, truth, *, prepare_once=True, **options) -> dict:
    rows = []
    fixed = study.time_points[0].ct
    if prepare_once:  # as register_study: the reference prepared once (its time counted)
        w, c = time.perf_counter(), time.process_time()
        fixed = prepare_ct(fixed)
        prep_wall, prep_cpu = time.perf_counter() - w, time.process_time() - c
    for index in range(1, len(study.time_points)):
        w, c = time.perf_counter(), time.process_time()
        reg = register_ct(fixed, study.time_points[index].ct, **options)
        wall, cpu = time.perf_counter() - w, time.process_time() - c
        if prepare_once and index == 1:
            wall, cpu = wall + prep_wall, cpu + prep_cpu
        row = _row(index, study.time_points[index].name, wall, cpu, reg.transform, truth,
                   reg.quality["body_centroid_residual_after_mm"])  # fmt: skip
        row["stop"] = reg.stop_conditions.get("rigid", "")[:80]
        row["bspline_kept"] = reg.bspline is not None
        row["warnings"] = len(reg.warnings)
        rows.append(row)
    return _summary(rows)


def _plain(study, truth) -> dict:
    rows = []
    fixed = as_ct_image(study.time_points[0].ct)
    for index in range(1, len(study.time_points)):
        w, c = time.perf_counter(), time.process_time()
        transform = plain_simpleitk_rigid(fixed, as_ct_image(study.time_points[index].ct))
        wall, cpu = time.perf_counter() - w, time.process_time() - c
        rows.append(_row(index, study.time_points[index].name, wall, cpu, transform, truth))
    return _summary(rows)


def run(quick: bool = False) -> dict:
    """Time and score the variants (see module docstring)."""
    started = time.perf_counter()
    study, truth = _study()
    results = {"load_study_s": round(time.perf_counter() - started, 2),
               "ct_grid": {"size": list(study.time_points[0].ct.size),
                           "spacing_mm": list(study.time_points[0].ct.spacing_mm)},
               "sitk_threads": sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()}  # fmt: skip
    results["rigid"] = _ours(study, truth)
    results["rigid_previous"] = _ours(study, truth, prepare_once=False, **PREVIOUS)
    results["plain_simpleitk"] = _plain(study, truth)
    if not quick:
        results["rigid_bspline"] = _ours(study, truth, deformable=True)
    base_wall, base_cpu = results["rigid"]["total_wall_s"], results["rigid"]["total_cpu_s"]
    for key in ("rigid_previous", "plain_simpleitk", "rigid_bspline"):
        if key in results:
            results[key]["wall_ratio_to_rigid"] = round(results[key]["total_wall_s"] / base_wall, 2)
            results[key]["cpu_ratio_to_rigid"] = round(results[key]["total_cpu_s"] / base_cpu, 2)
    return results
