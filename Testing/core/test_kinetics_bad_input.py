"""Bad inputs to the kinetics functions raise specific errors that name the argument."""

from __future__ import annotations

import numpy as np
import pytest

from theranostics.errors import InputError, TimingError
from theranostics.kinetics import fit_tac, voxel_tia

T_LU = 159.5
T4 = [4.0, 24.0, 96.0, 168.0]
A4 = [100.0, 80.0, 40.0, 20.0]


@pytest.mark.parametrize(
    ("times", "acts", "error", "word"),
    [
        ([24.0, 4.0, 96.0, 168.0], A4, TimingError, "increasing"),
        ([4.0, 24.0, 24.0, 168.0], A4, TimingError, "duplicate"),
        ([-2.0, 24.0, 96.0, 168.0], A4, TimingError, "before administration"),
        ([4.0, np.nan, 96.0, 168.0], A4, TimingError, "NaN"),
        (T4, [100.0, np.nan, 40.0, 20.0], InputError, "NaN"),
        (T4, [100.0, np.inf, 40.0, 20.0], InputError, "infinite"),
        (T4, [100.0, -5.0, 40.0, 20.0], InputError, "negative"),
        (T4, [0.0, 0.0, 0.0, 0.0], InputError, "zero at every"),
        (T4, [100.0, 80.0, 40.0], InputError, "one activity per time"),
        ([], [], TimingError, "empty"),
    ],
)
def test_bad_curves(times, acts, error, word):
    with pytest.raises(error) as info:
        fit_tac(times, acts, physical_half_life_h=T_LU)
    assert word in str(info.value)
    assert info.value.tag in ("times_h", "activities_MBq")
    assert info.value.fix


def test_inputs_are_not_modified():
    t, a = np.array(T4), np.array(A4)
    fit_tac(t, a, physical_half_life_h=T_LU)
    assert t.tolist() == T4 and a.tolist() == A4


@pytest.mark.parametrize(("model", "n"), [("bi-exp", 3), ("uptake-washout", 2), ("mono-exp", 1)])
def test_too_few_points_for_the_model(model, n):
    t, a = T4[:n], A4[:n]
    with pytest.raises(TimingError, match="allow_fallback"):
        fit_tac(t, a, physical_half_life_h=T_LU, model=model)
    fit = fit_tac(t, a, physical_half_life_h=T_LU, model=model, allow_fallback=True)
    assert fit.model == "trapezoid-physical"
    assert any("fallback" in note for note in fit.notes)


def test_one_point_auto_needs_fallback():
    with pytest.raises(TimingError):
        fit_tac([24.0], [10.0], physical_half_life_h=T_LU)
    fit = fit_tac([24.0], [10.0], physical_half_life_h=T_LU, allow_fallback=True)
    assert fit.model == "trapezoid-physical"


@pytest.mark.parametrize(
    ("kwargs", "tag"),
    [
        ({"physical_half_life_h": 0.0}, "physical_half_life_h"),
        ({"physical_half_life_h": T_LU, "model": "tri-exp"}, "model"),
        ({"physical_half_life_h": T_LU, "relative_sd": -0.1}, "relative_sd"),
        ({"physical_half_life_h": T_LU, "sd_MBq": [1, 1, 0, 1]}, "sd_MBq"),
        ({"physical_half_life_h": T_LU, "covariance_scaling": "x"}, "covariance_scaling"),
    ],
)
def test_bad_options(kwargs, tag):
    with pytest.raises(InputError) as info:
        fit_tac(T4, A4, **kwargs)
    assert info.value.tag == tag


def test_voxel_bad_inputs():
    stack = np.ones((4, 3, 3))
    with pytest.raises(InputError, match="shape"):
        voxel_tia(stack, [4.0, 24.0, 96.0], physical_half_life_h=T_LU)
    with pytest.raises(InputError, match="mask"):
        voxel_tia(stack, T4, physical_half_life_h=T_LU, mask=np.ones((2, 2), bool))
    with pytest.raises(InputError, match="model"):
        voxel_tia(stack, T4, physical_half_life_h=T_LU, model="bi-exp")
    with pytest.raises(TimingError):
        voxel_tia(stack, [4.0, 2.0, 96.0, 168.0], physical_half_life_h=T_LU)
