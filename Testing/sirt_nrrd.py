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
