"""Helpers of the radioembolisation tests: the real Slicer files of ``sirt-nrrd`` (skip when
absent) and small synthetic Slicer segmentations written with SimpleITK."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import REAL_DATA

SIRT_NRRD = REAL_DATA / "sirt-nrrd"
PET_1 = "patient_1_Y90_PET.nrrd"
SEG_1 = "patient_1_Segmentation.seg.nrrd"
SPECT_2 = "patient_2_SPECT.nrrd"
SEG_2 = "patient_2_Segmentation.seg.nrrd"


def sirt_nrrd_dir() -> Path:
    """The real radioembolisation files, or skip the test with the reason."""
    if not (SIRT_NRRD / PET_1).is_file():
        pytest.skip(f"real Slicer radioembolisation files not found at {SIRT_NRRD}")
    return SIRT_NRRD


def write_seg_nrrd(
    path: Path,
    layers: list[np.ndarray],
    segments: list[tuple[str, int, int]],
    *,
    spacing=(1.0, 1.0, 1.0),
    origin=(0.0, 0.0, 0.0),
    direction=(1, 0, 0, 0, 1, 0, 0, 0, 1),
) -> Path:
    """Write a Slicer-style segmentation: ``layers`` are ``[k, j, i]`` uint8 label arrays,
    ``segments`` (name, layer, label value) become the ``SegmentN_*`` header fields."""
    if len(layers) == 1:
        image = sitk.GetImageFromArray(layers[0].astype(np.uint8))
    else:
        image = sitk.GetImageFromArray(np.stack(layers, axis=-1).astype(np.uint8), isVector=True)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(direction)
    for n, (name, layer, value) in enumerate(segments):
        image.SetMetaData(f"Segment{n}_Name", name)
        image.SetMetaData(f"Segment{n}_ID", f"Segment_{n}")
        image.SetMetaData(f"Segment{n}_Layer", str(layer))
        image.SetMetaData(f"Segment{n}_LabelValue", str(value))
        image.SetMetaData(f"Segment{n}_Color", "0.5 0.5 0.5")
    sitk.WriteImage(image, str(path), True)
    return path


def write_y90_phantom(folder: Path, *, values=None, origin=(0.0, 0.0, 0.0)):
    """A 20^3 PET at 2 mm (``pet.nrrd``, Bq/mL values, no sidecar): 10 kBq/mL in a liver cube,
    80 kBq/mL in a tumour cube inside it; and ``seg.seg.nrrd`` on a 1 mm grid: Liver (layer 0),
    Tumor 1 and Normal liver (layer 1, overlapping the liver). ``values`` may change the PET
    array. Returns the two paths."""
    n = 20
    pet = np.zeros((n, n, n))
    pet[4:16, 4:16, 4:16] = 1e4
    pet[8:12, 8:12, 8:12] = 8e4
    if values is not None:
        pet = values(pet)
    image = sitk.GetImageFromArray(pet)
    image.SetSpacing((2.0, 2.0, 2.0))
    image.SetOrigin(origin)
    path = folder / "pet.nrrd"
    sitk.WriteImage(image, str(path))
    liver = np.zeros((2 * n,) * 3, np.uint8)
    liver[8:32, 8:32, 8:32] = 1
    layer1 = np.where(liver > 0, 2, 0).astype(np.uint8)
    layer1[16:24, 16:24, 16:24] = 1
    seg = write_seg_nrrd(
        folder / "seg.seg.nrrd",
        [liver, layer1],
        [("Liver", 0, 1), ("Tumor 1", 1, 1), ("Normal liver", 1, 2)],
        spacing=(1.0, 1.0, 1.0),
        origin=tuple(o - 0.5 for o in origin),
    )
    return path, seg
