"""Detection scores of a lesion segmentation against the synthetic phantom's truth.

The truth labels (``truth/labels.nrrd``) live on the CT grid of the first SPECT/CT (the
reference pose); the planning PET has its own rigid motion (``ground_truth.json`` →
``pet.motion``: ``x_scanner = R (x_ref − c) + c + t``). :func:`truth_on_grid` carries the
labels into the PET frame on a grid 2 × finer than the PET (nearest neighbour) and gives, per
structure, its occupancy of every PET voxel (fraction of the 8 sub-voxels).

:func:`score_detection` then counts, for the true lesions of at least ``min_true_mL`` (true
volume on the truth grid):

- a reported lesion is a **true positive** when its hottest voxel is in or next to (26
  neighbours) a voxel holding some true lesion (any size): a kidney that touches a small
  lesion peaks in the kidney and is still a kidney, a lesion inside the liver peaks in the
  lesion;
- **detected**: some true-positive reported lesion overlaps it;
- **false positives**: the other reported lesions, split into *physiological* (at least half
  of the reported voxels in an organ with physiological uptake, occupancy ≥ 0.5 after a
  one-voxel dilation: the organ's partial-volume spill) and *other*;
- **volume error** of each detected lesion: (reported − true) / true, the reported lesion
  being the one holding most of the true lesion's occupancy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

#: Phantom organs with physiological uptake of PSMA/SSTR tracers.
PHYSIOLOGICAL_ORGANS = (
    "kidney_left",
    "kidney_right",
    "liver",
    "spleen",
    "parotid_left",
    "parotid_right",
    "submandibular_left",
    "submandibular_right",
    "bladder",
)


def truth_on_grid(study: str | Path, image: sitk.Image, session: str = "pet"):
    """Occupancy ``[k, j, i]`` (0-1) of every truth structure on ``image``'s grid.

    Args:
        study: a study folder written by :func:`theranostics.phantom.generate_study`.
        image: the PET (``session="pet"``) or an image in the reference pose (``"reference"``).
        session: whose motion to apply.

    Returns:
        ``(occupancy by name, ground-truth dict)``.
    """
    study = Path(study)
    truth = json.loads((study / "truth" / "ground_truth.json").read_text())
    names = json.loads((study / "truth" / "labels.json").read_text())
    labels = sitk.ReadImage(str(study / "truth" / "labels.nrrd"))
    to_reference = sitk.AffineTransform(3)  # scanner point -> reference point
    if session == "pet":
        motion = truth["pet"]["motion"]
        R = np.array(motion["matrix"])
        c, t = np.array(motion["centre_mm"]), np.array(motion["translation_mm"])
        to_reference.SetMatrix(R.T.ravel().tolist())
        to_reference.SetCenter(c.tolist())
        to_reference.SetTranslation((-R.T @ t).tolist())
    fine = sitk.Image([2 * n for n in image.GetSize()], sitk.sitkUInt8)
    fine.SetSpacing([s / 2 for s in image.GetSpacing()])
    fine.SetDirection(image.GetDirection())
    fine.SetOrigin([o - s / 4 for o, s in zip(image.GetOrigin(), image.GetSpacing())])
    moved = sitk.GetArrayFromImage(
        sitk.Resample(labels, fine, to_reference, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    )
    k, j, i = (n // 2 for n in moved.shape)
    occupancy = {}
    for value, name in names.items():
        hit = moved == int(value)
        occupancy[name] = hit.reshape(k, 2, j, 2, i, 2).mean(axis=(1, 3, 5)).astype(np.float32)
    return occupancy, truth


def score_detection(
    labels: np.ndarray,
    values: np.ndarray,
    occupancy: dict[str, np.ndarray],
    truth: dict,
    voxel_volume_mL: float,
    *,
    min_true_mL: float = 2.0,
) -> dict:
    """Sensitivity, false positives and volume errors of a lesion label array ``[k, j, i]``
    (0 background, n lesion n; ``values`` the uptake it was segmented on) against the truth
    (see the module docstring)."""
    regions = truth["regions"]
    lesions = [n for n, r in regions.items() if r["category"] == "lesion"]
    big = [n for n in lesions if regions[n]["volume_mL"] >= min_true_mL]
    count = int(labels.max())
    organ = np.zeros(labels.shape, dtype=bool)
    for name in PHYSIOLOGICAL_ORGANS:
        organ |= occupancy[name] >= 0.5
    organ = ndimage.binary_dilation(organ, np.ones((3, 3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    near_lesion = ndimage.binary_dilation(
        np.any([occupancy[n] > 0 for n in lesions], axis=0), np.ones((3, 3, 3), dtype=bool)
    )
    true_positive = np.zeros(count + 1, dtype=bool)
    if count:
        where = labels > 0
        peaks = ndimage.maximum_position(values[where], labels[where], np.arange(1, count + 1))
        flat = np.flatnonzero(where)
        for label, (p,) in enumerate(peaks, start=1):
            if sizes[label]:
                true_positive[label] = bool(near_lesion.ravel()[flat[int(p)]])
    organ_hits = np.bincount(labels[organ], minlength=count + 1)
    fp_phys, fp_other = [], []
    for label in range(1, count + 1):
        if sizes[label] and not true_positive[label]:
            if organ_hits[label] >= 0.5 * sizes[label]:
                fp_phys.append(label)
            else:
                fp_other.append(label)
    per_lesion = []
    for name in big:
        occ = occupancy[name]
        weight = np.bincount(labels.ravel(), weights=occ.ravel(), minlength=count + 1)
        weight[~true_positive] = 0.0
        label = int(np.argmax(weight)) if weight.max() > 0 else 0
        true_mL = float(regions[name]["volume_mL"])
        found_mL = float(sizes[label] * voxel_volume_mL) if label else None
        per_lesion.append(
            {
                "name": name,
                "host": regions[name].get("host"),
                "true_volume_mL": round(true_mL, 3),
                "pet_SUVbw": round(float(regions[name].get("pet_SUVbw", float("nan"))), 3),
                "detected": bool(label),
                "label": label,
                "volume_mL": None if found_mL is None else round(found_mL, 3),
                "volume_error": None if found_mL is None else round(found_mL / true_mL - 1, 4),
            }
        )
    detected = sum(p["detected"] for p in per_lesion)
    return {
        "true_lesions_ge_min": len(big),
        "detected": detected,
        "sensitivity": detected / len(big) if big else float("nan"),
        "reported": count,
        "false_positives_physiological": len(fp_phys),
        "false_positives_other": len(fp_other),
        "false_positive_labels": {"physiological": fp_phys, "other": fp_other},
        "lesions": per_lesion,
    }
