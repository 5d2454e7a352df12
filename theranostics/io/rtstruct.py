"""DICOM RT Structure Sets (RTSTRUCT): read the contours, rasterise them onto an image grid.

:func:`read_rtstruct` validates a file once and returns an :class:`RTStructSet` of
:class:`RTStructROI` (frozen; contour points in DICOM patient coordinates, LPS, mm).
:func:`rasterize_roi` and :func:`rasterize_rtstruct` turn ROIs into ``uint8`` masks on the grid
of any reference image (CT, SPECT, PET; axis-aligned or oblique).

Rasterisation rule (see ``docs/rtstruct.md`` for the reasoning and the measured accuracy):

1. The ROI's contours must lie in parallel planes (any orientation). Contours in one plane
   are combined with the **even-odd rule**: a contour inside another is a hole, as DICOM
   intends and as CLOSED_PLANAR_XOR states explicitly.
2. Each contour plane stands for a **slab** along its normal that reaches half-way to the
   neighbouring planes (capped at half the median plane spacing, so a gap in the stack is
   not bridged); the end planes reach half a spacing outwards. The slabs tile the structure
   exactly as the planimetric volume (sum of area x spacing) assumes.
3. A reference voxel is in the mask when its **centre** lies inside the structure so defined:
   the centre (mapped to LPS with the reference's origin, spacing and direction) selects the
   slab it falls in and is tested, projected onto that slab's plane, against the plane's
   polygons.

Voxel-centre sampling of one well-defined solid works the same for every grid: reference
slices between contour planes, grids coarser or finer than the contour spacing, and oblique
directions; it neither double counts nor leaves gaps between slabs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.errors import InvalidDicomError

from ..errors import GeometryError, InvalidTagError, MissingTagError, NotDicomError
from ..image import QuantitativeImage
from ..progress import ProgressCallback, report
from .contour_raster import plane_slabs, points_in_polygon

#: SOP Class UID of RT Structure Set Storage.
RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
#: Contour points farther than this from the patient origin (mm) cannot be on a patient: the
#: contour is dropped with a note (docs/ingest.md, Plausibility).
MAX_COORDINATE_MM = 1.0e4

#: Contour types that enclose an area (CLOSED_PLANAR_XOR is the explicit even-odd form).
CLOSED_TYPES = ("CLOSED_PLANAR", "CLOSED_PLANAR_XOR")
#: Contours of one ROI whose mean positions differ by less than this share a plane (mm).
PLANE_TOLERANCE_MM = 0.05
#: Largest angle between contour plane normals still treated as parallel (radians).
PARALLEL_TOLERANCE_RAD = 1e-3

_TAG_MODALITY = "Modality (0008,0060)"
_TAG_SOP_CLASS = "SOPClassUID (0008,0016)"
_TAG_SSROI = "StructureSetROISequence (3006,0020)"
_TAG_ROI_CONTOUR = "ROIContourSequence (3006,0039)"
_TAG_ROI_NUMBER = "ROINumber (3006,0022)"
_TAG_ROI_NAME = "ROIName (3006,0026)"
_TAG_CONTOUR_DATA = "ContourData (3006,0050)"
_TAG_REF_FOR = "ReferencedFrameOfReferenceUID (3006,0024)"


class ROIOutsideGridError(GeometryError):
    """The ROI does not overlap the reference grid: no voxel centre can be inside it."""


@dataclass(frozen=True, eq=False)
class RTStructROI:
    """One ROI of a structure set.

    Attributes:
        number: ROINumber (3006,0022).
        name: ROIName (3006,0026); ``"ROI <number>"`` when the file leaves it empty.
        color_rgb: ROIDisplayColor (3006,002A) as three integers 0-255, or ``None``.
        frame_of_reference_uid: ReferencedFrameOfReferenceUID (3006,0024) of the ROI.
        contours: closed planar contours, each a read-only ``(N, 3)`` float array of points
            in DICOM patient coordinates (LPS, mm), N >= 3, the closing edge implied.
        points: POINT contours (markers), each a read-only ``(1, 3)`` LPS mm array; they
            enclose no volume and are never rasterised.
        generation_algorithm: ROIGenerationAlgorithm (3006,0036) (``AUTOMATIC``, ``MANUAL`` ...).
        problems: non-fatal findings (ignored open contours, empty ROI ...).
    """

    number: int
    name: str
    color_rgb: tuple[int, int, int] | None
    frame_of_reference_uid: str | None
    contours: tuple[np.ndarray, ...] = ()
    points: tuple[np.ndarray, ...] = ()
    generation_algorithm: str = ""
    problems: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when the ROI has no closed contour, so its mask is empty."""
        return len(self.contours) == 0


