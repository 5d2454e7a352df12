"""Gamma index benchmark: our engine vs ``pymedphys`` gamma (interp_algo "scipy").

Figures (one run, same machine, side by side):

* a synthetic dose pair (body-like region with smooth hot structures; the evaluated dose is
  2 % hotter, with 9 % correlated noise and shifted by one voxel plus a sub-voxel origin
  offset, so the grids differ) on 128³ at 4 mm (the size the issue names) and on 128³ at 2.4 mm;
* criteria 3 %/3 mm and 2 %/2 mm, global and local, 1 % low-dose cutoff, max gamma 2;
* our wall time on every point, pass rate, mean gamma;
* the peer, when ``pymedphys`` is importable (it is not a dependency: install it in a side
  folder and put that on PYTHONPATH), run with its defaults (interp_fraction 10) on a random
  subset of points (it is too slow for every point): its wall time, the time extrapolated to
  all points (× points/subset), the speed ratio, and the pass rates of both on that subset;
  points where the two disagree on pass/fail are arbitrated by a brute-force minimum on a
  δ/30 lattice (which of the two is closer to it).
Without pymedphys the peer is replaced by the brute force on a smaller subset.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import SimpleITK as sitk
from scipy.ndimage import gaussian_filter, map_coordinates


def dose_pair(n: int, spacing_mm: float, seed: int = 1) -> tuple[sitk.Image, sitk.Image]:
    """Reference and evaluated doses (Gy) on grids that differ by a sub-voxel origin shift."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*(np.arange(n) - n / 2,) * 3, indexing="ij")
    body = ((x / (0.42 * n)) ** 2 + (y / (0.3 * n)) ** 2 < 1) & (np.abs(z) < 0.45 * n)
    d = np.where(body, 0.5, 0.0)
    for _ in range(12):
        c = rng.uniform(-0.25 * n, 0.25 * n, 3)
        r = rng.uniform(2, 10) * n / 128
        d += rng.uniform(3, 30) * (((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2) < r * r)
    ref = gaussian_filter(d, 2.0)
    noise = 1 + 0.09 * gaussian_filter(rng.standard_normal(d.shape), 1.0)
    ev = np.roll(gaussian_filter(d * 1.02, 2.0) * noise, 1, axis=2)
    a = sitk.GetImageFromArray(ref)
    a.SetSpacing((spacing_mm,) * 3)
    b = sitk.GetImageFromArray(ev)
    b.SetSpacing((spacing_mm,) * 3)
    b.SetOrigin((0.2 * spacing_mm, -0.15 * spacing_mm, 0.1 * spacing_mm))
    return a, b


def _axes(img: sitk.Image):
    size, sp, o = img.GetSize()[::-1], img.GetSpacing()[::-1], img.GetOrigin()[::-1]
    return tuple(o[d] + sp[d] * np.arange(size[d]) for d in range(3))


def _brute(a, b, kji, dose_percent, dta_mm, local, norm, max_gamma=2.0):
    """Minimum Γ over a δ/30 lattice in the ball of radius max_gamma·δ (plain reference)."""
    ref, ev = sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b)
    h = dta_mm / 30
    m = int(max_gamma * dta_mm / h)
    axis = np.arange(-m, m + 1) * h
    offs = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    offs = offs[np.linalg.norm(offs, axis=1) <= max_gamma * dta_mm]
    out = []
    for p in kji:
        point = np.array(a.TransformIndexToPhysicalPoint(tuple(int(v) for v in p[::-1])))
        idx = (point + offs - np.array(b.GetOrigin())) / np.array(b.GetSpacing())
        vals = map_coordinates(ev, idx[:, ::-1].T, order=1, mode="constant", cval=np.nan)
        r = ref[tuple(p)]
        delta = dose_percent / 100 * (r if local else norm)
        f = np.sqrt(np.sum(offs**2, 1) / dta_mm**2 + (vals - r) ** 2 / delta**2)
        out.append(min(float(np.nanmin(f)), max_gamma))
    return np.array(out)


def _peer():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pymedphys._gamma.implementation.shell import gamma_shell  # pymedphys.gamma
        import pymedphys._version as version

        return gamma_shell, ".".join(str(v) for v in version.version_info)
    except Exception:
        return None, None


