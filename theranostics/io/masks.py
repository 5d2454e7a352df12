"""Structure masks from DICOM SEG, RTSTRUCT or a label map, on the grid of a reference image.

:func:`load_masks` reads one file and returns a :class:`MaskSet`: for every structure a binary
``uint8`` mask and a ``float32`` **fractional occupancy** (weight in [0, 1]: the fraction of the
reference voxel that lies inside the structure), both on the reference grid.

Why occupancy: activity in a structure is the sum over voxels of concentration x weight x
voxel volume. When the masks are finer than the emission image (the synthetic study's labels
are on a 2.4 mm CT grid, its SPECT on 4.8 mm), a binary mask on the coarse grid has to decide
each boundary voxel in or out, which changes the volume of a small structure by tens of per
cent (a 7 mL gland on 4.8 mm voxels has about half of its voxels on the boundary). Occupancy
keeps the structure's volume exactly (block-aligned grids) or to sampling accuracy (any other
grid), so the organ activity is the activity the emission image holds inside the drawn
outline — no more, no less. It does not undo the blur of the emission image (partial-volume
spill-out); that is what recovery coefficients are for (see ``docs/time-activity.md``).

How occupancy is computed, one rule for every source: the reference grid is subdivided
``n`` times along each axis (``n = ceil(reference spacing / finest source spacing)``, at most
:data:`MAX_SUBDIVISION`; RTSTRUCT: :data:`RTSTRUCT_SUBDIVISION`), the structure is sampled at
the sub-voxel centres (nearest neighbour for label maps and SEG, the voxel-centre rule of
:mod:`theranostics.io.rtstruct` for contours) and the sub-voxels are averaged back onto the
reference voxels. When the reference is an exact integer multiple of a block-aligned source
grid (the synthetic study: 2 x 2 x 2), the sub-voxel centres *are* the source voxel centres
and the result is the exact block average. On the same grid the mask is copied unchanged.
The binary mask is ``occupancy >= 0.5``.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk

from ..errors import GeometryError, InputError
from ..image import QuantitativeImage
from ..progress import ProgressCallback, report
from .rtstruct import ROIOutsideGridError, rasterize_rtstruct, read_rtstruct
from .sidecar import SIDECAR_IMAGE_SUFFIXES

#: SOP Class UIDs recognised by content.
SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
#: Largest sub-division per axis when sampling a finer source onto the reference.
MAX_SUBDIVISION = 4
#: Sub-division per axis when rasterising RTSTRUCT contours (occupancy in steps of 1/8).
RTSTRUCT_SUBDIVISION = 2
#: Relative tolerance on origin/spacing/direction for "the same grid".
GRID_TOLERANCE = 1e-4
#: A note is written when less than this fraction of a structure lies on the reference grid.
INSIDE_NOTE_FRACTION = 0.99


@dataclass(frozen=True)
class MaskSet:
    """Masks of named structures on one reference grid.

    Attributes:
        masks: name -> ``uint8`` mask (1 inside: occupancy >= 0.5) on the reference grid.
        source: the file read.
        notes: what was done to the masks (resampling, rasterisation, structures partly
            outside the reference), in plain words.
        weights: name -> ``float32`` fractional occupancy in [0, 1] on the reference grid;
            use these for activity sums (see the module docstring).
        format: ``"seg"``, ``"rtstruct"``, ``"labelmap"`` or ``"slicer-seg"`` (a 3D Slicer
            ``.seg.nrrd``, :mod:`.slicer_files`).
        volumes_mL: name -> volume of the structure on the reference grid (sum of occupancy
            x voxel volume, mL).
    """

    masks: dict[str, sitk.Image]
    source: str
    notes: list[str] = field(default_factory=list)
    weights: dict[str, sitk.Image] = field(default_factory=dict)
    format: str = ""
    volumes_mL: dict[str, float] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        """Structure names in file order."""
        return list(self.masks)


def load_masks(
    path: str | Path,
    reference: sitk.Image | QuantitativeImage,
    *,
    names_file: str | Path | None = None,
    structures: Sequence[str] | None = None,
    skip_empty: bool = False,
    progress: ProgressCallback | None = None,
) -> MaskSet:
    """Read structure masks and put them on the reference grid.

    Args:
        path: a DICOM SEG file, an RTSTRUCT file, or a label map (``.nrrd``, ``.nhdr``,
            ``.nii``, ``.nii.gz``, ``.mha``, ``.mhd``; integer labels, 0 = background).
        reference: the image whose grid (LPS origin, spacing, direction, size) the masks are
            put on; a :class:`QuantitativeImage` also has its FrameOfReferenceUID checked
            against an RTSTRUCT's.
        names_file: label map only: the name table, JSON ``{"1": "kidney_left", ...}`` or
            CSV rows ``label,name`` (a header row is allowed). Default: ``<stem>.json`` next
            to the label map, else ``labels.json`` in its folder; without a table labels are
            named ``label_<n>`` (with a note).
        structures: keep only these structure names (exact match), in this order.
        skip_empty: leave out empty structures (with a note) instead of raising.
        progress: callback(fraction, message); a label map reports after reading, after
            the resampling onto the sub-divided grid and per structure (a raised
            :class:`~theranostics.progress.Cancelled` stops there).

    Returns:
        A :class:`MaskSet`; the input files are only read.

    Raises:
        FileNotFoundError: ``path`` (or ``names_file``) does not exist.
        InputError: unknown format, a malformed name table, duplicate structure names, an
            empty structure, or a requested structure that is not in the file.
        GeometryError: a structure does not overlap the reference image at all.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such mask file")
    ref_image = reference.image if isinstance(reference, QuantitativeImage) else reference
    if ref_image.GetDimension() != 3:
        raise GeometryError(
            f"reference image is {ref_image.GetDimension()}D, masks need a 3D grid",
            path=path,
            tag="reference",
            fix="pass the 3D image the masks should be applied to",
        )
    kind = _detect_format(path)
    notes: list[str] = []
    if kind == "labelmap":
        weights = _labelmap_weights(
            path, ref_image, names_file, notes, structures, skip_empty, progress
        )
    elif kind == "seg":
        weights = _seg_weights(path, ref_image, notes, structures, skip_empty)
    elif kind == "slicer-seg":  # a 3D Slicer .seg.nrrd (layered, segments may overlap)
        from .slicer_files import read_segmentation, segmentation_weights

        seg = read_segmentation(path)
        weights = segmentation_weights(seg, ref_image, notes, structures, skip_empty)
    else:
        weights = _rtstruct_weights(path, reference, notes, structures, skip_empty)
    report(progress, 0.95, "masks: binary masks and volumes")
    return _mask_set(weights, ref_image, str(path), notes, kind)


