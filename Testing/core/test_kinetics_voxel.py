"""Voxel-wise TIA: agreement with per-voxel scalar fits, fallbacks, linearity, masks, chunks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from theranostics.kinetics import fit_tac, voxel_tia

T_LU = 159.5
LAM_P = math.log(2) / T_LU
TIMES = np.array([4.0, 24.0, 96.0, 168.0])


@pytest.fixture(scope="module")
def noisy_stack():
    rng = np.random.default_rng(7)
    n = 20_000
    a0 = rng.uniform(5, 500, n)
    t_eff = rng.uniform(20, 140, n)
    clean = a0 * np.exp(-np.outer(TIMES, math.log(2) / t_eff))
    stack = clean * (1 + 0.1 * rng.standard_normal(clean.shape))
    return stack.reshape(4, 100, 200)


def test_mono_exp_voxels_equal_scalar_fits(noisy_stack):
    """Agreement figure: on 200 sampled voxels the vectorised fit equals fit_tac(mono-exp)
    to better than 1e-5 relative (measured median ~1e-10); fallback voxels equal the scalar
    trapezoid-physical TIA."""
    res = voxel_tia(noisy_stack, TIMES, physical_half_life_h=T_LU, model="mono-exp")
    flat = noisy_stack.reshape(4, -1)
    rng = np.random.default_rng(0)
    diffs = []
    for i in rng.choice(flat.shape[1], 200, replace=False):
        fb = res.fallback_mask.reshape(-1)[i]
        model = "trapezoid-physical" if fb else "mono-exp"
        ref = fit_tac(TIMES, flat[:, i], physical_half_life_h=T_LU, model=model).tia_MBq_h
        diffs.append(abs(res.tia.reshape(-1)[i] / ref - 1))
    assert np.median(diffs) < 1e-7
    assert max(diffs) < 1e-5
    assert 0 < res.summary["voxels_fallback"] < 0.2 * flat.shape[1]
    fitted = ~res.fallback_mask
    assert np.all(res.effective_half_life_h[fitted] <= T_LU)


@pytest.mark.parametrize("model", ["trapezoid-physical", "trapezoid-fitted-tail"])
def test_trapezoid_voxels_equal_scalar_definition(noisy_stack, model):
    res = voxel_tia(noisy_stack, TIMES, physical_half_life_h=T_LU, model=model)
    flat = noisy_stack.reshape(4, -1)
    for i in (0, 17, 999, 12345):
        ref = fit_tac(TIMES, flat[:, i], physical_half_life_h=T_LU, model=model).tia_MBq_h
        assert res.tia.reshape(-1)[i] == pytest.approx(ref, rel=1e-10)


def test_trapezoid_physical_map_sums_to_the_region_curve(noisy_stack):
    """Linear in the activities: the sum over voxels equals the TIA of the summed curve."""
    res = voxel_tia(noisy_stack, TIMES, physical_half_life_h=T_LU, model="trapezoid-physical")
    region = noisy_stack.reshape(4, -1).sum(axis=1)
    ref = fit_tac(TIMES, region, physical_half_life_h=T_LU, model="trapezoid-physical")
    assert res.tia.sum() == pytest.approx(ref.tia_MBq_h, rel=1e-10)


def test_fallbacks_zeros_non_finite_and_mask():
    t = TIMES
    voxels = np.stack(
        [
            100 * np.exp(-0.02 * t),  # fits
            [10.0, 20.0, 40.0, 60.0],  # rising: rate < physical -> fallback
            [10.0, 0.0, 5.0, 2.0],  # a zero reading -> fallback
            [0.0, 0.0, 0.0, 0.0],  # empty -> 0, not a fallback
            [1.0, np.nan, 1.0, 1.0],  # non-finite input -> NaN
            100 * np.exp(-0.02 * t),  # outside the mask -> 0
        ],
        axis=1,
    )
    mask = np.array([True, True, True, True, True, False])
    res = voxel_tia(voxels, t, physical_half_life_h=T_LU, mask=mask)
    assert res.tia[0] == pytest.approx(100 / 0.02, rel=1e-9)
    assert res.fallback_mask.tolist() == [False, True, True, False, False, False]
    w = np.array([4 / 2 + 20 / 2, 20 / 2 + 72 / 2, 72 / 2 + 72 / 2, 72 / 2])
    assert res.tia[1] == pytest.approx(w @ voxels[:, 1] + 60 / LAM_P)
    assert res.tia[3] == 0.0 and np.isnan(res.tia[4]) and res.tia[5] == 0.0
    s = res.summary
    assert s["fallback_reasons"] == {
        "non_positive_value": 1,
        "rate_below_physical": 1,
        "non_finite_fit": 0,
    }
    assert (s["voxels_zero"], s["voxels_non_finite_input"], s["voxels_in_mask"]) == (1, 1, 5)


def test_chunking_does_not_change_the_result_and_reports_progress(noisy_stack):
    calls = []
    before = noisy_stack.copy()
    a = voxel_tia(
        noisy_stack,
        TIMES,
        physical_half_life_h=T_LU,
        chunk_voxels=3000,
        progress=lambda f, m: calls.append(f),
    )
    b = voxel_tia(noisy_stack, TIMES, physical_half_life_h=T_LU)
    assert np.array_equal(a.tia, b.tia)
    assert len(calls) == 7 and calls[-1] == 1.0
    assert np.array_equal(noisy_stack, before)  # input untouched


def test_interpolation_residue_falls_back_instead_of_exploding():
    """A last value of 1e-19 (resampling residue) must not give an absurd mono-exp TIA."""
    import numpy as np

    from theranostics.kinetics import voxel_tia

    times = np.array([4.0, 24.0, 96.0, 168.0])
    good = 100.0 * np.exp(-np.log(2) / 60.0 * times)
    residue = good.copy()
    residue[-1] = 1e-19
    result = voxel_tia(np.stack([good, residue], axis=1), times, physical_half_life_h=159.5)
    assert result.fallback_mask.tolist() == [False, True]
    assert result.tia[1] < result.tia[0] * 1.5
