"""TAC extraction and the kinetics workflow.

Fast part: structure sums against closed forms, the geometric transfer matrix on a blurred
two-structure phantom (exact by construction), bad inputs. Slow part (one registered study
per module): the synthetic study's organ TIA against its ground truth, and the voxel TIA map
summed over organs against the organ-level TIA.
"""

from __future__ import annotations

import json

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


# --------------------------------------------------------------------------------------------
# The workflow on the small study's noise-free truth maps (perfectly registered, no blur).


@pytest.fixture(scope="module")
def truth_series(synthetic_study_small):
    from theranostics.workflows.kinetics import PreparedStudy

    gt = json.loads((synthetic_study_small / "truth" / "ground_truth.json").read_text())
    images = [
        sitk.ReadImage(str(synthetic_study_small / "truth" / f"activity_{tp['name'][6:]}.nrrd"))
        for tp in gt["time_points"]
    ]
    times = [tp["time_h"] for tp in gt["time_points"]]
    half_life = gt["administration"]["physical_half_life_h"]
    return gt, PreparedStudy.from_images(images, times, physical_half_life_h=half_life)


def test_noise_free_truth_maps_give_the_truth_tia(truth_series, synthetic_study_small):
    from theranostics.workflows.kinetics import run_structure_kinetics

    gt, prepared = truth_series
    labels = synthetic_study_small / "truth" / "labels.nrrd"
    # The truth maps are block averages of the label grid: occupancy mixes neighbours in
    # boundary voxels; the GTM without blur (FWHM 0) undoes exactly that mixing.
    exact = run_structure_kinetics(prepared, labels, psf_fwhm_mm=0.0)
    mixed = run_structure_kinetics(prepared, labels)
    for organ in ("kidney_left", "kidney_right", "liver", "spleen"):
        truth = gt["regions"][organ]["tia_MBq_h"]
        # What remains is the model: 4 points allow mono-exp only (AICc needs n >= k + 2),
        # while the truth has a 1-h uptake phase.
        assert exact.structures[organ].tia_MBq_h == pytest.approx(truth, rel=0.015)
        assert mixed.structures[organ].tia_MBq_h < 0.98 * truth
        assert exact.structures[organ].fit.model == "mono-exp"


def test_voxel_map_of_truth_maps_sums_to_organ_tia(truth_series, synthetic_study_small):
    from theranostics.io.masks import load_masks
    from theranostics.workflows.kinetics import run_structure_kinetics, run_voxel_tia

    _, prepared = truth_series
    labels = synthetic_study_small / "truth" / "labels.nrrd"
    organ = run_structure_kinetics(prepared, labels, model="mono-exp")
    voxel = run_voxel_tia(prepared, model="mono-exp")
    assert voxel.tia.meta.quantity.units == "MBq*h"
    values = sitk.GetArrayFromImage(voxel.tia.image)
    masks = load_masks(labels, voxel.tia.image)
    for name in ("kidney_left", "liver", "spleen", "parotid_left", "lesion_01"):
        w = sitk.GetArrayFromImage(masks.weights[name])
        total = float((values * w).sum(dtype=np.float64))
        assert total == pytest.approx(organ.structures[name].tia_MBq_h, rel=0.01), name


def test_fewer_time_points_than_the_model_needs(truth_series, synthetic_study_small):
    from theranostics.workflows.kinetics import PreparedStudy, run_structure_kinetics

    _, prepared = truth_series
    labels = synthetic_study_small / "truth" / "labels.nrrd"
    one = PreparedStudy.from_images(
        prepared.images_Bq_per_mL[1:2],
        prepared.times_h[1:2],
        physical_half_life_h=prepared.physical_half_life_h,
    )
    with pytest.raises(TimingError, match="times_h"):
        run_structure_kinetics(one, labels, model="mono-exp", structures=["liver"])
    fallback = run_structure_kinetics(
        one, labels, model="mono-exp", structures=["liver"], allow_fallback=True
    )
    assert fallback.structures["liver"].fit.model == "trapezoid-physical"
    two = PreparedStudy.from_images(
        prepared.images_Bq_per_mL[:2],
        prepared.times_h[:2],
        physical_half_life_h=prepared.physical_half_life_h,
    )
    with pytest.raises(TimingError):
        run_structure_kinetics(two, labels, model="bi-exp", structures=["liver"])
    with pytest.raises(TimingError):
        PreparedStudy.from_images(
            prepared.images_Bq_per_mL[:2],
            prepared.times_h[1::-1],
            physical_half_life_h=prepared.physical_half_life_h,
        )


# --------------------------------------------------------------------------------------------
# The synthetic study (standard size, default noise and resolution), registered once.

KEY_ORGANS = ("kidney_left", "kidney_right", "liver", "spleen")


@pytest.fixture(scope="module")
def study_truth(synthetic_study) -> dict:
    return json.loads((synthetic_study / "truth" / "ground_truth.json").read_text())


@pytest.fixture(scope="module")
def registered(standard_study_loaded):
    from theranostics.study import register_study

    return register_study(standard_study_loaded)  # the session's loaded standard study


@pytest.fixture(scope="module")
def organ_kinetics(registered, synthetic_study, study_truth):
    from theranostics.workflows.kinetics import run_structure_kinetics

    return run_structure_kinetics(
        registered,
        synthetic_study / "truth" / "labels.nrrd",
        psf_fwhm_mm=study_truth["config"]["spect_fwhm_mm"],
        calibration_rel_sd=0.05,
    )


