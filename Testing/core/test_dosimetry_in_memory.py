"""Dosimetry from a study and masks in memory (the Slicer module's path) gives the same
results as from files, and user-given transforms are used as they are."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.errors import GeometryError, InputError
from theranostics.io.masks import load_masks, masks_from_images, resolve_masks


def _label_masks(study) -> dict[str, sitk.Image]:
    """The true label map split into one binary image per structure (as Slicer's segments)."""
    labels = sitk.ReadImage(str(study / "truth" / "labels.nrrd"))
    names = json.loads((study / "truth" / "labels.json").read_text())
    return {name: sitk.Equal(labels, int(value)) for value, name in names.items()}


def test_masks_from_images_equal_the_label_map_occupancy(synthetic_study_small):
    from theranostics.io import read_image

    reference = read_image(synthetic_study_small / "truth" / "activity_024h.nrrd").image
    from_file = load_masks(synthetic_study_small / "truth" / "labels.nrrd", reference)
    from_images = masks_from_images(_label_masks(synthetic_study_small), reference)
    assert from_images.names == from_file.names
    for name in from_file.names:
        np.testing.assert_array_equal(
            sitk.GetArrayViewFromImage(from_images.weights[name]),
            sitk.GetArrayViewFromImage(from_file.weights[name]),
        )
        assert from_images.volumes_mL[name] == pytest.approx(from_file.volumes_mL[name])


def test_mask_set_on_another_grid_and_unknown_structures_are_refused(synthetic_study_small):
    from theranostics.io import read_image

    reference = read_image(synthetic_study_small / "truth" / "activity_024h.nrrd").image
    masks = masks_from_images(_label_masks(synthetic_study_small), reference, source="Segs")
    shifted = sitk.Image(reference)
    shifted.SetOrigin(tuple(o + 1.0 for o in reference.GetOrigin()))
    with pytest.raises(GeometryError, match="not on the reference grid"):
        resolve_masks(masks, shifted)
    with pytest.raises(InputError, match="not in the masks"):
        resolve_masks(masks, reference, structures=["liver", "heart"])
    assert resolve_masks(masks, reference, structures=["liver"]).names == ["liver"]
    with pytest.raises(InputError, match="no structure masks"):
        masks_from_images({}, reference)
    empty = {"liver": sitk.Image(reference.GetSize(), sitk.sitkUInt8)}
    empty["liver"].CopyInformation(reference)
    with pytest.raises(InputError, match="empty"):
        masks_from_images(empty, reference)


def test_given_transforms_replace_registration(synthetic_study_small):
    from theranostics.study import load_spect_study, register_study

    study = load_spect_study(synthetic_study_small, calibration_cps_per_MBq=10.0)
    n = len(study.time_points)
    shift = sitk.TranslationTransform(3, (0.0, 0.0, 9.6))
    given = register_study(study, transforms=[None] + [shift] * (n - 1))
    assert given.registrations == (None,) * n
    # one voxel (9.6 mm) along z: the resampled later SPECT is its own image moved by a voxel
    original = sitk.GetArrayViewFromImage(study.time_points[1].spect.image)
    moved = sitk.GetArrayViewFromImage(given.spect_images[1].image)
    np.testing.assert_allclose(moved[:-1], original[1:], rtol=1e-4, atol=1e-3)
    with pytest.raises(InputError, match="transforms for"):
        register_study(study, transforms=[None])


@pytest.mark.slow
def test_in_memory_study_and_masks_give_the_file_results(
    synthetic_study_small, small_dosimetry_runs, tmp_path
):
    from theranostics.study import load_spect_study, register_study
    from theranostics.workflows.dosimetry import run_dosimetry

    # the run from files: the session's (same options, one ITK thread)
    from_files = small_dosimetry_runs[2]
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)  # bit-reproducible registration
    try:
        study = load_spect_study(synthetic_study_small, calibration_cps_per_MBq=10.0)
        registered = register_study(study)
        masks = masks_from_images(
            _label_masks(synthetic_study_small), study.time_points[0].spect.image
        )
        in_memory = run_dosimetry(
            registered,
            masks,
            out_dir=tmp_path / "memory",
            calibration_cps_per_MBq=None,
            write_report=False,
        )
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    a, b = from_files.results["structures"], in_memory.results["structures"]
    assert sorted(a) == sorted(b)
    for name in a:
        assert b[name]["mean_dose_Gy"] == pytest.approx(a[name]["mean_dose_Gy"], rel=1e-6)
        assert b[name]["mass_g"] == pytest.approx(a[name]["mass_g"], rel=1e-9)
    prov = in_memory.results["provenance"]
    assert prov["parameters"]["masks"] == "masks in memory"
    assert str(synthetic_study_small) in prov["input_sha256"]  # the loaded folder is hashed


@pytest.mark.slow
def test_a_later_reference_session_gives_its_grid_ct_and_masks(synthetic_study_small, tmp_path):
    """With a RegisteredStudy whose reference is the second session, the masks, the density
    CT and the DICOM exports are that session's (the Slicer panel lets the user choose)."""
    from theranostics.study import load_spect_study, register_study
    from theranostics.workflows.dosimetry import run_dosimetry

    study = load_spect_study(synthetic_study_small, calibration_cps_per_MBq=10.0)
    n = len(study.time_points)
    registered = register_study(study, reference_index=1, transforms=[None] * n)
    second = study.time_points[1]
    masks = masks_from_images(_label_masks(synthetic_study_small), second.spect.image)
    result = run_dosimetry(
        registered, masks, out_dir=tmp_path, calibration_cps_per_MBq=None, write_report=False
    )
    assert result.reference_ct_files == [Path(f) for f in second.ct.meta.source_files]
    assert result.dose_Gy.GetOrigin() == second.spect.image.GetOrigin()
    assert result.results["structures"]["liver"]["mean_dose_Gy"] > 0