def masks_from_images(
    images: Mapping[str, sitk.Image],
    reference: sitk.Image | QuantitativeImage,
    *,
    source: str = "masks in memory",
    skip_empty: bool = False,
) -> MaskSet:
    """A :class:`MaskSet` from binary mask images (e.g. the segments of a Slicer
    segmentation), put on the reference grid by the same occupancy rule as :func:`load_masks`.

    Args:
        images: name -> 3D mask (non-zero inside) on any grid in the reference's LPS space.
        reference: the image whose grid the masks are put on.
        source: how the masks are named in notes and errors (e.g. the segmentation's name).
        skip_empty: leave out empty masks (with a note) instead of raising.

    Raises:
        InputError: no masks, a mask that is not 3D, or an empty mask.
        GeometryError: a mask does not overlap the reference image.
    """
    ref_image = reference.image if isinstance(reference, QuantitativeImage) else reference
    if not images:
        raise InputError("no structure masks were given", path=source, fix="draw structures")
    _check_unique(list(images), Path(source))
    notes: list[str] = []
    weights: dict[str, np.ndarray] = {}
    for name, image in images.items():
        if image.GetDimension() != 3:
            raise InputError(f"mask {name!r} is not 3D", path=source, tag=name)
        binary = sitk.Cast(sitk.NotEqual(image, 0), sitk.sitkUInt8)
        weights.update(
            _occupancy_from_labels(binary, {name: 1}, ref_image, Path(source), notes, skip_empty)
        )
    return _mask_set(weights, ref_image, source, notes, "images")