@dataclass(frozen=True, eq=False)
class RTStructSet:
    """The ROIs of one RTSTRUCT file.

    Attributes:
        path: the file read.
        rois: ROIs in the order of StructureSetROISequence.
        frame_of_reference_uids: FrameOfReferenceUIDs of ReferencedFrameOfReferenceSequence.
        label: StructureSetLabel (3006,0002).
        series_instance_uid: SeriesInstanceUID of the structure set.
        problems: non-fatal findings about the file and every ROI, each naming its ROI.
    """

    path: str
    rois: tuple[RTStructROI, ...]
    frame_of_reference_uids: tuple[str, ...] = ()
    label: str = ""
    series_instance_uid: str | None = None
    problems: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """ROI names in file order."""
        return tuple(roi.name for roi in self.rois)

    def roi(self, name: str) -> RTStructROI:
        """The first ROI called ``name`` (exact match, then case-insensitive).

        Raises:
            MissingTagError: no ROI has that name; the message lists the names present.
        """
        for roi in self.rois:
            if roi.name == name:
                return roi
        for roi in self.rois:
            if roi.name.casefold() == name.casefold():
                return roi
        raise MissingTagError(
            f"no ROI named {name!r}",
            path=self.path,
            tag=_TAG_ROI_NAME,
            fix=f"use one of the ROI names in the file: {', '.join(self.names) or '(none)'}",
        )


# --------------------------------------------------------------------------------------------
# Reading


