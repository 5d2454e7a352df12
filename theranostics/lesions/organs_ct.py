"""Organ masks that can honestly be computed from a CT without a trained model, the CT
landmarks used to recognise physiological uptake (:func:`ct_anatomy`), and the import of
organ masks made elsewhere.

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

from dataclasses import dataclass
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


def fill_holes_per_slice(mask: np.ndarray) -> np.ndarray:
    """Holes filled in every axial slice ``mask[k]`` at once: the background components
    (4-connected within a slice) that do not touch the slice's edge are holes. The same
    result as ``binary_fill_holes`` slice by slice, in one labelling pass."""
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = ndimage.generate_binary_structure(2, 1)
    labels, count = ndimage.label(~mask, structure)
    if count == 0:
        return mask.copy()
    edge = np.zeros(count + 1, dtype=bool)
    for face in (labels[:, 0, :], labels[:, -1, :], labels[:, :, 0], labels[:, :, -1]):
        edge[np.unique(face)] = True
    edge[0] = True
    return mask | ~edge[labels]


def _body_core(hu: np.ndarray) -> np.ndarray:
    labels, sizes = _components(hu > BODY_HU)
    if len(sizes) < 2:
        return np.zeros(hu.shape, dtype=bool)
    body = fill_holes_per_slice(labels == int(np.argmax(sizes[1:]) + 1))
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
    left, right = _lung_sides(hu, _body_core(hu), ref)
    return {"lung_left": _to_image(left, ref), "lung_right": _to_image(right, ref)}


def _lung_sides(hu: np.ndarray, core: np.ndarray, ref: sitk.Image):
    """(left, right) lung arrays (see :func:`lung_masks`)."""
    parts = _lungs(hu, core, ref)
    x = _x_lps(ref, hu.shape)
    if len(parts) == 1:
        mid = float(np.mean(x[np.nonzero(core)[2]])) if core.any() else 0.0
        both = parts[0]
        parts = [both & (x[None, None, :] >= mid), both & (x[None, None, :] < mid)]
    empty = np.zeros(hu.shape, dtype=bool)
    parts += [empty] * (2 - len(parts))
    centres = [float(np.mean(x[np.nonzero(p)[2]])) if p.any() else 0.0 for p in parts]
    return (parts[0], parts[1]) if centres[0] >= centres[1] else (parts[1], parts[0])


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
    the RTSTRUCT rasteriser or the label-map reader of :mod:`.label_maps`. A folder is read
    as one mask file per structure (TotalSegmentator's output, :mod:`.totalseg`).
    """
    if Path(path).is_dir():
        from .totalseg import read_mask_folder

        return read_mask_folder(path, reference)
    try:
        from ..io.masks import load_masks
    except ImportError:
        from .label_maps import load_masks_fallback

        return load_masks_fallback(path, reference)
    result = load_masks(path, reference)
    return dict(result.masks), list(result.notes)


# ---------------------------------------------------------------------------------------
# Landmarks for recognising physiological uptake (no trained model)
# ---------------------------------------------------------------------------------------

#: Finest working spacing (mm) of the landmark search: finer CTs are resampled to it
#: (landmarks need centimetres, not the CT's sub-millimetre detail).
WORK_SPACING_MM = 3.0
#: Liver on CT: smoothed soft tissue at least this dense (HU). Unenhanced liver is about
#: 55-65 HU, denser than muscle (≈ 40-50), spleen (≈ 45-50), kidney (≈ 30) and fluid (0-20).
LIVER_HU = (50.0, 200.0)
#: Smallest liver accepted (mL); adult livers are 1-2 L.
MIN_LIVER_ML = 400.0
#: Half-width (mm) around the midline in which bone is taken as the spine.
SPINE_HALF_WIDTH_MM = 40.0
#: Bone this far (mm) from the spine counts as pelvis (iliac wings) when below the lungs.
PELVIS_LATERAL_MM = 50.0


