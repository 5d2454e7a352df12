"""Organ masks that can honestly be computed from a CT without a trained model, and the import
of organ masks made elsewhere.

These are **threshold masks, not anatomical segmentations** (no trained model; for organs
such as kidneys, liver or salivary glands use TotalSegmentator in Slicer, or import RTSTRUCT,
DICOM SEG or label maps):

- ``body``: HU > −500, the largest 26-connected component, holes filled slice by slice (air in
  lungs and bowel is inside the body) and then in 3D, plus the lungs;
- ``lung_left``/``lung_right``: −950 < HU < −400 (aerated parenchyma; outside air is
  ≈ −1000 HU), components at least half inside the body and of at least
  :data:`MIN_LUNG_ML`, the two largest, holes (airways, emphysema below −950 HU) filled;
  when the lungs touch (one component), it is split at the body's mid-sagittal plane.
  Left/right are patient sides: LPS +x is the patient's left. The trachea and main bronchi
  (air, ≈ −1000 HU) are not part of the lungs;
- ``bone``: HU > 200 inside the body, components of at least :data:`MIN_BONE_ML`. 200 HU
  keeps cortical bone (≳ 700 HU) and most trabecular bone (≈ 200–400 HU) and drops soft
  tissue (≤ 100 HU); it also keeps contrast-filled vessels and calcifications, and misses
  osteoporotic marrow below 200 HU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..errors import InputError
from ..image import QuantitativeImage

BODY_HU = -500.0
LUNG_HU = -400.0
AIR_HU = -950.0
BONE_HU = 200.0
MIN_LUNG_ML = 100.0
MIN_BONE_ML = 1.0


def _ct_array(ct: QuantitativeImage | sitk.Image) -> tuple[np.ndarray, sitk.Image]:
    image = ct.image if isinstance(ct, QuantitativeImage) else ct
    if isinstance(ct, QuantitativeImage) and ct.meta.quantity.units not in ("HU", "1"):
        raise InputError(
            f"CT organ masks need HU, the image is in {ct.meta.quantity.units}",
            tag="Units",
            fix="give the CT series",
        )
    return sitk.GetArrayFromImage(image).astype(np.float32), image


def _to_image(mask: np.ndarray, reference: sitk.Image) -> sitk.Image:
    out = sitk.GetImageFromArray(mask.astype(np.uint8))
    out.CopyInformation(reference)
    return out


def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = sitk.GetArrayFromImage(
        sitk.ConnectedComponent(sitk.GetImageFromArray(mask.astype(np.uint8)), True)
    )
    return labels, np.bincount(labels.ravel())


def _body_core(hu: np.ndarray) -> np.ndarray:
    labels, sizes = _components(hu > BODY_HU)
    if len(sizes) < 2:
        return np.zeros(hu.shape, dtype=bool)
    body = labels == int(np.argmax(sizes[1:]) + 1)
    for k in range(body.shape[0]):
        body[k] = ndimage.binary_fill_holes(body[k])
    return ndimage.binary_fill_holes(body)


def _lungs(hu: np.ndarray, core: np.ndarray, ref: sitk.Image) -> list[np.ndarray]:
    """Lung components: −950 < HU < −400 (parenchyma, not the outside air at ≈ −1000),
    at least half inside the body core, the two largest, internal holes (airways) filled."""
    labels, sizes = _components((hu > AIR_HU) & (hu < LUNG_HU))
    voxel_mL = float(np.prod(ref.GetSpacing())) / 1000.0
    inside = np.bincount(labels[core], minlength=len(sizes))
    ok = (sizes * voxel_mL >= MIN_LUNG_ML) & (inside >= 0.5 * sizes)
    ok[0] = False
    order = [int(i) for i in np.argsort(-np.where(ok, sizes, 0)) if ok[i]][:2]
    return [ndimage.binary_fill_holes(labels == i) for i in order]


def body_mask(ct: QuantitativeImage | sitk.Image) -> sitk.Image:
    """Body: HU > −500, largest component, holes filled (slice-wise, then 3D), plus the lungs
    (so that a lung touching the skin, as in the synthetic phantom's apices, stays inside)."""
    hu, ref = _ct_array(ct)
    core = _body_core(hu)
    body = core.copy()
    for lung in _lungs(hu, core, ref):
        body |= lung
    return _to_image(ndimage.binary_fill_holes(body), ref)


def lung_masks(
    ct: QuantitativeImage | sitk.Image, body: sitk.Image | None = None
) -> dict[str, sitk.Image]:
    """``lung_left`` and ``lung_right`` (see module docstring); empty masks when absent.
    ``body`` is accepted for symmetry with :func:`bone_mask` and not needed."""
    hu, ref = _ct_array(ct)
    parts = _lungs(hu, _body_core(hu), ref)
    x = _x_lps(ref, hu.shape)
    if len(parts) == 1:
        core = _body_core(hu)
        mid = float(np.mean(x[np.nonzero(core)[2]])) if core.any() else 0.0
        both = parts[0]
        parts = [both & (x[None, None, :] >= mid), both & (x[None, None, :] < mid)]
    empty = np.zeros(hu.shape, dtype=bool)
    parts += [empty] * (2 - len(parts))
    centres = [float(np.mean(x[np.nonzero(p)[2]])) if p.any() else 0.0 for p in parts]
    left, right = (parts[0], parts[1]) if centres[0] >= centres[1] else (parts[1], parts[0])
    return {"lung_left": _to_image(left, ref), "lung_right": _to_image(right, ref)}


def _x_lps(ref: sitk.Image, shape) -> np.ndarray:
    """LPS x (mm) of each column i (axial images with an identity-like direction)."""
    return np.array([ref.TransformIndexToPhysicalPoint((i, 0, 0))[0] for i in range(shape[2])])


def bone_mask(ct: QuantitativeImage | sitk.Image, body: sitk.Image | None = None) -> sitk.Image:
    """Bone: HU > 200 inside the body, components of at least 1 mL."""
    hu, ref = _ct_array(ct)
    inside = sitk.GetArrayFromImage(body if body is not None else body_mask(ct)) > 0
    labels, sizes = _components((hu > BONE_HU) & inside)
    voxel_mL = float(np.prod(ref.GetSpacing())) / 1000.0
    keep = sizes * voxel_mL >= MIN_BONE_ML
    keep[0] = False
    return _to_image(keep[labels], ref)


def ct_organ_masks(ct: QuantitativeImage | sitk.Image) -> dict[str, sitk.Image]:
    """``body``, ``lung_left``, ``lung_right`` and ``bone`` threshold masks of a CT (HU)."""
    body = body_mask(ct)
    masks = {"body": body}
    masks.update(lung_masks(ct, body))
    masks["bone"] = bone_mask(ct, body)
    return masks


def import_organ_masks(
    path: str | Path, reference: sitk.Image
) -> tuple[dict[str, sitk.Image], list[str]]:
    """Organ masks from a DICOM SEG, an RTSTRUCT, or a label map (NRRD/NIfTI with a JSON
    ``{"label": "name"}`` file next to it) on the reference grid; returns ``(masks, notes)``.

    Uses :func:`theranostics.io.masks.load_masks` when that reader is installed, otherwise
    the RTSTRUCT rasteriser or the label-map reader of :mod:`.label_maps`.
    """
    try:
        from ..io.masks import load_masks
    except ImportError:
        from .label_maps import load_masks_fallback

        return load_masks_fallback(path, reference)
    result = load_masks(path, reference)
    return dict(result.masks), list(result.notes)
