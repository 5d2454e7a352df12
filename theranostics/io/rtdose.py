"""Absorbed-dose maps as DICOM RT Dose (pydicom) and back.

:func:`write_rtdose` writes one multi-frame RT Dose instance (PS3.3 A.18) in Gy on the dose
image's own grid, in the frame of reference of a reference CT: patient, study and
FrameOfReferenceUID are copied from the CT, so SlicerRT and treatment-planning systems place
the dose on that CT. Pixels are 32-bit unsigned integers; DoseGridScaling (Gy per stored
unit) is chosen so that the maximum dose maps to just under 2^32 - 1, which keeps a relative
precision of about 2.3e-10 of the maximum (the stored value is rounded, so any voxel is
within DoseGridScaling / 2 of its input).

:func:`read_rtdose` reads such a file (and RT Dose files of other systems with a uniform
GridFrameOffsetVector) into a float64 SimpleITK image in Gy, LPS.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

from .. import __version__
from ..errors import GeometryError, InputError, InvalidTagError, NotDicomError, UnitsError
from ..image import physical_bounds_lps
from .export_common import check_one_series, derived_uid, dicom_date_time, read_headers, save_atomic

RT_DOSE_STORAGE = "1.2.840.10008.5.1.4.1.1.481.2"
#: Dose Summation Type values accepted (PS3.3 C.8.8.3). PLAN_OVERVIEW needs no RT Plan; PLAN
#: and MULTI_PLAN require a Referenced RT Plan Sequence that a radiopharmaceutical therapy
#: does not have (offered for systems that insist; dciodvfy then reports the missing
#: sequence). The others (FRACTION, BEAM, RECORD ...) refer to external-beam or brachytherapy
#: objects and are refused.
SUMMATION_TYPES = ("PLAN_OVERVIEW", "PLAN", "MULTI_PLAN")
DOSE_TYPES = ("PHYSICAL", "EFFECTIVE")
MAX_STORED = 2**32 - 1
#: Negative doses down to this fraction of the maximum (numerical noise of FFT convolution)
#: are stored as zero; larger negative values are refused.
NEGATIVE_TOLERANCE = 1e-6
#: Copied from the reference CT so that the dose belongs to the same patient and study.
PATIENT_STUDY_KEYWORDS = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "PatientWeight",
    "PatientSize",
    "PatientIdentityRemoved",
    "DeidentificationMethod",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "StudyDescription",
    "AccessionNumber",
    "ReferringPhysicianName",
    "FrameOfReferenceUID",
    "PositionReferenceIndicator",
)


def write_rtdose(
    path_or_dir: str | Path,
    dose_Gy: sitk.Image,
    reference_ct_files: Sequence[str | Path],
    *,
    description: str = "Absorbed dose",
    dose_summation_type: str = "PLAN_OVERVIEW",
    dose_type: str = "PHYSICAL",
    dose_comment: str | None = None,
    series_number: int = 400,
    manufacturer: str = "Theranostics",
    content_datetime: datetime | None = None,
) -> Path:
    """Write a dose map as one multi-frame DICOM RT Dose file.

    Args:
        path_or_dir: output file, or an existing folder (file ``RD_<description>.dcm``).
        dose_Gy: absorbed dose in Gy, a 3D image in the LPS patient coordinates of the
            reference CT (same frame of reference); any grid, direction or spacing.
        reference_ct_files: DICOM files of the reference CT (one series); patient, study and
            FrameOfReferenceUID are copied from them.
        description: SeriesDescription (and the file name in a folder).
        dose_summation_type: DoseSummationType (3004,000A). ``PLAN_OVERVIEW`` (the default)
            needs no RT Plan; ``PLAN`` and ``MULTI_PLAN`` are written without a Referenced RT
            Plan Sequence, which DICOM requires for them (dciodvfy reports it), so use them
            only for systems that insist.
        dose_type: ``PHYSICAL`` (absorbed dose) or ``EFFECTIVE`` (e.g. BED/EQD2 maps).
        dose_comment: DoseComment (3004,0006), e.g. "177Lu cycle 1, voxel S-value".
        series_number: SeriesNumber.
        manufacturer: Manufacturer (the software).
        content_datetime: Series/Content/InstanceCreation date and time; default now.

    Returns:
        The file written (atomically).

    Raises:
        InputError: NaN/infinite or clearly negative doses, bad options, reference files
            missing, not CT, or mixing series.
        GeometryError: the dose grid does not overlap the reference CT.
    """
    dose_summation_type = str(dose_summation_type).upper()
    dose_type = str(dose_type).upper()
    if dose_summation_type not in SUMMATION_TYPES:
        raise InputError(
            f"dose_summation_type {dose_summation_type!r} is not one of {SUMMATION_TYPES}",
            tag="DoseSummationType (3004,000A)",
            fix="use PLAN_OVERVIEW for a radiopharmaceutical dose map",
        )
    if dose_type not in DOSE_TYPES:
        raise InputError(
            f"dose_type {dose_type!r} is not one of {DOSE_TYPES}",
            tag="DoseType (3004,0004)",
            fix="PHYSICAL for absorbed dose, EFFECTIVE for BED/EQD2",
        )
    if not isinstance(dose_Gy, sitk.Image) or dose_Gy.GetDimension() != 3:
        raise InputError("dose_Gy is not a 3D SimpleITK image", fix="pass the dose map")
    files = [str(f) for f in reference_ct_files]
    headers = read_headers(files, what="reference CT")
    check_one_series(headers, files, "reference CT")
    if str(headers[0].get("Modality", "")) != "CT":
        raise InputError(
            f"reference file has Modality {headers[0].get('Modality', 'missing')}, not CT",
            path=files[0],
            tag="Modality (0008,0060)",
            fix="pass the CT series that defines the dose frame of reference",
        )
    if not str(headers[0].get("FrameOfReferenceUID", "")):
        raise InputError(
            "reference CT has no FrameOfReferenceUID",
            path=files[0],
            tag="FrameOfReferenceUID (0020,0052)",
            fix="use a CT series with a frame of reference",
        )
    _check_overlap(dose_Gy, headers, files[0])

    image = _right_handed(sitk.Cast(dose_Gy, sitk.sitkFloat64))
    values = sitk.GetArrayFromImage(image)  # [k, j, i]
    stored, scaling_text = _quantise(values)
    ref = headers[0]
    size = image.GetSize()
    spacing = image.GetSpacing()
    direction = np.array(image.GetDirection()).reshape(3, 3)
    sop_uid = derived_uid(
        "RTDOSE",
        ref.FrameOfReferenceUID,
        description,
        dose_type,
        size,
        image.GetOrigin(),
        spacing,
        image.GetDirection(),
        stored.tobytes(),
        scaling_text,
    )
    ds = _dataset(sop_uid)
    for keyword in PATIENT_STUDY_KEYWORDS:
        if keyword in ref:
            setattr(ds, keyword, ref.data_element(keyword).value)
    for keyword in ("StudyDate", "StudyTime", "StudyID", "AccessionNumber"):
        ds.setdefault(keyword, "")
    ds.ReferringPhysicianName = ref.get("ReferringPhysicianName", "")
    date, time = dicom_date_time(content_datetime or datetime.now())
    ds.InstanceCreationDate = ds.SeriesDate = ds.ContentDate = date
    ds.InstanceCreationTime = ds.SeriesTime = ds.ContentTime = time
    ds.Modality = "RTDOSE"
    ds.SeriesInstanceUID = derived_uid(sop_uid, "series")
    ds.SeriesNumber = int(series_number)
    ds.SeriesDescription = description[:64]
    ds.OperatorsName = ""
    ds.Manufacturer = manufacturer
    ds.ManufacturerModelName = "theranostics"
    ds.SoftwareVersions = f"theranostics {__version__}"
    ds.InstanceNumber = 1
    ds.ImageType = ["DERIVED", "SECONDARY"]
    # Image Plane: PixelSpacing is (row spacing = step along j, column spacing = step along i)
    ds.ImagePositionPatient = [_ds(v) for v in image.GetOrigin()]
    ds.ImageOrientationPatient = [_ds(v) for v in (*direction[:, 0], *direction[:, 1])]
    ds.PixelSpacing = [_ds(spacing[1]), _ds(spacing[0])]
    ds.SliceThickness = _ds(spacing[2])
    ds.FrameOfReferenceUID = ref.FrameOfReferenceUID
    ds.PositionReferenceIndicator = ref.get("PositionReferenceIndicator", "")
    # Image Pixel and Multi-frame
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(size[1]), int(size[0])
    ds.BitsAllocated = ds.BitsStored = 32
    ds.HighBit = 31
    ds.PixelRepresentation = 0
    ds.NumberOfFrames = int(size[2])
    ds.FrameIncrementPointer = pydicom.tag.Tag("GridFrameOffsetVector")
    # RT Dose: offsets along the slice normal, relative to the first frame (C.8.8.3.2)
    ds.GridFrameOffsetVector = [_ds(k * spacing[2]) for k in range(size[2])]
    ds.DoseUnits = "GY"
    ds.DoseType = dose_type
    ds.DoseSummationType = dose_summation_type
    ds.DoseGridScaling = scaling_text
    ds.TissueHeterogeneityCorrection = ["IMAGE"]
    if dose_comment:
        ds.DoseComment = dose_comment[:10240]
    ds.PixelData = np.ascontiguousarray(stored.astype("<u4")).tobytes()

    target = Path(path_or_dir)
    if target.is_dir():
        slug = re.sub(r"[^A-Za-z0-9]+", "_", description).strip("_") or "dose"
        target = target / f"RD_{slug}.dcm"
    return save_atomic(ds, target)


def read_rtdose(path: str | Path) -> sitk.Image:
    """Read an RT Dose file (grid-based, uniform frame offsets) as float64 Gy in LPS.

    Raises:
        InputError: missing file; NotDicomError: not DICOM; InvalidTagError: not RT Dose,
        no pixel data or non-uniform frame offsets; UnitsError: DoseUnits not GY.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("RT Dose file not found", path=path, fix="check the path")
    try:
        ds = pydicom.dcmread(str(path))
    except (InvalidDicomError, OSError) as exc:
        raise NotDicomError(f"not readable DICOM ({exc})", path=path) from exc
    if str(ds.get("SOPClassUID", "")) != RT_DOSE_STORAGE or "PixelData" not in ds:
        raise InvalidTagError(
            "not a grid-based RT Dose (SOP class or pixel data missing)",
            path=path,
            tag="SOPClassUID (0008,0016)",
            fix="pass an RTDOSE file holding a dose grid",
        )
    units = str(ds.get("DoseUnits", "")).upper()
    if units != "GY":
        raise UnitsError(
            f"DoseUnits is {units or 'missing'}, not GY",
            path=path,
            tag="DoseUnits (3004,0002)",
            fix="relative doses cannot be read as Gy; export the dose in Gy",
        )
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    pixels = ds.pixel_array.reshape(frames, int(ds.Rows), int(ds.Columns)).astype(np.float64)
    scaling = float(ds.get("DoseGridScaling", 1.0) or 1.0)
    iop = np.array([float(v) for v in ds.ImageOrientationPatient])
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    offsets = np.array([float(v) for v in ds.get("GridFrameOffsetVector", [0.0])])
    if len(offsets) != frames:
        raise InvalidTagError(
            f"GridFrameOffsetVector has {len(offsets)} values for {frames} frames",
            path=path,
            tag="GridFrameOffsetVector (3004,000C)",
            fix="the file is inconsistent: re-export it",
        )
    origin = np.array([float(v) for v in ds.ImagePositionPatient])
    if offsets[0] != 0.0:  # absolute offsets (allowed for axial grids): make them relative
        offsets = offsets - offsets[0]
    step = float(np.diff(offsets).mean()) if frames > 1 else float(ds.get("SliceThickness", 1.0))
    if frames > 1 and np.max(np.abs(np.diff(offsets) - step)) > 1e-3 * abs(step):
        raise InvalidTagError(
            "frame offsets are not uniform",
            path=path,
            tag="GridFrameOffsetVector (3004,000C)",
            fix="resample the dose onto a regular grid in the planning system",
        )
    if step < 0:  # frames stored top-down: reverse them so that spacing is positive
        pixels = pixels[::-1]
        origin = origin + offsets[-1] * normal
        step = -step
    image = sitk.GetImageFromArray(pixels * scaling)
    row_spacing, col_spacing = (float(v) for v in ds.PixelSpacing)
    image.SetSpacing((col_spacing, row_spacing, step if step > 0 else 1.0))
    image.SetOrigin(tuple(origin))
    image.SetDirection(tuple(np.column_stack([row, col, normal]).ravel()))
    return image