def _case(a, b, dose_percent, dta_mm, local, subset, gamma_shell) -> dict:
    from theranostics.verify.gamma import gamma_index

    t0 = time.perf_counter()
    ours = gamma_index(
        a, b, dose_percent=dose_percent, dta_mm=dta_mm, local=local, cutoff_percent=1.0
    )
    wall = time.perf_counter() - t0
    g = sitk.GetArrayFromImage(ours.gamma)
    row = {
        "ours": {
            "wall_s": round(wall, 3),
            "pass_rate_percent": round(ours.pass_rate_percent, 3),
            "gamma_mean": round(ours.gamma_mean, 4),
            "evaluated_points": ours.evaluated_points,
        }
    }
    norm = ours.parameters["normalisation_Gy"]
    if gamma_shell is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            peer = gamma_shell(
                _axes(a),
                sitk.GetArrayFromImage(a),
                _axes(b),
                sitk.GetArrayFromImage(b),
                dose_percent,
                dta_mm,
                lower_percent_dose_cutoff=1.0,
                interp_fraction=10,
                max_gamma=2.0,
                local_gamma=local,
                random_subset=subset,
                quiet=True,
                interp_algo="scipy",
                ram_available=2**31,
            )
            peer_wall = time.perf_counter() - t0
        on = np.isfinite(peer)
        extrapolated = peer_wall * ours.evaluated_points / on.sum()
        p_pass, o_pass = peer[on] <= 1, g[on] <= 1
        disagree = np.argwhere(on & ((peer <= 1) != (g <= 1)))[:30]
        brute = _brute(a, b, disagree, dose_percent, dta_mm, local, norm)
        ours_closer = sum(
            abs(g[tuple(p)] - v) <= abs(min(peer[tuple(p)], 2.0) - v)
            for p, v in zip(disagree, brute, strict=True)
        )
        row["pymedphys"] = {
            "subset_points": int(on.sum()),
            "wall_s_subset": round(peer_wall, 3),
            "wall_s_extrapolated_all_points": round(extrapolated, 1),
            "pass_rate_percent_subset": round(100 * float(p_pass.mean()), 3),
        }
        row["ours_pass_rate_percent_same_subset"] = round(100 * float(o_pass.mean()), 3)
        row["pass_rate_difference_points"] = round(100 * float(o_pass.mean() - p_pass.mean()), 3)
        row["speed_ratio_extrapolated"] = round(extrapolated / wall, 1)
        row["mean_gamma_difference_peer_minus_ours"] = round(
            float(np.mean(np.minimum(peer[on], 2.0) - g[on])), 5
        )
        row["pass_fail_disagreements"] = int(np.count_nonzero(p_pass != o_pass))
        row["disagreements_where_ours_is_closer_to_brute_force"] = f"{ours_closer}/{len(disagree)}"
    else:
        rng = np.random.default_rng(0)
        points = np.argwhere(np.isfinite(g))
        points = points[rng.choice(len(points), min(200, len(points)), replace=False)]
        t0 = time.perf_counter()
        brute = _brute(a, b, points, dose_percent, dta_mm, local, norm)
        row["brute_force"] = {
            "points": len(points),
            "wall_s": round(time.perf_counter() - t0, 3),
            "max_abs_difference": float(np.max(np.abs(brute - g[tuple(points.T)]))),
            "pass_fail_disagreements": int(np.sum((brute <= 1) != (g[tuple(points.T)] <= 1))),
        }
    print(dose_percent, dta_mm, "local" if local else "global", row, flush=True)
    return row


def run(quick: bool) -> dict:
    """Run the gamma benchmark; ``quick`` uses 64³ grids and one criterion."""
    gamma_shell, version = _peer()
    grids = ((64, 4.8),) if quick else ((128, 4.0), (128, 2.4))
    criteria = ((3.0, 3.0),) if quick else ((3.0, 3.0), (2.0, 2.0))
    results: dict = {
        "peer": f"pymedphys {version} gamma_shell interp_algo=scipy interp_fraction=10"
        if gamma_shell
        else "brute force (pymedphys not importable)",
        "cutoff_percent": 1.0,
        "max_gamma": 2.0,
        "cases": {},
    }
    for n, spacing in grids:
        a, b = dose_pair(n, spacing)
        for dose_percent, dta_mm in criteria:
            for local in (False, True):
                key = f"{n}^3 {spacing} mm {dose_percent:g}%/{dta_mm:g}mm " + (
                    "local" if local else "global"
                )
                subset = 1000 if quick else 3000
                results["cases"][key] = _case(
                    a, b, dose_percent, dta_mm, local, subset, gamma_shell
                )
    return results
