"""Organ masks from TotalSegmentator, when its Python package and weights are installed
(Wasserthal J et al. TotalSegmentator: robust segmentation of 104 anatomic structures in CT
images. Radiol Artif Intell 2023;5:e230024). Nothing here installs or downloads it.

TotalSegmentator writes one NIfTI mask per structure into a folder (``kidney_left.nii.gz``,
``liver.nii.gz`` ...); such a folder, made here or in Slicer by its extension, is read by
:func:`read_mask_folder` and enters the same organ-mask path as a label map, SEG or RTSTRUCT
(:func:`.organs_ct.import_organ_masks`).
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

import SimpleITK as sitk

from ..errors import InputError
from .exclusion import mask_on_grid

#: TotalSegmentator structures with physiological uptake of PSMA, SSTR or FDG tracers.
ROI_SUBSET = (
    "kidney_left",
    "kidney_right",
    "urinary_bladder",
    "liver",
    "spleen",
    "adrenal_gland_left",
    "adrenal_gland_right",
    "small_bowel",
    "colon",
    "duodenum",
    "stomach",
    "brain",
    "heart",
)
MASK_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")


def weights_folder() -> Path:
    """Where TotalSegmentator keeps its weights: ``$TOTALSEG_HOME_DIR`` or
    ``~/.totalsegmentator``, subfolder ``nnunet/results``."""
    home = os.environ.get("TOTALSEG_HOME_DIR") or str(Path.home() / ".totalsegmentator")
    return Path(home) / "nnunet" / "results"


def totalsegmentator_status() -> tuple[bool, str]:
    """``(available, why)``: the package importable and weights present."""
    if importlib.util.find_spec("totalsegmentator") is None:
        return False, "the Python package totalsegmentator is not installed"
    folder = weights_folder()
    if not folder.is_dir() or not any(folder.iterdir()):
        return False, f"TotalSegmentator weights not found in {folder}"
    return True, f"TotalSegmentator with weights in {folder}"


def run_totalsegmentator(ct: sitk.Image, output: str | Path | None = None) -> Path:
    """Run TotalSegmentator (``fast`` model, :data:`ROI_SUBSET`) on a CT; returns the mask
    folder. Raises :class:`InputError` when it is not available."""
    ok, why = totalsegmentator_status()
    if not ok:
        raise InputError(
            f"TotalSegmentator is not available: {why}",
            tag="--physiology totalsegmentator",
            fix="install TotalSegmentator and its weights, give --organs, or use the CT rules",
        )
    from totalsegmentator.python_api import totalsegmentator  # optional dependency

    out = Path(output or tempfile.mkdtemp(prefix="totalseg-"))
    out.mkdir(parents=True, exist_ok=True)
    nifti = out / "ct.nii.gz"
    sitk.WriteImage(ct, str(nifti))
    totalsegmentator(str(nifti), str(out / "masks"), fast=True, roi_subset=list(ROI_SUBSET))
    return out / "masks"


def read_mask_folder(
    folder: str | Path, reference: sitk.Image
) -> tuple[dict[str, sitk.Image], list[str]]:
    """Every mask file of a folder (name = file name without suffix), on the reference grid;
    empty masks are left out. Returns ``(masks, notes)``.

    Raises:
        InputError: the folder holds no mask file.
    """
    folder = Path(folder)
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(MASK_SUFFIXES)
    )
    if not files:
        raise InputError(
            "no mask files (.nii.gz, .nii, .nrrd, .mha) in the folder",
            path=folder,
            fix="give a TotalSegmentator output folder, a label map, a SEG or an RTSTRUCT",
        )
    masks, notes, empty = {}, [f"organ masks read from the folder {folder.name}"], []
    for path in files:
        name = next(path.name[: -len(s)] for s in MASK_SUFFIXES if path.name.lower().endswith(s))
        image = sitk.ReadImage(str(path))
        if sitk.GetArrayViewFromImage(image).max() == 0:
            empty.append(name)
            continue
        array, note = mask_on_grid(image, reference, name)
        if note:
            notes.append(note)
        out = sitk.GetImageFromArray(array.astype("uint8"))
        out.CopyInformation(reference)
        masks[name] = out
    if empty:
        notes.append(f"empty masks left out: {', '.join(empty)}")
    return masks, notes
