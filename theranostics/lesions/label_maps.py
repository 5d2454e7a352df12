"""Label maps with a name table: read, write, and a small mask importer.

A label map is a NRRD/NIfTI/MetaImage integer image (0 background) with a JSON file next to
it, ``<stem>.json``, mapping label values to names: ``{"1": "kidney_left", ...}`` (the
synthetic study's ``truth/labels.json`` has this form). Masks on another grid than the
reference are resampled with nearest neighbour and a note.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from .exclusion import mask_on_grid

LABEL_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")


def _stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(LABEL_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def names_path(path: str | Path) -> Path:
    """The JSON name table next to a label map: ``labels.nrrd`` -> ``labels.json``."""
    path = Path(path)
    return path.with_name(_stem(path) + ".json")


def read_label_map(path: str | Path, names_file: str | Path | None = None) -> dict[str, sitk.Image]:
    """Masks (uint8) by name from a label map and its JSON name table (labels without a name
    become ``label_<n>``).

    Raises:
        InputError: unreadable image or name table.
    """
    path = Path(path)
    try:
        labels = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputError(
            f"cannot read the label map ({str(exc).strip().splitlines()[-1]})",
            path=path,
            fix="give a NRRD/NIfTI label map",
        ) from None
    table = Path(names_file) if names_file else names_path(path)
    names: dict[int, str] = {}
    if table.is_file():
        try:
            names = {int(k): str(v) for k, v in json.loads(table.read_text()).items()}
        except (ValueError, AttributeError) as exc:
            raise InputError(
                f"name table is not a JSON object of label -> name ({exc})",
                path=table,
                fix='write {"1": "liver", ...}',
            ) from None
    array = sitk.GetArrayFromImage(labels)
    masks = {}
    for value in (int(v) for v in np.unique(array) if v > 0):
        mask = sitk.GetImageFromArray((array == value).astype(np.uint8))
        mask.CopyInformation(labels)
        masks[names.get(value, f"label_{value}")] = mask
    return masks


def write_label_map(path: str | Path, labels: sitk.Image, names) -> tuple[Path, Path]:
    """Write ``labels`` (compressed) and ``{"1": names[0], ...}`` next to it, each atomically
    (temporary file in the same folder, then ``os.replace``). Returns both paths."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.name[len(_stem(path)) :] or ".nrrd"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual mode
    try:
        sitk.WriteImage(labels, tmp, True)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    table = names_path(path)
    write_json(table, {str(i): n for i, n in enumerate(names, start=1)})
    return path, table


def write_json(path: str | Path, data) -> Path:
    """Write JSON atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)
    return path


def load_masks_fallback(
    path: str | Path, reference: sitk.Image
) -> tuple[dict[str, sitk.Image], list[str]]:
    """RTSTRUCT (rasterised by :func:`theranostics.io.rtstruct.rasterize_rtstruct`) or a
    label map, on the reference grid; ``(masks, notes)``.

    Raises:
        InputError: missing file, or a DICOM file that is not an RTSTRUCT (DICOM SEG needs
            :mod:`theranostics.io.masks`).
    """
    path = Path(path)
    if not path.exists():
        raise InputError("mask file not found", path=path, fix="check the path")
    if path.name.lower().endswith(LABEL_SUFFIXES):
        masks = read_label_map(path)
        notes = [f"masks read from the label map {path.name}"]
        result = {}
        for name, mask in masks.items():
            array, note = mask_on_grid(mask, reference, name)
            if note:
                notes.append(note)
            out = sitk.GetImageFromArray(array.astype(np.uint8))
            out.CopyInformation(reference)
            result[name] = out
        return result, notes
    from ..io.rtstruct import rasterize_rtstruct, read_rtstruct

    struct = read_rtstruct(path)
    masks = rasterize_rtstruct(struct, reference, None, allow_outside=True)
    return dict(masks), [f"masks rasterised from the RTSTRUCT {path.name}", *list(struct.problems)]
