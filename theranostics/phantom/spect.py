"""Imaging models of the phantom: patient motion, moving activity between poses, the
scanner's resolution (Gaussian PSF) and counting noise (Poisson).

- Motion: a small rigid transform per session (rotations of a few degrees at most, shifts of
  a few mm), identity for the first SPECT/CT, so that registration matters.
- Moving activity: every fine-grid voxel's activity is carried to its new position and shared
  among the 8 nearest voxels of the scanner's fine grid with trilinear weights (they sum to
  one, so activity is conserved exactly up to rounding), then summed over 2x2x2 blocks onto
  the emission grid.
- Resolution: a 3D Gaussian of the stated FWHM (mm), ``sigma_voxel = FWHM / (2 sqrt(2 ln 2))
  / spacing``, zero outside the field of view (the body stays well inside it).
- Counts: ``N ~ Poisson(cal * integral of A over the acquisition)``, ``cal`` in cps/MBq, the
  activity integral in MBq·s; no decay correction.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .anatomy import BODY_CENTRE_MM, Grid, RigidTransform

FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


def draw_motion(
    rng: np.random.Generator, max_angle_deg: float = 2.0, max_shift_mm: float = 6.0
) -> RigidTransform:
    """A random small rigid pose: angles uniform in ±``max_angle_deg``, shifts in
    ±``max_shift_mm``, about the body centre."""
    angles = tuple(float(a) for a in rng.uniform(-max_angle_deg, max_angle_deg, 3))
    shift = tuple(float(s) for s in rng.uniform(-max_shift_mm, max_shift_mm, 3))
    return RigidTransform(angles, shift, BODY_CENTRE_MM)


def block_sum(array: np.ndarray, factor: int = 2) -> np.ndarray:
    """Sum of ``factor``^3 blocks of a ``[k, j, i]`` array (sizes must divide)."""
    nz, ny, nx = array.shape
    f = factor
    return array.reshape(nz // f, f, ny // f, f, nx // f, f).sum(axis=(1, 3, 5))


def move_activity(
    values: np.ndarray, grid: Grid, transform: RigidTransform, chunk: int = 1_000_000
) -> np.ndarray:
    """Carry a per-voxel quantity (activity, ``[k, j, i]`` on ``grid``, reference pose) to the
    pose ``transform`` on the same grid, conserving its sum (trilinear splatting).

    Content carried outside the grid is dropped (the body stays inside the field of view).
    """
    if transform.is_identity:
        return values.astype(np.float64, copy=True)
    nz, ny, nx = values.shape
    flat = values.ravel()
    idx = np.flatnonzero(flat)
    out = np.zeros(values.size, dtype=np.float64)
    origin = np.asarray(grid.origin_mm)
    spacing = np.asarray(grid.spacing_mm)
    shape_ijk = np.array([nx, ny, nz])
    stride = np.array([1, nx, nx * ny])  # linear index = i + nx (j + ny k)
    for start in range(0, idx.size, chunk):
        part = idx[start : start + chunk]
        k, rem = np.divmod(part, ny * nx)
        j, i = np.divmod(rem, nx)
        pts = origin + spacing * np.stack([i, j, k], axis=1)
        cont = (transform.forward(pts) - origin) / spacing  # continuous index (i, j, k)
        base = np.floor(cont).astype(np.int64)
        frac = cont - base
        v = flat[part].astype(np.float64)
        # per axis and corner side (0: floor, 1: floor + 1): weight, inside the grid
        weights = [(1.0 - frac[:, a], frac[:, a]) for a in range(3)]
        inside = [
            ((base[:, a] >= 0) & (base[:, a] < shape_ijk[a]),
             (base[:, a] >= -1) & (base[:, a] < shape_ijk[a] - 1))
            for a in range(3)
        ]  # fmt: skip
        lin0 = base @ stride
        for corner in range(8):
            oi, oj, ok_ = (corner >> 0) & 1, (corner >> 1) & 1, (corner >> 2) & 1
            # the same products in the same order as prod(where(off, frac, 1 - frac), axis=1)
            w = weights[0][oi] * weights[1][oj] * weights[2][ok_]
            ok = inside[0][oi] & inside[1][oj] & inside[2][ok_]
            lin = lin0[ok] + (oi + nx * oj + nx * ny * ok_)
            if lin.size == 0:
                continue
            # The chunk's points are consecutive voxels, so their targets span a narrow band
            # of the grid: count on that band only (the same sums in the same order as a
            # whole-grid bincount, without adding a grid of zeros per corner).
            lo, hi = int(lin.min()), int(lin.max()) + 1
            out[lo:hi] += np.bincount(lin - lo, weights=v[ok] * w[ok], minlength=hi - lo)
    return out.reshape(values.shape)


def blur(image: np.ndarray, fwhm_mm: float, spacing_mm) -> np.ndarray:
    """Gaussian blur with isotropic FWHM (mm) on a ``[k, j, i]`` array with spacing (x, y, z)
    mm; zero outside the array."""
    if fwhm_mm <= 0:
        return image.astype(np.float64, copy=True)
    sigma = [fwhm_mm * FWHM_TO_SIGMA / s for s in (spacing_mm[2], spacing_mm[1], spacing_mm[0])]
    return ndimage.gaussian_filter(
        image.astype(np.float64), sigma=sigma, mode="constant", cval=0.0, truncate=4.0
    )


def poisson_counts(expected: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson draws of the expected counts (negative rounding residue clipped to 0)."""
    return rng.poisson(np.clip(expected, 0.0, None)).astype(np.int64)
