"""The plausibility rules (theranostics.plausibility, docs/ingest.md) on their own and at the
sidecar boundary: impossible values are errors naming the value and the reason, unusual ones
are problems, and the minutes/seconds half-life mix-up is named as such."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics import plausibility
from theranostics.errors import PlausibilityError, TimingError
from theranostics.io.sidecar import read_image_with_sidecar
from theranostics.nuclides import get_nuclide


def test_ranges_give_errors_problems_or_nothing():
    assert plausibility.check(4.8, plausibility.SPACING_MM) == []
    assert "unusual" in plausibility.check(30.0, plausibility.SPACING_MM, tag="PixelSpacing")[0]
    for impossible in (0.0, -1.0, 1e6, float("nan"), float("inf")):
        with pytest.raises(PlausibilityError, match="is impossible"):
            plausibility.check(impossible, plausibility.SPACING_MM, tag="PixelSpacing")
    assert plausibility.check(None, plausibility.ACTIVITY_MBQ) == []


@pytest.mark.parametrize(
    ("nuclide", "written", "unit"),
    [("F-18", 109.77, "minutes"), ("Tc-99m", 360.4, "minutes"), ("Lu-177", 6.647, "days")],
)
def test_half_life_in_the_wrong_unit_is_named(nuclide, written, unit):
    table = get_nuclide(nuclide).half_life_s
    with pytest.raises(PlausibilityError, match=f"half-life in {unit}") as err:
        plausibility.check_half_life(written, nuclide, table, path="x.dcm")
    assert "RadionuclideHalfLife (0018,1075)" in str(err.value)
    assert plausibility.check_half_life(table * 1.001, nuclide, table) == []
    with pytest.raises(PlausibilityError, match="contradicts the nuclide"):
        plausibility.check_half_life(table * 1.5, nuclide, table)


def test_time_from_administration_in_half_lives():
    scan = datetime(2024, 5, 2, 10, 0)
    f18 = get_nuclide("F-18").half_life_s
    assert plausibility.check_elapsed(scan - timedelta(hours=1), scan, f18) == []
    assert plausibility.check_elapsed(scan - timedelta(hours=12), scan, f18)  # 6.6 T1/2
    assert "scan start instant" in plausibility.check_elapsed(scan, scan, f18)[0]
    with pytest.raises(TimingError, match="half-lives"):
        plausibility.check_elapsed(scan - timedelta(days=365), scan, f18)


def _nrrd_with_sidecar(tmp_path, **values):
    image = sitk.GetImageFromArray(np.ones((4, 4, 4), np.float32))
    path = tmp_path / "pet.nrrd"
    sitk.WriteImage(image, str(path))
    doc = {"schema": "theranostics-sidecar/1", "units": "Bq/mL", "modality": "PT", **values}
    (tmp_path / "pet.json").write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("administered_activity_MBq", 1e30),
        ("administered_activity_MBq", 1e-6),
        ("acquisition_duration_s", 4 * 365 * 86400.0),
        ("patient_weight_kg", 0.07),
        ("patient_height_m", 17.0),
    ],
)
def test_sidecar_values_follow_the_same_rules(tmp_path, key, value):
    path = _nrrd_with_sidecar(tmp_path, **{key: value})
    with pytest.raises(PlausibilityError, match="is impossible") as err:
        read_image_with_sidecar(path)
    assert key in str(err.value) and "pet.json" in str(err.value)


def test_unusual_sidecar_values_are_problems(tmp_path):
    path = _nrrd_with_sidecar(tmp_path, patient_weight_kg=280.0, administered_activity_MBq=2.0)
    problems = read_image_with_sidecar(path).meta.problems
    assert any("patient weight (kg) 280 is unusual" in p for p in problems)
    assert any("administered activity (MBq) 2 is unusual" in p for p in problems)
