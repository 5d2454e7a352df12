"""Emission data (ICRP 107) and decay chains (radioactivedecay)."""

from __future__ import annotations

import json

import pytest

from theranostics.errors import NuclideError
from theranostics.nuclide_data import SUPPORTED_NUCLIDES, get_emissions, register_nuclide_file
from theranostics.nuclides import get_nuclide


@pytest.mark.parametrize("name", SUPPORTED_NUCLIDES)
def test_supported_nuclides_have_energy_and_half_life(name):
    em = get_emissions(name)
    assert em.total_energy_MeV > 0
    assert em.half_life_s == pytest.approx(get_nuclide(name).half_life_s)


def test_lu177_energies_match_icrp107():
    # ICRP 107 (Eckerman & Endo 2008) 177Lu: electrons 0.14792 MeV, beta mean 0.13327 MeV,
    # photons 0.03510 MeV per decay (DESIGN.md section 7).
    em = get_emissions("177Lu")
    assert em.electron_energy_MeV == pytest.approx(0.14792, abs=2e-5)
    assert em.beta_energy_MeV == pytest.approx(0.13327, abs=2e-5)
    assert em.photon_energy_MeV == pytest.approx(0.03510, abs=2e-5)
    lines = {round(e, 6): y for e, y in em.photon_lines}
    assert lines[0.208366] == pytest.approx(0.11)
    assert lines[0.11295] == pytest.approx(0.064)


def test_y90_electron_energy():
    # ICRP 107 90Y: 64.1 h, electrons 0.93311 MeV per decay.
    em = get_emissions("Y-90")
    assert em.half_life_h == pytest.approx(64.1)
    assert em.electron_energy_MeV == pytest.approx(0.93311, abs=2e-5)


def test_beta_spectrum_is_rescaled_to_the_mean_energy():
    import numpy as np

    em = get_emissions("Lu-177")
    ((e, n),) = em.beta_spectra
    assert np.trapezoid(e * n, e) == pytest.approx(em.beta_energy_MeV, rel=1e-12)
    assert np.trapezoid(n, e) == pytest.approx(1.0, rel=0.01)  # one beta per decay


def test_ac225_chain_members_and_branching():
    # 225Ac -> 221Fr -> 217At -> 213Bi -> 213Po (97.9 %) / 209Tl (2.1 %) -> 209Pb
    # (branching from radioactivedecay / ICRP 107).
    em = get_emissions("Ac-225")
    members = dict(em.members)
    assert set(members) >= {"Ac-225", "Fr-221", "At-217", "Bi-213", "Po-213", "Tl-209", "Pb-209"}
    assert members["Po-213"] + members["Tl-209"] == pytest.approx(members["Bi-213"], rel=1e-3)
    assert members["Tl-209"] == pytest.approx(0.0209, rel=0.02)
    alone = get_emissions("Ac-225", include_progeny=False)
    # four alphas per chain: about 5.8 + 6.3 + 7.1 + 8.4 MeV = ~27.7 MeV plus recoils
    assert 27.0 < em.alpha_energy_MeV < 29.0
    assert alone.alpha_energy_MeV < 6.0


def test_stable_daughter_nuclides_have_no_progeny():
    assert [m for m, _ in get_emissions("Lu-177").members] == ["Lu-177"]
    assert [m for m, _ in get_emissions("Y-90").members] == ["Y-90"]


def test_unknown_nuclide_raises_clear_error():
    with pytest.raises(NuclideError, match="not a recognised nuclide"):
        get_emissions("Unobtainium-999x")
    with pytest.raises(NuclideError, match="no ICRP 107"):
        get_emissions("Lu-999")


def test_user_nuclide_file(tmp_path):
    data = {
        "name": "Zn-99",
        "half_life": 2.0,
        "time_unit": "h",
        "emissions": {"beta-": [[0.5, 1.0]], "gamma": [[0.3, 0.5]]},
    }
    path = tmp_path / "zn99.json"
    path.write_text(json.dumps(data))
    assert register_nuclide_file(path) == "Zn-99"
    em = get_emissions("99Zn")
    assert em.half_life_h == pytest.approx(2.0)
    assert em.electron_energy_MeV == pytest.approx(0.5)
    assert em.photon_energy_MeV == pytest.approx(0.15)
    assert em.source == str(path)
    # the same data serves names and half-lives (ingest, decay correction)
    from theranostics.nuclides import get_nuclide

    assert get_nuclide("Zn99").half_life_h == pytest.approx(2.0)


def test_user_nuclide_file_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "Zn-98", "half_life": 1.0}))
    with pytest.raises(NuclideError, match="time_unit"):
        register_nuclide_file(bad)
    with pytest.raises(NuclideError, match="not found"):
        register_nuclide_file(tmp_path / "missing.json")


def test_example_user_file_is_valid():
    from importlib import resources

    path = resources.files("theranostics") / "data" / "user_nuclide_example.json"
    record = json.loads(path.read_text())
    assert {"name", "half_life", "time_unit", "emissions"} <= set(record)