@pytest.fixture(scope="module")
def raw_kinetics(registered, synthetic_study):
    from theranostics.workflows.kinetics import run_structure_kinetics

    return run_structure_kinetics(
        registered, synthetic_study / "truth" / "labels.nrrd", model="mono-exp"
    )


@pytest.mark.slow
def test_organ_tia_within_5_percent_of_truth(organ_kinetics, study_truth):
    result = organ_kinetics
    assert not result.failed
    times = [tp["time_h"] for tp in study_truth["time_points"]]
    np.testing.assert_allclose(result.times_h, times, atol=1e-6)
    for organ in KEY_ORGANS:
        s = result.structures[organ]
        truth = study_truth["regions"][organ]
        assert s.tia_MBq_h == pytest.approx(truth["tia_MBq_h"], rel=0.05), organ
        assert s.tac.volume_mL == pytest.approx(truth["volume_mL"], rel=1e-6)
        assert s.tac.correction.startswith("gtm")
        # The budget holds the 5 % calibration uncertainty and the fit's own.
        assert s.uncertainty.components["calibration"] == pytest.approx(0.05 * s.tia_MBq_h)
        assert s.tia_uncertainty_MBq_h > s.uncertainty.components["calibration"]
    # Registration quality is recorded for every session but the reference.
    assert result.registration[0] is None
    assert all(reg is not None and reg["quality"] for reg in result.registration[1:])
    assert result.parameters["psf_fwhm_mm"] == study_truth["config"]["spect_fwhm_mm"]
    assert result.timing_s["total_s"] >= result.timing_s["fit_s"] > 0
    record = result.to_json()
    assert set(record["structures"]["liver"]) >= {
        "tia_MBq_h", "tia_uncertainty_MBq_h", "model", "times_h", "activities_MBq"
    }  # fmt: skip


@pytest.mark.slow
def test_partial_volume_effect_without_correction(raw_kinetics, study_truth):
    ratio = {
        name: s.tia_MBq_h / study_truth["regions"][name]["tia_MBq_h"]
        for name, s in raw_kinetics.structures.items()
    }
    # Spill-out grows as structures shrink: large organs lose least, glands and small
    # lesions most (figures in docs/time-activity.md).
    assert ratio["liver"] > ratio["kidney_left"] > ratio["parotid_left"]
    assert ratio["parotid_left"] > ratio["submandibular_left"]
    assert ratio["lesion_01"] > ratio["lesion_04"] > ratio["lesion_08"]
    assert ratio["kidney_left"] < 0.9 and ratio["submandibular_left"] < 0.6


@pytest.mark.slow
def test_voxel_map_summed_over_organs_matches_organ_tia(registered, raw_kinetics, synthetic_study):
    from theranostics.io.masks import load_masks
    from theranostics.workflows.kinetics import run_voxel_tia

    tia_map = run_voxel_tia(registered, model="mono-exp")
    assert tia_map.tia.meta.quantity.units == "MBq*h"
    values = sitk.GetArrayFromImage(tia_map.tia.image)
    masks = load_masks(synthetic_study / "truth" / "labels.nrrd", tia_map.tia.image)
    for organ in KEY_ORGANS:
        w = sitk.GetArrayFromImage(masks.weights[organ])
        organ_sum = float((values * w).sum(dtype=np.float64))
        assert organ_sum == pytest.approx(raw_kinetics.structures[organ].tia_MBq_h, rel=0.05)
    fallback = sitk.GetArrayFromImage(tia_map.fallback_mask)
    assert fallback.sum() == tia_map.summary["voxels_fallback"]


@pytest.mark.slow
def test_workflow_bad_inputs(registered, synthetic_study, tmp_path):
    from theranostics.workflows.kinetics import run_structure_kinetics

    labels = synthetic_study / "truth" / "labels.nrrd"
    image = sitk.ReadImage(str(labels))
    image.SetOrigin([o + 2000.0 for o in image.GetOrigin()])
    far = tmp_path / "far.nrrd"
    sitk.WriteImage(image, str(far))
    (tmp_path / "far.json").write_text((labels.parent / "labels.json").read_text())
    with pytest.raises(GeometryError, match="does not overlap") as exc:
        run_structure_kinetics(registered, far)
    assert "far.nrrd" in str(exc.value)
    with pytest.raises(InputError, match="twice"):
        run_structure_kinetics(registered, labels, psf_fwhm_mm=12, recovery_table="x.csv")


@pytest.mark.slow
def test_selection_with_gtm_still_uses_every_structure(registered, synthetic_study, organ_kinetics):
    from theranostics.workflows.kinetics import run_structure_kinetics

    one = run_structure_kinetics(
        registered,
        synthetic_study / "truth" / "labels.nrrd",
        psf_fwhm_mm=organ_kinetics.parameters["psf_fwhm_mm"],
        structures=["kidney_left"],
    )
    assert list(one.structures) == ["kidney_left"]
    np.testing.assert_allclose(
        one.structures["kidney_left"].tac.activities_MBq,
        organ_kinetics.structures["kidney_left"].tac.activities_MBq,
    )
    with pytest.raises(InputError, match="not in the file"):
        run_structure_kinetics(
            registered, synthetic_study / "truth" / "labels.nrrd", psf_fwhm_mm=12,
            structures=["pancreas"],
        )  # fmt: skip
