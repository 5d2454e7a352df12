"""Sphere S-values (lesion and organ MIRD dosimetry)."""

from __future__ import annotations

import numpy as np
import pytest

from theranostics.dose.svalues import geometric_reduction_factor, sphere_s_value
from theranostics.errors import InputError
from theranostics.nuclide_data import get_emissions

MASSES_G = [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 5000.0]


def test_geometric_reduction_factor_limits():
    # Berger 1968: G(0) = 1, G(2R) = 0, and ∫0^2R G(r) 3r²/R³ ... the mean of G over a
    # uniform chord-point distribution; here only the closed-form end points and monotony.
    r = np.linspace(0, 2.0, 101)
    g = geometric_reduction_factor(r, 1.0)
    assert g[0] == 1.0 and g[-1] == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.diff(g) <= 0)


@pytest.mark.parametrize("nuclide", ["Lu-177", "Y-90"])
def test_s_decreases_with_mass_and_s_times_m_tends_to_absorbed_energy(nuclide):
    values = [sphere_s_value(nuclide, m, photons=False) for m in MASSES_G]
    s = np.array([v.s_value_mGy_per_MBq_s for v in values])
    assert np.all(np.diff(s) < 0)
    # S·m (mGy·g/(MBq·s)) → E_electrons (MeV) × 1.602e-13 J/MeV × 1e9 × 1e3 g/kg for large m.
    em = get_emissions(nuclide)
    limit = em.electron_energy_MeV * 1.602176634e-13 * 1e12
    sm = s * np.array(MASSES_G)
    assert np.all(np.diff(sm) > 0)
    assert sm[-1] == pytest.approx(limit, rel=0.02)
    assert sm[-1] < limit


def test_photons_add_and_absorbed_fraction_grows_with_mass():
    small = sphere_s_value("Lu-177", 1.0)
    large = sphere_s_value("Lu-177", 1000.0)
    assert 0 < small.absorbed_fraction["photons"] < large.absorbed_fraction["photons"] < 1
    assert (
        small.s_value_mGy_per_MBq_s
        > sphere_s_value("Lu-177", 1.0, photons=False).s_value_mGy_per_MBq_s
    )


def test_density_scaling():
    # A sphere of the same mass but higher density is smaller; ranges scale as 1/ρ, so the
    # electron absorbed fraction (depends on ρR ∝ ρ^(2/3) m^(1/3)) increases.
    unit = sphere_s_value("Y-90", 1.0, photons=False)
    tissue = sphere_s_value("Y-90", 1.0, density_g_per_mL=1.04, photons=False)
    assert tissue.radius_mm < unit.radius_mm
    assert tissue.absorbed_fraction["electrons"] > unit.absorbed_fraction["electrons"]


def test_alpha_emitter_deposits_alphas_fully():
    v = sphere_s_value("Ac-225", 0.01, photons=False)
    assert v.absorbed_fraction["alphas"] == 1.0


@pytest.mark.parametrize("mass", [0.0, -1.0, 1e5, float("nan")])
def test_bad_mass(mass):
    with pytest.raises(InputError, match="mass"):
        sphere_s_value("Lu-177", mass)
