"""Photon-inclusive ground truth of the phantom
(:func:`theranostics.phantom.truth.photon_inclusive_mean_doses`): physically plausible photon
factors, energy conservation, and a clear error without a ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from theranostics.errors import InputError
from theranostics.nuclide_data.emissions import get_emissions
from theranostics.phantom.truth import MEV_TO_J, SECONDS_PER_HOUR, photon_inclusive_mean_doses

HOT_ORGANS = ("kidney_left", "kidney_right", "liver", "spleen")


@pytest.fixture(scope="module")
def small_truth(synthetic_study_small):
    truth = json.loads((synthetic_study_small / "truth" / "ground_truth.json").read_text())
    doses = photon_inclusive_mean_doses(synthetic_study_small)
    factors = {n: doses[n] / r["mean_dose_Gy"] for n, r in truth["regions"].items()}
    return truth, doses, factors


def test_every_region_has_a_dose(small_truth):
    truth, doses, _ = small_truth
    assert set(doses) == set(truth["regions"])
    assert all(d > 0 for d in doses.values())


def test_photon_factors_of_organs_are_plausible(small_truth):
    # 177Lu emits ~0.035 MeV of photons per decay against 0.148 MeV of electrons (ICRP 107):
    # even if a region absorbed all its own photon energy, f would be 1 + 0.035/0.148 = 1.24.
    # The 113 and 208 keV photons mostly leave an organ of 0.1-1.6 L (mean free path in water
    # ~7-8 cm), so self-absorption plus cross-dose from the body adds a few per cent: 1.0-1.15.
    _, _, f = small_truth
    for name in HOT_ORGANS:
        assert 1.0 <= f[name] <= 1.15, (name, f[name])
    # the large liver keeps more of its photons than the 0.15 L kidneys
    assert f["liver"] > max(f["kidney_left"], f["kidney_right"])


def test_low_uptake_regions_get_more_cross_dose(small_truth):
    # lungs and the remainder of the body have low activity concentrations and a large
    # volume: photons from the hot organs and lesions add relatively more to their dose
    _, _, f = small_truth
    hottest = max(f[n] for n in HOT_ORGANS)
    for name in ("lung_left", "lung_right", "remainder_of_body"):
        assert hottest < f[name] < 1.0 + 0.035 / 0.148 + 0.1, (name, f[name])


def test_photons_deposit_at_most_what_is_emitted(small_truth):
    """Energy conservation: the extra energy the photon-inclusive truth puts into all regions,
    sum of mass x (D_photon_inclusive - D_electron_only), is positive and at most the photon
    energy emitted by all the decays."""
    truth, doses, _ = small_truth
    extra_J = sum(
        r["mass_g"] / 1000.0 * (doses[n] - r["mean_dose_Gy"]) for n, r in truth["regions"].items()
    )
    decays = sum(r["tia_MBq_h"] for r in truth["regions"].values()) * 1e6 * SECONDS_PER_HOUR
    emitted_J = decays * get_emissions("Lu-177").photon_energy_MeV * MEV_TO_J
    # the kernel follows photons 60 mm; a trunk some 30 cm across still absorbs a good part of
    # what it emits (about a quarter here), far more than 5 %
    assert 0.05 * emitted_J < extra_J <= emitted_J


def test_study_without_truth_is_refused(tmp_path: Path):
    (tmp_path / "dicom").mkdir()
    with pytest.raises(InputError, match=r"ground_truth\.json") as info:
        photon_inclusive_mean_doses(tmp_path)
    assert info.value.path == str(tmp_path / "truth" / "ground_truth.json")


def test_study_folder_is_left_untouched(synthetic_study_small):
    before = {p: p.stat().st_mtime_ns for p in synthetic_study_small.rglob("*")}
    photon_inclusive_mean_doses(synthetic_study_small)
    after = {p: p.stat().st_mtime_ns for p in synthetic_study_small.rglob("*")}
    assert before == after