def read_rtstruct(path: str | Path) -> RTStructSet:
    """Read and validate an RTSTRUCT file; the file is only read, never changed.

    Contour points stay in DICOM patient coordinates (LPS, mm). Findings that do not stop the
    import (open or unknown contour types, point markers, empty ROIs, contours referring to an
    undefined ROI, a missing colour) are listed in ``problems`` of the set and of the ROI.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        NotDicomError: the file is not readable DICOM.
        InvalidTagError: the file is DICOM but not an RT Structure Set, or a tag is malformed
            (ROI number, contour data).
        MissingTagError: StructureSetROISequence or ROIContourSequence is absent.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such RTSTRUCT file")
    ds = _read_dataset(path)
    _check_is_rtstruct(ds, path)

    ssroi = ds.get("StructureSetROISequence")
    if ssroi is None:
        raise MissingTagError(
            "the structure set defines no ROIs",
            path=path,
            tag=_TAG_SSROI,
            fix="export the structure set again from the planning system with its ROIs",
        )
    contour_items = ds.get("ROIContourSequence")
    if contour_items is None:
        raise MissingTagError(
            "the structure set has no contours",
            path=path,
            tag=_TAG_ROI_CONTOUR,
            fix="export the structure set again with its contours (ROI Contour module)",
        )

    problems: list[str] = []
    headers = _roi_headers(ssroi, path)
    by_number: dict[int, dict] = {}
    for index, item in enumerate(contour_items):
        number = _int_value(item, "ReferencedROINumber", path, f"ROIContourSequence[{index}]")
        if number not in headers:
            problems.append(
                f"ROIContourSequence item {index} refers to ROI number {number}, which "
                f"StructureSetROISequence does not define; its contours are ignored"
            )
            continue
        by_number[number] = _read_contours(item, headers[number]["name"], path)

    rois = []
    for number, header in headers.items():
        found = by_number.get(number, {"contours": [], "points": [], "problems": [], "rgb": None})
        roi_problems = list(found["problems"])
        if not found["contours"]:
            roi_problems.append(f"ROI {header['name']!r} has no closed contour: its mask is empty")
        roi = RTStructROI(
            number=number,
            name=header["name"],
            color_rgb=found["rgb"],
            frame_of_reference_uid=header["for_uid"],
            contours=tuple(found["contours"]),
            points=tuple(found["points"]),
            generation_algorithm=header["algorithm"],
            problems=tuple(header["problems"] + roi_problems),
        )
        rois.append(roi)
        problems.extend(roi.problems)

    names = [roi.name for roi in rois]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"ROI name {name!r} is used by more than one ROI")

    for_uids = tuple(
        str(item.FrameOfReferenceUID)
        for item in ds.get("ReferencedFrameOfReferenceSequence", [])
        if item.get("FrameOfReferenceUID")
    )
    rois, for_problems = _check_frames_of_reference(rois, for_uids)
    problems.extend(for_problems)
    return RTStructSet(
        path=str(path),
        rois=tuple(rois),
        frame_of_reference_uids=for_uids,
        label=str(ds.get("StructureSetLabel", "") or ""),
        series_instance_uid=str(ds.SeriesInstanceUID) if ds.get("SeriesInstanceUID") else None,
        problems=tuple(problems),
    )


def _check_frames_of_reference(
    rois: list[RTStructROI], for_uids: tuple[str, ...]
) -> tuple[list[RTStructROI], list[str]]:
    """Each ROI's ReferencedFrameOfReferenceUID against the set's declared frames.

    A missing ROI frame is taken from the set when it declares exactly one (noted); an ROI
    frame the set does not declare, or no frame anywhere, is a problem: the contours cannot
    be checked against the image they are used on.
    """
    problems: list[str] = []
    if not for_uids:
        problems.append(
            "the structure set has no ReferencedFrameOfReferenceSequence (3006,0010): its "
            "contours cannot be checked against the image's frame of reference"
        )
    out = []
    for roi in rois:
        roi_for = roi.frame_of_reference_uid
        if roi_for is None and len(for_uids) == 1:
            note = (
                f"ROI {roi.name!r} has no ReferencedFrameOfReferenceUID: the structure "
                f"set's frame {for_uids[0]} is used"
            )
            roi = dataclasses.replace(
                roi, frame_of_reference_uid=for_uids[0], problems=(*roi.problems, note)
            )
            problems.append(note)
        elif roi_for is None:
            problems.append(f"ROI {roi.name!r} has no ReferencedFrameOfReferenceUID {_TAG_REF_FOR}")
        elif for_uids and roi_for not in for_uids:
            note = (
                f"ROI {roi.name!r} refers to frame of reference {roi_for}, which the structure "
                f"set does not declare ({', '.join(for_uids)})"
            )
            roi = dataclasses.replace(roi, problems=(*roi.problems, note))
            problems.append(note)
        out.append(roi)
    return out, problems


def _read_dataset(path: Path) -> pydicom.Dataset:
    """Parse the file with pydicom, accepting files without the 128-byte preamble."""
    fix = "pass the RTSTRUCT .dcm file exported by the planning or contouring system"
    if path.is_dir():
        raise NotDicomError(
            "is a folder, not an RTSTRUCT file",
            path=path,
            tag="DICOM file (PS3.10)",
            fix=fix,
        )
    try:
        return pydicom.dcmread(str(path))
    except InvalidDicomError:
        pass  # maybe DICOM without the preamble: try once more, then judge by the content
    except Exception as exc:  # truncated or corrupt files raise many different types
        raise NotDicomError(
            f"cannot be parsed as DICOM ({exc})", path=path, tag="DICOM file (PS3.10)", fix=fix
        ) from exc
    try:
        ds = pydicom.dcmread(str(path), force=True)
        if "SOPClassUID" in ds or "Modality" in ds:
            return ds
    except Exception:
        pass  # reported below with the same message as an unrecognised file
    raise NotDicomError(
        "is not a DICOM file (no 'DICM' prefix after the 128-byte preamble, and no DICOM "
        "data elements)",
        path=path,
        tag="DICOM preamble and prefix (PS3.10 7.1)",
        fix=fix,
    )


def _check_is_rtstruct(ds: pydicom.Dataset, path: Path) -> None:
    sop_class = str(ds.get("SOPClassUID", "") or "")
    modality = str(ds.get("Modality", "") or "").strip()
    if sop_class == RT_STRUCTURE_SET_STORAGE or (not sop_class and modality == "RTSTRUCT"):
        return
    raise InvalidTagError(
        f"is not an RT Structure Set (Modality {modality or 'absent'!r}, SOP Class UID "
        f"{sop_class or 'absent'!r}; expected RTSTRUCT, {RT_STRUCTURE_SET_STORAGE})",
        path=path,
        tag=f"{_TAG_MODALITY} / {_TAG_SOP_CLASS}",
        fix="pass the RTSTRUCT file of the study (Modality RTSTRUCT), not an image file",
    )


def _int_value(item: pydicom.Dataset, keyword: str, path: Path, where: str) -> int:
    value = item.get(keyword)
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidTagError(
            f"{where}: {keyword} is {value!r}, not an integer",
            path=path,
            tag=keyword,
            fix="correct the structure set in the contouring system and export it again",
        ) from exc


def _roi_headers(ssroi, path: Path) -> dict[int, dict]:
    """ROI number -> name, frame of reference, algorithm and problems, in file order."""
    headers: dict[int, dict] = {}
    for index, item in enumerate(ssroi):
        number = _int_value(item, "ROINumber", path, f"StructureSetROISequence[{index}]")
        if number in headers:
            raise InvalidTagError(
                f"ROI number {number} is defined twice",
                path=path,
                tag=_TAG_ROI_NUMBER,
                fix="give every ROI a distinct number in the contouring system",
            )
        name = str(item.get("ROIName", "") or "").strip()
        problems = []
        if not name:
            name = f"ROI {number}"
            problems.append(f"ROI number {number} has no ROIName; called {name!r}")
        for_uid = item.get("ReferencedFrameOfReferenceUID")
        headers[number] = {
            "name": name,
            "for_uid": str(for_uid) if for_uid else None,
            "algorithm": str(item.get("ROIGenerationAlgorithm", "") or ""),
            "problems": problems,
        }
    return headers


def _read_contours(item: pydicom.Dataset, name: str, path: Path) -> dict:
    """Closed contours, point markers, colour and problems of one ROIContourSequence item."""
    problems: list[str] = []
    rgb = None
    color = item.get("ROIDisplayColor")
    if color is not None:
        try:
            values = tuple(int(c) for c in color)
        except (TypeError, ValueError):
            values = ()
        if len(values) == 3 and all(0 <= c <= 255 for c in values):
            rgb = values
        else:
            problems.append(f"ROI {name!r}: ROIDisplayColor {list(color)!r} is not 3 values 0-255")

    contours: list[np.ndarray] = []
    points: list[np.ndarray] = []
    ignored: dict[str, list[int]] = {}
    for index, contour in enumerate(item.get("ContourSequence", [])):
        kind = str(contour.get("ContourGeometricType", "") or "").strip().upper()
        xyz = _contour_points(contour, name, index, path)
        if np.any(np.abs(xyz) > MAX_COORDINATE_MM):
            problems.append(
                f"ROI {name!r}: contour {index} has a point {np.abs(xyz).max():.3g} mm from "
                f"the origin (beyond {MAX_COORDINATE_MM:g} mm, outside any patient), ignored"
            )
            continue
        if kind in CLOSED_TYPES:
            if len(xyz) < 3:
                problems.append(
                    f"ROI {name!r}: closed contour {index} has {len(xyz)} points (< 3), ignored"
                )
                continue
            contours.append(xyz)
        elif kind == "POINT":
            points.append(xyz[:1])
        else:
            key = kind or "(no ContourGeometricType)"
            ignored.setdefault(key, []).append(index)
    for kind, indices in ignored.items():
        problems.append(
            f"ROI {name!r}: {len(indices)} {kind} contour(s) ignored (contour "
            f"{', '.join(str(i) for i in indices[:20])}{' ...' if len(indices) > 20 else ''}): "
            "only CLOSED_PLANAR contours enclose a volume"
        )
    if points:
        problems.append(f"ROI {name!r}: {len(points)} POINT marker(s) kept, not rasterised")
    return {"contours": contours, "points": points, "problems": problems, "rgb": rgb}


def _contour_points(contour: pydicom.Dataset, name: str, index: int, path: Path) -> np.ndarray:
    data = contour.get("ContourData")
    where = f"ROI {name!r} contour {index}"
    try:
        flat = np.asarray([float(v) for v in (data if data is not None else [])], dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidTagError(
            f"{where}: contour data is not numeric",
            path=path,
            tag=_TAG_CONTOUR_DATA,
            fix="correct the contour in the contouring system and export again",
        ) from exc
    if flat.size == 0 or flat.size % 3 or not np.all(np.isfinite(flat)):
        raise InvalidTagError(
            f"{where}: contour data has {flat.size} values; expected a non-empty list of "
            f"finite x, y, z triplets",
            path=path,
            tag=_TAG_CONTOUR_DATA,
            fix="correct the contour in the contouring system and export again",
        )
    xyz = flat.reshape(-1, 3)
    xyz.flags.writeable = False
    return xyz


# --------------------------------------------------------------------------------------------
# Rasterisation


@dataclass(frozen=True, eq=False)
class _PlaneStack:
    """An ROI's contours grouped into parallel planes (all vectors in LPS)."""

    normal: np.ndarray  # unit normal
    e1: np.ndarray  # in-plane unit vectors: (e1, e2, normal) is right-handed
    e2: np.ndarray
    positions_mm: np.ndarray  # plane positions along the normal, increasing
    polygons: tuple[tuple[np.ndarray, ...], ...]  # per plane: (M, 2) in-plane (u, v) mm


