"""Planned-versus-delivered comparison and the tolerance table."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.dose.dvh import dose_volume_histogram
from theranostics.errors import GeometryError, InputError
from theranostics.verify.compare import (
    DEFAULT_TOLERANCES,
    REPORTED_NOTE,
    STRICT_TOLERANCES,
    compare_dvhs,
    compare_structures,
    dose_difference_map,
    tolerance_table,
)
from theranostics.verify.gamma import gamma_index

PLANNED = {
    "kidney_left": {"mean_dose_Gy": 4.0, "mean_dose_uncertainty_Gy": 0.2, "bed_Gy": 4.5},
    "liver": {"mean_dose_Gy": 2.0, "mean_dose_uncertainty_Gy": 0.1},
    "lesion_01": {"mean_dose_Gy": 20.0, "category": "lesion"},
    "spleen": {"mean_dose_Gy": 3.0},
}
DELIVERED = {
    "kidney_left": {"mean_dose_Gy": 4.3, "mean_dose_uncertainty_Gy": 0.2, "bed_Gy": 4.9},
    "liver": {"mean_dose_Gy": 2.5, "mean_dose_uncertainty_Gy": 0.1},
    "lesion_01": {"mean_dose_Gy": 23.0, "mean_dose_uncertainty_Gy": 2.0, "category": "lesion"},
    "marrow": {"mean_dose_Gy": 0.3},
}


def test_compare_structures_rows():
    comp = compare_structures(PLANNED, DELIVERED)
    rows = {r["structure"]: r for r in comp.rows}
    k = rows["kidney_left"]
    assert k["difference_Gy"] == pytest.approx(0.3)
    assert k["relative_difference_percent"] == pytest.approx(7.5)
    assert k["combined_uncertainty_Gy"] == pytest.approx(math.hypot(0.2, 0.2))
    assert k["within_uncertainty"] is True  # 0.3 <= 2 * 0.283
    assert k["within_tolerance"] is True and k["tolerance_percent"] == 10.0
    assert k["bed_difference_Gy"] == pytest.approx(0.4)
    liver = rows["liver"]  # +25 %, 0.5 Gy > 2 * 0.141 Gy
    assert liver["within_tolerance"] is False and liver["within_uncertainty"] is False
    lesion = rows["lesion_01"]  # +15 % within the 20 % lesion tolerance, 3 <= 2 * 2
    assert lesion["tolerance_percent"] == 20.0 and lesion["within_tolerance"] is True
    assert lesion["within_uncertainty"] is True
    assert rows["spleen"]["note"] == "only in the plan"
    assert rows["marrow"]["within_tolerance"] is None
    assert comp.deviating == ["liver"]
    json.dumps(comp.to_json())
    strict = compare_structures(PLANNED, DELIVERED, tolerance_percent=5.0)
    assert {r["structure"] for r in strict.rows if r["within_tolerance"] is False} == {
        "kidney_left",
        "liver",
        "lesion_01",
    }


def test_compare_structures_bad_input():
    with pytest.raises(InputError, match=r"'liver'.*mean_dose_Gy"):
        compare_structures({"liver": {"mean_dose_Gy": "x"}}, {"liver": {"mean_dose_Gy": 1.0}})
    with pytest.raises(InputError, match="no mean_dose_Gy"):
        compare_structures({"liver": {}}, {"liver": {"mean_dose_Gy": 1.0}})
    with pytest.raises(InputError, match="coverage_k"):
        compare_structures({}, {}, coverage_k=0)


def _img(arr, spacing=(2.0, 2.0, 2.0), origin=(0.0, 0.0, 0.0)):
    im = sitk.GetImageFromArray(np.asarray(arr, float))
    im.SetSpacing(spacing)
    im.SetOrigin(origin)
    return im


def test_dose_difference_map_on_delivered_grid():
    x = np.arange(10) * 2.0
    planned = _img(np.broadcast_to(1.0 + 0.1 * x, (10, 10, 10)))
    # delivered: finer grid, offset origin, the same linear field plus 0.5 Gy
    xf = np.arange(15) * 1.0 + 1.0
    delivered = _img(np.broadcast_to(1.5 + 0.1 * xf, (15, 15, 15)), (1.0,) * 3, (1.0,) * 3)
    diff = sitk.GetArrayFromImage(dose_difference_map(planned, delivered))
    np.testing.assert_allclose(diff, 0.5, atol=1e-6)  # linear: trilinear resampling exact
    pct = dose_difference_map(planned, delivered, percent_of_Gy=2.0)
    assert pct.GetMetaData("units") == "%"
    np.testing.assert_allclose(sitk.GetArrayFromImage(pct), 25.0, atol=1e-4)
    with pytest.raises(GeometryError, match="do not overlap"):
        dose_difference_map(planned, _img(np.ones((3, 3, 3)), origin=(900.0, 0, 0)))


def test_compare_dvhs_and_tolerance_table():
    rng = np.random.default_rng(1)
    dose = rng.uniform(0, 10, (8, 8, 8))
    mask = _img(np.ones((8, 8, 8)))
    a = dose_volume_histogram(_img(dose), mask)
    b = dose_volume_histogram(_img(dose * 1.05), mask)
    comp = compare_dvhs(a, b)
    assert comp["metrics"]["D50_Gy"]["relative_difference_percent"] == pytest.approx(5.0)
    assert comp["metrics"]["mean_Gy"]["difference"] == pytest.approx(0.05 * a.metrics["mean_Gy"])
    # uniform on [0, 10] Gy scaled by 1.05: V_b − V_a = D·(1/10 − 1/10.5), largest at the
    # top (4.76 points), plus sampling noise of 512 voxels (binomial SD ~1 point at 5 %)
    assert 2.5 < comp["max_volume_difference_percent"] <= 100 * 0.05 / 1.05 + 2.5
    same = compare_dvhs(a, a)
    assert same["max_volume_difference_percent"] == 0.0

    g = gamma_index(_img(dose), _img(dose * 1.05), cutoff_percent=10.0)
    structures = compare_structures(PLANNED, DELIVERED)
    table = tolerance_table(structures, {"liver": comp}, g)
    failed = {(r["check"], r["structure"]) for r in table.deviations}
    assert ("mean dose difference", "liver") in failed
    assert ("mean dose difference", "kidney_left") not in failed
    assert not any(
        r["structure"] == "liver" and r["check"].startswith("DVH") for r in table.deviations
    )  # 5 % < 10 %
    gamma_row = next(r for r in table.rows if r["check"].startswith("gamma"))
    assert gamma_row["value"] == g.pass_rate_percent
    # a tighter DVH mean tolerance flags the mean; a quantile tolerance given is checked
    tight = tolerance_table(None, {"liver": comp}, None, tolerances={"organ_dvh_mean_percent": 2.0})
    assert [r["check"] for r in tight.deviations] == ["DVH mean_Gy"]
    given = tolerance_table(
        None, {"liver": comp}, None, tolerances={"organ_dvh_quantile_percent": 2.0}
    )
    assert {r["check"] for r in given.deviations} == {"DVH D50_Gy"}  # D98/D2 still reported
    json.dumps(table.to_json())
    with pytest.raises(InputError, match="unknown tolerance"):
        tolerance_table(tolerances={"typo": 1.0})
    assert set(DEFAULT_TOLERANCES) >= {"organ_mean_dose_percent", "gamma_pass_rate_min_percent"}


# ------------------------------------------------------------------------------------------
# like with like: matched resolution (theranostics.verify.resolution)


def _box(shape=(40, 40, 40), spacing=2.0):
    """A sharp 20 mm cube of 10 Gy in a 0 Gy volume (a planned map made from a structure)."""
    arr = np.zeros(shape)
    c = shape[0] // 2
    arr[c - 5 : c + 5, c - 5 : c + 5, c - 5 : c + 5] = 10.0
    return _img(arr, (spacing,) * 3)


def test_matched_resolution_blurs_the_sharper_map_with_the_psf():
    from theranostics.verify.resolution import FWHM_PER_SIGMA, gaussian_blur, match_resolution

    planned = _box()
    # the delivered chain: the same cube seen through a 12 mm FWHM camera
    delivered = gaussian_blur(planned, 12.0 / FWHM_PER_SIGMA)
    raw = match_resolution(planned, delivered, delivered_fwhm_mm=12.0, mode="raw")
    matched = match_resolution(planned, delivered, delivered_fwhm_mm=12.0)
    assert raw.info["mode"] == "raw" and raw.info["blurred"] is None
    assert matched.info["blurred"] == "planned" and matched.info["blur_fwhm_mm"] == 12.0
    assert "planned map blurred" in matched.info["description"]
    p, d = sitk.GetArrayFromImage(matched.planned), sitk.GetArrayFromImage(delivered)
    np.testing.assert_allclose(p, d, atol=1e-9)  # the same operation: identical maps
    # the blur conserves the integral (what the structure received)
    assert p.sum() == pytest.approx(sitk.GetArrayFromImage(planned).sum(), rel=1e-3)
    g_raw = gamma_index(raw.planned, raw.delivered, cutoff_percent=10.0)
    g_matched = gamma_index(matched.planned, matched.delivered, cutoff_percent=10.0)
    assert g_matched.pass_rate_percent == pytest.approx(100.0)
    assert g_raw.pass_rate_percent < 80.0  # the camera, not the treatment


def test_matched_resolution_both_to_the_coarser_one():
    from theranostics.verify.resolution import FWHM_PER_SIGMA, gaussian_blur, match_resolution

    sharp = _box()
    planned = gaussian_blur(sharp, 15.0 / FWHM_PER_SIGMA)  # e.g. from a 15 mm pre-therapy scan
    delivered = gaussian_blur(sharp, 9.0 / FWHM_PER_SIGMA)
    m = match_resolution(planned, delivered, delivered_fwhm_mm=9.0, planned_fwhm_mm=15.0)
    assert m.info["blurred"] == "delivered"
    assert m.info["blur_fwhm_mm"] == pytest.approx(12.0)  # sqrt(15² − 9²): widths in quadrature
    np.testing.assert_allclose(
        sitk.GetArrayFromImage(m.delivered), sitk.GetArrayFromImage(planned), atol=0.1
    )


def test_matched_resolution_averages_a_finer_planned_grid_and_refuses_bad_input():
    from theranostics.verify.resolution import match_resolution

    planned = _box((80, 80, 80), 1.0)  # 1 mm grid
    delivered = _img(np.zeros((20, 20, 20)), (4.0,) * 3)
    m = match_resolution(planned, delivered, delivered_fwhm_mm=8.0)
    assert m.info["resampled"]
    # a 4 mm voxel is a 1 mm one plus a box of variance (4² − 1²)/12 mm²
    np.testing.assert_allclose(m.info["grid_smoothing_sigma_mm"], math.sqrt(15.0 / 12.0))
    assert m.planned.GetSize() == delivered.GetSize()
    # integral conserved through blur and resampling (Gy·mL)
    fine = sitk.GetArrayFromImage(planned).sum() * 1.0
    assert sitk.GetArrayFromImage(m.planned).sum() * 64.0 == pytest.approx(fine, rel=0.02)
    nothing = match_resolution(planned, delivered, delivered_fwhm_mm=None)
    assert nothing.info["mode"] == "raw" and "no resolution" in nothing.info["note"]
    with pytest.raises(InputError, match="comparison resolution"):
        match_resolution(planned, delivered, delivered_fwhm_mm=8.0, mode="fuzzy")
    with pytest.raises(InputError, match="FWHM"):
        match_resolution(planned, delivered, delivered_fwhm_mm=-1.0)


def test_gtm_rescaling_restores_a_uniform_structure_level():
    from theranostics.verify.resolution import (
        FWHM_PER_SIGMA,
        gaussian_blur,
        gtm_structure_scales,
    )

    planned = _box()
    mask = sitk.Cast(planned > 5.0, sitk.sitkFloat32)
    blurred = gaussian_blur(planned, 12.0 / FWHM_PER_SIGMA)
    scale = gtm_structure_scales(blurred, {"cube": mask}, 12.0)["cube"]
    inside = sitk.GetArrayFromImage(mask) > 0
    level = scale * sitk.GetArrayFromImage(blurred)[inside].mean()
    assert scale > 1.3  # the blur moved a good part of the dose out of a 20 mm cube
    assert level == pytest.approx(10.0, rel=1e-3)  # GTM inverts the blur exactly here


def test_near_extreme_metrics_and_curve_rows():
    rng = np.random.default_rng(2)
    dose = rng.uniform(5, 10, (8, 8, 8))
    mask = _img(np.ones((8, 8, 8)))
    a = dose_volume_histogram(_img(dose), mask)
    b = dose_volume_histogram(_img(dose * 1.15), mask)  # +15 %
    comp = compare_dvhs(a, b)
    strict = tolerance_table(dvhs={"kidney": comp}, categories={"kidney": "organ"}, strict=True)
    by_check = {r["check"]: r for r in strict.rows}
    assert by_check["DVH D50_Gy"]["passed"] is False  # 15 % > 10 %
    assert by_check["DVH D2_Gy"]["passed"] is True and by_check["DVH D2_Gy"]["tolerance"] == 20.0
    curve = by_check["DVH curve max volume difference"]
    assert curve["passed"] is None and "not checked" in curve["note"]
    assert strict.flagged_structures == {"kidney": ["DVH mean_Gy", "DVH D50_Gy"]}
    assert strict.policy["strict"] and strict.policy["reported_only"] == []
    checked = tolerance_table(dvhs={"kidney": comp}, tolerances={"dvh_curve_volume_points": 10})
    row = next(r for r in checked.rows if r["check"].startswith("DVH curve"))
    assert row["passed"] is False


def _shape_only(scale=1.0, spread=0.3, seed=3):
    """A planned and a delivered DVH with the same mean (times ``scale``) whose delivered
    voxel distribution is wider by ``spread`` (noise widens a SPECT-based distribution)."""
    rng = np.random.default_rng(seed)
    mask = _img(np.ones((10, 10, 10)))
    planned = rng.uniform(9.0, 11.0, (10, 10, 10))
    delivered = planned + spread * 10.0 * rng.standard_normal(planned.shape)
    delivered *= scale * planned.mean() / delivered.mean()  # the structure dose, exactly
    a = dose_volume_histogram(_img(planned), mask)
    return compare_dvhs(a, dose_volume_histogram(_img(delivered), mask))


def test_default_policy_flags_the_mean_not_the_noise_in_the_quantiles():
    """Default: a structure whose mean agrees is not flagged, however wide its delivered
    distribution (D98 -50 %, D2 +50 %: voxel noise); the quantiles are reported with their
    differences and a note. A structure whose mean differs beyond its tolerance is flagged,
    whatever its quantiles; strict mode flags the quantiles too."""
    wide = _shape_only()
    assert wide["metrics"]["mean_Gy"]["relative_difference_percent"] == pytest.approx(0, abs=1e-9)
    assert wide["metrics"]["D98_Gy"]["relative_difference_percent"] < -40.0
    assert wide["metrics"]["D2_Gy"]["relative_difference_percent"] > 40.0
    low = _shape_only(scale=0.75, spread=0.0)  # a lesion 25 % low, the same shape
    cats = {"kidney": "organ", "lesion_03": "lesion"}
    table = tolerance_table(dvhs={"kidney": wide, "lesion_03": low}, categories=cats)
    assert table.flagged_structures == {"lesion_03": ["DVH mean_Gy"]}  # 25 % > 20 %
    rows = {(r["structure"], r["check"]): r for r in table.rows}
    for key in ("D98_Gy", "D50_Gy", "D2_Gy"):
        row = rows[("kidney", f"DVH {key}")]
        assert row["passed"] is None and row["tolerance"] is None and row["note"] == REPORTED_NOTE
        assert row["value"] == wide["metrics"][key]["relative_difference_percent"]
    assert rows[("kidney", "DVH mean_Gy")]["passed"] is True
    assert rows[("lesion_03", "DVH mean_Gy")]["tolerance"] == 20.0
    assert table.policy["strict"] is False
    assert set(table.policy["reported_only"]) == set(STRICT_TOLERANCES)
    assert set(DEFAULT_TOLERANCES).isdisjoint(STRICT_TOLERANCES)
    doc = table.to_json()
    assert doc["policy"]["description"].startswith("flagged: structure mean dose and gamma")
    json.dumps(doc)
    strict = tolerance_table(dvhs={"kidney": wide}, categories=cats, strict=True)
    # D95 is near-extreme too (dose_volume_histogram reports D98, D95, D50, D2)
    assert set(strict.flagged_structures["kidney"]) == {"DVH D98_Gy", "DVH D95_Gy", "DVH D2_Gy"}
    assert strict.tolerances["organ_dvh_near_extreme_percent"] == 20.0
    # one near-extreme tolerance given by the user: only that quantile is checked
    user = tolerance_table(dvhs={"kidney": wide}, tolerances={"organ_dvh_near_extreme_percent": 60})
    assert user.deviations == []
    assert {r["check"] for r in user.rows if r["passed"] is not None} == {
        "DVH mean_Gy",
        "DVH D98_Gy",
        "DVH D95_Gy",
        "DVH D2_Gy",
    }


def test_structures_not_in_the_plan_are_reported_not_flagged():
    """A structure the plan does not contain (the demo's lungs) is compared against the
    planned map and reported with its differences, marked "not in the plan", never flagged
    (even in strict mode and with its mean 30 % off)."""
    lung = _shape_only(scale=0.7)
    table = tolerance_table(dvhs={"lung_left": lung}, unplanned=["lung_left"], strict=True)
    assert table.deviations == [] and table.flagged_structures == {}
    assert table.policy["not_in_plan"] == ["lung_left"]
    for row in table.rows:
        assert row["passed"] is None and row["tolerance"] is None, row
        if row["check"] != "DVH curve max volume difference":
            assert row["note"] == "not in the plan: reported, not flagged"
            assert row["value"] is not None
    mean = next(r for r in table.rows if r["check"] == "DVH mean_Gy")
    assert mean["value"] == pytest.approx(-30.0)
    # the same structure in the plan is flagged
    planned = tolerance_table(dvhs={"lung_left": lung})
    assert planned.flagged_structures == {"lung_left": ["DVH mean_Gy"]}