@dataclass(frozen=True)
class CTAnatomy:
    """Landmarks of a CT found with thresholds and geometry alone (see docs/lesions.md).

    All positions are LPS mm (+x patient left, +y posterior, +z superior).

    Attributes:
        grid: the working grid (identity direction) the masks are on.
        body, lungs, bone, liver: boolean masks ``[k, j, i]`` on ``grid`` (liver may be
            empty: see ``liver_found``).
        lung_left, lung_right: boolean masks on ``grid``.
        midline_x_mm: x of the body's mid-sagittal plane (median x of the torso voxels).
        spine_z_mm, spine_x_mm, spine_y_mm: spine centre per working slice (NaN where no
            spine bone was found), see :meth:`spine_at`.
        lung_apex_z_mm: top of the lungs; ``None`` without lungs.
        lung_base_z_mm: ``{"left": z, "right": z}``, lowest point of each lung.
        pelvis_top_z_mm: top of the lateral pelvic bone (iliac crests); ``None`` if absent.
        cranial_cavity: boolean mask of the space enclosed by the skull (may be empty).
        liver_found: whether a liver was found.
        notes: what was and was not found, in words.
    """

    grid: sitk.Image
    body: np.ndarray
    lung_left: np.ndarray
    lung_right: np.ndarray
    bone: np.ndarray
    liver: np.ndarray
    cranial_cavity: np.ndarray
    midline_x_mm: float
    spine_z_mm: np.ndarray
    spine_x_mm: np.ndarray
    spine_y_mm: np.ndarray
    lung_apex_z_mm: float | None
    lung_base_z_mm: dict
    pelvis_top_z_mm: float | None
    liver_found: bool
    notes: tuple[str, ...] = ()

    def spine_at(self, z_mm: float) -> tuple[float, float] | None:
        """Spine centre (x, y) at height ``z_mm``: the nearest slice with spine bone within
        30 mm, else ``None``."""
        ok = np.isfinite(self.spine_x_mm)
        if not ok.any():
            return None
        z = self.spine_z_mm[ok]
        n = int(np.argmin(np.abs(z - z_mm)))
        if abs(z[n] - z_mm) > 30.0:
            return None
        return float(self.spine_x_mm[ok][n]), float(self.spine_y_mm[ok][n])

    def to_json(self) -> dict:
        """Landmarks (no masks) and volumes, JSON-ready."""
        voxel_mL = float(np.prod(self.grid.GetSpacing())) / 1000.0
        return {
            "midline_x_mm": round(self.midline_x_mm, 1),
            "lung_apex_z_mm": self.lung_apex_z_mm,
            "lung_base_z_mm": self.lung_base_z_mm,
            "pelvis_top_z_mm": self.pelvis_top_z_mm,
            "spine_slices": int(np.isfinite(self.spine_x_mm).sum()),
            "liver_found": self.liver_found,
            "liver_volume_mL": round(float(self.liver.sum()) * voxel_mL, 1),
            "cranial_cavity_mL": round(float(self.cranial_cavity.sum()) * voxel_mL, 1),
            "notes": list(self.notes),
        }


def working_ct(ct: QuantitativeImage | sitk.Image) -> sitk.Image:
    """The CT on an identity-direction grid with spacing at least :data:`WORK_SPACING_MM`,
    float32 HU, sampled with nearest neighbour: averaging would create intermediate CT
    numbers at the skin (a shell between air and tissue that the lung threshold would take
    for lung and join to the apices)."""
    _, image = _ct_array(ct)
    image = sitk.Cast(image, sitk.sitkFloat32)
    spacing = np.array(image.GetSpacing())
    target = np.maximum(spacing, WORK_SPACING_MM)
    identity = np.allclose(image.GetDirection(), np.eye(3).ravel(), atol=1e-3)
    if identity and np.allclose(target, spacing):
        return image
    lo, hi = _bounds(image)
    size = [int(np.ceil((h - low) / t)) for low, h, t in zip(lo, hi, target)]
    grid = sitk.Image(size, sitk.sitkFloat32)
    grid.SetSpacing([float(t) for t in target])
    grid.SetOrigin([float(low + t / 2) for low, t in zip(lo, target)])
    return sitk.Resample(image, grid, sitk.Transform(), sitk.sitkNearestNeighbor, -1000.0)


