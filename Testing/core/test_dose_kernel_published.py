"""Electron kernels against published Monte Carlo data.

Point kernels: ETRAN (Seltzer 1991) and EGSnrc/EDKnrc (Mainegra-Hing et al. 2005) scaled dose
point kernels of monoenergetic electrons in water. Voxel S-values: the soft-tissue database
of Lanconelli et al. 2012 (Phys Med Biol 57:517, DOSXYZnrc). Data and their provenance in
``theranostics.dose.published_kernels``; the comparison table is in docs/dose-engine.md.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from theranostics.dose import point_kernels as pk
from theranostics.dose import published_kernels as pub
from theranostics.dose.kernels import compute_voxel_kernel
from theranostics.dose.water import J_PER_MeV
from theranostics.nuclide_data import get_emissions

RHO = pub.LANCONELLI_SOFT_TISSUE_DENSITY_G_PER_ML
SIZES_MM = sorted(pub.LANCONELLI_SOFT_TISSUE_SVALUES["Y-90"])


def _tissue_svalues(emissions, voxel_mm):
    """Soft-tissue S-values at the database offsets from our water kernel.

    All lengths scale as 1/ρ in a water-like medium of density ρ, so the kernel of voxel h
    in tissue is the water kernel of voxel ρh, and the dose carries the mass ratio:
    S_ρ(h) = ρ² S_water(ρh). Photons are followed to the edge of the database's 11³ grid.
    """
    kernel = compute_voxel_kernel(
        emissions, RHO * voxel_mm, photons=True, photon_extent_mm=RHO * voxel_mm * 5.5
    )
    return np.array([kernel.value_at(*o) * RHO**2 for o in pub.LANCONELLI_OFFSETS])


def _published(nuclide, voxel_mm):
    return np.array(pub.LANCONELLI_SOFT_TISSUE_SVALUES[nuclide][voxel_mm])


@pytest.mark.parametrize(
    "energy, data, width",
    [(e, d, pub.ETRAN_BIN_WIDTH) for e, d in pub.ETRAN_SCALED_DPK.items()]
    + [(e, d, pub.EGSNRC_BIN_WIDTH) for e, d in pub.EGSNRC_SCALED_DPK.items()],
    ids=[f"ETRAN-{e}MeV" for e in pub.ETRAN_SCALED_DPK]
    + [f"EGSnrc-{e}MeV" for e in pub.EGSNRC_SCALED_DPK],
)
def test_scaled_point_kernel_matches_published_monte_carlo(energy, data, width):
    # The published J(x) peaks at 1.5-1.66 near x = 0.6. Our fitted model: rms difference
    # 0.035-0.048 and energy-weighted mean radius within 0.01 r0 (measured, see
    # docs/dose-engine.md); the previous constant-detour model had rms 0.20-0.24.
    ours = pk.scaled_point_kernel(data[:, 0], energy, width)
    rms = np.sqrt(np.mean((ours - data[:, 1]) ** 2))
    assert rms < 0.06
    mean_ours = np.sum(ours * data[:, 0]) / np.sum(ours)
    mean_published = np.sum(data[:, 1] * data[:, 0]) / np.sum(data[:, 1])
    assert mean_ours == pytest.approx(mean_published, abs=0.015)
    # The whole energy is deposited (∫ J dx = 1 for ours; 0.997-1.000 for the published data).
    assert np.sum(ours) * width == pytest.approx(np.sum(data[:, 1]) * width, abs=0.01)


def test_published_dpks_are_normalised():
    # Guard on the entered data: each published kernel integrates to 1 within 0.5 %.
    for data in pub.ETRAN_SCALED_DPK.values():
        assert np.trapezoid(data[:, 1], data[:, 0]) == pytest.approx(1.0, abs=0.005)
    for data in pub.EGSNRC_SCALED_DPK.values():
        assert np.sum(data[:, 1]) * pub.EGSNRC_BIN_WIDTH == pytest.approx(1.0, abs=0.005)


@pytest.mark.parametrize("voxel_mm", SIZES_MM)
def test_y90_voxel_svalues_match_lanconelli(voxel_mm):
    # Issue 16 goal: 90Y self-dose within 5 %, first (face) neighbours within 10 %.
    # Measured: self +2.8 to +4.3 %, face -0.9 to +2.2 %, edge -6.6 to +1.5 %, corner
    # -12.8 to +0.2 % (the previous model: self +7 to +18 %).
    ours = _tissue_svalues(get_emissions("Y-90"), voxel_mm)
    ratio = ours / _published("Y-90", voxel_mm)
    assert abs(ratio[0] - 1) < 0.05  # (0, 0, 0)
    assert abs(ratio[1] - 1) < 0.10  # (1, 0, 0)
    assert abs(ratio[2] - 1) < 0.10  # (1, 1, 0)
    assert abs(ratio[3] - 1) < 0.15  # (1, 1, 1)


@pytest.mark.parametrize("nuclide", ["Lu-177", "I-131"])
@pytest.mark.parametrize("voxel_mm", [2.21, 4.42, 6.0])
def test_lu177_i131_svalues_bracket_lanconelli(nuclide, voxel_mm):
    # The database did not follow conversion and Auger electrons for 177Lu (its kernel holds
    # the beta + absorbed photon energy; docstring of published_kernels). Like with like
    # (ICRP 107 beta spectrum + photons): self and face neighbour within 5 %
    # (measured -3.4 to -2.8 % and -4.7 to -1.2 %). With all ICRP 107 electrons our self-dose
    # is higher; the published value lies between the two.
    em = get_emissions(nuclide)
    beta_only = dataclasses.replace(em, electron_lines=np.zeros((0, 2)))
    published = _published(nuclide, voxel_mm)
    like = _tissue_svalues(beta_only, voxel_mm)
    full = _tissue_svalues(em, voxel_mm)
    assert abs(like[0] / published[0] - 1) < 0.05
    assert abs(like[1] / published[1] - 1) < 0.05
    assert like[0] < published[0] < full[0]
    # The added self-dose is at most all the line-electron energy over the voxel mass, and
    # most of it: > 60 % (131I's 0.33 MeV K conversion electron ranges ~1 mm; measured
    # 78-98 %).
    mass_kg = RHO * voxel_mm**3 * 1e-6
    bound = em.electron_line_energy_MeV * J_PER_MeV / mass_kg * 1e9
    assert 0.6 * bound < full[0] - like[0] <= bound * (1 + 1e-9)
