"""BED/EQD2 closed forms against numerical integration of the LQ model."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from theranostics.errors import InputError
from theranostics.radiobiology import (
    accumulate_cycles_bed_Gy,
    bed_monoexponential_Gy,
    bed_uptake_washout_Gy,
    eqd2_Gy,
    eqdx_Gy,
    structure_bed,
    tissue_parameters,
)

LN2 = math.log(2.0)


def _numerical_bed(rate, dose, ab, t_rep, t_max):
    """BED = D + 2/(α/β) ∫ R(t) ∫0^t R(w) e^(-µ(t-w)) dw dt (Dale 1985), by quadrature.

    The inner integral q(t) solves q' = R(t) - µ q, q(0) = 0 (an ODE), integrated finely.
    """
    mu = LN2 / t_rep
    t = np.linspace(0.0, t_max, 400_001)
    r = rate(t)
    dt = t[1] - t[0]
    q = np.zeros_like(t)
    decay = math.exp(-mu * dt)
    for i in range(1, t.size):  # exact update for piecewise-linear R would be overkill here
        q[i] = q[i - 1] * decay + 0.5 * dt * (r[i - 1] * decay + r[i])
    return dose + 2.0 / ab * integrate.trapezoid(r * q, t)


def test_monoexponential_against_numerical_lq():
    # Kidney-like: α/β 2.6 Gy, T_rep 2.8 h, T_eff 50 h, D = 20 Gy (Bodei 2008 parameters).
    d, t_eff, ab, t_rep = 20.0, 50.0, 2.6, 2.8
    lam = LN2 / t_eff
    rate = lambda t: d * lam * np.exp(-lam * t)  # noqa: E731
    numerical = _numerical_bed(rate, d, ab, t_rep, 40 * t_eff)
    closed = bed_monoexponential_Gy(d, t_eff, ab, t_rep)
    assert closed == pytest.approx(numerical, rel=0.005)
    assert closed == pytest.approx(d + d * d / ab * t_rep / (t_rep + t_eff), rel=1e-12)


def test_uptake_washout_against_numerical_lq():
    d, t_up, t_eff, ab, t_rep = 15.0, 3.0, 60.0, 2.6, 2.8
    lu, lw = LN2 / t_up, LN2 / t_eff
    c = d / (1 / lw - 1 / lu)
    rate = lambda t: c * (np.exp(-lw * t) - np.exp(-lu * t))  # noqa: E731
    numerical = _numerical_bed(rate, d, ab, t_rep, 40 * t_eff)
    closed = bed_uptake_washout_Gy(d, t_up, t_eff, ab, t_rep)
    assert closed == pytest.approx(numerical, rel=0.005)
    # Uptake spreads the dose in time: less BED than instantaneous uptake, more than D.
    assert d < closed < bed_monoexponential_Gy(d, t_eff, ab, t_rep)


def test_uptake_washout_tends_to_monoexponential_for_fast_uptake():
    mono = bed_monoexponential_Gy(10.0, 40.0, 3.0, 1.5)
    fast = bed_uptake_washout_Gy(10.0, 1e-4, 40.0, 3.0, 1.5)
    assert fast == pytest.approx(mono, rel=1e-4)


def test_eqd2_identities():
    # EQD2 of a dose given in 2 Gy fractions is that dose: BED = n d (1 + d/(α/β)).
    ab = 3.0
    bed = 35 * 2.0 * (1 + 2.0 / ab)
    assert eqd2_Gy(bed, ab) == pytest.approx(70.0)
    assert eqdx_Gy(bed, ab, 2.0) == pytest.approx(70.0)
    assert eqdx_Gy(10.0, ab, 0.0) == pytest.approx(10.0)  # EQD0 = BED


def test_voxelwise_arrays_and_cycles():
    doses = np.array([[0.0, 5.0], [10.0, 20.0]])
    bed = bed_monoexponential_Gy(doses, 50.0, 2.6, 2.8)
    assert bed.shape == doses.shape and bed[0, 0] == 0.0
    assert bed[1, 1] == pytest.approx(bed_monoexponential_Gy(20.0, 50.0, 2.6, 2.8))
    total = accumulate_cycles_bed_Gy([bed, bed, bed, bed])
    np.testing.assert_allclose(total, 4 * bed)
    # Four cycles of 5 Gy have less BED than one of 20 Gy (quadratic term).
    assert total[0, 1] < bed[1, 1]


def test_structure_bed():
    dose = np.array([10.0, 20.0, 30.0, 99.0])
    mask = np.array([True, True, True, False])
    s = structure_bed(
        dose, mask, effective_half_life_h=50, alpha_beta_Gy=2.6, repair_half_time_h=2.8
    )
    assert s.mean_dose_Gy == pytest.approx(20.0)
    assert s.mean_bed_Gy > s.bed_of_mean_dose_Gy  # convexity (Jensen)
    with pytest.raises(InputError, match="empty"):
        structure_bed(
            dose, mask & False, effective_half_life_h=50, alpha_beta_Gy=2.6, repair_half_time_h=2.8
        )


def test_tissue_table():
    kidney = tissue_parameters("Kidney")
    assert kidney.alpha_beta_Gy == 2.6 and kidney.repair_half_time_h == 2.8
    assert kidney.limits["BED_Gy_with_risk_factors"] == 28.0
    assert kidney.references
    with pytest.raises(InputError, match="spleen"):
        tissue_parameters("spleen")


def test_bad_inputs():
    with pytest.raises(InputError):
        bed_monoexponential_Gy(np.nan, 50, 2.6, 2.8)
    with pytest.raises(InputError):
        bed_monoexponential_Gy(-1.0, 50, 2.6, 2.8)
    with pytest.raises(InputError):
        bed_monoexponential_Gy(1.0, 0.0, 2.6, 2.8)
    with pytest.raises(InputError, match="uptake"):
        bed_uptake_washout_Gy(1.0, 60.0, 50.0, 2.6, 2.8)


def test_bed_map_equals_the_scalar_formula_voxel_by_voxel():
    import numpy as np

    from theranostics.radiobiology import bed_map_Gy, bed_monoexponential_Gy

    dose = np.array([[0.0, 2.0], [5.0, 20.0]])
    t_eff = np.array([[30.0, 40.0], [50.0, 60.0]])
    ab = np.array([[2.6, 2.6], [10.0, 10.0]])
    got = bed_map_Gy(dose, t_eff, ab, 2.8)
    for idx in np.ndindex(dose.shape):
        expected = bed_monoexponential_Gy(dose[idx], t_eff[idx], ab[idx], 2.8)
        assert got[idx] == pytest.approx(float(expected), rel=1e-12)


def test_bed_map_names_the_bad_parameter_map():
    import numpy as np

    from theranostics.errors import InputError
    from theranostics.radiobiology import bed_map_Gy

    with pytest.raises(InputError, match="effective_half_life_h has 1 non-positive"):
        bed_map_Gy(np.ones(3), np.array([40.0, 0.0, 30.0]), 2.6, 2.8)
