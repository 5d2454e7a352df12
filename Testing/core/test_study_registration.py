"""register_study on the small synthetic study: every SPECT on the reference grid, totals
conserved, motion recovered, activity brought back to the reference pose."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.errors import InputError
from theranostics.registration import box_corners, compare_transforms, transform_from_motion
from theranostics.study import register_study


@pytest.fixture(scope="module")
def registered(small_study_loaded):
    return register_study(small_study_loaded)


@pytest.mark.slow
def test_register_study_small(registered, synthetic_study_small):
    truth = json.loads((synthetic_study_small / "truth" / "ground_truth.json").read_text())
    assert registered.registrations[0] is None
    assert registered.times_h == pytest.approx([4.0, 24.0, 96.0, 168.0])
    grid = registered.reference_grid
    corners = box_corners((-150.0, -80.0, 20.0), (150.0, 120.0, 600.0))
    for index, image in enumerate(registered.spect_on_reference):
        assert image.GetSize() == grid.GetSize()
        assert np.allclose(image.GetOrigin(), grid.GetOrigin())
        figures = registered.conservation[index]
        assert figures["conservation_ratio"] == pytest.approx(1.0, abs=0.01)
        if index:
            motion = transform_from_motion(truth["time_points"][index]["motion"])
            error = compare_transforms(registered.registrations[index].transform, motion, corners)
            assert error["max_displacement_error_mm"] < 1.0
    # After registration the late SPECT's activity sits where the reference pose puts it:
    # the activity-weighted centroid of the 168 h image matches the 168 h truth image
    # (true activity in the reference pose) far better than the unregistered one does.
    truth_168 = sitk.ReadImage(str(synthetic_study_small / "truth" / "activity_168h.nrrd"))

    def centroid(image):
        arr = sitk.GetArrayViewFromImage(image).astype(np.float64)
        idx = np.indices(arr.shape).reshape(3, -1)
        kji = (idx * arr.ravel()).sum(axis=1) / arr.sum()
        return np.array(image.TransformContinuousIndexToPhysicalPoint(tuple(kji[::-1])))

    c_truth = centroid(truth_168)
    c_registered = centroid(registered.spect_on_reference[3])
    c_raw = centroid(registered.study.time_points[3].spect.image)
    assert np.linalg.norm(c_registered - c_truth) < 1.0
    assert np.linalg.norm(c_raw - c_truth) > 2.0 * np.linalg.norm(c_registered - c_truth)
    assert json.dumps(registered.to_json())


def test_reference_index_out_of_range(small_study_loaded):
    study = small_study_loaded
    with pytest.raises(InputError, match="reference_index"):
        register_study(study, reference_index=7)
