"""DICOM Segmentation (SEG) objects to binary masks (highdicom).

- :func:`read_seg` — one uint8 0/1 mask per segment on the SEG's own grid (the slices it
  holds, with the in-plane grid of its frames), LPS, right-handed;
- :func:`read_seg_on` — the same masks resampled nearest-neighbour onto a reference image;
- :func:`read_seg_info` — segment numbers, labels, codes, tracking UIDs and colours.

BINARY and LABELMAP segmentations are read as they are; FRACTIONAL ones are thresholded at
0.5 (a voxel belongs to the segment when its probability or occupancy is at least one half).
Segment labels become the dictionary keys; a label used by several segments gets its segment
number appended (``lesion_3``) so that no mask is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.errors import InvalidDicomError

from ..errors import GeometryError, InputError, InvalidTagError, NotDicomError
from ..image import QuantitativeImage
from .seg_export import SEGMENTATION_STORAGE


@dataclass(frozen=True)
class SegmentInfo:
    """One segment of a SEG: number, label (the key :func:`read_seg` uses) and semantics.

    Codes are (value, scheme, meaning) triples; ``color_rgb`` is sRGB 0-255 or ``None``."""

    number: int
    label: str
    category: tuple[str, str, str]
    property_type: tuple[str, str, str]
    algorithm_type: str
    tracking_uid: str | None
    tracking_id: str | None
    color_rgb: tuple[int, int, int] | None


def _open(path: str | Path):
    import highdicom as hd

    path = Path(path)
    if not path.is_file():
        raise InputError("SEG file not found", path=path, fix="check the path")
    try:
        ds = pydicom.dcmread(str(path))
    except (InvalidDicomError, OSError) as exc:
        raise NotDicomError(f"not readable DICOM ({exc})", path=path) from exc
    if str(ds.get("SOPClassUID", "")) != SEGMENTATION_STORAGE:
        raise InvalidTagError(
            f"not a DICOM Segmentation (SOP class {ds.get('SOPClassUID', 'missing')})",
            path=path,
            tag="SOPClassUID (0008,0016)",
            fix="pass a SEG file (Modality SEG); RTSTRUCT files are read with read_rtstruct",
        )
    try:
        return hd.seg.Segmentation.from_dataset(ds, copy=False)
    except (ValueError, AttributeError, KeyError) as exc:
        raise InvalidTagError(
            f"the SEG cannot be decoded ({exc})", path=path, fix="check the file"
        ) from exc


def segment_keys(infos: list[SegmentInfo]) -> list[str]:
    """The dictionary keys :func:`read_seg` uses: labels, with the segment number appended
    to labels that several segments share."""
    counts: dict[str, int] = {}
    for info in infos:
        counts[info.label] = counts.get(info.label, 0) + 1
    return [
        info.label if counts[info.label] == 1 else f"{info.label}_{info.number}" for info in infos
    ]


def read_seg_info(path: str | Path) -> list[SegmentInfo]:
    """The segments of a SEG file, in segment-number order.

    Raises:
        InputError: missing file; NotDicomError / InvalidTagError: not a SEG.
    """
    return _segment_infos(_open(path))


def _segment_infos(seg) -> list[SegmentInfo]:
    infos = []
    for item in seg.SegmentSequence:
        category = item.SegmentedPropertyCategoryCodeSequence[0]
        kind = item.SegmentedPropertyTypeCodeSequence[0]
        color = None
        if "RecommendedDisplayCIELabValue" in item:
            import highdicom as hd

            lab = hd.color.CIELabColor.from_dicom_value(item.RecommendedDisplayCIELabValue)
            color = tuple(int(c) for c in lab.to_rgb())
        infos.append(
            SegmentInfo(
                number=int(item.SegmentNumber),
                label=str(item.get("SegmentLabel", "") or f"segment_{item.SegmentNumber}"),
                category=(
                    category.CodeValue,
                    category.CodingSchemeDesignator,
                    category.CodeMeaning,
                ),
                property_type=(kind.CodeValue, kind.CodingSchemeDesignator, kind.CodeMeaning),
                algorithm_type=str(item.get("SegmentAlgorithmType", "")),
                tracking_uid=item.get("TrackingUID"),
                tracking_id=item.get("TrackingID"),
                color_rgb=color,
            )
        )
    return sorted(infos, key=lambda i: i.number)


def read_seg(path: str | Path) -> dict[str, sitk.Image]:
    """All segments of a SEG as uint8 0/1 masks on one common grid: the SEG's frames (from
    its first to its last slice, slices without frames are empty), LPS, right-handed.

    Raises:
        InputError: missing file; NotDicomError / InvalidTagError: not a SEG or undecodable;
        GeometryError: the frames do not form a regular 3D volume.
    """
    seg = _open(path)
    infos = _segment_infos(seg)
    try:
        volume = seg.get_volume(
            segment_numbers=[i.number for i in infos],
            combine_segments=False,
            rescale_fractional=True,
            skip_overlap_checks=True,
            allow_missing_positions=True,
        )
    except (ValueError, RuntimeError) as exc:
        raise GeometryError(
            f"the SEG frames do not form a regular 3D volume ({exc})",
            path=path,
            tag="PlanePositionSequence (0020,9113)",
            fix="re-export the segmentation from its source series",
        ) from exc
    array = np.asarray(volume.array)
    if array.ndim == 3:  # a single segment may come back without its channel axis
        array = array[..., np.newaxis]
    fractional = str(seg.SegmentationType).upper() == "FRACTIONAL"
    origin, spacing, direction, flip = _sitk_geometry(np.asarray(volume.affine), array.shape[0])
    masks = {}
    for s, key in enumerate(segment_keys(infos)):
        values = array[..., s]
        binary = (values >= 0.5) if fractional else (values > 0)
        if flip:
            binary = binary[::-1]
        image = sitk.GetImageFromArray(np.ascontiguousarray(binary.astype(np.uint8)))
        image.SetOrigin(origin)
        image.SetSpacing(spacing)
        image.SetDirection(direction)
        masks[key] = image
    return masks


def _sitk_geometry(affine: np.ndarray, n_slices: int):
    """highdicom's affine maps (slice, row, column) indices to LPS; SimpleITK wants the
    (column, row, slice) axes. The slice axis is flipped when needed so that the direction
    matrix is right-handed (slices ascend along row x column)."""
    col, row, slc = affine[:3, 2], affine[:3, 1], affine[:3, 0]
    spacing = [float(np.linalg.norm(v)) for v in (col, row, slc)]
    if min(spacing) <= 0:
        raise GeometryError("the SEG has zero spacing", tag="PixelMeasuresSequence (0028,9110)")
    axes = [col / spacing[0], row / spacing[1], slc / spacing[2]]
    origin = affine[:3, 3].astype(float)
    flip = float(np.dot(np.cross(axes[0], axes[1]), axes[2])) < 0
    if flip:  # the last slice becomes the first
        origin = origin + (n_slices - 1) * slc
        axes[2] = -axes[2]
    direction = tuple(float(v) for v in np.column_stack(axes).ravel())
    return tuple(float(v) for v in origin), spacing, direction, flip


def read_seg_on(
    path: str | Path, reference: sitk.Image | QuantitativeImage
) -> dict[str, sitk.Image]:
    """The SEG's masks resampled nearest-neighbour onto ``reference``'s grid (uint8 0/1).

    Nearest-neighbour keeps masks binary; when the SEG was written on the reference grid (or
    a slab of it) the voxels are identical. The SEG and the reference must share a frame of
    reference: this function cannot check that (a SimpleITK image has no FrameOfReferenceUID).

    Raises:
        GeometryError: a non-empty segment lies entirely outside the reference grid.
        (and what :func:`read_seg` raises)
    """
    if isinstance(reference, QuantitativeImage):
        reference = reference.image
    masks = read_seg(path)
    out = {}
    for name, mask in masks.items():
        resampled = sitk.Resample(
            mask, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8
        )
        if (
            sitk.GetArrayViewFromImage(mask).any()
            and not sitk.GetArrayViewFromImage(resampled).any()
        ):
            raise GeometryError(
                f"segment {name!r} lies outside the reference grid",
                path=path,
                fix="use the reference image the segmentation was drawn on (same frame of "
                "reference), or register the images first",
            )
        out[name] = resampled
    return out
