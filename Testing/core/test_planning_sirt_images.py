"""SIRT planning on images: compartment measurement, overlap priority, activity conservation of
the predicted map, local-deposition dose against the partition model, refusals, and the real
Siemens MAA SPECT/CT study."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.errors import GeometryError, InputError, UnitsError
from theranostics.image import QuantitativeImage
from theranostics.metadata import ImageMetadata, QuantityInfo
from theranostics.planning.sirt import plan_sirt
from theranostics.planning.sirt_images import (
    measure_compartments,
    predicted_activity_map_MBq,
    predicted_dose_map,
    resolve_overlaps,
)
from theranostics.planning.sirt_methods import y90_dose_constant_Gy_kg_per_GBq

K = y90_dose_constant_Gy_kg_per_GBq()
SPACING = (4.0, 4.0, 4.0)
VOXEL_ML = 0.064
LUNG_HU = -700.0
LUNG_RHO = 0.0012 + 0.3 * (1.0 - 0.0012)  # default HU table, linear between -1000 and 0 HU


def _image(arr, units):
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(SPACING)
    img.SetOrigin((-40.0, -40.0, -40.0))
    meta = ImageMetadata(modality="NM", quantity=QuantityInfo(units=units))
    return QuantitativeImage(img, meta)


def _mask(like: QuantitativeImage, box) -> sitk.Image:
    arr = np.zeros(like.image.GetSize()[::-1], dtype=np.uint8)
    arr[box] = 1
    m = sitk.GetImageFromArray(arr)
    m.CopyInformation(like.image)
    return m


@pytest.fixture
def phantom():
    """20^3 voxels of 4 mm: liver block with a tumour inside, lung block; CT water/lung."""
    rng = np.random.default_rng(3)
    counts = rng.poisson(2.0, size=(20, 20, 20)).astype(np.float32)  # background
    liver = (slice(2, 10), slice(2, 18), slice(2, 18))
    tumour = (slice(4, 7), slice(5, 9), slice(5, 9))
    lung = (slice(12, 19), slice(2, 18), slice(2, 18))
    counts[liver] += 50
    counts[tumour] += 400
    counts[lung] += 5
    hu = np.zeros((20, 20, 20), dtype=np.int16)
    hu[lung] = LUNG_HU
    spect = _image(counts, "counts")
    ct = _image(hu, "HU")
    masks = {
        "tumour": _mask(spect, tumour),
        "liver": _mask(spect, liver),
        "lung": _mask(spect, lung),
    }
    tissues = {"tumour": "tumor", "liver": "normal", "lung": "lung"}
    return spect, ct, masks, tissues, counts


def test_measurement_by_hand_and_overlap_priority(phantom):
    spect, ct, masks, tissues, counts = phantom
    m = measure_compartments(spect, ct, masks, tissues)
    comps = {c.name: c for c in m.compartments}
    n_t, n_liver, n_l = 3 * 4 * 4, 8 * 16 * 16, 7 * 16 * 16
    # The liver contains the tumour: tumour > normal, so normal = liver minus tumour.
    assert comps["liver"].volume_mL == pytest.approx((n_liver - n_t) * VOXEL_ML)
    assert comps["tumour"].mass_g == pytest.approx(n_t * VOXEL_ML * 1.0)
    assert comps["lung"].mass_g == pytest.approx(n_l * VOXEL_ML * LUNG_RHO, rel=1e-5)
    assert comps["tumour"].counts == pytest.approx(counts[4:7, 5:9, 5:9].sum())
    assert any("higher-priority" in n for n in m.notes)
    outside = 1 - sum(c.counts for c in m.compartments) / counts.sum()
    assert m.outside_fraction == pytest.approx(outside)
    assert all(c.mass_sd_g > 0 for c in m.compartments)


def test_fixed_lung_mass(phantom):
    spect, ct, masks, tissues, _ = phantom
    m = measure_compartments(spect, ct, masks, tissues, lung_mass="fixed")
    lung = next(c for c in m.compartments if c.tissue == "lung")
    assert lung.mass_g == 1000.0 and lung.mass_sd_g is None
    assert any("conventional fixed mass" in n for n in m.notes)


def test_dose_map_conserves_activity_and_matches_partition(phantom):
    spect, ct, masks, tissues, counts = phantom
    m = measure_compartments(spect, ct, masks, tissues)
    plan = plan_sirt(m.compartments, target_tumor_Gy=150.0)
    activity = sitk.GetArrayFromImage(predicted_activity_map_MBq(spect, m.masks, plan))
    # Every sphere lodges in a compartment: the map holds the whole prescribed activity.
    assert activity.sum() == pytest.approx(plan.recommended_activity_GBq * 1000.0, rel=1e-9)
    union = np.zeros_like(activity, dtype=bool)
    for mask in m.masks.values():
        union |= mask
    assert not activity[~union].any()
    # Within a compartment the activity follows the MAA counts.
    t = m.masks["tumour"]
    ratio = activity[t] / counts[t]
    assert np.allclose(ratio, ratio[0])
    dose = predicted_dose_map(spect, ct, m.masks, plan)
    assert dose.meta.quantity.units == "Gy"
    arr = sitk.GetArrayFromImage(dose.image).astype(float)
    rho = np.where(sitk.GetArrayFromImage(ct.image) == LUNG_HU, LUNG_RHO, 1.0)
    for name, mask in m.masks.items():
        # Mass-weighted mean of the voxel dose = energy / mass = the partition-model dose.
        mean = (arr[mask] * rho[mask]).sum() / rho[mask].sum()
        assert mean == pytest.approx(plan.predicted_dose_Gy[name], rel=1e-5)
    # Voxel by voxel: D = A[GBq] K / m[kg].
    v = tuple(np.argwhere(t)[0])
    assert arr[v] == pytest.approx(activity[v] / 1000 * K / (VOXEL_ML * 1e-3), rel=1e-5)


def test_resolve_overlaps_refuses_same_tissue_overlap():
    a = np.zeros((3, 3, 3), dtype=bool)
    a[1] = True
    with pytest.raises(GeometryError, match="overlap"):
        resolve_overlaps({"t1": a, "t2": a.copy()}, {"t1": "tumor", "t2": "tumor"})
    with pytest.raises(InputError, match="unknown tissue"):
        resolve_overlaps({"t1": a}, {"t1": "bone"})


def test_image_refusals(phantom):
    spect, ct, masks, tissues, counts = phantom
    with pytest.raises(InputError, match="no CT"):
        measure_compartments(spect, None, masks, tissues)
    with pytest.raises(UnitsError, match="not counts"):
        measure_compartments(_image(counts, "SUVbw"), ct, masks, tissues)
    with pytest.raises(UnitsError, match="not HU"):
        measure_compartments(spect, _image(counts, "counts"), masks, tissues)
    bad = counts.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        measure_compartments(_image(bad, "counts"), ct, masks, tissues)
    bad[0, 0, 0] = -3
    with pytest.raises(InputError, match="negative"):
        measure_compartments(_image(bad, "counts"), ct, masks, tissues)
    empty = dict(masks, lung=_mask(spect, (slice(0, 0),) * 3))
    with pytest.raises(InputError, match="no voxel on the SPECT grid"):
        measure_compartments(spect, ct, empty, tissues)
    moved = sitk.Image(masks["lung"])
    moved.SetOrigin((0.0, 0.0, 0.0))
    with pytest.raises(GeometryError, match="not on the SPECT grid"):
        measure_compartments(spect, ct, dict(masks, lung=moved), tissues)
    with pytest.raises(InputError, match="unknown tissue"):
        measure_compartments(spect, ct, masks, dict(tissues, lung="pulmonary"))


def test_ct_grid_mask_outside_the_spect_field_of_view(phantom):
    spect, _, masks, tissues, _ = phantom
    # A CT twice as long as the SPECT; the lung mask reaches beyond the SPECT's last slice.
    hu = np.zeros((40, 20, 20), dtype=np.int16)
    ct = _image(hu, "HU")
    ct_masks = {
        "tumour": _mask(ct, (slice(4, 7), slice(5, 9), slice(5, 9))),
        "liver": _mask(ct, (slice(2, 10), slice(2, 18), slice(2, 18))),
        "lung": _mask(ct, (slice(12, 30), slice(2, 18), slice(2, 18))),
    }
    with pytest.raises(GeometryError, match="outside the SPECT field of view"):
        measure_compartments(spect, ct, masks, tissues, ct_masks=ct_masks)


# --------------------------------------------------------------------------------------------
# The real Siemens Symbia T6 99mTc-MAA SPECT/CT (bronchial-artery study: Tumor inside Lung)


@pytest.fixture(scope="module")
def real_plan(siemens_maa_dir):
    from theranostics.planning.sirt_study import plan_sirt_study

    return plan_sirt_study(siemens_maa_dir, tumors=["Tumor"], lung="Lung", rest_of_body=True)


@pytest.mark.realdata
@pytest.mark.slow
def test_real_maa_study_plan(real_plan):
    plan = real_plan.plan
    part = plan.partition
    fractions = [g.fraction for g in part.by_compartment.values()]
    assert all(0.0 <= f <= 1.0 for f in fractions)
    assert sum(fractions) <= 1.0 + 1e-12
    for c in part.compartments:
        g = part.by_compartment[c.name]
        assert g.dose_Gy_per_GBq == pytest.approx(K * g.fraction / (c.mass_g / 1000.0))
    # Lung ROI includes the tumour (priority moves it); the tumour is ~20 mL.
    tumour = next(c for c in part.compartments if c.name == "Tumor")
    assert 15.0 < tumour.volume_mL < 25.0
    lung = next(c for c in part.compartments if c.name == "Lung")
    assert 0.2 < lung.mass_g / lung.volume_mL < 0.45  # aerated lung density, g/mL
    # A bronchial MAA study: most counts in the lung, far above any resin/glass threshold.
    assert part.lung_shunt_fraction > 0.2
    assert plan.binding_constraint == "lung_per_treatment"
    assert plan.predicted_dose_Gy["Lung"] <= 30.0
    assert plan.activity_sd_GBq is not None and plan.activity_sd_GBq > 0


@pytest.mark.realdata
@pytest.mark.slow
def test_real_maa_dose_map_conservation(real_plan):
    dose = sitk.GetArrayFromImage(real_plan.dose.image).astype(float)
    assert np.isfinite(dose).all() and dose.min() >= 0
    spect = real_plan.spect
    activity = sitk.GetArrayFromImage(
        predicted_activity_map_MBq(spect, real_plan.measured.masks, real_plan.plan)
    )
    assert activity.sum() == pytest.approx(real_plan.plan.recommended_activity_GBq * 1000)
    # Energy in the dose map (sum D * m) equals K * A (local deposition, nothing escapes).
    from theranostics.dose.density import density_on_grid

    rho = np.maximum(density_on_grid(real_plan.ct.image, spect.image), 0.05)
    energy = (dose * rho * spect.voxel_volume_mL * 1e-3).sum()
    assert energy == pytest.approx(K * real_plan.plan.recommended_activity_GBq, rel=1e-4)


@pytest.mark.realdata
@pytest.mark.slow
def test_real_study_without_liver_roi_is_refused(siemens_maa_dir):
    from theranostics.planning.sirt_study import plan_sirt_study

    with pytest.raises(InputError, match="no liver ROI"):
        plan_sirt_study(siemens_maa_dir, tumors=["Tumor"], lung="Lung")
    with pytest.raises(InputError, match="no ROI named"):
        plan_sirt_study(siemens_maa_dir, tumors=["Tumour"], lung="Lung", rest_of_body=True)
