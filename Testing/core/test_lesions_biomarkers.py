"""Lesion biomarkers: SUVpeak against a brute-force sphere search, closed forms, units."""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.lesions import brute_force_peak, lesion_biomarkers, lesion_peaks, sphere_kernel
from theranostics.lesions.suv_peak import sphere_means, sphere_radius_mm
from theranostics.lesions.synthetic import BQ_PER_ML_PER_SUV, Blob, synthetic_pet


def test_sphere_radius_and_kernel_volume():
    assert sphere_radius_mm(1.0) == pytest.approx(6.2035, abs=1e-4)  # (3000 / 4π)^(1/3)
    fine = sphere_kernel((0.5, 0.5, 0.5))
    assert fine.sum() * 0.125e-3 == pytest.approx(1.0, rel=0.01)
    coarse = sphere_kernel((4.8, 4.8, 4.8))
    assert coarse.sum() == 7  # centre + 6 face neighbours (4.8 mm < 6.2 mm < 6.79 mm)
    aniso = sphere_kernel((2.0, 2.0, 5.0))
    assert aniso.shape == (3, 7, 7)


@pytest.mark.parametrize(
    ("spacing", "volume_mL"),
    [((4.0, 4.0, 4.0), 1.0), ((2.0, 2.5, 3.0), 1.0), ((1.0, 1.0, 1.0), 1.0)],
)
def test_suv_peak_equals_brute_force(spacing, volume_mL):
    rng = np.random.default_rng(7)
    shape = (14, 16, 18)
    values = rng.gamma(2.0, 1.0, shape) + 3.0 * (np.indices(shape)[2] > 9)
    labels = np.zeros(shape, dtype=np.int32)
    labels[3:9, 4:11, 5:12] = 1
    labels[0:3, 0:4, 14:18] = 2  # touches the border: outside voxels are not counted
    peaks = lesion_peaks(values, labels, spacing, volume_mL=volume_mL)
    for label in (1, 2):
        expected, where = brute_force_peak(values, labels == label, spacing, volume_mL=volume_mL)
        assert peaks[label][0] == pytest.approx(expected, rel=1e-10)
        assert peaks[label][1] == where


def test_fft_and_direct_sphere_means_agree():
    rng = np.random.default_rng(1)
    values = rng.random((20, 20, 20))
    kernel = sphere_kernel((1.0, 1.0, 1.0))  # ~1000 voxels: the FFT path
    assert kernel.sum() > 343
    small = sphere_kernel((4.0, 4.0, 4.0))
    fft = sphere_means(values, kernel)
    from scipy import ndimage

    sums = ndimage.correlate(values, kernel.astype(float), mode="constant")
    counts = ndimage.correlate(np.ones_like(values), kernel.astype(float), mode="constant")
    assert np.allclose(fft, sums / counts, rtol=1e-9, atol=1e-12)
    assert sphere_means(values, small).shape == values.shape


def test_closed_form_biomarkers_of_a_uniform_sphere():
    qimage, truth = synthetic_pet(
        [Blob.sphere("s", (0.0, 0.0, 0.0), 10.0, 6.0)], fwhm_mm=0.0, background_suv=0.0
    )
    labels = sitk.Cast(truth["s"], sitk.sitkUInt16)
    table = lesion_biomarkers(qimage, labels, names=["sphere"])
    (row,) = table.lesions
    voxels = int(sitk.GetArrayFromImage(truth["s"]).sum())
    volume = voxels * 64e-3
    assert row["name"] == "sphere" and row["voxels"] == voxels
    assert row["volume_mL"] == pytest.approx(volume)
    assert row["volume_mL"] == pytest.approx(10.0, rel=0.05)
    for key in ("suv_max", "suv_mean", "suv_peak"):
        assert row[key] == pytest.approx(6.0, rel=1e-6)
    assert row["total_lesion_uptake_mL"] == pytest.approx(6.0 * volume, rel=1e-6)
    assert row["activity_MBq"] == pytest.approx(6.0 * BQ_PER_ML_PER_SUV * volume / 1e6, rel=1e-6)
    assert row["concentration_mean_Bq_per_mL"] == pytest.approx(6.0 * BQ_PER_ML_PER_SUV, rel=1e-6)
    assert np.allclose(row["centroid_lps_mm"], (0.0, 0.0, 0.0), atol=1e-6)
    # SUL = SUV × LBM / weight (Janmahasatian, 80 kg, 1.78 m, male).
    bmi = 80.0 / 1.78**2
    lbm = 9270.0 * 80.0 / (6680.0 + 216.0 * bmi)
    assert row["sul_peak"] == pytest.approx(6.0 * lbm / 80.0, rel=1e-6)
    total = table.total
    assert total["lesion_count"] == 1 and total["volume_mL"] == pytest.approx(volume)
    assert table.to_json()["unit"] == "SUVbw"
    flat = table.rows()[0]
    assert {"centroid_x_lps_mm", "centroid_y_lps_mm", "centroid_z_lps_mm"} <= set(flat)
    assert any("peak sphere: 7 voxels" in n or "peak sphere" in n for n in table.notes)


def test_bq_per_ml_biomarkers_for_spect():
    qimage, truth = synthetic_pet(
        [Blob.sphere("s", (8.0, 0.0, 0.0), 8.0, 4.0)], fwhm_mm=0.0, background_suv=0.0
    )
    spect = type(qimage)(qimage.image, qimage.meta.replace(modality="NM"))
    table = lesion_biomarkers(spect, sitk.Cast(truth["s"], sitk.sitkUInt16))
    row = table.lesions[0]
    assert table.unit == "Bq/mL"
    assert "suv_max" not in row
    c = 4.0 * BQ_PER_ML_PER_SUV
    assert row["concentration_max_Bq_per_mL"] == pytest.approx(c, rel=1e-6)
    assert row["activity_MBq"] == pytest.approx(c * row["volume_mL"] / 1e6, rel=1e-6)
    assert math.isclose(table.total["activity_MBq"], row["activity_MBq"])


def test_labels_on_another_grid_are_resampled_with_a_note():
    qimage, truth = synthetic_pet(
        [Blob.sphere("s", (0.0, 0.0, 0.0), 20.0, 6.0)], fwhm_mm=0.0, background_suv=0.0
    )
    fine = sitk.Resample(
        sitk.Cast(truth["s"], sitk.sitkUInt16),
        [128, 128, 128],
        sitk.Transform(),
        sitk.sitkNearestNeighbor,
        [o - 1.0 for o in qimage.image.GetOrigin()],
        [2.0, 2.0, 2.0],
    )
    table = lesion_biomarkers(qimage, fine)
    assert any("resampled" in n for n in table.notes)
    assert table.lesions[0]["volume_mL"] == pytest.approx(20.0, rel=0.1)
