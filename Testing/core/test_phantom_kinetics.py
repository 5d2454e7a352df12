"""Kinetics and anatomy of the synthetic phantom: closed forms against numerical integration,
physical plausibility of the presets, voxelisation and motion conserving activity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from theranostics.nuclides import get_nuclide
from theranostics.phantom import anatomy as anat
from theranostics.phantom import spect
from theranostics.phantom.kinetics import RegionKinetics, Washout, curve_for, total_curve
from theranostics.phantom.lesions import draw_lesions
from theranostics.phantom.presets import PRESETS, SIZES

LU = get_nuclide("Lu-177")


def _model(kin: RegionKinetics, a0: float, t: float, lam_p: float) -> float:
    """Uptake-washout written out independently of the module under test."""
    value = sum(w.fraction * math.exp(-math.log(2) / w.t_eff_h * t) for w in kin.washout)
    if kin.uptake_half_life_h:
        mu_u = math.log(2) / kin.uptake_half_life_h + lam_p
        value -= kin.plateau_fraction * math.exp(-mu_u * t)
    return a0 * value


@pytest.mark.parametrize(
    "kin",
    [
        RegionKinetics((Washout(0.02, 40.0),), 1.0),
        RegionKinetics((Washout(0.5, 1.5), Washout(0.3, 40.0)), None),
        RegionKinetics((Washout(0.01, 20.0), Washout(0.01, 120.0)), 3.0),
    ],
)
def test_tia_is_the_integral_of_the_curve(kin):
    curve = curve_for(kin, 7400.0, LU.half_life_h)
    numeric, _ = integrate.quad(
        lambda t: _model(kin, 7400.0, t, LU.decay_constant_per_h), 0, np.inf, limit=500
    )
    assert curve.tia_MBq_h == pytest.approx(numeric, rel=1e-6)
    assert curve.integral_MBq_h(4.0, 4.5) == pytest.approx(
        integrate.quad(curve.activity_MBq, 4.0, 4.5)[0], rel=1e-9
    )
    assert curve.activity_MBq(0.0) == pytest.approx(_model(kin, 7400.0, 0.0, 0.0), abs=1e-9)


def test_other_nuclide_keeps_biology():
    kin = RegionKinetics((Washout(0.02, 40.0),), 1.0)
    ga = get_nuclide("Ga-68")
    curve = curve_for(kin, 150.0, ga.half_life_h, t_eff_nuclide_half_life_h=LU.half_life_h)
    lam_bio = math.log(2) / 40.0 - LU.decay_constant_per_h
    washout = next(t for t in curve.terms if t.coefficient_MBq > 0)
    assert washout.rate_per_h == pytest.approx(lam_bio + ga.decay_constant_per_h)


def test_effective_half_life_longer_than_physical_is_refused():
    with pytest.raises(ValueError, match="effective half-life"):
        curve_for(RegionKinetics((Washout(0.1, 200.0),), None), 1.0, LU.half_life_h)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_physical(name):
    preset = PRESETS[name]
    lesions, lesion_kin = draw_lesions(
        np.random.default_rng(3), preset.lesions, anat.base_anatomy()
    )
    assert preset.lesions.count_range[0] <= len(lesions) <= preset.lesions.count_range[1]
    volumes = [les.shape.volume_mL for les in lesions]
    assert min(volumes) >= 0.5 * 0.8**5 and max(volumes) <= 50.0 + 1e-9
    curves = [
        curve_for(k, 7400.0, LU.half_life_h) for k in {**preset.organs, **lesion_kin}.values()
    ]
    t = np.linspace(0, 2000, 20001)
    for c in curves:  # no region ever holds negative activity
        assert np.all(c.activity_MBq(t) >= -1e-9)
    retained = total_curve(curves).activity_MBq(t)
    assert np.all(retained <= 7400.0 * np.exp(-LU.decay_constant_per_h * t) * (1 + 1e-9))


def test_rigid_transform_round_trip():
    tr = anat.RigidTransform((1.0, -2.0, 1.5), (3.0, -4.0, 5.0), anat.BODY_CENTRE_MM)
    pts = np.random.default_rng(0).uniform(-200, 200, (50, 3))
    np.testing.assert_allclose(tr.inverse(tr.forward(pts)), pts, atol=1e-9)
    np.testing.assert_allclose(tr.matrix @ tr.matrix.T, np.eye(3), atol=1e-12)


def test_moving_activity_conserves_it():
    grid = SIZES["small"].fine_grid
    values = np.zeros(grid.shape_kji)
    values[60:100, 50:80, 40:90] = np.random.default_rng(1).random((40, 30, 50))
    tr = spect.draw_motion(np.random.default_rng(2))
    moved = spect.move_activity(values, grid, tr)
    assert moved.sum() == pytest.approx(values.sum(), rel=1e-12)
    coarse = spect.block_sum(moved)
    assert coarse.sum() == pytest.approx(values.sum(), rel=1e-12)


def test_voxelised_organs_match_their_analytic_volumes():
    grid = SIZES["small"].fine_grid
    labels = anat.base_anatomy().lookup("label")[anat.rasterize(anat.base_anatomy(), grid)]
    kidney = np.count_nonzero(labels == anat.ORGAN_LABELS["kidney_left"]) * grid.voxel_volume_mL
    analytic = anat.Ellipsoid((75, 55, 175), (28, 24, 52)).volume_mL
    assert kidney == pytest.approx(analytic, rel=0.05)
