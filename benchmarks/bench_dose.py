"""Dose engine benchmarks: FFT kernel convolution vs scipy.signal.fftconvolve; kernel generation.

Figures (one run, same machine, side by side):

* kernel dose on 128³ and 256³ TIA maps (177Lu, 4.8 mm voxels, kernel with photons to 60 mm):
  wall time of our engine (float64 and float32) and of ``scipy.signal.fftconvolve`` with the
  same kernel, their ratio, the maximum relative difference, and the extra peak memory of
  each (``ru_maxrss`` rise in a fresh process, MiB);
* kernel generation time per voxel size: first call (empty cache) and cached (from disk,
  and from memory).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import tempfile
import time

import numpy as np

NUCLIDE = "Lu-177"
VOXEL_MM = 4.8


def _tia(n: int) -> np.ndarray:
    rng = np.random.default_rng(n)
    z, y, x = np.ogrid[:n, :n, :n]
    r2 = (z - n / 2) ** 2 + (y - n / 2) ** 2 + (x - n / 2) ** 2  # broadcast: low setup peak
    tia = rng.gamma(4.0, 0.25, size=(n, n, n))
    tia *= np.where(r2 < (n / 3) ** 2, 50.0, 1.0)
    return tia


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _measure(job: tuple) -> dict:
    """Run one engine in this (fresh) process; time and extra peak memory."""
    engine, n, cache = job
    os.environ["THERANOSTICS_CACHE"] = cache
    from scipy.signal import fftconvolve

    from theranostics.dose.engines import kernel_dose_Gy
    from theranostics.dose.kernels import voxel_kernel

    kernel = voxel_kernel(NUCLIDE, VOXEL_MM)
    tia = _tia(n)
    scaled = kernel.values_mGy_per_MBq_s * 3.6
    base = _maxrss_mib()
    t0 = time.perf_counter()
    if engine == "ours_float64":
        out = kernel_dose_Gy(tia, kernel)
    elif engine == "ours_float32":
        out = kernel_dose_Gy(tia, kernel, dtype=np.float32)
    else:
        out = fftconvolve(tia, scaled, mode="same")
    wall = time.perf_counter() - t0
    return {
        "wall_s": round(wall, 4),
        "extra_peak_MiB": round(_maxrss_mib() - base, 1),
        "checksum": float(out.sum()),
        "centre": float(out[n // 2, n // 2, n // 2]),
    }


def _compare(job: tuple) -> dict:
    """Maximum relative difference of our result vs fftconvolve (same process)."""
    n, cache = job
    os.environ["THERANOSTICS_CACHE"] = cache
    from scipy.signal import fftconvolve

    from theranostics.dose.engines import kernel_dose_Gy
    from theranostics.dose.kernels import voxel_kernel

    kernel = voxel_kernel(NUCLIDE, VOXEL_MM)
    tia = _tia(n)
    ref = fftconvolve(tia, kernel.values_mGy_per_MBq_s * 3.6, mode="same")
    ours = kernel_dose_Gy(tia, kernel)
    ours32 = kernel_dose_Gy(tia, kernel, dtype=np.float32)
    scale = float(np.max(np.abs(ref)))
    return {
        "max_rel_diff_float64": float(np.max(np.abs(ours - ref)) / scale),
        "max_rel_diff_float32": float(np.max(np.abs(ours32 - ref)) / scale),
        "equal_to_1e-6": bool(np.max(np.abs(ours - ref)) <= 1e-6 * scale),
    }


def _kernel_times(job: tuple) -> dict:
    voxel, cache = job
    os.environ["THERANOSTICS_CACHE"] = cache
    from theranostics.dose import kernels as kmod

    t0 = time.perf_counter()
    k = kmod.voxel_kernel(NUCLIDE, voxel)
    first = time.perf_counter() - t0
    kmod.clear_memory_cache()
    t0 = time.perf_counter()
    kmod.voxel_kernel(NUCLIDE, voxel)
    disk = time.perf_counter() - t0
    t0 = time.perf_counter()
    kmod.voxel_kernel(NUCLIDE, voxel)
    memory = time.perf_counter() - t0
    return {
        "voxel_mm": voxel,
        "kernel_shape": list(k.shape),
        "first_call_s": round(first, 4),
        "cached_disk_s": round(disk, 5),
        "cached_memory_s": round(memory, 6),
    }


def run(quick: bool) -> dict:
    """Run the dose benchmarks; ``quick`` uses 64³/96³ maps and fewer voxel sizes."""
    sizes = (64, 96) if quick else (128, 256)
    voxels = (6.0, 4.8, 3.0) if quick else (6.0, 4.8, 3.0, 2.0, 1.0)
    ctx = mp.get_context("spawn")
    results: dict = {
        "nuclide": NUCLIDE,
        "voxel_mm": VOXEL_MM,
        "photon_extent_mm": 60.0,
        "cpu_count": os.cpu_count(),
        "convolution": {},
        "kernel_generation": [],
    }
    with tempfile.TemporaryDirectory(prefix="theranostics-bench-") as cache:
        for voxel in voxels:
            with ctx.Pool(1) as pool:
                results["kernel_generation"].append(pool.apply(_kernel_times, ((voxel, cache),)))
            print(results["kernel_generation"][-1], flush=True)
        for n in sizes:
            row = {}
            for engine in ("ours_float64", "ours_float32", "scipy_fftconvolve"):
                with ctx.Pool(1) as pool:
                    row[engine] = pool.apply(_measure, ((engine, n, cache),))
            with ctx.Pool(1) as pool:
                row.update(pool.apply(_compare, ((n, cache),)))
            ref = row["scipy_fftconvolve"]["wall_s"]
            row["speedup_float64_vs_fftconvolve"] = round(ref / row["ours_float64"]["wall_s"], 2)
            row["speedup_float32_vs_fftconvolve"] = round(ref / row["ours_float32"]["wall_s"], 2)
            results["convolution"][f"{n}^3"] = row
            print(n, row, flush=True)
    return results
