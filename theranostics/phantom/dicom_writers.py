"""DICOM writers of the phantom study: CT (one file per slice), NM SPECT (one multi-frame file
per time point), PET (one file per slice) and the structures as DICOM SEG.

UIDs are derived from the seed and a name (name-based UUIDs, see :func:`make_uid`),
and no wall-clock time is written, so the same seed gives the same bytes. Geometry follows the
DICOM LPS patient coordinate system with identity orientation; slices stack along +z.
Files are written to a temporary name and moved into place (``os.replace``).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

from .anatomy import Grid

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
NM_STORAGE = "1.2.840.10008.5.1.4.1.1.20"
PET_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
MANUFACTURER = "Theranostics phantom"
MODEL = "SyntheticSPECTCT"
IDENTITY_IOP = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]

#: Radionuclide codes (DICOM CID 18 / CID 4020, SNOMED CT), as in pydicom's concept tables.
NUCLIDE_CODES = {
    "Lu-177": ("447553000", "SCT", "^177^Lutetium"),
    "Ga-68": ("35337001", "SCT", "^68^Gallium"),
}


_UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://theranostics/phantom")


def make_uid(seed: int, *parts: object) -> str:
    """A deterministic UID from the seed and a name: ``2.25.`` followed by the integer of a
    name-based (version 5) UUID, as DICOM PS3.5 B.2 allows."""
    name = "/".join(["seed", str(seed), *map(str, parts)])
    return f"2.25.{uuid.uuid5(_UID_NAMESPACE, name).int}"


@dataclass(frozen=True)
class Patient:
    """Patient-level attributes written into every file."""

    name: str
    patient_id: str
    sex: str
    weight_kg: float
    height_m: float
    birth_date: str = "19550101"


@dataclass(frozen=True)
class Session:
    """One imaging session (a study): its UIDs and start time."""

    name: str
    study_uid: str
    frame_of_reference_uid: str
    start: datetime
    study_id: str
    description: str


def _da(t: datetime) -> str:
    return t.strftime("%Y%m%d")


def _tm(t: datetime) -> str:
    return t.strftime("%H%M%S.%f")


def _dt(t: datetime) -> str:
    return t.strftime("%Y%m%d%H%M%S.%f")


def _ds(value: float, digits: int = 10) -> str:
    """A DS string of at most 16 characters."""
    text = f"{value:.{digits}g}"
    while len(text) > 16:
        digits -= 1
        text = f"{value:.{digits}g}"
    return text


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _base(
    sop_class: str,
    sop_uid: str,
    modality: str,
    patient: Patient,
    session: Session,
    series_uid: str,
    series_number: int,
    series_time: datetime,
    series_description: str,
) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = _da(session.start)
    ds.StudyTime = _tm(session.start)
    ds.SeriesDate = _da(series_time)
    ds.SeriesTime = _tm(series_time)
    ds.ContentDate = _da(series_time)
    ds.ContentTime = _tm(series_time)
    ds.AccessionNumber = ""
    ds.Modality = modality
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = MODEL
    ds.InstitutionName = "Theranostics synthetic clinic"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = session.description
    ds.SeriesDescription = series_description
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    ds.PatientWeight = _ds(patient.weight_kg)
    ds.PatientSize = _ds(patient.height_m)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "synthetic phantom, no patient data"
    ds.DeviceSerialNumber = "0001"
    ds.SoftwareVersions = "theranostics-phantom 1"
    ds.StudyInstanceUID = session.study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = session.study_id
    ds.SeriesNumber = series_number
    ds.FrameOfReferenceUID = session.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.Laterality = ""
    if modality == "CT":  # NM and PET carry PatientOrientationCodeSequence instead
        ds.PatientPosition = "HFS"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    return ds


def _save(ds: Dataset, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    ds.save_as(tmp, enforce_file_format=True)
    os.replace(tmp, path)


class _SliceWriter:
    """Writes the slices of one series from a template dataset whose elements other than
    ``variable`` (keywords) stay the same: those are encoded once, with pydicom's own element
    encoder, and each file is the preamble, the file meta information and the elements in
    tag order, byte for byte what ``Dataset.save_as(enforce_file_format=True)`` writes
    (explicit VR little endian), without re-encoding ~90 unchanged elements per slice."""

    def __init__(self, ds: Dataset, variable: tuple[str, ...]) -> None:
        from pydicom.datadict import tag_for_keyword
        from pydicom.tag import Tag

        if ds.file_meta.TransferSyntaxUID != ExplicitVRLittleEndian:
            raise ValueError("the slice writer writes explicit VR little endian only")
        self.ds = ds
        self.variable = {Tag(tag_for_keyword(k)) for k in variable}
        self.layout: list | None = None

    @staticmethod
    def _encode(ds: Dataset, tags) -> bytes:
        from pydicom.charset import default_encoding
        from pydicom.filebase import DicomBytesIO
        from pydicom.filewriter import write_data_element

        fp = DicomBytesIO()
        fp.is_implicit_VR, fp.is_little_endian = False, True
        encoding = ds.get("SpecificCharacterSet", default_encoding)
        for tag in tags:
            write_data_element(fp, ds[tag], encoding)
        return fp.getvalue()

    def save(self, path: Path) -> None:
        """Write the template as it is now (the variable elements set by the caller)."""
        from pydicom.dataset import validate_file_meta
        from pydicom.filebase import DicomBytesIO
        from pydicom.filewriter import (
            correct_ambiguous_vr,
            correct_ambiguous_vr_element,
            write_file_meta_info,
        )

        ds = self.ds
        if self.layout is None:
            correct_ambiguous_vr(ds, True)
            tags = sorted(t for t in ds.keys() if not (t.element == 0 and t.group > 6))  # noqa: SIM118 - iterating a Dataset yields elements
            missing = self.variable - set(tags)
            if missing:
                raise ValueError(f"variable elements not in the template: {sorted(missing)}")
            self.layout, run = [], []
            for tag in tags:
                if tag in self.variable:
                    if run:
                        self.layout.append(self._encode(ds, run))
                        run = []
                    self.layout.append(tag)
                else:
                    run.append(tag)
            if run:
                self.layout.append(self._encode(ds, run))
        else:
            for tag in self.variable:
                correct_ambiguous_vr_element(ds[tag], ds, True)
        validate_file_meta(ds.file_meta, enforce_standard=True)
        meta = DicomBytesIO()
        meta.is_implicit_VR, meta.is_little_endian = False, True
        write_file_meta_info(meta, ds.file_meta, enforce_standard=True)
        parts = [getattr(ds, "preamble", None) or b"\x00" * 128, b"DICM", meta.getvalue()]
        parts += [p if isinstance(p, bytes) else self._encode(ds, [p]) for p in self.layout]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(b"".join(parts))
        os.replace(tmp, path)


def write_ct_series(
    folder: Path,
    hu: np.ndarray,
    grid: Grid,
    patient: Patient,
    session: Session,
    seed: int,
    acquisition_time: datetime,
    series_number: int = 1,
) -> list[Path]:
    """Write a CT volume (``hu`` in HU, ``[k, j, i]`` on ``grid``) as one file per slice.

    Stored values are int16 ``HU + 1024`` with RescaleSlope 1 and RescaleIntercept -1024.
    """
    series_uid = make_uid(seed, session.name, "CT series")
    stored = np.clip(np.round(hu) + 1024, -32768, 32767).astype(np.int16)
    ds = _base(
        CT_STORAGE,
        "",
        "CT",
        patient,
        session,
        series_uid,
        series_number,
        acquisition_time,
        "CT for attenuation correction and localisation",
    )
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.AcquisitionDate = _da(acquisition_time)
    ds.AcquisitionTime = _tm(acquisition_time)
    ds.AcquisitionNumber = 1
    ds.KVP = "120"
    ds.SliceThickness = _ds(grid.spacing_mm[2])
    ds.ImageOrientationPatient = IDENTITY_IOP
    ds.PatientOrientation = ""
    ds.Rows = grid.size[1]
    ds.Columns = grid.size[0]
    ds.PixelSpacing = [_ds(grid.spacing_mm[1]), _ds(grid.spacing_mm[0])]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.ConvolutionKernel = "B30s"
    paths = []
    writer = _SliceWriter(ds, ("SOPInstanceUID", "InstanceNumber", "ImagePositionPatient",
                               "SliceLocation", "PixelData"))  # fmt: skip
    for k in range(grid.size[2]):
        sop_uid = make_uid(seed, session.name, "CT", k)
        ds.SOPInstanceUID = sop_uid
        ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [_ds(v) for v in grid.centre_of((0, 0, k))]
        ds.SliceLocation = _ds(grid.centre_of((0, 0, k))[2])
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        path = folder / f"CT_{k + 1:04d}.dcm"
        writer.save(path)
        paths.append(path)
    return paths


def _radiopharmaceutical_item(
    nuclide: str,
    half_life_s: float,
    radiopharmaceutical: str,
    code: tuple[str, str, str] | None,
    start: datetime,
    total_dose: float,
    positron_fraction: float | None,
) -> Dataset:
    item = Dataset()
    item.Radiopharmaceutical = radiopharmaceutical
    item.RadiopharmaceuticalStartTime = _tm(start)
    item.RadiopharmaceuticalStartDateTime = _dt(start)
    item.RadionuclideTotalDose = _ds(total_dose)
    item.RadionuclideHalfLife = _ds(half_life_s)
    if positron_fraction is not None:
        item.RadionuclidePositronFraction = _ds(positron_fraction)
    item.RadiopharmaceuticalRoute = "Intravenous route"
    item.RadionuclideCodeSequence = Sequence([_code(*NUCLIDE_CODES[nuclide])])
    if code is not None:
        item.RadiopharmaceuticalCodeSequence = Sequence([_code(*code)])
    return item


@dataclass(frozen=True)
class SpectAcquisition:
    """Acquisition parameters of one SPECT, as written to the NM file.

    Attributes:
        start: acquisition start.
        frame_duration_s: time per projection (s), ActualFrameDuration.
        frames_per_rotation: projections per detector head, NumberOfFramesInRotation.
        angular_step_deg, scan_arc_deg: AngularStep, ScanArc.
        energy_window_keV: (lower, upper, name) of the photopeak window.
        fwhm_mm: resolution of the reconstructed image (written to ConvolutionKernel text).
    """

    start: datetime
    frame_duration_s: float
    frames_per_rotation: int
    angular_step_deg: float
    scan_arc_deg: float
    energy_window_keV: tuple[float, float, str]
    fwhm_mm: float

    @property
    def duration_s(self) -> float:
        """Total acquisition time (s): frame duration times projections per head."""
        return self.frame_duration_s * self.frames_per_rotation


def write_nm_spect(
    path: Path,
    counts: np.ndarray,
    grid: Grid,
    patient: Patient,
    session: Session,
    seed: int,
    acq: SpectAcquisition,
    nuclide: str,
    half_life_s: float,
    radiopharmaceutical: str,
    radiopharmaceutical_code: tuple[str, str, str] | None,
    administration: datetime,
    administered_MBq: float,
    series_number: int = 2,
) -> Path:
    """Write reconstructed SPECT counts (``[k, j, i]`` uint16 on ``grid``) as one NM
    multi-frame file (RECON TOMO), counts not decay corrected, RadionuclideTotalDose in MBq."""
    if counts.max(initial=0) > 65535 or counts.min(initial=0) < 0:
        raise ValueError("SPECT counts do not fit uint16")
    series_uid = make_uid(seed, session.name, "NM series")
    sop_uid = make_uid(seed, session.name, "NM")
    ds = _base(
        NM_STORAGE,
        sop_uid,
        "NM",
        patient,
        session,
        series_uid,
        series_number,
        acq.start,
        f"{radiopharmaceutical} SPECT {session.name} [Recon - AC SC]",
    )
    ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
    ds.AcquisitionDate = _da(acq.start)
    ds.AcquisitionTime = _tm(acq.start)
    ds.AcquisitionDateTime = _dt(acq.start)
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    nz = grid.size[2]
    ds.NumberOfFrames = nz
    ds.FrameIncrementPointer = (0x0054, 0x0080)
    ds.SliceVector = list(range(1, nz + 1))
    ds.NumberOfSlices = nz
    ds.Rows = grid.size[1]
    ds.Columns = grid.size[0]
    ds.PixelSpacing = [_ds(grid.spacing_mm[1]), _ds(grid.spacing_mm[0])]
    ds.SliceThickness = _ds(grid.spacing_mm[2])
    ds.SpacingBetweenSlices = _ds(grid.spacing_mm[2])
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.CorrectedImage = ["ATTN", "SCAT"]
    ds.CountsAccumulated = int(counts.sum())
    ds.ConvolutionKernel = f"OSEM+Gauss {acq.fwhm_mm:g}mm"
    ds.ReconstructionDiameter = _ds(grid.size[0] * grid.spacing_mm[0])
    ds.AcquisitionTerminationCondition = "TIME"
    ds.TypeOfDetectorMotion = "STEP AND SHOOT"
    ds.NumberOfEnergyWindows = 1
    lower, upper, name = acq.energy_window_keV
    window_range = Dataset()
    window_range.EnergyWindowLowerLimit = _ds(lower)
    window_range.EnergyWindowUpperLimit = _ds(upper)
    window = Dataset()
    window.EnergyWindowRangeSequence = Sequence([window_range])
    window.EnergyWindowName = name
    ds.EnergyWindowInformationSequence = Sequence([window])
    ds.RadiopharmaceuticalInformationSequence = Sequence(
        [
            _radiopharmaceutical_item(
                nuclide,
                half_life_s,
                radiopharmaceutical,
                radiopharmaceutical_code,
                administration,
                administered_MBq,
                None,
            )
        ]
    )
    ds.NumberOfDetectors = 1
    detector = Dataset()
    detector.ImagePositionPatient = [_ds(v) for v in grid.origin_mm]
    detector.ImageOrientationPatient = IDENTITY_IOP
    detector.CollimatorGridName = "MELP"
    detector.CollimatorType = "PARA"
    detector.FieldOfViewShape = "RECTANGLE"
    detector.FieldOfViewDimensions = [533, 387]
    detector.StartAngle = "180"
    detector.ViewCodeSequence = Sequence([_code("399182009", "SCT", "Transverse")])
    ds.DetectorInformationSequence = Sequence([detector])
    ds.NumberOfRotations = 1
    rotation = Dataset()
    rotation.StartAngle = "180"
    rotation.AngularStep = _ds(acq.angular_step_deg)
    rotation.RotationDirection = "CW"
    rotation.ScanArc = _ds(acq.scan_arc_deg)
    rotation.ActualFrameDuration = round(acq.frame_duration_s * 1000)
    rotation.NumberOfFramesInRotation = acq.frames_per_rotation
    rotation.TableTraverse = "0"
    ds.RotationInformationSequence = Sequence([rotation])
    ds.PatientOrientationCodeSequence = Sequence([_code("102538003", "SCT", "recumbent")])
    ds.PatientOrientationCodeSequence[0].PatientOrientationModifierCodeSequence = Sequence(
        [_code("40199007", "SCT", "supine")]
    )
    ds.PatientGantryRelationshipCodeSequence = Sequence([_code("102540008", "SCT", "headfirst")])
    ds.AcquisitionContextSequence = Sequence()
    ds.PixelData = np.ascontiguousarray(counts.astype("<u2")).tobytes()
    _save(ds, path)
    return path


@dataclass(frozen=True)
class PetAcquisition:
    """Acquisition of the planning PET (one frame, decay corrected to its start)."""

    start: datetime
    duration_s: float
    decay_factor: float
    frame_reference_time_ms: float


def write_pet_series(
    folder: Path,
    bq_per_mL: np.ndarray,
    grid: Grid,
    patient: Patient,
    session: Session,
    seed: int,
    acq: PetAcquisition,
    nuclide: str,
    half_life_s: float,
    positron_fraction: float,
    radiopharmaceutical: str,
    radiopharmaceutical_code: tuple[str, str, str] | None,
    administration: datetime,
    administered_MBq: float,
    series_number: int = 2,
) -> list[Path]:
    """Write a PET volume (Bq/mL decay corrected to the acquisition start, ``[k, j, i]``) as
    one file per slice: int16 stored with a per-slice RescaleSlope, RadionuclideTotalDose in
    Bq, Units BQML, DecayCorrection START."""
    series_uid = make_uid(seed, session.name, "PT series")
    nz = grid.size[2]
    ds = _base(
        PET_STORAGE,
        "",
        "PT",
        patient,
        session,
        series_uid,
        series_number,
        acq.start,
        f"{radiopharmaceutical} PET WB AC",
    )
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.AcquisitionDate = _da(acq.start)
    ds.AcquisitionTime = _tm(acq.start)
    ds.PatientOrientation = ""
    ds.SliceThickness = _ds(grid.spacing_mm[2])
    ds.ImageOrientationPatient = IDENTITY_IOP
    ds.Rows = grid.size[1]
    ds.Columns = grid.size[0]
    ds.PixelSpacing = [_ds(grid.spacing_mm[1]), _ds(grid.spacing_mm[0])]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = "0"
    ds.SeriesType = ["WHOLE BODY", "IMAGE"]
    ds.Units = "BQML"
    ds.CountsSource = "EMISSION"
    ds.NumberOfSlices = nz
    ds.CorrectedImage = ["DECY", "ATTN", "SCAT", "RAN", "NORM", "DTIM"]
    ds.DecayCorrection = "START"
    ds.DecayFactor = _ds(acq.decay_factor)
    ds.FrameReferenceTime = _ds(acq.frame_reference_time_ms)
    ds.ActualFrameDuration = round(acq.duration_s * 1000)
    ds.RandomsCorrectionMethod = "DLYD"
    ds.AttenuationCorrectionMethod = "CT-based"
    ds.ScatterCorrectionMethod = "model-based"
    ds.ReconstructionMethod = "OSEM 3i21s"
    ds.CollimatorType = "NONE"
    ds.DoseCalibrationFactor = "1"
    ds.PrimaryPromptsCountsAccumulated = 0
    ds.SliceSensitivityFactor = "1"
    ds.RadiopharmaceuticalInformationSequence = Sequence(
        [
            _radiopharmaceutical_item(
                nuclide,
                half_life_s,
                radiopharmaceutical,
                radiopharmaceutical_code,
                administration,
                administered_MBq * 1e6,
                positron_fraction,
            )
        ]
    )
    ds.PatientOrientationCodeSequence = Sequence([_code("102538003", "SCT", "recumbent")])
    ds.PatientOrientationCodeSequence[0].PatientOrientationModifierCodeSequence = Sequence(
        [_code("40199007", "SCT", "supine")]
    )
    ds.PatientGantryRelationshipCodeSequence = Sequence([_code("102540008", "SCT", "headfirst")])
    paths = []
    for k in range(nz):
        plane = np.clip(bq_per_mL[k], 0.0, None)
        peak = float(plane.max())
        slope = peak / 32767.0 if peak > 0 else 1.0
        stored = np.round(plane / slope).astype(np.int16)
        sop_uid = make_uid(seed, session.name, "PT", k)
        ds.SOPInstanceUID = sop_uid
        ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
        ds.InstanceNumber = k + 1
        ds.ImageIndex = k + 1
        ds.ImagePositionPatient = [_ds(v) for v in grid.centre_of((0, 0, k))]
        ds.SliceLocation = _ds(grid.centre_of((0, 0, k))[2])
        ds.RescaleSlope = _ds(slope)
        ds.PixelData = np.ascontiguousarray(stored.astype("<i2")).tobytes()
        path = folder / f"PT_{k + 1:04d}.dcm"
        _save(ds, path)
        paths.append(path)
    return paths


def write_seg(
    path: Path,
    labels: np.ndarray,
    names: dict[str, int],
    ct_files: list[Path],
    seed: int,
    content_time: datetime,
) -> Path:
    """Write the structures (label map ``[k, j, i]`` on the CT grid) as a binary DICOM SEG that
    references the CT slices ``ct_files`` (highdicom); segment labels are the structure
    names."""
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    sources = [pydicom.dcmread(p) for p in ct_files]
    sources.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    ordered = sorted(names.items(), key=lambda kv: kv[1])
    seg_array = np.zeros(labels.shape, dtype=np.uint8)
    descriptions = []
    for number, (name, value) in enumerate(ordered, start=1):
        seg_array[labels == value] = number
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=name,
                segmented_property_category=_seg_category(name, codes),
                segmented_property_type=_seg_type(name, codes),
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
                tracking_uid=make_uid(seed, "segment", name),
                tracking_id=name,
            )
        )
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=seg_array,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=make_uid(seed, "SEG series"),
        series_number=100,
        sop_instance_uid=make_uid(seed, "SEG"),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MODEL,
        software_versions="theranostics-phantom 1",
        device_serial_number="0001",
        series_description="Phantom ground-truth structures",
        content_label="TRUTH",
        content_description="Ground truth structures of the synthetic phantom",
    )
    # highdicom stamps wall-clock times and random UIDs: pin them for reproducible bytes
    for keyword, value in (
        ("SeriesDate", _da(content_time)),
        ("SeriesTime", _tm(content_time)),
        ("ContentDate", _da(content_time)),
        ("ContentTime", _tm(content_time)),
        ("InstanceCreationDate", _da(content_time)),
        ("InstanceCreationTime", _tm(content_time)),
    ):
        setattr(seg, keyword, value)
    for item in seg.get("ContributingEquipmentSequence", []):
        if "ContributionDateTime" in item:
            item.ContributionDateTime = _dt(content_time)
    dim_uid = make_uid(seed, "SEG dimension organization")
    for item in seg.get("DimensionOrganizationSequence", []):
        item.DimensionOrganizationUID = dim_uid
    for item in seg.get("DimensionIndexSequence", []):
        item.DimensionOrganizationUID = dim_uid
    _save(seg, path)
    return path


def _seg_category(name: str, codes):
    return (
        codes.SCT.MorphologicallyAbnormalStructure
        if name.startswith("lesion")
        else (codes.SCT.AnatomicalStructure)
    )


def _seg_type(name: str, codes):
    table = {
        "kidney": codes.SCT.Kidney,
        "liver": codes.SCT.Liver,
        "spleen": codes.SCT.Spleen,
        "parotid": codes.SCT.ParotidGland,
        "submandibular": codes.SCT.SubmandibularGland,
        "bladder": codes.SCT.Bladder,
        "red_marrow": codes.SCT.BoneMarrow,
        "lung": codes.SCT.Lung,
        "cortical_bone": codes.SCT.Bone,
        "remainder_of_body": codes.SCT.Tissue,
        "lesion": codes.SCT.Lesion,
    }
    for prefix, code in table.items():
        if name.startswith(prefix):
            return code
    return codes.SCT.Tissue
