"""Binary masks to a DICOM Segmentation (SEG) object that references its source series
(highdicom).

One segment per mask, in the order of the ``masks`` dictionary. By default masks must lie on the
grid of the source series (the image they were drawn on); masks on another grid are refused, or
resampled nearest-neighbour with ``resample=True`` (the SEG's ContentDescription then says so).
With ``grid="masks"`` the SEG keeps the masks' own grid (e.g. the 4.8 mm SPECT grid of a
dosimetry): its frames carry their own plane positions, orientation and pixel measures, in the
frame of reference of the source series, which it still references. That is 8 times fewer
voxels than the 2.4 mm CT grid and no resampling (docs/dicom-export.md).

Only frames that hold a segment are written (``omit_empty_frames``); BINARY rather than
LABELMAP (DICOM 2024, Supplement 243) because Slicer 5.12's DICOM SEG import (dcmqi), and many
other readers, do not read LABELMAP yet.
Source images are single-frame CT, PET or MR slices: legacy NM multi-frame files keep their
geometry in DetectorInformationSequence, which highdicom cannot reference frame by frame, so
a SPECT segmentation references the CT of the same session (same FrameOfReferenceUID)
instead. See docs/dicom-export.md for codes, colours and limits.

UIDs derive from the content (masks, names, source SOP Instance UIDs), so the same input gives
the same UIDs; dates and times are the run time unless ``content_datetime`` is given.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .. import __version__
from ..errors import GeometryError, InputError
from .dicom_images import slice_stack_geometry
from .export_common import (
    check_one_series,
    derived_uid,
    pin_times,
    read_headers,
    save_atomic,
)

logger = logging.getLogger(__name__)

SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
ALGORITHM_TYPES = ("AUTOMATIC", "SEMIAUTOMATIC", "MANUAL")
#: Segment labels are LO (64 characters at most).
MAX_LABEL_LENGTH = 64
#: Geometry tolerances when comparing a mask grid with the source grid.
ORIGIN_TOLERANCE_MM = 1e-3
DIRECTION_TOLERANCE = 1e-5

#: Structure name prefix -> SNOMED CT code (value, meaning) of the segmented property type,
#: category Anatomical Structure (SCT 91723000). Only codes listed in DICOM PS3.16 CID 7154
#: / 7192 / 8134 as shipped with pydicom's concept dictionary.
ORGAN_CODES: dict[str, tuple[str, str]] = {
    "kidney": ("64033007", "Kidney"),
    "liver": ("10200004", "Liver"),
    "spleen": ("78961009", "Spleen"),
    "lung": ("39607008", "Lung"),
    "bladder": ("89837001", "Bladder"),
    "parotid": ("45289007", "Parotid gland"),
    "submandibular": ("54019009", "Submandibular gland"),
    "salivary": ("385294005", "Salivary gland"),
    "lacrimal": ("13561001", "Lacrimal gland"),
    "red_marrow": ("14016003", "Bone Marrow"),
    "bone_marrow": ("14016003", "Bone Marrow"),
    "cortical_bone": ("272673000", "Bone"),
    "bone": ("272673000", "Bone"),
}
LESION_CATEGORY = ("49755003", "Morphologically Abnormal Structure")
LESION_TYPE = ("52988006", "Lesion")
ANATOMY_CATEGORY = ("91723000", "Anatomical Structure")
TISSUE = ("85756007", "Tissue")
LATERALITY = {"left": ("7771000", "Left"), "right": ("24028007", "Right")}

#: Default display colours (sRGB 0-255): organs by prefix, lesions cycle through a palette.
ORGAN_COLORS = {
    "kidney": (185, 102, 83),
    "liver": (221, 130, 101),
    "spleen": (157, 108, 162),
    "lung": (197, 165, 145),
    "bladder": (222, 198, 101),
    "parotid": (230, 158, 140),
    "submandibular": (216, 132, 105),
    "salivary": (230, 158, 140),
    "lacrimal": (200, 150, 130),
    "red_marrow": (255, 255, 207),
    "bone_marrow": (255, 255, 207),
    "cortical_bone": (241, 214, 145),
    "bone": (241, 214, 145),
}
LESION_PALETTE = (
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (0, 128, 128),
)
TISSUE_COLOR = (128, 174, 128)


def write_seg(
    path: str | Path,
    masks: Mapping[str, sitk.Image],
    source_files: Sequence[str | Path],
    *,
    series_description: str = "Lesions",
    segment_info: Mapping[str, Mapping] | None = None,
    algorithm: str = "Theranostics",
    algorithm_version: str = __version__,
    algorithm_type: str = "SEMIAUTOMATIC",
    manufacturer: str = "Theranostics",
    series_number: int = 300,
    resample: bool = False,
    grid: str = "source",
    content_datetime: datetime | None = None,
) -> Path | None:
    """Write binary masks as one DICOM SEG (BINARY, one segment per mask).

    Args:
        path: the output file (written atomically).
        masks: segment label -> binary mask (values 0/1, any integer or bool pixel type) on
            the grid of the source series, LPS. The dictionary order is the segment order.
        source_files: the DICOM files of the image the masks were drawn on (single-frame CT,
            PET or MR slices of one series, any order).
        series_description: SeriesDescription of the SEG.
        segment_info: optional per label: ``category`` ("lesion", "organ" or "tissue";
            default from the name: ``lesion*`` -> lesion, a known organ prefix -> organ, else
            tissue), ``color`` (sRGB 0-255 triple), ``algorithm_type`` (AUTOMATIC,
            SEMIAUTOMATIC, MANUAL), ``property_type`` ((value, scheme, meaning) overriding
            the code table), ``tracking_uid``.
        algorithm: name of the algorithm (Segment Algorithm Name and Algorithm
            Identification; not written for MANUAL segments).
        algorithm_version: its version.
        algorithm_type: default Segment Algorithm Type.
        manufacturer: Manufacturer of the SEG (the software that made it).
        series_number: SeriesNumber of the SEG.
        resample: masks on another grid than the source series are resampled
            nearest-neighbour onto it (recorded in ContentDescription); otherwise refused.
        grid: ``"source"`` (the masks on the source series' grid, see ``resample``) or
            ``"masks"``: the SEG is written on the masks' own grid, which must lie in the
            source series' frame of reference (e.g. the SPECT grid of the same SPECT/CT
            session); ``resample`` is then ignored.
        content_datetime: Series/Content/InstanceCreation date and time; default now.

    Returns:
        The path written, or ``None`` when ``masks`` is empty: a SEG needs at least one
        segment (PS3.3 C.8.20.2, Segment Sequence is type 1), so an empty lesion set gives no
        SEG and the caller writes only its table.

    Raises:
        InputError: a mask is not binary, a label is empty or too long, a segment_info entry
            is invalid, source files are missing or mix series, or the source is multi-frame.
        GeometryError: masks on different grids, or not on the source grid and
            ``resample`` is false.
    """
    if not masks:
        logger.info("write_seg: no masks, no SEG written to %s (a SEG needs a segment)", path)
        return None
    import highdicom as hd

    segment_info = dict(segment_info or {})
    _check_labels(masks, segment_info)
    if grid not in ("source", "masks"):
        raise InputError(f"grid {grid!r} is not 'source' or 'masks'", fix="use one of them")
    if str(algorithm_type).upper() not in ALGORITHM_TYPES:
        raise InputError(
            f"algorithm_type {algorithm_type!r} is not one of {ALGORITHM_TYPES}",
            fix="use AUTOMATIC, SEMIAUTOMATIC or MANUAL",
        )
    files = [str(f) for f in source_files]
    headers = read_headers(files, what="source image")
    check_one_series(headers, files, "source image")
    _check_single_frame(headers, files)
    geom = slice_stack_geometry(headers, files)
    reference = sitk.Image([int(v) for v in geom.size], sitk.sitkUInt8)
    reference.SetOrigin(geom.origin)
    reference.SetSpacing(geom.spacing)
    reference.SetDirection(geom.direction)

    names = list(masks)
    first = masks[names[0]]
    for name in names:
        if not isinstance(masks[name], sitk.Image) or masks[name].GetDimension() != 3:
            raise InputError(
                f"mask {name!r} is not a 3D SimpleITK image", fix="pass sitk.Image masks"
            )
        if not same_grid(masks[name], first):
            raise GeometryError(
                f"mask {name!r} is on another grid than mask {names[0]!r}",
                fix="resample all masks onto one grid (the source image's) first",
            )
    notes = []
    own_grid = grid == "masks" and not same_grid(first, reference)
    if own_grid:
        notes.append(
            f"on the masks' {'x'.join(map(str, first.GetSize()))} grid at "
            f"{_fmt(first.GetSpacing())} mm"
        )
    elif not same_grid(first, reference):
        if not resample:
            raise GeometryError(
                "the masks are not on the grid of the source series "
                f"(mask size {first.GetSize()}, spacing {_fmt(first.GetSpacing())} mm, origin "
                f"{_fmt(first.GetOrigin())}; source size {reference.GetSize()}, spacing "
                f"{_fmt(reference.GetSpacing())} mm, origin {_fmt(reference.GetOrigin())})",
                path=files[0],
                fix="pass the files of the image the masks were drawn on, or resample=True to "
                "resample the masks nearest-neighbour onto the source grid",
            )
        notes.append(
            "masks resampled nearest-neighbour from a "
            f"{'x'.join(map(str, first.GetSize()))} grid at {_fmt(first.GetSpacing())} mm"
        )
        logger.warning("write_seg: %s", notes[-1])

    arrays = []
    for name in names:
        image = masks[name]
        if notes and not own_grid:
            image = sitk.Resample(
                image, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, image.GetPixelID()
            )
        arrays.append(_binary_array(image, name))
    pixel_array = np.stack(arrays, axis=-1)  # (k, j, i, segment), slices in geom.order
    sources = [headers[i] for i in geom.order]

    content_uid_parts = [
        "SEG",
        series_description,
        *(h.SOPInstanceUID for h in sources),
        *names,
        np.packbits(pixel_array).tobytes(),
    ]
    if own_grid:  # the same voxels on another grid are another segmentation
        content_uid_parts.append(
            repr((first.GetOrigin(), first.GetSpacing(), first.GetDirection(), first.GetSize()))
        )
    sop_uid = derived_uid(*content_uid_parts)
    descriptions = [
        _segment_description(
            hd,
            number,
            name,
            segment_info.get(name, {}),
            algorithm,
            algorithm_version,
            str(algorithm_type).upper(),
            derived_uid(sop_uid, "segment", name),
        )
        for number, name in enumerate(names, start=1)
    ]
    # ContentDescription is LO (64 characters): the resampling note wins over the summary
    if own_grid:
        content_description = f"{len(names)} segment(s) on their own grid, {algorithm}"
    elif notes:
        content_description = "masks resampled nearest-neighbour onto the source grid"
    else:
        content_description = f"{len(names)} segment(s) by {algorithm} {algorithm_version}"
    geometry = _plane_geometry(hd, first) if own_grid else {}
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=pixel_array,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=derived_uid(sop_uid, "series"),
        series_number=int(series_number),
        sop_instance_uid=sop_uid,
        instance_number=1,
        manufacturer=manufacturer,
        manufacturer_model_name=algorithm,
        software_versions=f"theranostics {__version__}",
        device_serial_number="0",
        content_description=content_description[:64],
        content_label="SEGMENTATION",
        # an all-empty segment keeps one empty frame so that the object stays readable
        omit_empty_frames=bool(pixel_array.any()),
        **geometry,
    )
    seg.SeriesDescription = series_description
    _pin_times_and_uids(seg, content_datetime or datetime.now(), sop_uid)
    return save_atomic(seg, path)


def _plane_geometry(hd, image: sitk.Image) -> dict:
    """highdicom's plane positions, orientation and pixel measures of ``image``'s slices
    (LPS: DICOM's patient coordinate system), for a SEG on a grid of its own."""
    direction = np.array(image.GetDirection()).reshape(3, 3)
    if np.dot(np.cross(direction[:, 0], direction[:, 1]), direction[:, 2]) < 0.99:
        raise GeometryError(
            "the masks' grid is not a right-handed stack of slices",
            fix="resample the masks onto a right-handed grid, or write them on the source grid",
        )
    spacing = image.GetSpacing()
    patient = hd.CoordinateSystemNames.PATIENT
    positions = [
        hd.PlanePositionSequence(patient, image.TransformIndexToPhysicalPoint((0, 0, k)))
        for k in range(image.GetSize()[2])
    ]
    return {
        "plane_positions": positions,
        "plane_orientation": hd.PlaneOrientationSequence(
            patient, [float(v) for v in (*direction[:, 0], *direction[:, 1])]
        ),
        "pixel_measures": hd.PixelMeasuresSequence(
            pixel_spacing=(float(spacing[1]), float(spacing[0])),
            slice_thickness=float(spacing[2]),
            spacing_between_slices=float(spacing[2]),
        ),
    }


def same_grid(a: sitk.Image, b: sitk.Image) -> bool:
    """True when two images have the same size, spacing, origin and direction (within
    :data:`ORIGIN_TOLERANCE_MM` and :data:`DIRECTION_TOLERANCE`)."""
    return (
        tuple(a.GetSize()) == tuple(b.GetSize())
        and np.allclose(a.GetSpacing(), b.GetSpacing(), atol=ORIGIN_TOLERANCE_MM, rtol=0)
        and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=ORIGIN_TOLERANCE_MM, rtol=0)
        and np.allclose(a.GetDirection(), b.GetDirection(), atol=DIRECTION_TOLERANCE, rtol=0)
    )


