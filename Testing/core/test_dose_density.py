"""Density correction from CT and the image-level dose workflow."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.dose.compute import compute_dose
from theranostics.dose.density import (
    density_on_grid,
    density_scaled_dose_Gy,
    hu_to_density_g_per_mL,
)
from theranostics.errors import GeometryError, InputError


def _image(arr, spacing, origin=(0.0, 0.0, 0.0)):
    img = sitk.GetImageFromArray(np.asarray(arr, dtype=np.float32))
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    return img


def test_hu_to_density_reference_points():
    # Air -1000 HU ≈ 0.0012 g/mL, water 0 HU = 1.0 g/mL (definition of the HU scale).
    np.testing.assert_allclose(hu_to_density_g_per_mL([-1000, 0, 1500]), [0.0012, 1.0, 1.92])
    assert hu_to_density_g_per_mL(-500) == pytest.approx(0.5006)
    with pytest.raises(InputError):
        hu_to_density_g_per_mL(0, table=((0, 1.0), (-100, 0.9)))


def test_density_averaged_onto_coarse_grid_is_mass_consistent():
    # CT 1 mm with a half-water/half-bone(1500 HU) split inside each 4 mm voxel → mean 1.46.
    ct = np.zeros((8, 8, 8), dtype=np.float32)
    ct[:, :, 2:4] = 1500.0
    ct[:, :, 6:8] = 1500.0
    ct_img = _image(ct, (1.0, 1.0, 1.0))
    ref = _image(np.zeros((2, 2, 2)), (4.0, 4.0, 4.0), origin=(1.5, 1.5, 1.5))
    rho = density_on_grid(ct_img, ref)
    np.testing.assert_allclose(rho, 0.5 * (1.0 + 1.92), rtol=1e-5)


def test_density_scaling_divides_by_density_and_blanks_air():
    dose = np.full((2, 2, 2), 10.0)
    rho = np.array([1.0, 2.0, 0.5, 0.001] * 2).reshape(2, 2, 2)
    out = density_scaled_dose_Gy(dose, rho)
    assert out.ravel()[:4].tolist() == [10.0, 5.0, 20.0, 0.0]


def test_ct_that_does_not_overlap_raises():
    tia = _image(np.ones((4, 4, 4)), (4.8, 4.8, 4.8))
    ct = _image(np.zeros((4, 4, 4)), (1.0, 1.0, 1.0), origin=(500.0, 500.0, 500.0))
    with pytest.raises(GeometryError, match="do not overlap"):
        compute_dose(tia, "Lu-177", method="led", ct=ct)


def test_compute_dose_water_ct_equals_no_ct():
    tia = np.zeros((12, 12, 12))
    tia[4:8, 4:8, 4:8] = 2.0
    tia_img = _image(tia, (4.0, 4.0, 4.0))
    ct_img = _image(np.zeros((48, 48, 48)), (1.0, 1.0, 1.0), origin=(-1.5, -1.5, -1.5))
    plain = sitk.GetArrayFromImage(compute_dose(tia_img, "Lu-177", photon_extent_mm=20))
    water = sitk.GetArrayFromImage(compute_dose(tia_img, "Lu-177", ct=ct_img, photon_extent_mm=20))
    np.testing.assert_allclose(water, plain, rtol=1e-5)
    led = sitk.GetArrayFromImage(compute_dose(tia_img, "Lu-177", method="led"))
    assert led[6, 6, 6] > plain[6, 6, 6] * 0.9


def test_compute_dose_on_ct_grid_conserves_activity_and_dose_scale():
    tia = np.zeros((8, 8, 8))
    tia[2:6, 2:6, 2:6] = 1.0
    tia_img = _image(tia, (4.0, 4.0, 4.0))
    ct_img = _image(np.zeros((16, 16, 16)), (2.0, 2.0, 2.0), origin=(-1.0, -1.0, -1.0))
    dose = compute_dose(tia_img, "Y-90", method="led", ct=ct_img, grid="ct")
    assert dose.GetSpacing() == ct_img.GetSpacing()
    coarse = compute_dose(tia_img, "Y-90", method="led")
    # Same local-deposition dose in the middle of the uniform block on both grids.
    assert sitk.GetArrayFromImage(dose)[8, 8, 8] == pytest.approx(
        sitk.GetArrayFromImage(coarse)[4, 4, 4], rel=1e-4
    )


def test_compute_dose_bad_method():
    with pytest.raises(InputError, match="method"):
        compute_dose(_image(np.ones((2, 2, 2)), (1, 1, 1)), "Lu-177", method="monte-carlo")
