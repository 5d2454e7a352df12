"""Noise-free recovery of each TAC model's TIA and the trapezoid definitions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from theranostics.kinetics import MODEL_NAMES, fit_tac

T_LU = 159.5  # 177Lu physical half-life, h (6.647 d)
LAM_P = math.log(2) / T_LU
TIMES = np.array([1.0, 4.0, 24.0, 48.0, 96.0, 168.0])

CASES = {
    "mono-exp": (lambda t: 1000 * np.exp(-0.02 * t), 1000 / 0.02),
    "uptake-washout": (
        lambda t: 800 * (np.exp(-0.015 * t) - np.exp(-0.35 * t)),
        800 * (1 / 0.015 - 1 / 0.35),
    ),
    "bi-exp": (
        lambda t: 600 * np.exp(-0.15 * t) + 400 * np.exp(-0.012 * t),
        600 / 0.15 + 400 / 0.012,
    ),
}


@pytest.mark.parametrize("model", list(CASES))
def test_noise_free_exponential_models_recover_tia(model):
    curve, tia = CASES[model]
    fit = fit_tac(TIMES, curve(TIMES), physical_half_life_h=T_LU, model=model)
    assert fit.tia_MBq_h == pytest.approx(tia, rel=1e-3)
    assert np.allclose(fit.curve_MBq(TIMES), curve(TIMES), rtol=1e-6)
    # the analytic tail after the last point agrees with a numerical integral of the truth
    tail = np.trapezoid(curve(np.linspace(168, 168 + 40 * 60, 200001)), dx=40 * 60 / 200000)
    assert fit.tail_fraction == pytest.approx(tail / tia, rel=1e-3)
    json.dumps(fit.to_json())


def test_rates_are_never_slower_than_physical_decay():
    # a curve with a 300 h "effective" half-life is impossible for 177Lu (T_phys 159.5 h)
    t = np.array([4.0, 24.0, 96.0, 168.0])
    fit = fit_tac(
        t, 100 * np.exp(-math.log(2) / 300 * t), physical_half_life_h=T_LU, model="mono-exp"
    )
    assert fit.parameters["lambda_per_h"] == pytest.approx(LAM_P, rel=1e-9)
    assert fit.effective_half_life_h == pytest.approx(T_LU)
    assert "lambda_per_h" in fit.flags["parameters_at_bound"]


def test_trapezoid_physical_by_hand():
    t = np.array([2.0, 10.0, 50.0])
    a = np.array([10.0, 30.0, 20.0])
    fit = fit_tac(t, a, physical_half_life_h=T_LU, model="trapezoid-physical")
    area = 0.5 * 2 * 10 + 0.5 * 8 * (10 + 30) + 0.5 * 40 * (30 + 20)
    tail = 20 / LAM_P
    assert fit.tia_MBq_h == pytest.approx(area + tail, rel=1e-12)
    assert fit.tail_fraction == pytest.approx(tail / (area + tail), rel=1e-12)
    assert fit.parameters["area_MBq_h"] == pytest.approx(area)
    # the model's curve goes through the points and starts at 0
    assert np.allclose(fit.curve_MBq(np.concatenate([[0.0], t])), [0, 10, 30, 20])
    # sigma propagation: the TIA is linear in the activities
    w = np.array([0.5 * 2 + 0.5 * 8, 0.5 * 8 + 0.5 * 40, 0.5 * 40 + 1 / LAM_P])
    assert fit.tia_uncertainty_MBq_h == pytest.approx(math.sqrt(np.sum((w * 0.1 * a) ** 2)))


def test_trapezoid_fitted_tail_by_hand():
    t = np.array([4.0, 24.0, 96.0, 168.0])
    a = 500 * np.exp(-0.03 * t)
    fit = fit_tac(t, a, physical_half_life_h=T_LU, model="trapezoid-fitted-tail")
    assert fit.parameters["tail_rate_per_h"] == pytest.approx(0.03, rel=1e-12)
    assert fit.parameters["tail_MBq_h"] == pytest.approx(a[-1] / 0.03, rel=1e-12)


def test_fitted_tail_slower_than_physical_is_clamped_with_a_note():
    t = np.array([4.0, 24.0, 96.0, 168.0])
    a = np.array([10.0, 20.0, 25.0, 24.0])  # still rising-flat at the end
    fit = fit_tac(t, a, physical_half_life_h=T_LU, model="trapezoid-fitted-tail")
    assert fit.parameters["tail_rate_per_h"] == pytest.approx(LAM_P)
    assert any("physical decay" in n for n in fit.notes)


@pytest.mark.parametrize("model", ["trapezoid-physical", "trapezoid-fitted-tail"])
def test_trapezoids_converge_to_their_definition_on_dense_sampling(model):
    """On dense sampling of an uptake-washout curve (A(0) = 0, as the trapezoid assumes)
    whose washout is physical decay, both trapezoids equal the exact TIA within 0.1 %."""
    lam_u = 0.5
    truth = 1000 * (1 / LAM_P - 1 / lam_u)
    t = np.linspace(0.05, 400.0, 4000)
    a = 1000 * (np.exp(-LAM_P * t) - np.exp(-lam_u * t))
    fit = fit_tac(t, a, physical_half_life_h=T_LU, model=model)
    assert fit.tia_MBq_h == pytest.approx(truth, rel=1e-3)


def test_trapezoids_are_biased_on_sparse_sampling():
    """Documented bias: with 4 points the linear segments over-estimate a convex decay and
    the physical tail over-estimates a faster biological clearance."""
    t = np.array([4.0, 24.0, 96.0, 168.0])
    curve, tia = CASES["mono-exp"]
    phys = fit_tac(t, curve(t), physical_half_life_h=T_LU, model="trapezoid-physical")
    tail = fit_tac(t, curve(t), physical_half_life_h=T_LU, model="trapezoid-fitted-tail")
    assert phys.tia_MBq_h > tail.tia_MBq_h > tia * 0.9
    assert tail.tia_MBq_h / tia - 1 > 0.05  # convex segments: +9 % here


def test_model_names_contract():
    assert MODEL_NAMES == (
        "mono-exp",
        "uptake-washout",
        "bi-exp",
        "trapezoid-physical",
        "trapezoid-fitted-tail",
    )
