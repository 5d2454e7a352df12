"""Progress calls and Cancel inside the masks load, the density map and the GTM scales
(issue 14 section 4): each reports per structure or per slab, and a ``Cancelled`` raised by
the callback stops the work there."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.dose import density
from theranostics.io.masks import load_masks
from theranostics.progress import Cancelled
from theranostics.verify.resolution import gtm_structure_scales


def _image(array, spacing=(2.0, 2.0, 2.0)):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    return image


def _labels(tmp_path):
    labels = np.zeros((20, 24, 24), dtype=np.uint8)
    labels[4:10, 4:10, 4:10] = 1
    labels[10:16, 12:20, 12:20] = 2
    labels[2:5, 15:20, 2:6] = 3
    path = tmp_path / "labels.nrrd"
    sitk.WriteImage(_image(labels, (1.0, 1.0, 1.0)), str(path))
    (tmp_path / "labels.json").write_text(json.dumps({"1": "a", "2": "b", "3": "c"}))
    return path


class _Recorder:
    def __init__(self, cancel_at: str | None = None):
        self.calls: list[tuple[float, str]] = []
        self.cancel_at = cancel_at

    def __call__(self, fraction, message=""):
        self.calls.append((fraction, message))
        if self.cancel_at is not None and self.cancel_at in message:
            raise Cancelled


def test_masks_load_reports_per_structure_and_honours_cancel(tmp_path):
    path = _labels(tmp_path)
    reference = _image(np.zeros((10, 12, 12), dtype=np.float32))  # 2 mm: sub-divided 2x2x2
    rec = _Recorder()
    masks = load_masks(path, reference, progress=rec)
    messages = [m for _, m in rec.calls]
    assert [m for m in messages if m in ("masks: a", "masks: b", "masks: c")] == [
        "masks: a",
        "masks: b",
        "masks: c",
    ]
    assert any("sub-divided" in m for m in messages)
    fractions = [f for f, _ in rec.calls]
    assert fractions == sorted(fractions) and fractions[0] >= 0.0 and fractions[-1] <= 1.0
    assert masks.volumes_mL["a"] == pytest.approx(0.216, rel=1e-6)  # 6 x 6 x 6 mm
    with pytest.raises(Cancelled):
        load_masks(path, reference, progress=_Recorder(cancel_at="masks: b"))


def test_density_map_reports_per_slab_and_matches_one_resampling(monkeypatch):
    rng = np.random.default_rng(3)
    hu = rng.uniform(-1000, 1500, size=(24, 20, 20)).astype(np.int16)
    ct = _image(hu, (1.0, 1.0, 1.0))
    reference = _image(np.zeros((8, 7, 7), dtype=np.float32), (3.0, 3.0, 3.0))
    reference.SetOrigin((1.0, 1.0, 1.0))  # voxel (0, 0, 0) covers CT voxels 0-2 on each axis
    whole = density.density_on_grid(ct, reference)
    monkeypatch.setattr(density, "SLAB_VOXELS", 900)  # a few reference slices per slab
    rec = _Recorder()
    sliced = density.density_on_grid(ct, reference, progress=rec)
    np.testing.assert_allclose(sliced, whole, rtol=1e-12, atol=1e-12)
    slabs = [m for _, m in rec.calls if m.startswith("density on the dose grid")]
    assert len(slabs) == 8  # 900 voxels: one 3x3x3-sub-divided reference slice of 7x7 each
    # the mean density of a voxel is the block mean of the CT densities it covers
    assert sliced[0, 0, 0] == pytest.approx(
        density.hu_to_density_g_per_mL(hu[0:3, 0:3, 0:3]).mean(), rel=1e-6
    )
    with pytest.raises(Cancelled):
        density.density_on_grid(ct, reference, progress=_Recorder(cancel_at="slices 3"))


def test_gtm_scales_report_per_structure_and_honour_cancel():
    dose = np.zeros((20, 20, 20), dtype=np.float32)
    dose[5:15, 5:15, 5:15] = 10.0
    image = _image(dose)
    masks = {}
    for name, box in (("cube", np.s_[5:15, 5:15, 5:15]), ("shell", np.s_[2:5, 5:15, 5:15])):
        m = np.zeros_like(dose)
        m[box] = 1.0
        masks[name] = _image(m)
    blurred = sitk.SmoothingRecursiveGaussian(image, 12.0 / 2.3548)
    rec = _Recorder()
    scales = gtm_structure_scales(blurred, masks, 12.0, progress=rec)
    assert scales["cube"] > 1.0  # the correction restores the spilled-out dose
    assert [m for _, m in rec.calls if m.startswith("blurring")] == [
        "blurring cube",
        "blurring shell",
    ]
    with pytest.raises(Cancelled):
        gtm_structure_scales(blurred, masks, 12.0, progress=_Recorder(cancel_at="blurring shell"))