def _bounds(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    from ..image import physical_bounds_lps

    return physical_bounds_lps(image)


def _axes_mm(ref: sitk.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x (per column i), y (per row j), z (per slice k) of an identity-direction grid."""
    o, s, n = ref.GetOrigin(), ref.GetSpacing(), ref.GetSize()
    return tuple(o[a] + s[a] * np.arange(n[a]) for a in range(3))


def _liver(hu, body, lungs, bone, right_lung, x, z, midline, voxel_mL, notes) -> np.ndarray:
    """The largest right-sided dense soft-tissue component whose top touches the right lung
    base (see :data:`LIVER_HU`)."""
    empty = np.zeros(hu.shape, dtype=bool)
    if not right_lung.any():
        notes.append("liver not searched: no right lung to find it under")
        return empty
    base = float(z[np.nonzero(right_lung.any(axis=(1, 2)))[0].min()])
    smooth = ndimage.gaussian_filter(hu, 1.0)
    dense = (smooth >= LIVER_HU[0]) & (smooth <= LIVER_HU[1]) & body & ~lungs
    dense &= ~ndimage.binary_dilation(bone, iterations=1)
    dense &= ((z >= base - 250.0) & (z <= base + 60.0))[:, None, None]
    dense &= (x <= midline + 30.0)[None, None, :]
    dense = ndimage.binary_opening(dense, iterations=1)
    labels, count = ndimage.label(dense)
    if count == 0:
        notes.append(f"liver not found: no tissue of {LIVER_HU[0]:g}-{LIVER_HU[1]:g} HU under "
                     "the right lung")  # fmt: skip
        return empty
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    best = int(np.argmax(sizes))
    liver = labels == best
    volume = float(sizes[best]) * voxel_mL
    top = float(z[np.nonzero(liver.any(axis=(1, 2)))[0].max()])
    centre_x = float(x[np.nonzero(liver.any(axis=(0, 1)))[0]].mean())
    if volume < MIN_LIVER_ML or top < base - 40.0 or centre_x > midline:
        notes.append(
            f"liver not found: the largest dense right-sided soft-tissue component "
            f"({volume:.0f} mL, top {top:.0f} mm, right lung base {base:.0f} mm) is not a "
            f"liver (needs >= {MIN_LIVER_ML:g} mL reaching the right lung base)"
        )
        return empty
    liver = ndimage.binary_closing(liver, iterations=2) & body & ~lungs
    notes.append(f"liver found on the CT: {float(liver.sum()) * voxel_mL:.0f} mL")
    return ndimage.binary_fill_holes(liver)


def ct_anatomy(ct: QuantitativeImage | sitk.Image) -> CTAnatomy:
    """Body, lungs, bone, spine line, lung apex and bases, pelvis, cranial cavity and liver
    of a CT (HU), on a working grid of at least :data:`WORK_SPACING_MM` (see
    docs/lesions.md, "Physiological uptake")."""
    grid = working_ct(ct)
    hu = sitk.GetArrayFromImage(grid).astype(np.float32)
    voxel_mL = float(np.prod(grid.GetSpacing())) / 1000.0
    x, y, z = _axes_mm(grid)
    notes: list[str] = []
    core = _body_core(hu)
    if not core.any():
        raise InputError(
            "no body found on the CT (no voxel above -500 HU)",
            tag="CT",
            fix="give the CT of the PET/CT (in HU)",
        )
    left, right = _lung_sides(hu, core, grid)
    body = ndimage.binary_fill_holes(core | left | right)
    labels, sizes = _components((hu > BONE_HU) & body)
    keep = sizes * voxel_mL >= MIN_BONE_ML
    keep[0] = False
    bone = keep[labels]
    midline = float(np.median(x[np.nonzero(body)[2]]))
    lung_any = left | right
    if lung_any.any():
        rows = np.nonzero(lung_any.any(axis=(1, 2)))[0]
        apex = float(z[rows.max()])
        bases = {}
        for side, mask in (("left", left), ("right", right)):
            r = np.nonzero(mask.any(axis=(1, 2)))[0]
            bases[side] = float(z[r.min()]) if r.size else float(z[rows.min()])
    else:
        apex, bases = None, {}
        notes.append("no lungs on the CT: kidney, liver, spleen and head-neck rules are off")
    # spine: bone near the midline, posterior to the body's centre, per slice
    spine_x = np.full(len(z), np.nan)
    spine_y = np.full(len(z), np.nan)
    near = np.abs(x - midline) <= SPINE_HALF_WIDTH_MM
    for k in range(len(z)):
        rows = np.nonzero(body[k].any(axis=1))[0]
        if rows.size == 0:
            continue
        centre_y = 0.5 * (y[rows.min()] + y[rows.max()])
        sl = bone[k] & near[None, :] & (y >= centre_y)[:, None]
        if sl.sum() * voxel_mL * 1000.0 / grid.GetSpacing()[2] >= 100.0:  # >= 1 cm^2
            jj, ii = np.nonzero(sl)
            spine_x[k], spine_y[k] = float(x[ii].mean()), float(y[jj].mean())
    if not np.isfinite(spine_x).any():
        notes.append("no spine found on the CT (no midline posterior bone)")
    # pelvis: lateral bone below the lungs
    pelvis_top = None
    if bases:
        low = z <= min(bases.values()) - 100.0
        lateral = np.abs(x - midline) >= PELVIS_LATERAL_MM
        pelvic = bone & low[:, None, None] & lateral[None, None, :]
        if pelvic.sum() * voxel_mL >= 20.0:
            pelvis_top = float(z[np.nonzero(pelvic.any(axis=(1, 2)))[0].max()])
        else:
            notes.append("no pelvic bone found below the lungs: the bladder rule is off")
    # cranial cavity: slices above the lung apex whose bone encloses soft tissue
    cavity = np.zeros(hu.shape, dtype=bool)
    if apex is not None:
        head = (z > apex + 40.0)[:, None, None]
        cavity = fill_holes_per_slice(bone & head) & ~bone & head & (hu > -200.0)
        cavity = ndimage.binary_opening(cavity, iterations=1)
        labels_c, count_c = ndimage.label(cavity)
        if count_c:
            sizes_c = np.bincount(labels_c.ravel())
            sizes_c[0] = 0
            cavity = labels_c == int(np.argmax(sizes_c))
            if cavity.sum() * voxel_mL < 300.0:
                cavity[:] = False
    if apex is not None and not cavity.any():
        notes.append("no cranial cavity on the CT (head not in the field of view?)")
    liver = _liver(hu, body, lung_any, bone, right, x, z, midline, voxel_mL, notes)
    return CTAnatomy(
        grid=grid,
        body=body,
        lung_left=left,
        lung_right=right,
        bone=bone,
        liver=liver,
        cranial_cavity=cavity,
        midline_x_mm=midline,
        spine_z_mm=np.asarray(z, dtype=float),
        spine_x_mm=spine_x,
        spine_y_mm=spine_y,
        lung_apex_z_mm=apex,
        lung_base_z_mm=bases,
        pelvis_top_z_mm=pelvis_top,
        liver_found=bool(liver.any()),
        notes=tuple(notes),
    )
