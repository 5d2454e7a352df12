"""Voxel S-value kernels: energy conservation, symmetry, rebinning, plausibility."""

from __future__ import annotations

import numpy as np
import pytest

from theranostics.dose import kernels as kmod
from theranostics.dose import point_kernels as pk
from theranostics.dose.kernels import compute_voxel_kernel, voxel_kernel
from theranostics.dose.point_kernels import (
    beta_cumulative_MeV,
    photon_cumulative_fraction,
    photon_lines_cumulative_MeV,
)
from theranostics.dose.water import J_PER_MeV
from theranostics.errors import GeometryError, NuclideError
from theranostics.nuclide_data import get_emissions


def _absorbed_MeV(kernel):
    """Kernel summed over its extent times the voxel mass, in MeV per decay."""
    mass_kg = kernel.voxel_mass_g * 1e-3
    return kernel.values_mGy_per_MBq_s.sum() * 1e-9 * mass_kg / J_PER_MeV


@pytest.mark.parametrize(
    "nuclide, voxel", [("Y-90", 4.8), ("Lu-177", (2.0, 2.5, 3.0)), ("Ac-225", 4.0), ("I-131", 3.0)]
)
def test_electron_kernel_conserves_energy(nuclide, voxel):
    # Sum of S over the kernel × voxel mass = energy per decay absorbed in an infinite medium
    # (all electron and alpha energy; MIRD Pamphlet 17, Bolch 1999). Requirement: 1 %.
    kernel = compute_voxel_kernel(nuclide, voxel, photons=False)
    em = get_emissions(nuclide)
    assert _absorbed_MeV(kernel) == pytest.approx(em.nonpenetrating_energy_MeV, rel=0.01)


def test_full_kernel_over_a_large_extent_conserves_energy():
    # 177Lu with photons followed to 400 mm: electrons + photon energy × its absorbed fraction
    # within 400 mm, and within 1 % of the infinite-medium total (all emitted energy).
    kernel = compute_voxel_kernel("Lu-177", 20.0, photons=True, photon_extent_mm=400.0)
    em = get_emissions("Lu-177")
    photon_absorbed = photon_lines_cumulative_MeV(np.array([400.0]), em.photon_lines)[0]
    expected = em.nonpenetrating_energy_MeV + photon_absorbed
    assert _absorbed_MeV(kernel) == pytest.approx(expected, rel=1e-6)
    assert _absorbed_MeV(kernel) == pytest.approx(em.total_energy_MeV, rel=0.01)


@pytest.mark.parametrize("energy_MeV", [0.02, 0.1, 0.364, 1.0])
def test_photon_point_kernel_absorbs_everything_in_infinite_medium(energy_MeV):
    # Build-up normalised so that ∫ µ_en e^(-µr) B(µr) dr = 1 (energy conservation).
    assert photon_cumulative_fraction(np.array([1e5]), energy_MeV)[0] == pytest.approx(
        1.0, abs=1e-9
    )
    r = np.linspace(0, 500, 200)
    assert np.all(np.diff(photon_cumulative_fraction(r, energy_MeV)) >= 0)


def test_y90_point_kernel_x90_matches_berger():
    # Berger (1971, MIRD Pamphlet 7): 90 % of the 90Y beta energy within X90 = 5.3 mm of water.
    # No longer a calibration target: the penetration model is fitted to monoenergetic point
    # kernels (test_dose_kernel_published.py) and gives X90 = 5.20 mm.
    em = get_emissions("Y-90")
    r = np.linspace(0.0, 15.0, 1501)
    ((e, n),) = em.beta_spectra
    q = beta_cumulative_MeV(r, e, n)
    assert q[-1] == pytest.approx(em.beta_energy_MeV, rel=1e-4)
    assert np.interp(0.9 * q[-1], q, r) == pytest.approx(5.3, abs=0.25)


def test_kernel_symmetry_and_decrease():
    kernel = compute_voxel_kernel("Y-90", (3.0, 3.0, 4.0), photons=False)
    v = kernel.values_mGy_per_MBq_s
    for axis in range(3):
        assert np.allclose(v, np.flip(v, axis=axis), rtol=1e-12, atol=0)
    assert np.allclose(v[:, :, :], np.swapaxes(v, 1, 2))  # x and y have the same spacing
    c = np.array(v.shape) // 2
    assert v[tuple(c)] == v.max()
    along_x = v[c[0], c[1], c[2] :]
    assert np.all(np.diff(along_x) <= 0)


