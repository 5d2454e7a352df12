"""Voxel S-value kernels generated from the point kernels (MIRD Pamphlet 17).

A voxel S-value S(Δ) is the mean absorbed dose in a target voxel per decay uniformly
distributed in a source voxel at lattice offset Δ (Bolch et al. 1999, MIRD Pamphlet 17,
J Nucl Med 40:11S). With x uniform in the source box and y uniform in the target box, the
offset u = y - x has the density of a product of triangle ("tent") functions, which equals
the trilinear interpolation weight of the point u/h on the lattice node Δ divided by the
voxel volume V. Writing the point kernel as e(r), the energy deposited per unit radius,

    S(Δ) = 1/(ρ V) ∫0^∞ e(r) <w_Δ(r n / h)>_n dr,

where <.>_n averages over directions n. We evaluate this by cutting space into thin
spherical shells, taking each shell's energy exactly from the cumulative profile (closed form
or fine quadrature, :mod:`.point_kernels`), placing it at the shell's energy-weighted mean
radius (exact for the piecewise-linear weights inside a shell) and spreading it over
quasi-uniform directions (Fibonacci lattice) with trilinear weights. Because trilinear
weights sum to one, the kernel conserves the energy inside its extent *exactly*, and the
central voxel needs no special treatment: the r → 0 singularity of the point kernel
(∝ 1/r²) never appears. The kernel is then symmetrised over the reflections (and, for equal
spacings, the axis permutations) that the exact kernel has.

Kernels are cached in memory and on disk (``$THERANOSTICS_CACHE`` or
``~/.cache/theranostics``), written atomically.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import GeometryError, InputError
from ..nuclide_data import EmissionData, get_emissions
from . import point_kernels as pk
from .water import J_PER_MeV, electron_csda_range_mm

#: Version of the kernel model; bump to invalidate on-disk caches after a physics change.
KERNEL_MODEL_VERSION = 2  # 2: electron penetration fitted to published point kernels
#: Default radius (mm) to which the photon part of a kernel is computed.
DEFAULT_PHOTON_EXTENT_MM = 60.0
#: mGy/(MBq·s) per (Gy per decay): 1e6 decays per MBq·s, 1e3 mGy per Gy.
MGY_PER_MBQ_S_PER_GY_PER_DECAY = 1e9


@dataclass(frozen=True)
class VoxelKernel:
    """A voxel S-value kernel in water (unit density).

    Arrays are indexed ``[k, j, i]`` (z, y, x) like SimpleITK/numpy image arrays, centred:
    the source voxel is at index ``shape // 2``. Values are mGy/(MBq·s): mean absorbed dose
    to the target voxel per MBq·s of time-integrated activity in the source voxel.

    Attributes:
        nuclide: nuclide key.
        voxel_mm: voxel size (x, y, z) = (i, j, k), mm.
        electron_mGy_per_MBq_s: electrons and alphas (non-penetrating) part.
        photon_mGy_per_MBq_s: photon part (zeros if photons were excluded), same shape.
        photon_extent_mm: radius to which photons were followed (0: none).
    """

    nuclide: str
    voxel_mm: tuple[float, float, float]
    electron_mGy_per_MBq_s: np.ndarray = field(repr=False)
    photon_mGy_per_MBq_s: np.ndarray = field(repr=False)
    photon_extent_mm: float = 0.0

    @property
    def values_mGy_per_MBq_s(self) -> np.ndarray:
        """Total kernel (electrons + alphas + photons), mGy/(MBq·s), indexed [k, j, i]."""
        return self.electron_mGy_per_MBq_s + self.photon_mGy_per_MBq_s

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (nk, nj, ni), all odd."""
        return tuple(self.electron_mGy_per_MBq_s.shape)

    @property
    def voxel_mass_g(self) -> float:
        """Mass of one water voxel, g (1 g/mL; 1 mL = 1000 mm^3)."""
        return float(np.prod(self.voxel_mm)) / 1000.0

    def value_at(self, i: int, j: int, k: int) -> float:
        """S-value (mGy/(MBq·s)) at lattice offset (i, j, k) along (x, y, z); 0 outside."""
        c = np.array(self.shape) // 2
        idx = (c[0] + k, c[1] + j, c[2] + i)
        if any(v < 0 or v >= s for v, s in zip(idx, self.shape)):
            return 0.0
        return float(self.values_mGy_per_MBq_s[idx])


