"""SIRT planning from Slicer files: a SPECT volume and a layered .seg.nrrd with overlapping
segments, a planar lung shunt fraction, and the real MAA patient 2."""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk
from sirt_nrrd import SEG_2, SPECT_2, sirt_nrrd_dir, write_seg_nrrd

from theranostics.errors import GeometryError, InputError
from theranostics.io.slicer_files import read_segmentation, read_volume
from theranostics.planning.sirt_files import PLANAR_LUNG, plan_sirt_files
from theranostics.planning.sirt_methods import y90_dose_constant_Gy_kg_per_GBq

K = y90_dose_constant_Gy_kg_per_GBq()


def _maa(tmp_path, *, values=None, seg_origin=(-0.5, -0.5, -0.5)):
    """SPECT 20^3 at 2 mm in counts: 100 per voxel in the liver, 600 in the tumour, 5 in the
    background; segmentation at 1 mm: Liver (layer 0, contains the tumour), Tumor (layer 1),
    Perfused normal = liver - tumour (layer 2)."""
    spect = np.full((20, 20, 20), 5.0)
    spect[4:16, 4:16, 4:16] = 100.0
    spect[8:12, 8:12, 8:12] = 600.0
    if values is not None:
        spect = values(spect)
    image = sitk.GetImageFromArray(spect.astype(np.int16))
    image.SetSpacing((2.0, 2.0, 2.0))
    path = tmp_path / "maa.nrrd"
    sitk.WriteImage(image, str(path))
    liver = np.zeros((40, 40, 40), np.uint8)
    liver[8:32, 8:32, 8:32] = 1
    tumour = np.zeros_like(liver)
    tumour[16:24, 16:24, 16:24] = 1
    perfused_normal = (liver > 0) & (tumour == 0)
    seg = write_seg_nrrd(
        tmp_path / "maa.seg.nrrd",
        [liver, tumour, perfused_normal.astype(np.uint8)],
        [("Liver", 0, 1), ("Tumor", 1, 1), ("Perfused normal", 2, 1)],
        origin=seg_origin,
    )
    return path, seg


def test_overlapping_liver_as_normal_with_planar_lsf(tmp_path):
    spect, seg = _maa(tmp_path)
    r = plan_sirt_files(
        spect,
        seg,
        tumors=["Tumor"],
        normal="Liver",
        normal_role="liver",
        lung_shunt_fraction=0.1,
        units="counts",
        target_tumor_Gy=120.0,
    )
    doc = r.plan.to_json()
    assert doc["lung_shunt_fraction"] == pytest.approx(0.1)
    # tumour: 4^3 SPECT voxels of 600 counts; normal = liver minus tumour (overlap priority)
    c_t, c_n = 64 * 600.0, (12**3 - 64) * 100.0
    assert r.counts["Tumor"] == pytest.approx(c_t)
    assert r.counts["Liver"] == pytest.approx(c_n)
    assert r.counts[PLANAR_LUNG] == pytest.approx(0.1 / 0.9 * (c_t + c_n))
    v_t, v_n = 0.512, 24**3 / 1000.0 - 0.512
    assert doc["tumor_to_normal_ratio"] == pytest.approx((c_t / v_t) / (c_n / v_n))
    fractions = {n: c["fraction"] for n, c in doc["compartments"].items()}
    assert fractions["Tumor"] == pytest.approx(0.9 * c_t / (c_t + c_n))
    # the predicted map gives each compartment its planned mean dose (block-aligned grids)
    dose = sitk.GetArrayFromImage(r.dose.image)
    tumour_dose = dose[r.weights["Tumor"] > 0].mean()
    planned = doc["compartments"]["Tumor"]["predicted_dose_Gy"]
    assert tumour_dose == pytest.approx(planned, rel=1e-5)
    a_GBq = doc["recommended_activity_GBq"]
    assert planned == pytest.approx(K * a_GBq * fractions["Tumor"] / (v_t * 1.03 / 1000))


def test_perfused_normal_segment_and_lung_limits(tmp_path):
    spect, seg = _maa(tmp_path)
    r = plan_sirt_files(
        spect, seg, tumors=["Tumor"], lung_shunt_fraction=0.3, units="counts"
    )  # "Perfused normal" found by name
    doc = r.plan.to_json()
    assert doc["inputs"]["context"]["segments"]["Perfused normal"] == "normal"
    lung = doc["compartments"][PLANAR_LUNG]["predicted_dose_Gy"]
    assert lung <= 30.0 + 1e-6  # lung limit per treatment binds at a high shunt
    assert doc["binding_constraint"] in ("lung_per_treatment", "normal_tissue")


# ------------------------------------------------------------------------------------------
# Bad input