def rasterize_roi(
    roi: RTStructROI,
    reference: sitk.Image | QuantitativeImage,
    *,
    progress: ProgressCallback | None = None,
) -> sitk.Image:
    """The ROI as a ``uint8`` mask (1 inside, 0 outside) on the reference grid.

    Uses the rule in the module docstring: voxel centres inside the slab-extruded contours,
    even-odd within a plane. The mask has the reference's size, origin, spacing and direction
    (LPS). An empty ROI gives an all-zero mask (it is flagged in ``roi.problems``).

    Args:
        roi: an ROI of :func:`read_rtstruct`.
        reference: the grid; a :class:`QuantitativeImage` also has its FrameOfReferenceUID
            checked against the ROI's.
        progress: optional callback (fraction, message).

    Raises:
        GeometryError: the reference is not 3D, the ROI's contours are not parallel, the
            frames of reference differ, or the ROI does not overlap the reference grid.
    """
    image = _reference_image(reference, roi)
    size = image.GetSize()
    mask = np.zeros(size[::-1], dtype=np.uint8)
    if not roi.is_empty:
        _fill(mask, roi, image, progress)
    out = sitk.GetImageFromArray(mask)
    out.CopyInformation(image)
    report(progress, 1.0, f"{roi.name}: done")
    return out


