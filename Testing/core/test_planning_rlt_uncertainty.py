"""Uncertainty of the RLT plan: first-order propagation against a Monte Carlo cross-check, and
the realistic 177Lu-PSMA example of docs/planning-rlt.md."""

from __future__ import annotations

import numpy as np
import pytest

from theranostics.planning import rlt_model as m
from theranostics.planning.rlt import plan_rlt
from theranostics.planning.rlt_inputs import StructureInput


def _mc_max_activity(d, u_d, t, u_t, *, limit, previous=0.0, cycles, n=200_000, seed=7):
    """Max activity with Gy/GBq and T_eff drawn from normal distributions (kidney α/β, T_rep)."""
    rng = np.random.default_rng(seed)
    ds = rng.normal(d, u_d, n)
    ts = rng.normal(t, u_t, n)
    keep = (ds > 0) & (ts > 0)
    ds, ts = ds[keep], ts[keep]
    kappa = (2.8 / (2.8 + ts)) / 2.6
    r = (limit - previous) / cycles
    x = 2 * r / (1 + np.sqrt(1 + 4 * kappa * r))
    return x / ds


def test_first_order_uncertainty_matches_monte_carlo_for_max_activity():
    # 5 % on Gy/GBq, 15 % on T_eff: small enough for first order to hold within 5 %.
    s = StructureInput("kidney", "oar", 0.6, 40.0, 0.03, 6.0)
    plan = plan_rlt([s], cycles=4)
    samples = _mc_max_activity(0.6, 0.03, 40.0, 6.0, limit=40.0, cycles=4)
    assert plan.max_activity_per_cycle_sd_GBq == pytest.approx(samples.std(), rel=0.05)
    assert plan.max_activity_per_cycle_unrounded_GBq == pytest.approx(np.median(samples), rel=0.01)


def test_t_eff_term_alone_matches_monte_carlo():
    # 12.5 % on T_eff (at 20 % the curvature of G(T_eff) makes first order 6 % low).
    s = StructureInput("kidney", "oar", 0.6, 40.0, 0.0, 5.0)
    plan = plan_rlt([s], cycles=2)
    samples = _mc_max_activity(0.6, 0.0, 40.0, 5.0, limit=40.0, cycles=2)
    assert plan.max_activity_per_cycle_sd_GBq > 0
    assert plan.max_activity_per_cycle_sd_GBq == pytest.approx(samples.std(), rel=0.05)


def test_previous_bed_uncertainty_propagates():
    s = StructureInput("kidney", "oar", 0.6, 40.0, previous_bed_Gy=10.0, previous_bed_sd_Gy=2.0)
    plan = plan_rlt([s], cycles=3)
    rng = np.random.default_rng(3)
    prev = rng.normal(10.0, 2.0, 100_000)
    kappa = (2.8 / 42.8) / 2.6
    r = (40.0 - prev) / 3
    a = 2 * r / (1 + np.sqrt(1 + 4 * kappa * r)) / 0.6
    assert plan.max_activity_per_cycle_sd_GBq == pytest.approx(a.std(), rel=0.03)


def test_lesion_dose_and_bed_uncertainty_match_monte_carlo():
    lesion = StructureInput("lesion_01", "lesion", 4.0, 60.0, 0.4, 10.0)
    plan = plan_rlt([StructureInput("kidney", "oar", 0.6, 40.0), lesion], cycles=4)
    r = plan.structure("lesion_01")
    a, n = plan.max_activity_per_cycle_GBq, 4
    rng = np.random.default_rng(11)
    d = rng.normal(4.0, 0.4, 200_000)
    t = rng.normal(60.0, 10.0, 200_000)
    d1 = a * d
    bed = n * (d1 + d1**2 * (1.5 / (1.5 + t)) / 10.0)
    assert r.absorbed_dose_sd_Gy == pytest.approx((n * d1).std(), rel=0.02)
    assert r.cumulative_bed_sd_Gy == pytest.approx(bed.std(), rel=0.05)
    assert r.cumulative_bed_Gy == pytest.approx(np.median(bed), rel=0.01)


def test_sensitivities_are_derivatives():
    # Central differences of the closed form against the analytic partial derivatives.
    kappa = m.bed_factor(40.0, 2.8, None) / 2.6
    dk = m.bed_factor_slope_per_h(40.0, 2.8, None) / 2.6
    sens = m.max_activity_sensitivities(40.0, 5.0, 3, 0.6, kappa, dk, "bed")
    h = 1e-6
    f = lambda d, T, p: m.max_activity_GBq(40.0, p, 3, d, m.bed_factor(T, 2.8, None) / 2.6, "bed")  # noqa: E731
    assert sens["d"] == pytest.approx((f(0.6 + h, 40, 5) - f(0.6 - h, 40, 5)) / (2 * h), rel=1e-5)
    assert sens["T_eff"] == pytest.approx(
        (f(0.6, 40 + 1e-3, 5) - f(0.6, 40 - 1e-3, 5)) / 2e-3, rel=1e-4
    )
    assert sens["previous"] == pytest.approx(
        (f(0.6, 40, 5 + h) - f(0.6, 40, 5 - h)) / (2 * h), rel=1e-5
    )
    # dG/dT_eff of the mono-exponential closed form G = T_rep/(T_rep + T_eff).
    assert dk * 2.6 == pytest.approx(-2.8 / (2.8 + 40.0) ** 2, rel=1e-6)


def psma_example(**kw):
    """The 177Lu-PSMA example of docs/planning-rlt.md (typical per-GBq values)."""
    return plan_rlt(
        [
            StructureInput("kidneys", "oar", 0.6, 40.0, 0.12, 8.0),
            StructureInput("parotids", "oar", 0.6, 40.0, 0.15, 8.0),
            StructureInput("red_marrow", "oar", 0.03, 40.0, 0.01, 8.0),
            StructureInput("lesion_01", "lesion", 5.0, 70.0, 1.5, 15.0),
        ],
        created="2025-01-01T00:00:00+00:00",
        **kw,
    )


def test_realistic_psma_example_as_documented():
    plan = psma_example(cycles=6)
    # Documented in docs/planning-rlt.md: 6 cycles -> 9.69 GBq per cycle, kidney binding.
    assert plan.binding_constraint == "kidneys"
    assert plan.max_activity_per_cycle_GBq == pytest.approx(9.69)
    assert plan.structure("red_marrow").cumulative_absorbed_dose_Gy == pytest.approx(
        6 * 9.69 * 0.03
    )
    searched = psma_example()
    assert searched.cycles == 8 and searched.max_activity_per_cycle_GBq == pytest.approx(7.48)
    rf = psma_example(cycles=6, risk_factors=True)
    assert rf.binding_constraint == "kidneys" and rf.max_activity_per_cycle_GBq == pytest.approx(
        7.03
    )