def _validate_voxel(voxel_mm) -> tuple[float, float, float]:
    try:
        v = [float(x) for x in np.atleast_1d(np.asarray(voxel_mm, dtype=float))]
    except (TypeError, ValueError):
        raise InputError(
            f"voxel size {voxel_mm!r} is not a number", tag="voxel_mm", fix="give mm, e.g. 4.8"
        ) from None
    if len(v) == 1:
        v = v * 3
    if len(v) != 3 or not all(math.isfinite(x) and x > 0 for x in v):
        raise GeometryError(
            f"voxel size {v} mm must be one or three positive finite numbers",
            tag="voxel_mm",
            fix="give the voxel size in mm, e.g. 4.8 or 4.8,4.8,4.8",
        )
    return (v[0], v[1], v[2])


def _fibonacci_directions(n: int) -> np.ndarray:
    """``n`` quasi-uniform unit vectors (golden-angle spiral), shape (n, 3) as (x, y, z)."""
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    phi = k * math.pi * (3.0 - math.sqrt(5.0))
    rxy = np.sqrt(np.maximum(0.0, 1.0 - z * z))
    return np.column_stack([rxy * np.cos(phi), rxy * np.sin(phi), z])


def _shells(cumulative, extent_mm: float, near_mm: float, h_min_mm: float):
    """Shell energies (MeV) and energy-weighted mean radii (mm) of a cumulative profile."""
    fine_near = h_min_mm / 8.0
    fine_far = h_min_mm / 3.0
    edges = np.arange(0.0, min(near_mm, extent_mm), fine_near)
    if edges[-1] < extent_mm:
        start = edges[-1] + fine_near
        far = np.arange(start, extent_mm, fine_far) if start < extent_mm else np.array([])
        edges = np.concatenate([edges, far, [extent_mm]])
    edges = np.unique(edges)
    sub = 16
    t = (np.arange(sub + 1) / sub).reshape(1, -1)
    r_sub = edges[:-1, None] + (edges[1:] - edges[:-1])[:, None] * t  # (n_shell, sub+1)
    q = cumulative(r_sub.ravel()).reshape(r_sub.shape)
    dq = np.diff(q, axis=1)
    energy = dq.sum(axis=1)
    r_mid = 0.5 * (r_sub[:, 1:] + r_sub[:, :-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        centroid = np.where(energy > 0, (dq * r_mid).sum(axis=1) / energy, r_mid.mean(axis=1))
    # The first shell holds the local (r -> 0+) energy; q(0) = 0 so it is counted there.
    keep = energy > 0
    return energy[keep], centroid[keep]


def _splat(energy_MeV, radius_mm, voxel_mm, half: np.ndarray) -> np.ndarray:
    """Spread shell energies over directions onto the voxel lattice (trilinear weights)."""
    h = np.asarray(voxel_mm, dtype=float)
    shape = tuple(int(2 * n + 1) for n in half[::-1])  # (k, j, i)
    out = np.zeros(int(np.prod(shape)))
    spacing = h.min() / 2.5
    batch_pts: list[np.ndarray] = []
    batch_w: list[np.ndarray] = []
    count = 0

    def flush():
        nonlocal count
        if not batch_pts:
            return
        p = np.concatenate(batch_pts) + half  # voxel units, (x, y, z), >= 0
        w = np.concatenate(batch_w)
        base = np.floor(p).astype(np.int64)
        frac = p - base
        for dx, dy, dz in itertools.product((0, 1), repeat=3):
            wx = frac[:, 0] if dx else 1.0 - frac[:, 0]
            wy = frac[:, 1] if dy else 1.0 - frac[:, 1]
            wz = frac[:, 2] if dz else 1.0 - frac[:, 2]
            ix, iy, iz = base[:, 0] + dx, base[:, 1] + dy, base[:, 2] + dz
            flat = (iz * shape[1] + iy) * shape[2] + ix
            out[:] += np.bincount(flat, weights=w * wx * wy * wz, minlength=out.size)
        batch_pts.clear()
        batch_w.clear()
        count = 0

    for e, r in zip(energy_MeV, radius_mm):
        n_dir = max(48, math.ceil(4.0 * math.pi * r * r / (spacing * spacing)))
        pts = _fibonacci_directions(n_dir) * (r / h)
        batch_pts.append(pts)
        batch_w.append(np.full(n_dir, e / n_dir))
        count += n_dir
        if count > 2_000_000:
            flush()
    flush()
    return out.reshape(shape)


def _symmetrise(arr: np.ndarray, voxel_mm) -> np.ndarray:
    """Average over axis reflections and over permutations of axes of equal spacing."""
    out = arr.copy()
    for axis in range(3):
        out = 0.5 * (out + np.flip(out, axis=axis))
    h = list(voxel_mm)[::-1]  # (k, j, i) order, matching the array axes
    perms = [p for p in itertools.permutations(range(3)) if all(h[p[a]] == h[a] for a in range(3))]
    if len(perms) > 1:  # axes of equal spacing have equal lengths, so transposes align
        out = sum(np.transpose(out, p) for p in perms) / len(perms)
    return out


def _electron_extent_mm(em: EmissionData) -> float:
    e_max = 0.0
    for e, n in em.beta_spectra:
        e_max = max(e_max, float(e[n > 0].max()) if np.any(n > 0) else 0.0)
    if em.electron_lines.size:
        e_max = max(e_max, float(em.electron_lines[:, 0].max()))
    if e_max <= 0:
        return 0.0
    # Largest mean radial penetration plus 4 standard deviations of the spread, times R0.
    return float(electron_csda_range_mm(e_max)) * pk.max_penetration_fraction()


def _pad_to(arr: np.ndarray, shape) -> np.ndarray:
    pads = [((s - a) // 2, (s - a) // 2) for a, s in zip(arr.shape, shape)]
    return np.pad(arr, pads)


def compute_voxel_kernel(
    nuclide: str | EmissionData,
    voxel_mm,
    *,
    photons: bool = True,
    photon_extent_mm: float = DEFAULT_PHOTON_EXTENT_MM,
    include_progeny: bool = True,
) -> VoxelKernel:
    """Generate a voxel S-value kernel from physics (no cache; see :func:`voxel_kernel`).

    Args:
        nuclide: nuclide name or emission data.
        voxel_mm: voxel size, one number (cubic) or (x, y, z), mm.
        photons: include photon lines (point kernel with build-up, followed to
            ``photon_extent_mm``).
        photon_extent_mm: radius of the photon part, mm.
        include_progeny: add short-lived progeny (e.g. 225Ac daughters).

    Returns:
        The kernel in mGy/(MBq·s), water, unit density.

    Raises:
        NuclideError: unknown nuclide. GeometryError: bad voxel size.
    """
    h = np.array(_validate_voxel(voxel_mm))
    em = nuclide if isinstance(nuclide, EmissionData) else get_emissions(nuclide, include_progeny)
    h_min = float(h.min())
    mass_kg = float(np.prod(h)) * 1e-6  # mm^3 -> mL (1e-3) -> kg at 1 g/mL (1e-3)
    to_mgy = J_PER_MeV / mass_kg * MGY_PER_MBQ_S_PER_GY_PER_DECAY

    e_ext = max(_electron_extent_mm(em), h_min * 1e-3)

    def electrons(r):
        return pk.cumulative_profile_MeV(r, em, photons=False)

    half_e = np.ceil(e_ext / h).astype(int) + 1
    energy, radius = _shells(electrons, e_ext, e_ext, h_min)
    # Energy beyond the electron extent (< 1e-6 of it) is put into the outermost shell.
    total = em.nonpenetrating_energy_MeV
    if energy.size:
        energy[-1] += max(0.0, total - energy.sum())
    e_kernel = _symmetrise(_splat(energy, radius, h, half_e), h) * to_mgy

    p_kernel = np.zeros_like(e_kernel)
    extent = 0.0
    if photons and em.photon_lines.size and photon_extent_mm > 0:
        extent = float(photon_extent_mm)

        def photon(r):
            return pk.photon_lines_cumulative_MeV(r, em.photon_lines)

        half_p = np.ceil(extent / h).astype(int) + 1
        energy, radius = _shells(photon, extent, 4.0 * h_min, h_min)
        p_kernel = _symmetrise(_splat(energy, radius, h, half_p), h) * to_mgy
        shape = np.maximum(np.array(e_kernel.shape), np.array(p_kernel.shape))
        e_kernel, p_kernel = _pad_to(e_kernel, shape), _pad_to(p_kernel, shape)
    return VoxelKernel(
        nuclide=em.key,
        voxel_mm=tuple(float(x) for x in h),
        electron_mGy_per_MBq_s=e_kernel,
        photon_mGy_per_MBq_s=p_kernel,
        photon_extent_mm=extent,
    )


def cache_dir() -> Path:
    """Folder of the on-disk kernel cache: ``$THERANOSTICS_CACHE/kernels`` or
    ``~/.cache/theranostics/kernels``."""
    root = os.environ.get("THERANOSTICS_CACHE") or Path.home() / ".cache" / "theranostics"
    return Path(root) / "kernels"


def _cache_key(em: EmissionData, voxel_mm, photons, photon_extent_mm, include_progeny) -> str:
    fingerprint = {
        "model": KERNEL_MODEL_VERSION,
        "penetration": sorted(pk.PENETRATION_FIT.items()),
        "penetration_range_MeV": list(pk.PENETRATION_FIT_RANGE_MeV),
        "nuclide": em.key,
        "source": em.source,
        "members": [[m, round(w, 12)] for m, w in em.members],
        "energies": [round(em.electron_energy_MeV, 12), round(em.photon_energy_MeV, 12)],
        "voxel_mm": [round(v, 6) for v in voxel_mm],
        "photons": bool(photons),
        "photon_extent_mm": round(float(photon_extent_mm), 6) if photons else 0.0,
        "progeny": bool(include_progeny),
    }
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:20]
    return f"{em.key}_{digest}"


_MEMORY: dict[str, VoxelKernel] = {}


def voxel_kernel(
    nuclide: str,
    voxel_mm,
    *,
    photons: bool = True,
    photon_extent_mm: float = DEFAULT_PHOTON_EXTENT_MM,
    include_progeny: bool = True,
    use_cache: bool = True,
) -> VoxelKernel:
    """The voxel S-value kernel for ``nuclide`` and ``voxel_mm``, from cache when possible.

    Same arguments as :func:`compute_voxel_kernel`. The cache key covers the nuclide data,
    the voxel size, the photon options and the kernel model version.
    """
    h = _validate_voxel(voxel_mm)
    em = get_emissions(nuclide, include_progeny)
    key = _cache_key(em, h, photons, photon_extent_mm, include_progeny)
    if use_cache and key in _MEMORY:
        return _MEMORY[key]
    path = cache_dir() / f"{key}.npz"
    if use_cache and path.is_file():
        try:
            with np.load(path) as data:
                kernel = VoxelKernel(
                    nuclide=em.key,
                    voxel_mm=h,
                    electron_mGy_per_MBq_s=data["electron"],
                    photon_mGy_per_MBq_s=data["photon"],
                    photon_extent_mm=float(data["photon_extent_mm"]),
                )
            _MEMORY[key] = kernel
            return kernel
        except (OSError, KeyError, ValueError):
            pass  # unreadable cache entry: regenerate and overwrite it
    kernel = compute_voxel_kernel(
        em, h, photons=photons, photon_extent_mm=photon_extent_mm, include_progeny=include_progeny
    )
    if use_cache:
        _MEMORY[key] = kernel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
            with os.fdopen(fd, "wb") as fh:
                np.savez(
                    fh,
                    electron=kernel.electron_mGy_per_MBq_s,
                    photon=kernel.photon_mGy_per_MBq_s,
                    photon_extent_mm=kernel.photon_extent_mm,
                )
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only cache folder only costs regeneration time
    return kernel


def clear_memory_cache() -> None:
    """Forget kernels held in memory (the on-disk cache is kept)."""
    _MEMORY.clear()