def resolve_masks(
    masks: str | Path | MaskSet,
    reference: sitk.Image | QuantitativeImage,
    *,
    names_file: str | Path | None = None,
    structures: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
) -> MaskSet:
    """Masks on ``reference``'s grid from a file (:func:`load_masks`, with ``progress``) or
    a ready :class:`MaskSet` (checked to be on that grid; ``structures`` selects from it).

    Raises:
        GeometryError: a MaskSet on another grid.
        InputError: a requested structure that is not in the set; errors of
            :func:`load_masks`.
    """
    if not isinstance(masks, MaskSet):
        return load_masks(
            masks, reference, names_file=names_file, structures=structures, progress=progress
        )
    ref_image = reference.image if isinstance(reference, QuantitativeImage) else reference
    first = next(iter(masks.weights.values()), None)
    if first is None or not same_grid(first, ref_image):
        raise GeometryError(
            "the masks are not on the reference grid",
            path=masks.source,
            fix="build them on the reference image (masks_from_images or load_masks)",
        )
    if structures is None:
        return masks
    missing = [s for s in structures if s not in masks.masks]
    if missing:
        raise InputError(
            f"structure(s) {missing} not in the masks",
            path=masks.source,
            tag="structures",
            fix=f"choose among: {', '.join(masks.names)}",
        )
    return MaskSet(
        masks={s: masks.masks[s] for s in structures},
        source=masks.source,
        notes=list(masks.notes),
        weights={s: masks.weights[s] for s in structures},
        format=masks.format,
        volumes_mL={s: masks.volumes_mL[s] for s in structures},
    )


def _mask_set(weights: dict, ref_image: sitk.Image, source: str, notes, kind: str) -> MaskSet:
    """Binary masks, weight images and volumes from occupancy arrays on ``ref_image``."""
    voxel_mL = float(np.prod(ref_image.GetSpacing())) / 1000.0
    masks: dict[str, sitk.Image] = {}
    images: dict[str, sitk.Image] = {}
    volumes: dict[str, float] = {}
    for name, w in weights.items():
        binary = (w >= 0.5).astype(np.uint8)
        if not binary.any():
            notes.append(
                f"{name}: no reference voxel is at least half inside; the binary mask is "
                f"empty (use the occupancy weights)"
            )
        masks[name] = _like(binary, ref_image)
        images[name] = _like(w.astype(np.float32), ref_image)
        volumes[name] = float(w.sum(dtype=np.float64)) * voxel_mL
    return MaskSet(
        masks=masks, source=source, notes=notes, weights=images, format=kind, volumes_mL=volumes
    )


# --------------------------------------------------------------------------------------------
# Format and names


def _detect_format(path: Path) -> str:
    name = path.name.lower()
    if any(name.endswith(s) for s in SIDECAR_IMAGE_SUFFIXES):
        from .slicer_files import is_slicer_segmentation

        return "slicer-seg" if is_slicer_segmentation(path) else "labelmap"
    fix = (
        "pass a DICOM SEG, an RTSTRUCT, or a label map (.nrrd, .nii, .nii.gz, .mha) with a "
        "name table"
    )
    if path.is_dir():
        raise InputError("is a folder; a mask file is needed", path=path, fix=fix)
    try:
        ds = pydicom.dcmread(str(path), stop_before_pixels=True, force=True)
        sop_class = str(ds.get("SOPClassUID", ""))
    except Exception as exc:  # any parse failure means: not a DICOM file we can use
        raise InputError(f"unknown mask format ({exc})", path=path, fix=fix) from exc
    if sop_class == SEG_STORAGE:
        return "seg"
    if sop_class == RTSTRUCT_STORAGE:
        return "rtstruct"
    raise InputError(
        f"unknown mask format (SOPClassUID {sop_class or 'absent'} is neither Segmentation "
        f"nor RT Structure Set)",
        path=path,
        tag="SOPClassUID (0008,0016)",
        fix=fix,
    )


