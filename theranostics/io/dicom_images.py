"""DICOM pixel data and geometry to SimpleITK images in LPS.

Two layouts are handled:

- **slice stacks** (CT, PET, single-frame NM): one file per slice, each with
  ImagePositionPatient/ImageOrientationPatient; slices are sorted along the slice normal
  (row direction x column direction), and duplicate, uneven or sheared stacks are refused;
- **NM multi-frame reconstructed tomography**: one file, frames are slices, geometry inside
  DetectorInformationSequence (ImagePositionPatient of the first frame and
  ImageOrientationPatient), slice step from SpacingBetweenSlices.

Rescale (RescaleSlope/RescaleIntercept) or Real World Value Mapping is applied per slice, so
the returned values are in the units that :mod:`.dicom_meta` reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset

from .. import plausibility
from ..errors import (
    GeometryError,
    InvalidTagError,
    MissingTagError,
    MixedSeriesError,
    NotDicomError,
)
from ..image import check_spacing
from .dicom_meta import RWV_UNITS
from .dicom_values import first_item, integer, number, numbers, tag_label, text

#: Direction cosines of different slices may differ by this much and still be one stack.
ORIENTATION_TOLERANCE = 1e-4
#: Relative tolerance on slice gaps before a stack counts as uneven (1 %).
GAP_TOLERANCE = 0.01


@dataclass(frozen=True)
class StackGeometry:
    """Geometry of a sorted slice stack: ``order`` indexes the input files by slice."""

    origin: tuple[float, float, float]
    spacing: tuple[float, float, float]
    direction: tuple[float, ...]
    size: tuple[int, int, int]
    order: tuple[int, ...]
    notes: tuple[str, ...] = ()


def _orientation(ds: Dataset, path, keyword="ImageOrientationPatient") -> np.ndarray:
    iop = numbers(ds, keyword, 6, path=path)
    if iop is None:
        raise MissingTagError(
            "image orientation missing",
            path=path,
            tag=tag_label(keyword),
            fix="the series cannot be placed in patient space; re-export it with geometry",
        )
    row, col = np.array(iop[:3]), np.array(iop[3:])
    if (
        abs(np.linalg.norm(row) - 1) > 1e-3
        or abs(np.linalg.norm(col) - 1) > 1e-3
        or abs(row @ col) > 1e-3
    ):
        raise GeometryError(
            f"direction cosines {list(iop)} are not two orthogonal unit vectors",
            path=path,
            tag=tag_label(keyword),
            fix="correct the orientation tag",
        )
    return np.array(iop)


def _position(ds: Dataset, path, keyword="ImagePositionPatient") -> np.ndarray:
    ipp = numbers(ds, keyword, 3, path=path)
    if ipp is None:
        raise MissingTagError(
            "image position missing",
            path=path,
            tag=tag_label(keyword),
            fix="the series cannot be placed in patient space; re-export it with geometry",
        )
    for value in ipp:
        plausibility.check(value, plausibility.POSITION_MM, path=path, tag=tag_label(keyword))
    return np.array(ipp)


def _pixel_spacing(ds: Dataset, path) -> tuple[float, float]:
    ps = numbers(ds, "PixelSpacing", 2, path=path)
    if ps is None:
        raise MissingTagError(
            "pixel spacing missing",
            path=path,
            tag=tag_label("PixelSpacing"),
            fix="re-export the series with PixelSpacing",
        )
    # PixelSpacing is (row spacing, column spacing) = (step along j, step along i).
    col_step, row_step = check_spacing((ps[1], ps[0]), path=path, tag=tag_label("PixelSpacing"))
    for step in (col_step, row_step):
        plausibility.check(step, plausibility.SPACING_MM, path=path, tag=tag_label("PixelSpacing"))
    return col_step, row_step


def spacing_problems(spacing_mm, path, tag: str) -> list[str]:
    """Refuse impossible voxel spacings and note unusual ones (:data:`plausibility.SPACING_MM`)."""
    notes: list[str] = []
    for step in spacing_mm:
        notes += plausibility.check(step, plausibility.SPACING_MM, path=path, tag=tag)
    return sorted(set(notes))


def image_size(ds: Dataset, path) -> tuple[int, int]:
    """(Rows, Columns), both required and positive."""
    rows = integer(ds, "Rows", path=path, required=True)
    cols = integer(ds, "Columns", path=path, required=True)
    for keyword, value in (("Rows", rows), ("Columns", cols)):
        if value <= 0:
            raise InvalidTagError(
                f"{keyword} is {value}", path=path, tag=tag_label(keyword), fix="re-export"
            )
    return rows, cols


def check_frame_of_reference(headers: Sequence[Dataset], files: Sequence[str]) -> None:
    """All slices of one stack must share their FrameOfReferenceUID (one patient space)."""
    first = text(headers[0], "FrameOfReferenceUID")
    for ds, path in zip(headers[1:], files[1:]):
        other = text(ds, "FrameOfReferenceUID")
        if other != first:
            raise MixedSeriesError(
                f"slice is in frame of reference {other} but {files[0]} is in {first}",
                path=path,
                tag=tag_label("FrameOfReferenceUID"),
                fix="the series mixes slices of different patient coordinate systems: "
                "remove the foreign slice",
            )


def _direction(iop: np.ndarray) -> tuple[np.ndarray, tuple[float, ...]]:
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    # SimpleITK direction: row-major 3x3 whose columns are the i, j, k axes in LPS.
    return normal, tuple(np.column_stack([row, col, normal]).ravel())


def slice_stack_geometry(headers: Sequence[Dataset], files: Sequence[str]) -> StackGeometry:
    """Sort single-frame slices along their normal and check the stack is regular.

    Raises:
        MixedSeriesError: slices of different size, spacing or orientation.
        GeometryError: duplicate positions, uneven gaps, sheared stack, bad spacing.
    """
    first, path0 = headers[0], files[0]
    iop = _orientation(first, path0)
    rows, cols = image_size(first, path0)
    spacing_i, spacing_j = _pixel_spacing(first, path0)
    check_frame_of_reference(headers, files)
    for ds, path in zip(headers[1:], files[1:]):
        if image_size(ds, path) != (rows, cols):
            raise MixedSeriesError(
                f"slice is {ds.Columns}x{ds.Rows} but {path0} is {cols}x{rows}",
                path=path,
                tag="Rows/Columns (0028,0010/0011)",
                fix="the folder mixes images of different sizes: separate them",
            )
        if np.max(np.abs(_orientation(ds, path) - iop)) > ORIENTATION_TOLERANCE:
            raise MixedSeriesError(
                "slice orientation differs from the first slice",
                path=path,
                tag=tag_label("ImageOrientationPatient"),
                fix="the folder mixes differently oriented images: separate them",
            )
        if np.max(np.abs(np.array(_pixel_spacing(ds, path)) - (spacing_i, spacing_j))) > 1e-4:
            raise MixedSeriesError(
                "pixel spacing differs from the first slice",
                path=path,
                tag=tag_label("PixelSpacing"),
                fix="separate images of different resolution",
            )
    normal, direction = _direction(iop)
    positions = np.array([_position(ds, p) for ds, p in zip(headers, files)])
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    notes: list[str] = []
    order, along_sorted = _drop_identical_duplicates(order, along, headers, files, notes)
    if len(order) == 1:
        step = number(first, "SpacingBetweenSlices", path=path0) or number(
            first, "SliceThickness", path=path0
        )
        if step is None:
            step = 1.0
            notes.append("single slice without SliceThickness: slice spacing set to 1 mm")
        step = check_spacing([step], path=path0, tag="SliceThickness (0018,0050)")[0]
    else:
        step = _regular_step(along_sorted, [files[i] for i in order])
        _check_no_shear(positions[order], normal, [files[i] for i in order])
        thickness = number(first, "SliceThickness", path=path0)
        if thickness and step > 1.5 * thickness + 1e-3:
            notes.append(
                f"slices are {step:.3g} mm apart but {thickness:.3g} mm thick: every other "
                "slice missing, or a gapped acquisition? check the series is complete"
            )
    check_spacing((spacing_i, spacing_j, step), path=path0)
    notes += spacing_problems(
        (spacing_i, spacing_j, step), path0, "PixelSpacing / slice positions (0028,0030)"
    )
    origin = tuple(float(v) for v in positions[order[0]])
    return StackGeometry(
        origin=origin,
        spacing=(spacing_i, spacing_j, step),
        direction=direction,
        size=(cols, rows, len(order)),
        order=tuple(int(i) for i in order),
        notes=tuple(notes),
    )


def _drop_identical_duplicates(order, along, headers, files, notes):
    kept = [order[0]]
    for idx in order[1:]:
        prev = kept[-1]
        if abs(along[idx] - along[prev]) < 1e-3:
            same_uid = str(headers[idx].get("SOPInstanceUID")) == str(
                headers[prev].get("SOPInstanceUID")
            )
            if same_uid:
                notes.append(f"duplicate copy of one slice ignored: {files[idx]}")
                continue
            raise GeometryError(
                f"two different slices at the same position {along[idx]:.3f} mm along the "
                f"slice normal: {files[prev]} and {files[idx]}",
                path=files[idx],
                tag=tag_label("ImagePositionPatient"),
                fix="the folder holds two reconstructions or a repeated scan of one series: "
                "keep only one of them",
            )
        kept.append(idx)
    kept = np.array(kept)
    return kept, along[kept]


def _regular_step(along_sorted: np.ndarray, files_sorted: Sequence[str]) -> float:
    gaps = np.diff(along_sorted)
    step = float(np.median(gaps))
    bad = np.nonzero(np.abs(gaps - step) > GAP_TOLERANCE * step + 1e-3)[0]
    if bad.size:
        k = int(bad[0])
        raise GeometryError(
            f"uneven slice spacing: gap of {gaps[k]:.3f} mm between {files_sorted[k]} and "
            f"{files_sorted[k + 1]} where the median gap is {step:.3f} mm "
            f"({bad.size} uneven gap(s))",
            path=files_sorted[k + 1],
            tag=tag_label("ImagePositionPatient"),
            fix="missing or extra slices: re-export the complete series, or resample it to a "
            "regular grid before loading",
        )
    return step


def _check_no_shear(positions: np.ndarray, normal: np.ndarray, files_sorted) -> None:
    offsets = positions - positions[0]
    lateral = offsets - np.outer(offsets @ normal, normal)
    worst = int(np.argmax(np.linalg.norm(lateral, axis=1)))
    if np.linalg.norm(lateral[worst]) > 0.01 + 1e-3 * abs(offsets[worst] @ normal):
        raise GeometryError(
            "slice positions do not follow the slice normal (gantry tilt or sheared stack)",
            path=files_sorted[worst],
            tag=tag_label("ImagePositionPatient"),
            fix="resample the series to an orthogonal grid before loading",
        )


def _check_native_pixel_length(ds: Dataset, path: str) -> None:
    """For uncompressed transfer syntaxes, the PixelData length must be what Rows x Columns x
    NumberOfFrames x SamplesPerPixel x BitsAllocated/8 says (DICOM PS3.5 section 8.1.1, padded
    to an even length). Checked before decoding: pydicom would otherwise only warn about
    "excess frames" and return a wrong frame count."""
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None or syntax.is_compressed or "PixelData" not in ds:
        return
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.BitsAllocated)
    except (AttributeError, TypeError, ValueError):
        return  # missing or malformed size tags are reported by the callers' own checks
    expected = rows * cols * frames * samples * bits // 8
    actual = len(ds.PixelData or b"")
    if actual < expected:  # short or empty: an incomplete copy, as pydicom would report
        raise NotDicomError(
            f"pixel data truncated: PixelData holds {actual} bytes, Rows {rows} x Columns "
            f"{cols} x NumberOfFrames {frames} x {bits} bits need {expected}",
            path=path,
            tag="PixelData (7FE0,0010)",
            fix="copy the file again from the scanner or PACS (incomplete transfer?)",
        )
    if actual > expected + 1:  # more bytes than the size tags describe
        raise MixedSeriesError(
            f"PixelData holds {actual} bytes, but Rows {rows} x Columns {cols} x "
            f"NumberOfFrames {frames} x {bits} bits need {expected}",
            path=path,
            tag="Rows/Columns/NumberOfFrames/PixelData (7FE0,0010)",
            fix="the size tags do not describe the pixel data: re-export the image from the "
            "scanner or PACS",
        )


def _read_pixels(path: str) -> tuple[Dataset, np.ndarray]:
    try:
        ds = pydicom.dcmread(path)
    except pydicom.errors.InvalidDicomError as exc:
        raise NotDicomError(
            "not a DICOM file", path=path, fix="remove it from the series folder"
        ) from exc
    except (ValueError, EOFError, OSError) as exc:
        raise NotDicomError(
            f"file unreadable or truncated ({exc})",
            path=path,
            fix="copy the file again from the scanner or PACS (incomplete transfer?)",
        ) from exc
    _check_native_pixel_length(ds, path)  # outside the try: its error is already specific
    try:
        return ds, ds.pixel_array
    except (ValueError, EOFError, OSError, AttributeError, KeyError, IndexError, TypeError) as exc:
        raise NotDicomError(
            f"pixel data unreadable or truncated ({exc})",
            path=path,
            tag="PixelData (7FE0,0010)",
            fix="copy the file again from the scanner or PACS (incomplete transfer?)",
        ) from exc


def value_transform(ds: Dataset, path, *, ct: bool = False) -> tuple[float, float]:
    """(slope, intercept) that turn stored values into the reported units: Real World Value
    Mapping when it defines known units, else RescaleSlope/RescaleIntercept, else identity.

    Raises:
        PlausibilityError: a zero or negative slope, or a slope/intercept outside the
            plausibility rules (CT: slope <= 100, |intercept| <= 1e4 HU).
    """
    rwvm = first_item(ds, "RealWorldValueMappingSequence")
    if rwvm is not None:
        code = first_item(rwvm, "MeasurementUnitsCodeSequence")
        if code is not None and text(code, "CodeValue") in RWV_UNITS:
            slope = number(rwvm, "RealWorldValueSlope", path=path)
            if slope is not None:
                intercept = number(rwvm, "RealWorldValueIntercept", path=path) or 0.0
                _check_rescale(slope, intercept, path, ct, "RealWorldValue")
                return slope, intercept
    slope = number(ds, "RescaleSlope", path=path)
    intercept = number(ds, "RescaleIntercept", path=path)
    slope = 1.0 if slope is None else slope
    intercept = 0.0 if intercept is None else intercept
    _check_rescale(slope, intercept, path, ct, "Rescale")
    return slope, intercept


def _check_rescale(slope: float, intercept: float, path, ct: bool, prefix: str) -> None:
    slope_tag = f"{prefix}Slope" + (" (0028,1053)" if prefix == "Rescale" else "")
    intercept_tag = f"{prefix}Intercept" + (" (0028,1052)" if prefix == "Rescale" else "")
    plausibility.check(
        slope,
        plausibility.CT_RESCALE_SLOPE if ct else plausibility.RESCALE_SLOPE,
        path=path,
        tag=slope_tag,
    )
    plausibility.check(
        intercept,
        plausibility.CT_RESCALE_INTERCEPT if ct else plausibility.RESCALE_INTERCEPT,
        path=path,
        tag=intercept_tag,
    )


def read_slice_stack(
    headers: Sequence[Dataset], files: Sequence[str], *, integer_hu: bool = False
) -> tuple[sitk.Image, tuple[str, ...]]:
    """Read a single-frame slice stack into a float32 (or int16 HU) SimpleITK image in LPS."""
    geom = slice_stack_geometry(headers, files)
    cols, rows, depth = geom.size
    transforms = [value_transform(headers[i], files[i], ct=integer_hu) for i in geom.order]
    as_int16 = integer_hu and all(s == 1.0 and float(b).is_integer() for s, b in transforms)
    volume = np.empty((depth, rows, cols), dtype=np.int16 if as_int16 else np.float32)
    for k, idx in enumerate(geom.order):
        _, pixels = _read_pixels(files[idx])
        if pixels.shape != (rows, cols):
            raise MixedSeriesError(
                f"pixel data has shape {pixels.shape}, expected {(rows, cols)}",
                path=files[idx],
                tag="Rows/Columns/PixelData",
                fix="separate the images",
            )
        slope, intercept = transforms[k]
        if as_int16:
            volume[k] = np.clip(pixels.astype(np.int32) + int(intercept), -32768, 32767)
        else:
            volume[k] = pixels * np.float32(slope) + np.float32(intercept)
    image = sitk.GetImageFromArray(volume)
    image.SetOrigin(geom.origin)
    image.SetSpacing(geom.spacing)
    image.SetDirection(geom.direction)
    return image, geom.notes


def nm_geometry(ds: Dataset, path) -> StackGeometry:
    """Geometry of an NM multi-frame reconstructed tomogram (frames are slices).

    Raises:
        GeometryError: no geometry (DetectorInformationSequence absent and no top-level
            position/orientation), or non-positive spacing.
    """
    notes: list[str] = []
    detector = first_item(ds, "DetectorInformationSequence")
    source = detector
    if detector is None or detector.get("ImagePositionPatient") is None:
        if ds.get("ImagePositionPatient") is not None and ds.get("ImageOrientationPatient"):
            source = ds
            notes.append(
                "NM geometry taken from top-level ImagePositionPatient/"
                "ImageOrientationPatient (DetectorInformationSequence has none)"
            )
        else:
            raise GeometryError(
                "NM reconstructed image without geometry: DetectorInformationSequence has no "
                "ImagePositionPatient/ImageOrientationPatient",
                path=path,
                tag="DetectorInformationSequence (0054,0022)",
                fix="re-export the reconstruction from the workstation with patient geometry, "
                "or save it as NIfTI/NRRD with a JSON sidecar",
            )
    iop = _orientation(source, path)
    origin = _position(source, path)
    spacing_i, spacing_j = _pixel_spacing(ds, path)
    step = number(ds, "SpacingBetweenSlices", path=path)
    tag = tag_label("SpacingBetweenSlices")
    if step is None:
        step = number(ds, "SliceThickness", path=path)
        tag = tag_label("SliceThickness")
        notes.append("NM slice spacing taken from SliceThickness (SpacingBetweenSlices absent)")
    if step is None:
        raise MissingTagError(
            "NM slice spacing missing",
            path=path,
            tag="SpacingBetweenSlices (0018,0088)",
            fix="re-export the reconstruction with SpacingBetweenSlices",
        )
    check_spacing((step,), path=path, tag=tag)
    check_spacing((spacing_i, spacing_j), path=path, tag=tag_label("PixelSpacing"))
    notes += spacing_problems((spacing_i, spacing_j, step), path, f"PixelSpacing / {tag}")
    frames = integer(ds, "NumberOfFrames", path=path)
    if frames is None:
        frames = 1
    if frames <= 0:
        raise InvalidTagError(
            f"NumberOfFrames is {frames}",
            path=path,
            tag=tag_label("NumberOfFrames"),
            fix="a reconstruction has at least one frame: re-export it",
        )
    rows, cols = image_size(ds, path)
    _, direction = _direction(iop)
    return StackGeometry(
        origin=tuple(float(v) for v in origin),
        spacing=(spacing_i, spacing_j, float(step)),
        direction=direction,
        size=(cols, rows, frames),
        order=tuple(range(frames)),
        notes=tuple(notes),
    )


def check_nm_is_reconstruction(ds: Dataset, path) -> None:
    """Refuse NM projection data (TOMO, STATIC, WHOLE BODY ...), which is not a 3D image."""
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    kind = image_type[2] if len(image_type) > 2 else ""
    if kind and kind not in ("RECON TOMO", "RECON GATED TOMO"):
        raise GeometryError(
            f"NM image type {kind!r} is projection data, not a reconstructed volume",
            path=path,
            tag=tag_label("ImageType"),
            fix="reconstruct the SPECT first and load the RECON TOMO series",
        )


def read_nm_multiframe(ds_header: Dataset, path: str) -> tuple[sitk.Image, tuple[str, ...]]:
    """Read an NM multi-frame reconstruction into a float32 SimpleITK image in LPS."""
    check_nm_is_reconstruction(ds_header, path)
    geom = nm_geometry(ds_header, path)
    ds, pixels = _read_pixels(path)
    cols, rows, frames = geom.size
    if pixels.ndim == 2:
        pixels = pixels[np.newaxis]
    if pixels.shape != (frames, rows, cols):
        raise GeometryError(
            f"pixel data has shape {pixels.shape}, expected {(frames, rows, cols)} from "
            "NumberOfFrames/Rows/Columns",
            path=path,
            tag=tag_label("NumberOfFrames"),
            fix="the file is inconsistent: re-export it",
        )
    slope, intercept = value_transform(ds, path)
    volume = pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)
    image = sitk.GetImageFromArray(volume)
    image.SetOrigin(geom.origin)
    image.SetSpacing(geom.spacing)
    image.SetDirection(geom.direction)
    return image, geom.notes
