"""CT threshold organ masks and organ-mask import, on the small synthetic study (the first
SPECT/CT session has identity motion: its CT grid is the truth grid)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.io import read_image
from theranostics.lesions import ct_organ_masks, import_organ_masks
from theranostics.lesions.label_maps import read_label_map, write_label_map


def dice(a, b) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


@pytest.fixture(scope="module")
def ct_and_truth(synthetic_study_small):
    ct = read_image(synthetic_study_small / "dicom" / "spect_004h" / "CT")
    labels = sitk.GetArrayFromImage(
        sitk.ReadImage(str(synthetic_study_small / "truth" / "labels.nrrd"))
    )
    names = json.loads((synthetic_study_small / "truth" / "labels.json").read_text())
    return ct, {n: labels == int(v) for v, n in names.items()}, labels


def test_ct_threshold_masks_against_the_truth(ct_and_truth):
    ct, truth, labels = ct_and_truth
    masks = {n: sitk.GetArrayFromImage(m) > 0 for n, m in ct_organ_masks(ct).items()}
    assert masks["body"][labels > 0].mean() > 0.99  # every structure lies in the body
    assert dice(masks["lung_left"], truth["lung_left"]) > 0.9
    assert dice(masks["lung_right"], truth["lung_right"]) > 0.9
    bone = truth["cortical_bone"] | truth["red_marrow"]
    assert dice(masks["bone"], bone) > 0.9


def test_organ_masks_from_a_label_map_on_another_grid(
    ct_and_truth, synthetic_study_small, tmp_path
):
    ct, truth, _ = ct_and_truth
    pet = read_image(synthetic_study_small / "dicom" / "pet_planning" / "PT").image
    masks, notes = import_organ_masks(synthetic_study_small / "truth" / "labels.nrrd", pet)
    assert "kidney_left" in masks and masks["kidney_left"].GetSize() == pet.GetSize()
    assert any("grid" in n for n in notes)  # put on the PET grid, with a note
    # Round trip of the writer and reader (label map + JSON name table).
    labels = sitk.Image(ct.image.GetSize(), sitk.sitkUInt16)
    labels.CopyInformation(ct.image)
    array = np.zeros(ct.array().shape, dtype=np.uint16)
    array[truth["liver"]] = 1
    array[truth["spleen"]] = 2
    labels = sitk.GetImageFromArray(array)
    labels.CopyInformation(ct.image)
    path, table = write_label_map(tmp_path / "organs.nrrd", labels, ["liver", "spleen"])
    assert json.loads(table.read_text()) == {"1": "liver", "2": "spleen"}
    back = read_label_map(path)
    assert np.array_equal(sitk.GetArrayFromImage(back["spleen"]) > 0, truth["spleen"])
