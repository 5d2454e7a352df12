"""Lesion segmentation on the synthetic 68Ga-PSMA PET against the ground truth.

The PET (``dicom/pet_planning/PT``: 4.8 mm voxels, 6 mm FWHM blur, Poisson-like noise) has
its own rigid motion relative to the truth labels (2.4 mm CT grid of the first SPECT/CT). The
truth is carried into the PET frame with that motion (``x_scanner = R (x_ref − c) + c + t``)
on a 2.4 mm grid aligned with the PET voxels, and a PET voxel belongs to a structure when at
least half of its 2 × 2 × 2 sub-voxels do.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.io import read_image
from theranostics.lesions import lesion_biomarkers, segment_lesions

pytestmark = pytest.mark.slow

EXCLUDE = (
    "kidney_left",
    "kidney_right",
    "bladder",
    "parotid_left",
    "parotid_right",
    "submandibular_left",
    "submandibular_right",
    "liver",
    "spleen",
)


def truth_on_pet_grid(study, pet: sitk.Image) -> tuple[dict[str, np.ndarray], dict]:
    truth = json.loads((study / "truth" / "ground_truth.json").read_text())
    names = json.loads((study / "truth" / "labels.json").read_text())
    labels = sitk.ReadImage(str(study / "truth" / "labels.nrrd"))
    motion = truth["pet"]["motion"]
    R = np.array(motion["matrix"])
    c, t = np.array(motion["centre_mm"]), np.array(motion["translation_mm"])
    to_reference = sitk.AffineTransform(3)  # PET (scanner) point -> reference point
    to_reference.SetMatrix(R.T.ravel().tolist())
    to_reference.SetCenter(c.tolist())
    to_reference.SetTranslation((-R.T @ t).tolist())
    fine = sitk.Image([2 * n for n in pet.GetSize()], sitk.sitkUInt8)
    fine.SetSpacing([s / 2 for s in pet.GetSpacing()])
    fine.SetDirection(pet.GetDirection())
    fine.SetOrigin([o - s / 4 for o, s in zip(pet.GetOrigin(), pet.GetSpacing())])
    moved = sitk.GetArrayFromImage(
        sitk.Resample(labels, fine, to_reference, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    )
    k, j, i = (n // 2 for n in moved.shape)
    masks = {}
    for value, name in names.items():
        fraction = (moved == int(value)).reshape(k, 2, j, 2, i, 2).mean(axis=(1, 3, 5))
        masks[name] = fraction >= 0.5
    return masks, truth


@pytest.fixture(scope="module")
def pet_and_truth(synthetic_study):
    pet = read_image(synthetic_study / "dicom" / "pet_planning" / "PT")
    masks, truth = truth_on_pet_grid(synthetic_study, pet.image)
    return pet, masks, truth


def as_image(mask: np.ndarray, reference: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    image.CopyInformation(reference)
    return image


def test_lesions_of_2_mL_or_more_found_with_dice_and_volume(pet_and_truth):
    """Percent-of-max 41 % (EANM) on the 4.8 mm PET: Dice >= 0.8 against the truth on the PET
    grid and volume within 20 % of the true (analytic-voxel) volume, every lesion >= 2 mL."""
    pet, masks, truth = pet_and_truth
    exclude = {name: as_image(masks[name], pet.image) for name in EXCLUDE}
    seg = segment_lesions(
        pet, method="percent-max", percent=41, exclude=exclude, exclusion_margin_mm=5.0
    )
    labels = sitk.GetArrayFromImage(seg.labels)
    table = {r["label"]: r for r in lesion_biomarkers(pet, seg).lesions}
    big = [
        n for n, r in truth["regions"].items() if r["category"] == "lesion" and r["volume_mL"] >= 2
    ]
    assert len(big) == 5
    for name in big:
        t = masks[name]
        label = int(np.bincount(labels[t]).argmax())
        assert label > 0, f"{name} not found"
        found = labels == label
        dice = 2 * np.count_nonzero(found & t) / (found.sum() + t.sum())
        true_volume = truth["regions"][name]["volume_mL"]
        assert dice >= 0.8, (name, dice)
        assert table[label]["volume_mL"] == pytest.approx(true_volume, rel=0.20), name
    # Nothing inside the excluded organs, and no lesion that is not a true lesion.
    organs = np.any([masks[n] for n in EXCLUDE], axis=0)
    assert not np.any(labels[organs])
    lesions = np.any([m for n, m in masks.items() if n.startswith("lesion")], axis=0)
    for label in range(1, seg.count + 1):
        assert np.any(lesions[labels == label]), f"false lesion {label}"


def test_without_exclusion_the_hot_organs_would_be_lesions(pet_and_truth):
    pet, masks, _ = pet_and_truth
    seg = segment_lesions(pet, method="fixed", threshold=3.0)
    labels = sitk.GetArrayFromImage(seg.labels)
    assert np.any(labels[masks["kidney_left"]])  # the exclusion test above is not vacuous
