"""SUVpeak: the highest mean uptake in a 1 mL sphere inside a lesion (PERCIST 1.0).

Wahl RL, Jacene H, Kasamon Y, Lodge MA. From RECIST to PERCIST: evolving considerations for
PET response criteria in solid tumors. J Nucl Med 2009;50(Suppl 1):122S-150S: SULpeak is the
mean in a 1.2 cm diameter (1 mL) spherical VOI placed to give the highest value in the tumour.

Discretisation used here (documented in docs/lesions.md):

- the sphere has a volume of ``volume_mL`` (default 1 mL), radius r = (3 V / 4π)^(1/3)
  = 6.20 mm for 1 mL;
- candidate centres are the centres of the lesion's voxels;
- the sphere mean is the plain mean of the voxels whose *centres* lie within r of the centre
  (distances in mm with the voxel spacing; voxels outside the image are not counted). On
  coarse grids the discrete sphere is smaller or larger than 1 mL (4.8 mm voxels: 7 voxels,
  0.77 mL); :func:`sphere_kernel` reports the real volume.

The sphere means of all candidate centres are one correlation of the image with the
spherical kernel, on a crop around each lesion (direct correlation for small kernels, FFT for
kernels of more than 343 voxels), normalised by the same correlation of the in-image mask.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage, signal

#: Kernels with more voxels than this use FFT convolution.
FFT_KERNEL_VOXELS = 343


def sphere_radius_mm(volume_mL: float = 1.0) -> float:
    """Radius (mm) of a sphere of ``volume_mL``: (3 V / (4 π))^(1/3), V in mm^3."""
    return (3.0 * volume_mL * 1000.0 / (4.0 * math.pi)) ** (1.0 / 3.0)


def sphere_kernel(spacing_mm, volume_mL: float = 1.0) -> np.ndarray:
    """Boolean kernel ``[k, j, i]``: offsets whose voxel centre lies within the sphere radius.

    ``spacing_mm`` is (i, j, k); the kernel is symmetric and has odd sizes. Its real volume is
    ``kernel.sum() × voxel volume``.
    """
    r = sphere_radius_mm(volume_mL)
    sx, sy, sz = (float(s) for s in spacing_mm)
    half = [math.floor(r / s + 1e-9) for s in (sz, sy, sx)]
    k, j, i = np.mgrid[
        -half[0] : half[0] + 1,
        -half[1] : half[1] + 1,
        -half[2] : half[2] + 1,
    ]
    return (k * sz) ** 2 + (j * sy) ** 2 + (i * sx) ** 2 <= r * r + 1e-9


def _crop(slices, shape, pad) -> tuple[slice, ...]:
    return tuple(
        slice(max(0, s.start - p), min(n, s.stop + p)) for s, n, p in zip(slices, shape, pad)
    )


def sphere_means(values: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Mean of ``values`` over the kernel centred on every voxel; voxels outside the array
    are not counted (the mean is over the voxels that exist)."""
    ones = np.ones(values.shape, dtype=np.float64)
    weights = kernel.astype(np.float64)
    if kernel.sum() > FFT_KERNEL_VOXELS:
        sums = signal.fftconvolve(values.astype(np.float64), weights, mode="same")
        counts = signal.fftconvolve(ones, weights, mode="same")
        counts = np.rint(counts)  # FFT round-off on what are integer counts
    else:
        sums = ndimage.correlate(values.astype(np.float64), weights, mode="constant", cval=0.0)
        counts = ndimage.correlate(ones, weights, mode="constant", cval=0.0)
    return sums / np.maximum(counts, 1.0)


def lesion_peaks(
    values: np.ndarray,
    labels: np.ndarray,
    spacing_mm,
    *,
    volume_mL: float = 1.0,
) -> dict[int, tuple[float, tuple[int, int, int]]]:
    """Peak (highest sphere mean with its centre in the lesion) of every label.

    Args:
        values: uptake ``[k, j, i]``.
        labels: integer labels ``[k, j, i]`` (0 = background), same shape.
        spacing_mm: (i, j, k) spacing in mm.
        volume_mL: sphere volume (1 mL in PERCIST).

    Returns:
        label -> (peak value, (k, j, i) index of the sphere centre).
    """
    kernel = sphere_kernel(spacing_mm, volume_mL)
    pad = [n // 2 for n in kernel.shape]
    result: dict[int, tuple[float, tuple[int, int, int]]] = {}
    for index, slices in enumerate(ndimage.find_objects(labels), start=1):
        if slices is None:
            continue
        box = _crop(slices, values.shape, pad)
        # The crop holds the kernel margin wherever the image has it, so every centre in
        # the lesion sees its full neighbourhood; at the image border the count
        # normalisation leaves out the voxels that do not exist.
        means = sphere_means(values[box], kernel)
        inside = labels[box] == index
        flat = np.where(inside, means, -np.inf)
        best = np.unravel_index(int(np.argmax(flat)), flat.shape)
        centre = tuple(int(b + s.start) for b, s in zip(best, box))
        result[index] = (float(flat[best]), centre)
    return result


def brute_force_peak(
    values: np.ndarray, mask: np.ndarray, spacing_mm, *, volume_mL: float = 1.0
) -> tuple[float, tuple[int, int, int]]:
    """Reference implementation: loop over every voxel centre of ``mask``, average the voxels
    whose centres lie within the sphere radius (physical distance), keep the highest.
    O(N_mask × N_voxels): for tests on small crops only."""
    r = sphere_radius_mm(volume_mL)
    sx, sy, sz = (float(s) for s in spacing_mm)
    k, j, i = np.indices(values.shape)
    best, where = -math.inf, (0, 0, 0)
    for ck, cj, ci in zip(*np.nonzero(mask)):
        d2 = ((k - ck) * sz) ** 2 + ((j - cj) * sy) ** 2 + ((i - ci) * sx) ** 2
        mean = float(values[d2 <= r * r + 1e-9].mean())
        if mean > best:
            best, where = mean, (int(ck), int(cj), int(ci))
    return best, where