def rasterize_rtstruct(
    struct: RTStructSet,
    reference: sitk.Image | QuantitativeImage,
    names: list[str] | tuple[str, ...] | None = None,
    *,
    allow_outside: bool = False,
    progress: ProgressCallback | None = None,
) -> dict[str, sitk.Image]:
    """Masks of several ROIs on one reference grid, keyed by ROI name in file order.

    Args:
        struct: from :func:`read_rtstruct`.
        reference: the grid (see :func:`rasterize_roi`).
        names: ROIs to rasterise (exact or case-insensitive names); ``None`` means all.
        allow_outside: give an all-zero mask instead of raising for an ROI that does not
            overlap the reference (useful for a SPECT field of view shorter than the CT).
        progress: optional callback (fraction, message).

    A name used by several ROIs is keyed ``"<name> [<ROI number>]"`` from its second use on.

    Raises:
        MissingTagError: a requested name is not in the file.
        GeometryError: see :func:`rasterize_roi`.
    """
    rois = list(struct.rois) if names is None else [struct.roi(n) for n in names]
    masks: dict[str, sitk.Image] = {}
    for index, roi in enumerate(rois):
        key = roi.name if roi.name not in masks else f"{roi.name} [{roi.number}]"
        report(progress, index / max(len(rois), 1), f"rasterising {roi.name}")
        try:
            masks[key] = rasterize_roi(roi, reference)
        except GeometryError as exc:
            if not (allow_outside and isinstance(exc, ROIOutsideGridError)):
                raise
            image = reference.image if isinstance(reference, QuantitativeImage) else reference
            empty = sitk.Image(image.GetSize(), sitk.sitkUInt8)
            empty.CopyInformation(image)
            masks[key] = empty
    report(progress, 1.0, "rasterised")
    return masks


