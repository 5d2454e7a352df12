"""TAC extraction and the kinetics workflow.

Fast part: structure sums against closed forms, the geometric transfer matrix on a blurred
two-structure phantom (exact by construction), bad inputs. Slow part (one registered study
per module): the synthetic study's organ TIA against its ground truth, and the voxel TIA map
summed over organs against the organ-level TIA.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.errors import GeometryError, InputError, QuantificationError, TimingError
from theranostics.kinetics.tac import (
    FWHM_PER_SIGMA,
    gtm_matrix,
    structure_tacs,
    voxel_activity_stack,
)

SPACING = (4.0, 4.0, 4.0)
VOXEL_ML = 0.064


def image(values: np.ndarray, origin=(0.0, 0.0, 0.0)) -> sitk.Image:
    out = sitk.GetImageFromArray(np.asarray(values, dtype=np.float32))
    out.SetSpacing(SPACING)
    out.SetOrigin(origin)
    return out


def ball(shape, centre, radius) -> np.ndarray:
    k, j, i = np.indices(shape)
    return ((k - centre[0]) ** 2 + (j - centre[1]) ** 2 + (i - centre[2]) ** 2) <= radius**2


@pytest.fixture
def two_structures():
    shape = (30, 30, 30)
    hot = ball(shape, (15, 15, 12), 4).astype(np.float32)
    body = ball(shape, (15, 15, 15), 13).astype(np.float32) - hot
    return shape, {"hot": image(hot), "body": image(body)}


def test_structure_sums_are_concentration_times_occupancy_times_volume(two_structures):
    shape, masks = two_structures
    hot = sitk.GetArrayFromImage(masks["hot"])
    body = sitk.GetArrayFromImage(masks["body"])
    times = [2.0, 20.0]
    images = [image(1e5 * hot + 1e3 * body), image(5e4 * hot + 4e2 * body)]
    # Half-occupied voxels count half.
    half = {"hot": image(0.5 * hot), "body": masks["body"]}
    tacs = structure_tacs(images, times, half)
    hot_mL = hot.sum() * VOXEL_ML
    np.testing.assert_allclose(tacs["hot"].activities_MBq, [0.05 * hot_mL, 0.025 * hot_mL])
    assert tacs["hot"].volume_mL == pytest.approx(0.5 * hot_mL)
    np.testing.assert_allclose(tacs["hot"].mean_concentration_Bq_per_mL, [1e5, 5e4], rtol=1e-6)
    np.testing.assert_allclose(
        tacs["body"].activities_MBq, np.array([1e-3, 4e-4]) * body.sum() * VOXEL_ML, rtol=1e-6
    )
    assert tacs["body"].correction == "none"
    stack = voxel_activity_stack(images)
    assert stack.shape == (2, *shape)
    assert stack[0].sum() == pytest.approx((1e5 * hot + 1e3 * body).sum() * VOXEL_ML * 1e-6)


def test_gtm_recovers_blurred_uniform_structures(two_structures):
    _, masks = two_structures
    hot = sitk.GetArrayFromImage(masks["hot"])
    body = sitk.GetArrayFromImage(masks["body"])
    fwhm = 10.0
    truth = image(2e5 * hot + 2e3 * body)
    blurred = sitk.SmoothingRecursiveGaussian(truth, [fwhm / FWHM_PER_SIGMA] * 3)
    raw = structure_tacs([blurred], [4.0], masks)
    corrected = structure_tacs([blurred], [4.0], masks, psf_fwhm_mm=fwhm)
    true_hot = 0.2 * hot.sum() * VOXEL_ML
    # Spill-out of a 4-voxel-radius sphere under a 10 mm PSF is large ...
    assert raw["hot"].activities_MBq[0] < 0.8 * true_hot
    # ... and the GTM undoes it exactly (the image is exactly the GTM's model).
    assert corrected["hot"].activities_MBq[0] == pytest.approx(true_hot, rel=1e-4)
    assert corrected["hot"].correction.startswith("gtm")
    np.testing.assert_allclose(corrected["hot"].raw_activities_MBq, raw["hot"].activities_MBq)
    g = gtm_matrix(masks, fwhm)
    assert g.shape == (2, 2)
    assert np.allclose(g, g.T, rtol=1e-3)  # symmetric for a symmetric PSF
    with pytest.raises(InputError, match="psf_fwhm_mm"):
        gtm_matrix(masks, -1.0)


def test_tac_bad_inputs(two_structures):
    _, masks = two_structures
    hot = sitk.GetArrayFromImage(masks["hot"])
    good = image(1e4 * hot)
    with pytest.raises(InputError, match="2 images for 1 time points"):
        structure_tacs([good, good], [1.0], masks)
    with pytest.raises(TimingError):
        structure_tacs([good, good], [5.0, 1.0], masks)
    moved = image(1e4 * hot, origin=(4.0, 0.0, 0.0))
    with pytest.raises(GeometryError, match="not on the grid"):
        structure_tacs([good, moved], [1.0, 2.0], masks)
    nan = 1e4 * hot
    nan[hot > 0] = np.nan
    with pytest.raises(QuantificationError, match="NaN"):
        structure_tacs([image(nan)], [1.0], masks)
    with pytest.raises(QuantificationError, match="negative total"):
        structure_tacs([image(-1e4 * hot)], [1.0], masks)
    with pytest.raises(InputError, match="outside \\[0, 1\\]"):
        structure_tacs([good], [1.0], {"hot": image(2 * hot)})
    with pytest.raises(GeometryError, match="empty"):
        structure_tacs([good], [1.0], {"none": image(0 * hot)})