def segment_codes(name: str, category: str | None = None) -> dict[str, tuple[str, str, str]]:
    """Segmented property category, type and (for ``*_left``/``*_right``) type modifier of a
    structure name, as (value, scheme, meaning) triples. ``category`` is "lesion", "organ" or
    "tissue"; by default it is guessed from the name (see :func:`write_seg`)."""
    lowered = name.lower()
    organ = next((v for k, v in ORGAN_CODES.items() if lowered.startswith(k)), None)
    if category is None:
        category = "lesion" if lowered.startswith("lesion") else "organ" if organ else "tissue"
    if category == "lesion":
        result = {"category": ("SCT", *LESION_CATEGORY), "type": ("SCT", *LESION_TYPE)}
    elif category == "organ" and organ is not None:
        result = {"category": ("SCT", *ANATOMY_CATEGORY), "type": ("SCT", *organ)}
    elif category in ("organ", "tissue"):
        result = {"category": ("SCT", *TISSUE), "type": ("SCT", *TISSUE)}
    else:
        raise InputError(
            f"segment {name!r}: category {category!r} is not lesion, organ or tissue",
            tag="segment_info.category",
            fix="use 'lesion', 'organ' or 'tissue'",
        )
    for side, code in LATERALITY.items():
        if result["type"][1] != TISSUE[0] and (
            lowered.endswith("_" + side) or f"_{side}_" in lowered
        ):
            result["modifier"] = ("SCT", *code)
    return {k: (v[1], v[0], v[2]) for k, v in result.items()}  # (value, scheme, meaning)


