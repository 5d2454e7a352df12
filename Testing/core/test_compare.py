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
    strict = tolerance_table(
        None, {"liver": comp}, None, tolerances={"organ_dvh_metric_percent": 2.0}
    )
    assert any(r["check"] == "DVH D50_Gy" for r in strict.deviations)
    json.dumps(table.to_json())
    with pytest.raises(InputError, match="unknown tolerance"):
        tolerance_table(tolerances={"typo": 1.0})
    assert set(DEFAULT_TOLERANCES) >= {"organ_mean_dose_percent", "gamma_pass_rate_min_percent"}