def _reference_image(reference: sitk.Image | QuantitativeImage, roi: RTStructROI) -> sitk.Image:
    if isinstance(reference, QuantitativeImage):
        ref_for = reference.meta.frame_of_reference_uid
        if ref_for and roi.frame_of_reference_uid and ref_for != roi.frame_of_reference_uid:
            raise GeometryError(
                f"ROI {roi.name!r} is in frame of reference {roi.frame_of_reference_uid}, the "
                f"reference image in {ref_for}: the coordinates do not describe the same space",
                path=(reference.meta.source_files or (None,))[0],
                tag=_TAG_REF_FOR,
                fix="register the image to the structure set's frame of reference first, or "
                "pass reference.image to skip this check when the frames are known to match",
            )
        reference = reference.image
    if reference.GetDimension() != 3:
        raise GeometryError(
            f"reference image is {reference.GetDimension()}D; RTSTRUCT masks need a 3D grid",
            tag="reference image",
            fix="pass the 3D CT/PET/SPECT volume the structure set was drawn on (or a 3D grid)",
        )
    return reference


def _plane_stack(roi: RTStructROI) -> _PlaneStack:
    """Group contours into parallel planes and express them in in-plane coordinates."""
    normals = []
    for xyz in roi.contours:
        centred = xyz - xyz.mean(axis=0)
        nxt = np.roll(centred, -1, axis=0)
        normals.append(0.5 * np.cross(centred, nxt).sum(axis=0))  # Newell: area-weighted normal
    areas = np.array([np.linalg.norm(n) for n in normals])
    if not np.any(areas > 0):
        raise GeometryError(
            f"ROI {roi.name!r}: every contour has zero area (collinear points)",
            tag=_TAG_CONTOUR_DATA,
            fix="check the contours in the contouring system",
        )
    normal = normals[int(np.argmax(areas))] / areas.max()
    normal = normal if normal[np.argmax(np.abs(normal))] > 0 else -normal

    by_plane: dict[int, list] = {}
    offsets = []
    kept = []
    for xyz, n, area in zip(roi.contours, normals, areas):
        if area == 0:
            continue  # a degenerate contour encloses nothing
        sin_angle = min(1.0, float(np.linalg.norm(np.cross(n / area, normal))))
        if sin_angle > PARALLEL_TOLERANCE_RAD:
            raise GeometryError(
                f"ROI {roi.name!r}: contours lie in planes {math.degrees(math.asin(sin_angle)):.1f}"
                f" degrees apart; the rasteriser needs parallel contour planes",
                tag=_TAG_CONTOUR_DATA,
                fix="split the ROI so that each part is contoured in one orientation",
            )
        offsets.append(float(xyz.mean(axis=0) @ normal))
        kept.append(xyz)

    axis = np.eye(3)[int(np.argmin(np.abs(normal)))]
    e1 = np.cross(normal, axis)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(normal, e1)

    order = np.argsort(offsets)
    positions: list[float] = []
    for idx in order:
        if not positions or offsets[idx] - positions[-1] > PLANE_TOLERANCE_MM:
            positions.append(offsets[idx])
            by_plane[len(positions) - 1] = []
        by_plane[len(positions) - 1].append(np.column_stack((kept[idx] @ e1, kept[idx] @ e2)))
    polygons = tuple(tuple(by_plane[i]) for i in range(len(positions)))
    return _PlaneStack(normal, e1, e2, np.asarray(positions), polygons)


