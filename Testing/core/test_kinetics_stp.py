"""Single-time-point TIA: Hänscheid and Madsen against hand computation; the half-life table."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from theranostics.errors import InputError, TimingError
from theranostics.kinetics import (
    hanscheid_relative_error,
    hanscheid_tia_MBq_h,
    madsen_tia_MBq_h,
    madsen_tia_with_uncertainty,
    population_effective_half_life_h,
    population_half_life,
)
from theranostics.kinetics.single_time_point import DEFAULT_TABLE


def test_hanscheid_by_hand():
    # 100 MBq at 96 h: 100 * 2 * 96 / ln 2
    assert hanscheid_tia_MBq_h(100.0, 96.0) == pytest.approx(27699.0, rel=1e-4)
    out = hanscheid_tia_MBq_h(np.array([1.0, 2.0]), 10.0)
    assert np.allclose(out, [20 / math.log(2), 40 / math.log(2)])


@pytest.mark.parametrize("factor", [1.0, 2.0])
def test_hanscheid_exact_at_t_equal_t_eff_and_twice(factor):
    t_eff, a0 = 50.0, 1000.0
    t = factor * t_eff
    a = a0 * math.exp(-math.log(2) * t / t_eff)
    assert hanscheid_tia_MBq_h(a, t) == pytest.approx(a0 * t_eff / math.log(2), rel=1e-12)
    assert hanscheid_relative_error(t, t_eff) == pytest.approx(0.0, abs=1e-12)


def test_hanscheid_error_band():
    t_eff = 60.0
    ts = np.linspace(0.75, 2.5, 200) * t_eff
    err = hanscheid_relative_error(ts, t_eff)
    assert err.max() == pytest.approx(2 / (math.e * math.log(2)) - 1, rel=1e-3)  # +6.1 %
    assert err.min() > -0.12


def test_madsen_is_exact_for_a_mono_exponential_with_the_true_half_life():
    t_eff, a0, t = 40.0, 500.0, 72.0
    lam = math.log(2) / t_eff
    a = a0 * math.exp(-lam * t)
    assert madsen_tia_MBq_h(a, t, t_eff) == pytest.approx(a0 / lam, rel=1e-12)


def test_madsen_uncertainty_matches_finite_difference_and_vanishes_at_optimal_time():
    a, t, th, sd = 30.0, 48.0, 40.0, 8.0
    tia, u = madsen_tia_with_uncertainty(a, t, th, sd)
    assert tia == pytest.approx(madsen_tia_MBq_h(a, t, th))
    h = 1e-4
    deriv = (madsen_tia_MBq_h(a, t, th + h) - madsen_tia_MBq_h(a, t, th - h)) / (2 * h)
    assert u == pytest.approx(abs(deriv) * sd, rel=1e-6)
    _, u_opt = madsen_tia_with_uncertainty(a, th / math.log(2), th, sd)
    assert u_opt == pytest.approx(0.0, abs=1e-9)


def test_stp_bad_input():
    with pytest.raises(TimingError):
        hanscheid_tia_MBq_h(10.0, 0.0)
    with pytest.raises(InputError):
        madsen_tia_MBq_h(10.0, 24.0, -5.0)
    with pytest.raises(InputError):
        hanscheid_tia_MBq_h(-1.0, 24.0)


def test_population_table_entries_all_have_sources():
    table = json.loads(DEFAULT_TABLE.read_text())
    for rp, organs in table["radiopharmaceuticals"].items():
        for organ, e in organs.items():
            assert e["effective_half_life_h"] > 0, (rp, organ)
            assert len(e["reference"]) > 40, (rp, organ)
            assert isinstance(e["verified"], bool)
            assert e["statistic"] in ("mean", "median", "approximate")


def test_population_lookup_with_aliases():
    assert population_effective_half_life_h("psma", "kidney_left") == 35.5
    entry = population_half_life("177Lu-PSMA-617", "Whole body")
    assert (entry.effective_half_life_h, entry.sd_h) == (40.5, 9.6)
    assert "Kurth" in entry.reference
    assert population_half_life("Lutathera", "kidneys").verified is False
    with pytest.raises(InputError, match="available"):
        population_effective_half_life_h("177Lu-DOTATATE", "lesion_01")
    with pytest.raises(InputError, match="radiopharmaceutical"):
        population_effective_half_life_h("131I-MIBG", "liver")