def _segment_description(hd, number, name, info, algorithm, version, default_type, uid):
    codes = segment_codes(name, info.get("category"))
    if "property_type" in info:
        value, scheme, meaning = info["property_type"]
        codes["type"] = (str(value), str(scheme), str(meaning))
        codes.pop("modifier", None)
    algorithm_type = str(info.get("algorithm_type", default_type)).upper()
    if algorithm_type not in ALGORITHM_TYPES:
        raise InputError(
            f"segment {name!r}: algorithm_type {algorithm_type!r} is not one of {ALGORITHM_TYPES}",
            tag="segment_info.algorithm_type",
            fix="use AUTOMATIC, SEMIAUTOMATIC or MANUAL",
        )
    identification = None
    if algorithm_type != "MANUAL":
        from pydicom.sr.codedict import codes as dcm_codes

        identification = hd.AlgorithmIdentificationSequence(
            name=algorithm,
            family=dcm_codes.cid7162.NeighborhoodAnalysis,
            version=str(version),
        )
    description = hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=name,
        segmented_property_category=hd.sr.CodedConcept(*codes["category"]),
        segmented_property_type=hd.sr.CodedConcept(*codes["type"]),
        algorithm_type=algorithm_type,
        algorithm_identification=identification,
        tracking_uid=str(info.get("tracking_uid", uid)),
        tracking_id=name,
        display_color=hd.color.CIELabColor.from_rgb(*_color(name, number, info)),
    )
    if "modifier" in codes:
        description.SegmentedPropertyTypeCodeSequence[
            0
        ].SegmentedPropertyTypeModifierCodeSequence = [hd.sr.CodedConcept(*codes["modifier"])]
    return description