def _index_to_lps(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """``(origin, M)`` with ``lps = origin + M @ (i, j, k)``: M = direction @ diag(spacing)."""
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    matrix = direction @ np.diag(image.GetSpacing())
    return np.asarray(image.GetOrigin(), dtype=float), matrix


def _fill(
    mask: np.ndarray, roi: RTStructROI, image: sitk.Image, progress: ProgressCallback | None
) -> None:
    """Set mask[k, j, i] = 1 for voxel centres inside the ROI (rule in the module docstring)."""
    stack = _plane_stack(roi)
    origin, matrix = _index_to_lps(image)
    # Spacing of the reference along the normal: the thickness of a single-plane ROI.
    step = np.abs(np.linalg.solve(matrix, stack.normal)).max()
    below, above = plane_slabs(stack.positions_mm, 1.0 / step)
    midpoints = 0.5 * (stack.positions_mm[:-1] + stack.positions_mm[1:])

    lo, hi = _candidate_box(roi, stack, below, above, image)
    ii, jj = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), indexing="xy")
    ii, jj = ii.ravel(), jj.ravel()
    in_plane = origin + np.outer(ii, matrix[:, 0]) + np.outer(jj, matrix[:, 1])
    n_slices = hi[2] - lo[2] + 1
    for count, k in enumerate(range(lo[2], hi[2] + 1)):
        lps = in_plane + k * matrix[:, 2]
        s = lps @ stack.normal
        plane = np.searchsorted(midpoints, s, side="right")
        in_slab = (s >= stack.positions_mm[plane] - below[plane]) & (
            s < stack.positions_mm[plane] + above[plane]
        )
        for p in np.unique(plane[in_slab]):
            selected = np.flatnonzero(in_slab & (plane == p))
            u = lps[selected] @ stack.e1
            v = lps[selected] @ stack.e2
            inside = np.zeros(selected.size, dtype=bool)
            for poly in stack.polygons[p]:
                near = (
                    (u >= poly[:, 0].min())
                    & (u <= poly[:, 0].max())
                    & (v >= poly[:, 1].min())
                    & (v <= poly[:, 1].max())
                )
                if near.any():
                    inside[near] ^= points_in_polygon(u[near], v[near], poly[:, 0], poly[:, 1])
            hit = selected[inside]
            mask[k, jj[hit], ii[hit]] = 1
        report(progress, (count + 1) / n_slices, f"{roi.name}: slice {count + 1}/{n_slices}")


def _candidate_box(
    roi: RTStructROI,
    stack: _PlaneStack,
    below: np.ndarray,
    above: np.ndarray,
    image: sitk.Image,
) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive (i, j, k) index range of voxels whose centres may lie in the ROI."""
    points = np.concatenate(roi.contours)
    low, high = points.min(axis=0), points.max(axis=0)
    corners = np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1])
                        for z in (low[2], high[2])])  # fmt: skip
    reach = max(below.max(), above.max())
    corners = np.concatenate([corners + d * reach * stack.normal for d in (-1.0, 0.0, 1.0)])
    index = np.array([image.TransformPhysicalPointToContinuousIndex(c.tolist()) for c in corners])
    size = np.array(image.GetSize())
    lo = np.maximum(np.ceil(index.min(axis=0) - 1e-9), 0).astype(int)
    hi = np.minimum(np.floor(index.max(axis=0) + 1e-9), size - 1).astype(int)
    if np.any(lo > hi):
        bounds_low = image.TransformContinuousIndexToPhysicalPoint([-0.5] * 3)
        bounds_high = image.TransformContinuousIndexToPhysicalPoint((size - 0.5).tolist())
        raise ROIOutsideGridError(
            f"ROI {roi.name!r} (LPS {np.round(low, 1).tolist()} to {np.round(high, 1).tolist()}"
            f" mm) does not overlap the reference grid (LPS {np.round(bounds_low, 1).tolist()}"
            f" to {np.round(bounds_high, 1).tolist()} mm)",
            tag=_TAG_CONTOUR_DATA,
            fix="rasterise onto the image the structure set was drawn on, or one that covers "
            "the ROI (same frame of reference)",
        )
    return lo, hi