def _rebin(kernel_values, factor):
    """S for voxels ``factor`` times larger from a fine kernel: the mean over all pairs of
    fine source and target sub-voxels, i.e. weights prod_a (f - |d_a - f D_a|)_+ / f^2."""
    c = kernel_values.shape[0] // 2
    d = np.arange(kernel_values.shape[0]) - c
    n_coarse = (c + factor - 1) // factor + 1
    coarse = np.arange(-n_coarse, n_coarse + 1)
    w = np.clip(factor - np.abs(d[None, :] - factor * coarse[:, None]), 0, None) / factor**2
    return np.einsum("ai,bj,ck,ijk->abc", w, w, w, kernel_values)


def test_1mm_and_6mm_kernels_agree_after_rebinning():
    fine = compute_voxel_kernel("Y-90", 1.0, photons=False)
    coarse = compute_voxel_kernel("Y-90", 6.0, photons=False)
    rebinned = _rebin(fine.values_mGy_per_MBq_s, 6)
    c, cc = rebinned.shape[0] // 2, coarse.shape[0] // 2
    for off in [(0, 0, 0), (0, 0, 1), (0, 1, 1)]:
        ours = coarse.values_mGy_per_MBq_s[cc + off[0], cc + off[1], cc + off[2]]
        assert rebinned[c + off[0], c + off[1], c + off[2]] == pytest.approx(ours, rel=0.02)


def test_lu177_central_voxel_plausible():
    # 177Lu, 4.8 mm water voxel. Upper bound: local deposition of all electron energy,
    # 0.14792 MeV × 1.602e-13 J/MeV / 0.1106 g = 0.214 mGy/(MBq·s). With a mean beta range of
    # ~0.3 mm most (>85 %) stays in the voxel; the first neighbour gets < 2 %.
    kernel = compute_voxel_kernel("Lu-177", 4.8, photons=False)
    upper = 0.14792 * J_PER_MeV / (4.8**3 * 1e-6) * 1e9
    centre = kernel.value_at(0, 0, 0)
    assert 0.85 * upper < centre < upper
    assert kernel.value_at(1, 0, 0) < 0.02 * centre


def test_cache_key_changes_with_the_electron_model(monkeypatch):
    # Kernels cached by an earlier electron model must not be reused: the key covers the
    # penetration constants and KERNEL_MODEL_VERSION.
    em = get_emissions("Y-90")
    args = (em, (4.8, 4.8, 4.8), True, 60.0, True)
    key = kmod._cache_key(*args)
    monkeypatch.setitem(pk.PENETRATION_FIT, "c", pk.PENETRATION_FIT["c"] + 0.01)
    assert kmod._cache_key(*args) != key
    monkeypatch.undo()
    assert kmod._cache_key(*args) == key
    monkeypatch.setattr(kmod, "KERNEL_MODEL_VERSION", kmod.KERNEL_MODEL_VERSION + 1)
    assert kmod._cache_key(*args) != key


def test_cache_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setenv("THERANOSTICS_CACHE", str(tmp_path))
    kmod.clear_memory_cache()
    first = voxel_kernel("Lu-177", 6.0, photon_extent_mm=30.0)
    files = list((tmp_path / "kernels").glob("*.npz"))
    assert len(files) == 1
    kmod.clear_memory_cache()
    second = voxel_kernel("Lu-177", 6.0, photon_extent_mm=30.0)
    np.testing.assert_array_equal(first.values_mGy_per_MBq_s, second.values_mGy_per_MBq_s)
    assert not list((tmp_path / "kernels").glob("*.tmp"))


def test_bad_kernel_inputs():
    with pytest.raises(GeometryError):
        compute_voxel_kernel("Lu-177", 0.0)
    with pytest.raises(GeometryError):
        compute_voxel_kernel("Lu-177", (4.8, -1.0, 4.8))
    with pytest.raises(NuclideError):
        compute_voxel_kernel("Foo-1", 4.8)