def _dataset(sop_uid: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RT_DOSE_STORAGE
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = RT_DOSE_STORAGE
    ds.SOPInstanceUID = sop_uid
    return ds


def _quantise(values: np.ndarray) -> tuple[np.ndarray, str]:
    """Stored uint32 values and the DoseGridScaling string (DS, 16 characters at most),
    rounded up so that the maximum never exceeds 2^32 - 1."""
    if not np.all(np.isfinite(values)):
        raise InputError(
            "the dose map holds NaN or infinite values",
            fix="mask or fill them (e.g. 0 Gy outside the body) before export",
        )
    maximum = float(values.max())
    minimum = float(values.min())
    if minimum < -NEGATIVE_TOLERANCE * max(maximum, 0.0) or (maximum <= 0 and minimum < 0):
        raise InputError(
            f"the dose map holds negative doses down to {minimum:.4g} Gy",
            fix="RT Dose stores non-negative doses; clip or correct the map",
        )
    if maximum <= 0:
        return np.zeros(values.shape, np.uint32), "1"
    scaling = maximum / MAX_STORED
    digits = 10
    text = _ds(scaling, digits)
    while float(text) * MAX_STORED < maximum:  # rounding down would overflow
        scaling = np.nextafter(float(text), np.inf) * (1 + 1e-9)
        text = _ds(scaling, digits)
    stored = np.rint(np.clip(values, 0.0, None) / float(text))
    return np.minimum(stored, MAX_STORED).astype(np.uint32), text


def _right_handed(image: sitk.Image) -> sitk.Image:
    """RT Dose frames stack along row x column (offsets relative to the first frame): flip
    the k axis of a left-handed image so that the offsets increase."""
    direction = np.array(image.GetDirection()).reshape(3, 3)
    if np.linalg.det(direction) > 0:
        return image
    last = image.TransformIndexToPhysicalPoint((0, 0, image.GetSize()[2] - 1))
    flipped = sitk.GetImageFromArray(sitk.GetArrayViewFromImage(image)[::-1].copy())
    direction[:, 2] *= -1
    flipped.SetOrigin(last)
    flipped.SetSpacing(image.GetSpacing())
    flipped.SetDirection(tuple(direction.ravel()))
    return flipped


def _check_overlap(dose: sitk.Image, headers, path) -> None:
    from .dicom_images import slice_stack_geometry

    geom = slice_stack_geometry(headers, [str(path)] * len(headers))
    ct = sitk.Image([int(v) for v in geom.size], sitk.sitkUInt8)
    ct.SetOrigin(geom.origin)
    ct.SetSpacing(geom.spacing)
    ct.SetDirection(geom.direction)
    lo_d, hi_d = physical_bounds_lps(dose)
    lo_c, hi_c = physical_bounds_lps(ct)
    if np.any(hi_d <= lo_c) or np.any(hi_c <= lo_d):
        raise GeometryError(
            "the dose grid does not overlap the reference CT "
            f"(dose box {np.round(lo_d, 1)}..{np.round(hi_d, 1)} mm, CT box "
            f"{np.round(lo_c, 1)}..{np.round(hi_c, 1)} mm, LPS)",
            path=path,
            fix="pass the CT the dose was computed on, or resample the dose into its frame "
            "of reference first",
        )


def _ds(value: float, digits: int = 10) -> str:
    """A DS string of at most 16 characters."""
    text = f"{float(value):.{digits}g}"
    while len(text) > 16:
        digits -= 1
        text = f"{float(value):.{digits}g}"
    return text