def _default_names_file(path: Path) -> Path | None:
    lower = path.name.lower()
    stem = path.name
    for suffix in sorted(SIDECAR_IMAGE_SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix):
            stem = path.name[: -len(suffix)]
            break
    for candidate in (path.with_name(stem + ".json"), path.with_name("labels.json")):
        if candidate.is_file():
            return candidate
    return None


def read_name_table(path: str | Path) -> dict[int, str]:
    """A label -> name table from JSON (``{"1": "liver"}``) or CSV (``label,name`` rows).

    Raises:
        FileNotFoundError: no such file.
        InputError: malformed table (non-integer or negative label, empty or duplicate name).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such name table")
    fix = 'write JSON {"1": "kidney_left", ...} or CSV rows "label,name"'
    pairs: list[tuple[str, str]] = []
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"name table is not valid JSON ({exc})", path=path, fix=fix) from exc
        if not isinstance(data, dict):
            raise InputError("name table must be a JSON object", path=path, fix=fix)
        pairs = [(str(k), v) for k, v in data.items()]
    else:
        with path.open(newline="") as handle:
            rows = [r for r in csv.reader(handle) if r and any(c.strip() for c in r)]
        if rows and not rows[0][0].strip().lstrip("-").isdigit():
            rows = rows[1:]  # header row
        for row in rows:
            if len(row) < 2:
                raise InputError(f"CSV row {row} needs two columns", path=path, fix=fix)
            pairs.append((row[0].strip(), row[1].strip()))
    table: dict[int, str] = {}
    for key, name in pairs:
        try:
            label = int(key)
        except ValueError:
            raise InputError(f"label {key!r} is not an integer", path=path, fix=fix) from None
        if label <= 0:
            raise InputError(f"label {label} must be > 0 (0 is background)", path=path, fix=fix)
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"label {label} has no name", path=path, fix=fix)
        table[label] = name.strip()
    _check_unique(list(table.values()), path)
    return table


def _check_unique(names: list[str], path: Path) -> None:
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(
            f"structure name(s) {duplicates} used more than once",
            path=path,
            tag="structure names",
            fix="give every structure its own name",
        )


def _select(names: list[str], structures: Sequence[str] | None, path: Path) -> list[str]:
    if structures is None:
        return names
    missing = [s for s in structures if s not in names]
    if missing:
        raise InputError(
            f"structure(s) {missing} not in the file",
            path=path,
            tag="structure names",
            fix=f"choose among: {', '.join(names)}",
        )
    return list(structures)


# --------------------------------------------------------------------------------------------
# Sources


def _labelmap_weights(path, ref, names_file, notes, structures, skip_empty, progress=None):
    report(progress, 0.0, f"masks: reading {path.name}")
    try:
        labels = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputError(
            f"cannot read label map ({str(exc).strip().splitlines()[-1]})",
            path=path,
            fix="check the file is a complete NRRD/NIfTI/MetaImage label map",
        ) from exc
    if labels.GetDimension() != 3 or labels.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            "label map must be a 3D scalar image", path=path, fix="pass a 3D label map"
        )
    array = sitk.GetArrayViewFromImage(labels)
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise InputError(
                "label map holds non-integer values",
                path=path,
                fix="save the label map with an integer pixel type",
            )
        labels = sitk.Cast(labels, sitk.sitkInt32)
    names_path = Path(names_file) if names_file is not None else _default_names_file(path)
    report(progress, 0.1, "masks: label values")
    present = _present_labels(sitk.GetArrayViewFromImage(labels))
    if names_path is None:
        table = {v: f"label_{v}" for v in present}
        notes.append(f"no name table found for {path.name}: structures named label_<n>")
    else:
        table = read_name_table(names_path)
        for value in present:
            if value not in table:
                table[value] = f"label_{value}"
                notes.append(f"label {value} is not in {names_path.name}: named label_{value}")
        _check_unique(list(table.values()), names_path)
    by_name = {name: value for value, name in sorted(table.items())}
    chosen = _select(list(by_name), structures, path)
    return _occupancy_from_labels(
        labels, {n: by_name[n] for n in chosen}, ref, path, notes, skip_empty, progress
    )


def _present_labels(array: np.ndarray) -> list[int]:
    """The positive values of an integer label array, ascending (a histogram, not a sort:
    ``np.unique`` sorts every voxel)."""
    low, high = int(array.min()), int(array.max())
    if high <= 0:
        return []
    if low >= 0 and high < 1 << 16 and array.dtype != np.uint64:  # bincount: int64-safe
        return [int(v) for v in np.nonzero(np.bincount(array.ravel(), minlength=1))[0] if v > 0]
    return [int(v) for v in np.unique(array) if v > 0]


def _seg_weights(path, ref, notes, structures, skip_empty):
    import highdicom as hd  # heavy import: only when a SEG is read

    try:
        seg = hd.seg.segread(str(path))
    except Exception as exc:
        raise InputError(
            f"cannot read DICOM SEG ({exc})", path=path, fix="check the SEG file is complete"
        ) from exc
    segment_names = {int(s.SegmentNumber): str(s.SegmentLabel) for s in seg.SegmentSequence}
    _check_unique(list(segment_names.values()), path)
    by_name = {name: number for number, name in segment_names.items()}
    chosen = _select(list(by_name), structures, path)
    fix = "export the SEG again as a regular volume (parallel, evenly spaced frames)"
    try:
        if str(seg.SegmentationType) == "BINARY":
            volume = seg.get_volume(combine_segments=True, relabel=False)
            label_image = _image_from_volume(volume.array, volume.affine)
            return _occupancy_from_labels(
                label_image, {n: by_name[n] for n in chosen}, ref, path, notes, skip_empty
            )
        notes.append(f"{path.name}: FRACTIONAL SEG read as binary (value >= 0.5)")
        out = {}
        for name in chosen:
            volume = seg.get_volume(segment_numbers=[by_name[name]], combine_segments=False)
            binary = (np.asarray(volume.array)[..., 0] >= 0.5).astype(np.uint8)
            image = _image_from_volume(binary, volume.affine)
            out.update(_occupancy_from_labels(image, {name: 1}, ref, path, notes, skip_empty))
        return out
    except (ValueError, RuntimeError) as exc:
        if "overlap" not in str(exc).lower():
            raise InputError(
                f"cannot form a volume from the SEG ({exc})", path=path, fix=fix
            ) from exc
    out = {}  # overlapping segments: one segment at a time
    notes.append(f"{path.name}: segments overlap; each is resampled on its own")
    for name in chosen:
        volume = seg.get_volume(segment_numbers=[by_name[name]], combine_segments=True)
        image = _image_from_volume(volume.array, volume.affine)
        out.update(
            _occupancy_from_labels(image, {name: by_name[name]}, ref, path, notes, skip_empty)
        )
    return out


def _rtstruct_weights(path, reference, notes, structures, skip_empty):
    struct = read_rtstruct(path)
    notes.extend(struct.problems)  # dropped contours and frame-of-reference findings, named
    _check_unique(list(struct.names), path)
    chosen = _select(list(struct.names), structures, path)
    empty = [n for n in chosen if struct.roi(n).is_empty]
    if empty and not skip_empty:
        raise InputError(
            f"structure(s) {empty} have no closed contour (empty)",
            path=path,
            tag="ContourSequence (3006,0040)",
            fix="leave them out (structures=..., or skip_empty=True) or contour them",
        )
    for name in empty:
        notes.append(f"{name}: empty structure left out")
    chosen = [n for n in chosen if n not in empty]
    ref_image = reference.image if isinstance(reference, QuantitativeImage) else reference
    n = (RTSTRUCT_SUBDIVISION,) * 3
    fine = _subdivided_grid(ref_image, n)
    grid = (
        QuantitativeImage(fine, reference.meta)
        if isinstance(reference, QuantitativeImage)
        else fine
    )
    out = {}
    for name in chosen:
        try:
            fine_mask = rasterize_rtstruct(struct, grid, [name])[name]
        except ROIOutsideGridError as exc:
            raise GeometryError(
                f"structure {name!r} does not overlap the reference image ({exc.message})",
                path=path,
                tag="ContourData (3006,0050)",
                fix="check that the structure set belongs to this image (same patient, frame "
                "of reference and field of view)",
            ) from exc
        out[name] = _block_mean(sitk.GetArrayViewFromImage(fine_mask) > 0, n)
    notes.append(
        f"{path.name}: contours rasterised on the reference grid subdivided "
        f"{RTSTRUCT_SUBDIVISION}x per axis (voxel-centre rule), averaged to occupancy"
    )
    return out


# --------------------------------------------------------------------------------------------
# Geometry


def _image_from_volume(array: np.ndarray, affine: np.ndarray) -> sitk.Image:
    """A SimpleITK image from a highdicom volume (array axes (0, 1, 2), affine to LPS mm)."""
    affine = np.asarray(affine, dtype=float)
    # sitk index (i, j, k) is numpy axis (2, 1, 0) of the array it is built from.
    columns = affine[:3, [2, 1, 0]]
    spacing = np.linalg.norm(columns, axis=0)
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(spacing.tolist())
    image.SetDirection((columns / spacing).ravel().tolist())
    image.SetOrigin(affine[:3, 3].tolist())
    return image


def same_grid(a: sitk.Image, b: sitk.Image, tol: float = GRID_TOLERANCE) -> bool:
    """True when two images share size, origin, spacing and direction (to ``tol``)."""
    if a.GetSize() != b.GetSize():
        return False
    spacing = np.asarray(a.GetSpacing())
    return (
        np.allclose(a.GetSpacing(), b.GetSpacing(), rtol=tol, atol=0)
        and np.allclose(a.GetDirection(), b.GetDirection(), atol=tol)
        and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=tol * float(spacing.min()))
    )


def _subdivided_grid(ref: sitk.Image, n: Sequence[int]) -> sitk.Image:
    """An empty ``uint8`` image whose voxels split each reference voxel into n_i x n_j x n_k,
    so that block ``(k, j, i)`` of it covers exactly reference voxel ``(k, j, i)``."""
    n = np.asarray(n, dtype=float)
    spacing = np.asarray(ref.GetSpacing()) / n
    direction = np.asarray(ref.GetDirection()).reshape(3, 3)
    origin = np.asarray(ref.GetOrigin()) - direction @ ((n - 1) / 2 * spacing)
    size = [int(s * m) for s, m in zip(ref.GetSize(), n.astype(int), strict=True)]
    fine = sitk.Image(size, sitk.sitkUInt8)
    fine.SetSpacing(spacing.tolist())
    fine.SetOrigin(origin.tolist())
    fine.SetDirection(direction.ravel().tolist())
    return fine


def _block_mean(fine: np.ndarray, n: Sequence[int]) -> np.ndarray:
    """Mean of each ``n_k x n_j x n_i`` block of a boolean ``[k, j, i]`` array (float32)."""
    ni, nj, nk = (int(v) for v in n)
    if ni == nj == nk == 1:
        return fine.astype(np.float32)
    k, j, i = fine.shape[0] // nk, fine.shape[1] // nj, fine.shape[2] // ni
    counts = fine.reshape(k, nk, j, nj, i, ni).sum(axis=(1, 3, 5), dtype=np.uint16)
    return counts.astype(np.float32) / float(ni * nj * nk)


def _occupancy_from_labels(
    labels: sitk.Image,
    wanted: dict[str, int],
    ref: sitk.Image,
    path: Path,
    notes: list[str],
    skip_empty: bool,
    progress: ProgressCallback | None = None,
) -> dict[str, np.ndarray]:
    """Occupancy (``[k, j, i]`` float32 on ``ref``) of each ``name -> label value``;
    ``progress`` (fractions 0.2-0.9) before the resampling and per structure."""
    report(progress, 0.2, "masks: voxel counts")
    source = sitk.GetArrayViewFromImage(labels)
    counts = np.bincount(source[source > 0].ravel().astype(np.int64))
    source_voxel_mL = float(np.prod(labels.GetSpacing())) / 1000.0
    if same_grid(labels, ref):
        fine, n = source, (1, 1, 1)
    else:
        finest = min(labels.GetSpacing())
        n = tuple(
            int(min(MAX_SUBDIVISION, max(1, math.ceil(s / finest - 1e-3))))
            for s in ref.GetSpacing()
        )
        grid = _subdivided_grid(ref, n)
        report(progress, 0.3, "masks: sampling the labels on the sub-divided reference grid")
        fine = sitk.GetArrayFromImage(
            sitk.Resample(labels, grid, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
        )
        notes.append(
            f"{path.name}: masks on a {_describe(labels)} grid put on the reference "
            f"{_describe(ref)} grid as fractional occupancy (sub-division {n[0]}x{n[1]}x{n[2]}, "
            f"nearest-neighbour sampling, block average)"
        )
    voxel_mL = float(np.prod(ref.GetSpacing())) / 1000.0
    report(progress, 0.4, "masks: bounding boxes")
    boxes = _bounding_boxes(fine, wanted.values())
    out: dict[str, np.ndarray] = {}
    for number, (name, value) in enumerate(wanted.items()):
        report(progress, 0.45 + 0.45 * number / len(wanted), f"masks: {name}")
        source_count = int(counts[value]) if value < counts.size else 0
        if source_count == 0:
            if not skip_empty:
                raise InputError(
                    f"structure {name!r} (label {value}) is empty",
                    path=path,
                    tag="structure",
                    fix="leave it out (structures=..., or skip_empty=True) or draw it",
                )
            notes.append(f"{name}: empty structure left out")
            continue
        weights = _label_occupancy(fine, value, n, boxes)
        inside_mL = float(weights.sum(dtype=np.float64)) * voxel_mL
        source_mL = source_count * source_voxel_mL
        if inside_mL <= 0:
            raise GeometryError(
                f"structure {name!r} ({source_mL:.1f} mL) does not overlap the reference image",
                path=path,
                tag="structure",
                fix="check that the masks belong to this image (same patient, same pose and "
                "field of view), or register them to it first",
            )
        if inside_mL < INSIDE_NOTE_FRACTION * source_mL:
            notes.append(
                f"{name}: only {inside_mL:.1f} of {source_mL:.1f} mL "
                f"({100 * inside_mL / source_mL:.0f} %) lies on the reference grid"
            )
        out[name] = weights
    return out


def _bounding_boxes(fine: np.ndarray, values) -> dict[int, tuple[slice, ...] | None]:
    """Bounding box (slices of ``fine``) of each label value, found in one pass."""
    from scipy import ndimage

    values = [int(v) for v in values]
    top = max(values, default=0)
    if top <= 0:
        return {}
    clipped = np.where((fine > 0) & (fine <= top), fine, 0).astype(np.int32, copy=False)
    objects = ndimage.find_objects(clipped, max_label=top)
    return {v: objects[v - 1] for v in values}


def _label_occupancy(fine: np.ndarray, value: int, n, boxes: dict) -> np.ndarray:
    """Occupancy of one label on the reference grid, computed inside its bounding box only
    (widened to whole blocks), so that small structures cost little."""
    ni, nj, nk = (int(v) for v in n)
    blocks = (nk, nj, ni)
    out = np.zeros(tuple(s // b for s, b in zip(fine.shape, blocks, strict=True)), np.float32)
    box = boxes.get(value)
    if box is None:
        return out
    lo = [sl.start // b for sl, b in zip(box, blocks, strict=True)]
    hi = [-(-sl.stop // b) for sl, b in zip(box, blocks, strict=True)]
    region = fine[tuple(slice(a * b, c * b) for a, c, b in zip(lo, hi, blocks, strict=True))]
    out[tuple(slice(a, c) for a, c in zip(lo, hi, strict=True))] = _block_mean(region == value, n)
    return out


def _describe(image: sitk.Image) -> str:
    spacing = "x".join(f"{s:g}" for s in image.GetSpacing())
    size = "x".join(str(s) for s in image.GetSize())
    return f"{size} ({spacing} mm)"


def _like(array: np.ndarray, ref: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(ref)
    return image