def _color(name: str, number: int, info: Mapping) -> tuple[int, int, int]:
    if "color" in info:
        rgb = tuple(info["color"])
        if len(rgb) != 3 or not all(0 <= float(c) <= 255 for c in rgb):
            raise InputError(
                f"segment {name!r}: color {info['color']!r} is not three values in 0-255",
                tag="segment_info.color",
                fix="give an sRGB triple such as (230, 25, 75)",
            )
        return tuple(round(float(c)) for c in rgb)
    lowered = name.lower()
    if lowered.startswith("lesion") or info.get("category") == "lesion":
        return LESION_PALETTE[(number - 1) % len(LESION_PALETTE)]
    return next((c for k, c in ORGAN_COLORS.items() if lowered.startswith(k)), TISSUE_COLOR)


def _check_labels(masks: Mapping, segment_info: Mapping) -> None:
    for name in masks:
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_LABEL_LENGTH:
            raise InputError(
                f"segment label {name!r} is empty, not text or longer than "
                f"{MAX_LABEL_LENGTH} characters",
                tag="SegmentLabel (0062,0005)",
                fix="use short structure names such as 'lesion_01' or 'kidney_left'",
            )
    unknown = sorted(set(segment_info) - set(masks))
    if unknown:
        raise InputError(
            f"segment_info names {unknown} that are not masks ({sorted(masks)})",
            tag="segment_info",
            fix="use the mask names as segment_info keys",
        )


