"""Whole-body PET lesion segmentation and biomarkers (200 × 200 × 300 voxels of 4 mm).

A synthetic PET (:mod:`theranostics.lesions.synthetic`: 24 spheres of 0.5-50 mL at SUV 4-12,
four hot "organs" excluded by masks, background SUV 1, 6 mm FWHM, noise) is written once;
each measured stage then runs in a fresh process that reads it, so that the peak resident
memory (``ru_maxrss``) is that stage's alone (the interpreter, imports and the image read are
reported separately as ``read_only``). Side by side, in the same run:

- ``percent_max`` / ``adaptive`` / ``fixed``: :func:`segment_lesions` (organ exclusion, seeds
  machinery, per-lesion watershed basins for the first two) + :func:`lesion_biomarkers`;
- ``plain_threshold``: the textbook baseline: SUV >= 3, SimpleITK ConnectedComponent,
  LabelShapeStatistics/LabelIntensityStatistics (no exclusion, no peak);
- ``peak``: SUVpeak by correlation with the spherical kernel (our implementation) against
  the brute-force loop over candidate centres, on the five largest lesions, with the largest
  difference between the two.

``detection`` (also alone: ``python -m benchmarks.bench_lesions detection [--quick]``, written
to ``benchmarks/results/lesions_detection.json``): detection quality on the planning PET/CT
of the synthetic phantom, presets ``psma-lu177`` and ``dotatate-lu177``, seeds 1-6 on the
small grid (PET 9.6 mm, CT 4.8 mm) and seeds 1-2 on the standard grid (PET 4.8 mm, CT 2.4
mm); ``--quick``: seeds 1-2, small grid only. Only the planning PET/CT and one SPECT/CT
are generated (``time_points_h=(4,)``), cached in ``.cache/phantom/lesion-bench``. Before:
today's former default (percent-max 41 %, floor SUVbw 3, no organ exclusion); after:
:func:`theranostics.lesions.detection.detect_lesions` with the CT (physiological uptake
recognised, PERCIST-style floor). Scores of :mod:`theranostics.lesions.evaluation`:
sensitivity for true lesions >= 2 mL, false positives per patient (physiological organs
counted separately), volume error of the detected lesions >= 2 mL.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

STAGES = ("read_only", "plain_threshold", "fixed", "percent_max", "adaptive")


def _blobs(size, spacing):
    from theranostics.lesions.synthetic import Blob

    rng = np.random.default_rng(11)
    half = np.array(size) * np.array(spacing) / 2.0
    organs = [
        Blob("kidney_left", (70.0, 40.0, 0.0), (28.0, 24.0, 50.0), 6.0),
        Blob("kidney_right", (-70.0, 40.0, 0.0), (28.0, 24.0, 50.0), 6.0),
        Blob("bladder", (0.0, -40.0, -0.35 * half[2]), (40.0, 35.0, 30.0), 8.0),
        Blob("parotid_left", (45.0, 10.0, 0.6 * half[2]), (11.0, 20.0, 22.0), 7.0),
    ]
    lesions = []
    volumes = np.geomspace(50.0, 0.5, 24)
    for n, volume in enumerate(volumes):
        centre = rng.uniform(-0.55, 0.55, 3) * half
        centre[2] = rng.uniform(-0.8, 0.8) * half[2]
        lesions.append(
            Blob.sphere(f"lesion_{n + 1:02d}", tuple(centre), float(volume), rng.uniform(4, 12))
        )
    return organs, lesions


def make_study(folder: Path, size, spacing) -> None:
    """Write the PET (NRRD + sidecar) and the organ label map into ``folder``."""
    import SimpleITK as sitk

    from theranostics.io.sidecar import write_image_with_sidecar
    from theranostics.lesions.label_maps import write_label_map
    from theranostics.lesions.synthetic import synthetic_pet

    organs, lesions = _blobs(size, spacing)
    qimage, truth = synthetic_pet(
        organs + lesions, size=size, spacing_mm=spacing, noise=0.05, seed=3
    )
    write_image_with_sidecar(qimage, folder / "pet.nrrd")
    labels = sitk.Image(qimage.image.GetSize(), sitk.sitkUInt8)
    labels.CopyInformation(qimage.image)
    for value, organ in enumerate(organs, start=1):
        labels = sitk.Mask(labels, sitk.Not(truth[organ.name]), value)
    write_label_map(folder / "organs.nrrd", labels, [o.name for o in organs])


def stage(name: str, folder: Path) -> dict:
    """Run one stage in this process; returns wall time and counts (peak RSS added by the
    caller from ``ru_maxrss``)."""
    import SimpleITK as sitk

    from theranostics.io import read_image
    from theranostics.lesions import lesion_biomarkers, segment_lesions
    from theranostics.lesions.label_maps import read_label_map

    qimage = read_image(folder / "pet.nrrd")
    organs = read_label_map(folder / "organs.nrrd")
    start = time.perf_counter()
    if name == "read_only":
        count = 0
    elif name == "plain_threshold":
        suv = sitk.Cast(qimage.image, sitk.sitkFloat32) * (80.0 * 1000.0 / 200e6)
        labels = sitk.ConnectedComponent(suv >= 3.0, True)
        shape = sitk.LabelShapeStatisticsImageFilter()
        shape.Execute(labels)
        stats = sitk.LabelIntensityStatisticsImageFilter()
        stats.Execute(labels, suv)
        count = len(shape.GetLabels())
    else:
        method = {"percent_max": "percent-max"}.get(name, name)
        seg = segment_lesions(qimage, method=method, exclude=organs, exclusion_margin_mm=5.0)
        table = lesion_biomarkers(qimage, seg)
        count = table.total["lesion_count"]
    return {"wall_s": round(time.perf_counter() - start, 3), "lesions": count}


def peak_comparison(folder: Path) -> dict:
    """SUVpeak by kernel correlation vs brute force on the five largest lesions."""
    from theranostics.io import read_image
    from theranostics.lesions import brute_force_peak, lesion_peaks, segment_lesions
    from theranostics.lesions.quantity import uptake

    qimage = read_image(folder / "pet.nrrd")
    seg = segment_lesions(qimage, method="percent-max")
    values = uptake(qimage).values.astype(np.float64)
    import SimpleITK as sitk

    labels = sitk.GetArrayFromImage(seg.labels).astype(np.int32)
    sizes = np.bincount(labels.ravel())[1:]
    chosen = [int(i) + 1 for i in np.argsort(-sizes)[:5]]
    subset = np.where(np.isin(labels, chosen), labels, 0)
    start = time.perf_counter()
    fast = lesion_peaks(values, subset, qimage.spacing_mm)
    fast_s = time.perf_counter() - start
    start = time.perf_counter()
    worst = 0.0
    for label in chosen:
        where = np.argwhere(subset == label)
        box = tuple(slice(max(0, lo - 3), hi + 4) for lo, hi in zip(where.min(0), where.max(0)))
        slow, _ = brute_force_peak(values[box], subset[box] == label, qimage.spacing_mm)
        worst = max(worst, abs(slow - fast[label][0]))
    slow_s = time.perf_counter() - start
    return {
        "lesions": len(chosen),
        "voxels_in_lesions": int(sizes[np.array(chosen) - 1].sum()),
        "kernel_correlation_s": round(fast_s, 4),
        "brute_force_s": round(slow_s, 3),
        "speed_up": round(slow_s / fast_s, 1),
        "max_abs_difference_suv": worst,
    }


PRESETS = ("psma-lu177", "dotatate-lu177")
CACHE = Path(__file__).resolve().parents[1] / ".cache" / "phantom" / "lesion-bench"


def planning_study(preset: str, seed: int, size: str = "small") -> Path:
    """The study of ``preset``/``seed``/``size`` with one SPECT time point (the planning
    PET/CT is all this benchmark needs), generated once into :data:`CACHE`."""
    from theranostics.phantom.generate import GENERATOR_VERSION, PhantomConfig, generate_study

    folder = CACHE / f"{preset}-seed{seed}-{size}-planning-v{GENERATOR_VERSION}"
    if not (folder / "truth" / "ground_truth.json").is_file():
        config = PhantomConfig(seed=seed, preset=preset, size=size, time_points_h=(4.0,))
        generate_study(folder, config, overwrite=True)
    return folder


def _summary(scores: list[dict]) -> dict:
    detected = sum(s["detected"] for s in scores)
    total = sum(s["true_lesions_ge_min"] for s in scores)
    errors = [p["volume_error"] for s in scores for p in s["lesions"] if p["detected"]]
    patients = len(scores)
    return {
        "patients": patients,
        "true_lesions_ge_2mL": total,
        "detected": detected,
        "sensitivity": round(detected / total, 4) if total else None,
        "false_positives_per_patient": round(
            sum(s["false_positives_other"] for s in scores) / patients, 3
        ),
        "physiological_reported_per_patient": round(
            sum(s["false_positives_physiological"] for s in scores) / patients, 3
        ),
        "patients_with_physiological_reported": sum(
            s["false_positives_physiological"] > 0 for s in scores
        ),
        "volume_error_median_abs": round(float(np.median(np.abs(errors))), 4) if errors else None,
        "volume_error_mean": round(float(np.mean(errors)), 4) if errors else None,
        "volume_error_range": [round(min(errors), 4), round(max(errors), 4)] if errors else None,
    }


def detection(quick: bool = False) -> dict:
    """Before/after detection quality on the synthetic planning PET/CTs (module docstring)."""
    import SimpleITK as sitk

    from theranostics.io import read_image
    from theranostics.lesions import segment_lesions
    from theranostics.lesions.detection import detect_lesions
    from theranostics.lesions.evaluation import score_detection, truth_on_grid
    from theranostics.lesions.quantity import uptake

    plan = {"small": (1, 2) if quick else (1, 2, 3, 4, 5, 6), "standard": () if quick else (1, 2)}
    rows = []
    for size, seeds in plan.items():
        for preset in PRESETS:
            for seed in seeds:
                study = planning_study(preset, seed, size)
                pet = read_image(study / "dicom" / "pet_planning" / "PT")
                ct = read_image(study / "dicom" / "pet_planning" / "CT")
                occupancy, truth = truth_on_grid(study, pet.image)
                u = uptake(pet)
                start = time.perf_counter()
                old = segment_lesions(pet, method="percent-max")
                old_s = time.perf_counter() - start
                start = time.perf_counter()
                new = detect_lesions(pet, ct)
                new_s = time.perf_counter() - start
                scored = []
                for labels_image in (old.labels, new.lesions.labels):
                    labels = sitk.GetArrayFromImage(labels_image).astype(np.int32)
                    scored.append(
                        score_detection(labels, u.values, occupancy, truth, u.voxel_volume_mL)
                    )
                rows.append(
                    {
                        "size": size,
                        "preset": preset,
                        "seed": seed,
                        "before": scored[0],
                        "after": scored[1],
                        "before_wall_s": round(old_s, 3),
                        "after_wall_s": round(new_s, 3),
                        "after_floor": new.floor["value"],
                        "after_floor_source": new.floor["source"],
                        "physiological": [p.organ for p in new.physiological],
                    }
                )
    summaries = {}
    for size, seeds in plan.items():
        if not seeds:
            continue
        picked = [r for r in rows if r["size"] == size]
        summaries[size] = {
            "grid": GRIDS[size],
            "seeds": list(seeds),
            "before": {"definition": BEFORE, **_summary([r["before"] for r in picked])},
            "after": {"definition": AFTER, **_summary([r["after"] for r in picked])},
            "wall_s_ratio_after_over_before": round(
                sum(r["after_wall_s"] for r in picked) / sum(r["before_wall_s"] for r in picked),
                2,
            ),
        }
    return {"presets": list(PRESETS), "summaries": summaries, "studies": rows}


GRIDS = {"small": "PET 9.6 mm, CT 4.8 mm", "standard": "PET 4.8 mm, CT 2.4 mm"}
BEFORE = "segment_lesions(method='percent-max'): 41 %, floor SUVbw 3, no organ exclusion"
AFTER = "detect_lesions(pet, ct): CT anatomy rules, PERCIST-style floor"


def run(quick: bool = False) -> dict:
    results = performance(quick)
    results["detection"] = detection(quick)
    return results


def performance(quick: bool = False) -> dict:
    """Speed and memory of the segmentation stages on the whole-body synthetic PET."""
    size = (100, 100, 150) if quick else (200, 200, 300)
    spacing = (4.0, 4.0, 4.0)
    with tempfile.TemporaryDirectory(prefix="bench-lesions-") as tmp:
        folder = Path(tmp)
        root = Path(__file__).resolve().parents[1]
        # Built in a child process: Linux keeps a parent's peak RSS in its children's
        # ru_maxrss, so the parent must stay small for the stage figures to mean anything.
        subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.bench_lesions",
                "make",
                str(folder),
                *map(str, size),
            ],
            check=True,
            cwd=root,
        )
        results = {"size": list(size), "spacing_mm": list(spacing), "stages": {}}
        for name in STAGES:
            proc = subprocess.run(
                [sys.executable, "-m", "benchmarks.bench_lesions", name, str(folder)],
                capture_output=True,
                text=True,
                check=True,
                cwd=root,
            )
            results["stages"][name] = json.loads(proc.stdout.strip().splitlines()[-1])
        results["peak"] = peak_comparison(folder)
    return results


if __name__ == "__main__":
    if sys.argv[1] == "detection":
        from benchmarks.run import RESULTS, machine_info

        quick = "--quick" in sys.argv
        started = time.perf_counter()
        figures = detection(quick)
        record = {
            "benchmark": "lesions_detection",
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "wall_s_total": round(time.perf_counter() - started, 3),
            "quick": quick,
            "machine": machine_info(),
            "load_average": list(__import__("os").getloadavg()),
            "results": figures,
        }
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "lesions_detection.json").write_text(json.dumps(record, indent=2))
        print(json.dumps(figures["summaries"], indent=2))
        sys.exit(0)
    if sys.argv[1] == "make":
        make_study(Path(sys.argv[2]), tuple(int(n) for n in sys.argv[3:6]), (4.0, 4.0, 4.0))
        sys.exit(0)
    figures = stage(sys.argv[1], Path(sys.argv[2]))
    figures["peak_rss_MiB"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(figures))