def test_bad_inputs(tmp_path):
    spect, seg = _maa(tmp_path)
    kw = {"units": "counts"}
    with pytest.raises(InputError, match="no segment named 'Tumour'"):
        plan_sirt_files(spect, seg, tumors=["Tumour"], lung_shunt_fraction=0.1, **kw)
    with pytest.raises(InputError, match="lung segment or the planar lung shunt"):
        plan_sirt_files(spect, seg, tumors=["Tumor"], **kw)
    with pytest.raises(InputError, match=r"not in \[0, 1\)"):
        plan_sirt_files(spect, seg, tumors=["Tumor"], lung_shunt_fraction=5.0, **kw)
    with pytest.raises(InputError, match="units"):
        plan_sirt_files(spect, seg, tumors=["Tumor"], lung_shunt_fraction=0.1)


def test_negative_voxels_refused_unless_clipped(tmp_path):
    def noisy(a):
        a = a.copy()
        a[0, 0, :3] = -2.0
        return a

    spect, seg = _maa(tmp_path, values=noisy)
    with pytest.raises(InputError, match="negative"):
        plan_sirt_files(spect, seg, tumors=["Tumor"], lung_shunt_fraction=0.1, units="counts")
    r = plan_sirt_files(
        spect, seg, tumors=["Tumor"], lung_shunt_fraction=0.1, units="counts", clip_negative=True
    )
    assert any("3 negative voxels" in n for n in r.plan.notes)


def test_segmentation_partly_outside_the_spect(tmp_path):
    spect, seg = _maa(tmp_path, seg_origin=(-0.5, -0.5, 20.0))
    with pytest.raises(GeometryError, match="outside the SPECT field of view"):
        plan_sirt_files(spect, seg, tumors=["Tumor"], lung_shunt_fraction=0.1, units="counts")


# ------------------------------------------------------------------------------------------
# Real patient 2


def _direct_counts(spect: sitk.Image, mask: np.ndarray, grid: sitk.Image) -> float:
    """MAA counts of a fine-grid mask by sampling the SPECT (nearest voxel) at every fine
    voxel centre, weighted by fine / SPECT voxel volume: a different route from the
    occupancy of the planner."""
    k, j, i = np.nonzero(mask)
    points = (
        np.array([grid.TransformIndexToPhysicalPoint((0, 0, 0))])
        + np.stack([i, j, k], axis=1)
        @ (np.reshape(grid.GetDirection(), (3, 3)) * grid.GetSpacing()).T
    )
    axes = np.reshape(spect.GetDirection(), (3, 3)) * spect.GetSpacing()
    index = np.rint(np.linalg.solve(axes, (points - spect.GetOrigin()).T).T).astype(int)
    inside = np.all((index >= 0) & (index < spect.GetSize()), axis=1)
    values = np.clip(sitk.GetArrayViewFromImage(spect), 0, None)
    sampled = values[index[inside, 2], index[inside, 1], index[inside, 0]].astype(float)
    return float(sampled.sum()) * math.prod(grid.GetSpacing()) / math.prod(spect.GetSpacing())


@pytest.mark.realdata
def test_real_patient_2_counts_fractions_and_tumour_to_normal():
    folder = sirt_nrrd_dir()
    spect = read_volume(folder / SPECT_2, overrides={"units": "counts", "nuclide": "Tc-99m"})
    seg = read_segmentation(folder / SEG_2)
    r = plan_sirt_files(
        spect,
        seg,
        tumors=["Tumor 1", "Tumor 2"],
        normal="perfused normal",
        normal_role="perfused",
        lung_shunt_fraction=0.05,
        clip_negative=True,
    )
    doc = r.plan.to_json()
    names = ["Tumor 1", "Tumor 2", "perfused normal"]
    direct = {n: _direct_counts(spect.image, seg.mask_array(n), seg.grid) for n in names}
    for n in names:
        assert r.counts[n] == pytest.approx(direct[n], rel=0.03), n
    liver_direct = sum(direct.values())
    fractions = {n: c["fraction"] for n, c in doc["compartments"].items()}
    for n in names:
        assert fractions[n] == pytest.approx(0.95 * direct[n] / liver_direct, rel=0.03), n
    volumes = {n: c * seg.voxel_volume_mL for n, c in seg.voxel_counts().items()}
    tn = ((direct["Tumor 1"] + direct["Tumor 2"]) / (volumes["Tumor 1"] + volumes["Tumor 2"])) / (
        direct["perfused normal"] / volumes["perfused normal"]
    )
    assert doc["tumor_to_normal_ratio"] == pytest.approx(tn, rel=0.03)
    assert doc["lung_shunt_fraction"] == pytest.approx(0.05)
    assert doc["tumor_to_normal_ratio"] > 2.0
