"""TIA uncertainty budget: first-order propagation against a seeded Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest

from theranostics.errors import InputError
from theranostics.kinetics import (
    EXAMPLE_TABLE,
    RecoveryTable,
    fit_tac,
    monte_carlo_tia,
    tia_uncertainty,
)

T_LU = 159.5
TIMES = np.array([4.0, 24.0, 96.0, 168.0])


@pytest.fixture(scope="module")
def kidney_fit():
    """A typical kidney curve (T_eff 40 h) with 5 % noise, seeded."""
    rng = np.random.default_rng(11)
    a = 60.0 * np.exp(-math.log(2) / 40.0 * TIMES) * (1 + 0.05 * rng.standard_normal(4))
    return fit_tac(TIMES, a, physical_half_life_h=T_LU, model="mono-exp", relative_sd=0.05)


def test_analytic_budget_adds_in_quadrature(kidney_fit):
    b = tia_uncertainty(
        kidney_fit,
        calibration_rel_sd=0.05,
        recovery_rel_sd=0.03,
        volume_rel_sd=0.1,
        volume_sensitivity=-0.3,
    )
    tia = kidney_fit.tia_MBq_h
    assert b.components["calibration"] == pytest.approx(0.05 * tia)
    assert b.components["volume"] == pytest.approx(0.03 * tia)
    assert b.components["fit"] == kidney_fit.tia_uncertainty_MBq_h
    assert b.standard_uncertainty_MBq_h == pytest.approx(
        math.sqrt(sum(c * c for c in b.components.values()))
    )
    assert b.relative == pytest.approx(b.standard_uncertainty_MBq_h / tia)


def test_monte_carlo_agrees_with_analytic_within_10_percent(kidney_fit):
    table = RecoveryTable.from_file(EXAMPLE_TABLE)
    kw = dict(calibration_rel_sd=0.05, volume_rel_sd=0.1, recovery_table=table, volume_mL=150.0)
    analytic = tia_uncertainty(kidney_fit, **kw)
    mc = monte_carlo_tia(kidney_fit, n_samples=400, seed=5, **kw)
    assert analytic.volume_sensitivity == pytest.approx(-table.log_slope(150.0))
    assert mc.standard_uncertainty_MBq_h == pytest.approx(
        analytic.standard_uncertainty_MBq_h, rel=0.10
    )
    for name in ("fit", "calibration", "recovery", "volume"):
        assert mc.components[name] == pytest.approx(analytic.components[name], rel=0.15), name


def test_volume_uncertainty_needs_a_sensitivity(kidney_fit):
    with pytest.raises(InputError, match="volume"):
        tia_uncertainty(kidney_fit, volume_rel_sd=0.1)
    with pytest.raises(InputError, match="volume_mL"):
        tia_uncertainty(kidney_fit, recovery_table=RecoveryTable.from_file(EXAMPLE_TABLE))