def _check_single_frame(headers, files) -> None:
    for header, path in zip(headers, files):
        if int(header.get("NumberOfFrames", 1) or 1) > 1:
            raise InputError(
                "the source image is a multi-frame file; DICOM SEG here references "
                "single-frame CT, PET or MR slices (highdicom cannot reference the frames of a "
                "legacy NM multi-frame file, whose geometry sits in "
                "DetectorInformationSequence)",
                path=path,
                tag="NumberOfFrames (0028,0008)",
                fix="reference the CT of the same SPECT/CT session (same FrameOfReferenceUID) "
                "and pass resample=True, or use a single-frame series",
            )


def _binary_array(image: sitk.Image, name: str) -> np.ndarray:
    array = sitk.GetArrayViewFromImage(image)
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        raise InputError(
            f"mask {name!r} holds NaN or infinite values", fix="pass a binary (0/1) mask"
        )
    if ((array == 0) | (array == 1)).all():  # the common case, without sorting every voxel
        return array.astype(np.uint8)
    values = np.unique(array)
    if not np.all(np.isin(values, (0, 1))):
        shown = ", ".join(f"{v:g}" for v in values[:6])
        raise InputError(
            f"mask {name!r} is not binary (values {shown}{' ...' if len(values) > 6 else ''})",
            fix="pass one 0/1 mask per segment (split a label map with image == label)",
        )
    return array.astype(np.uint8)


def _pin_times_and_uids(seg, moment: datetime, sop_uid: str) -> None:
    # highdicom stamps the wall clock and random dimension-organisation UIDs: pin them so
    # that the same input and content_datetime give identical bytes
    pin_times(seg, moment)
    dim_uid = derived_uid(sop_uid, "dimension organization")
    for keyword in ("DimensionOrganizationSequence", "DimensionIndexSequence"):
        for item in seg.get(keyword, []):
            item.DimensionOrganizationUID = dim_uid


def _fmt(values) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"
