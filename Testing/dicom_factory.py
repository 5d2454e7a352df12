"""Small, valid DICOM files written with pydicom for tests, and mutations of them.

Every builder returns a ``pydicom.Dataset`` that a test may change before writing it with
:func:`write`. Values are chosen so that closed-form results are easy to check.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
PET_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
NM_STORAGE = "1.2.840.10008.5.1.4.1.1.20"


def _base(sop_class: str, modality: str, series_uid: str, rows: int, cols: int) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.Modality = modality
    ds.PatientName = "TEST^PHANTOM"
    ds.PatientID = "T0001"
    ds.PatientSex = "F"
    ds.PatientWeight = "70.0"
    ds.PatientSize = "1.70"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.2"
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = "20240501"
    ds.Manufacturer = "TestFactory"
    ds.Rows, ds.Columns = rows, cols
    ds.PixelSpacing = [2.0, 2.0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    return ds


def _radiopharmaceutical(
    nuclide_meaning: str, dose: float, start: str | None, half_life_s: float
) -> Sequence:
    item = Dataset()
    item.Radiopharmaceutical = "TEST"
    item.RadionuclideTotalDose = f"{dose:.6g}"
    item.RadionuclideHalfLife = f"{half_life_s:g}"
    if start is not None:
        item.RadiopharmaceuticalStartDateTime = start
    code = Dataset()
    code.CodeValue = "X"
    code.CodingSchemeDesignator = "99TEST"
    code.CodeMeaning = nuclide_meaning
    item.RadionuclideCodeSequence = Sequence([code])
    return Sequence([item])


def pet_slice(
    series_uid: str,
    z_mm: float,
    *,
    value: int = 100,
    slope: float = 2.0,
    rows: int = 4,
    cols: int = 5,
) -> Dataset:
    """A PET slice in BQML, START-decay-corrected, 18F, 370 MBq (in Bq) at 09:00,
    series at 10:00, 5 minute frame. Stored value ``value`` times ``slope`` is Bq/mL."""
    ds = _base(PET_STORAGE, "PT", series_uid, rows, cols)
    ds.SeriesTime = "100000"
    ds.AcquisitionTime = "100000"
    ds.ActualFrameDuration = "300000"
    ds.Units = "BQML"
    ds.DecayCorrection = "START"
    ds.CorrectedImage = ["ATTN", "DECY"]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [-4.0, -3.0, z_mm]
    ds.SliceThickness = "3.0"
    ds.RescaleSlope = f"{slope:g}"
    ds.RescaleIntercept = "0"
    ds.RadiopharmaceuticalInformationSequence = _radiopharmaceutical(
        "^18^Fluorine", 370e6, "20240501090000", 6586.2
    )
    ds.PixelData = np.full((rows, cols), value, dtype=np.uint16).tobytes()
    return ds


def ct_slice(series_uid: str, z_mm: float, *, rows: int = 4, cols: int = 5) -> Dataset:
    """A CT slice of water (stored 1024, intercept -1024 -> 0 HU)."""
    ds = _base(CT_STORAGE, "CT", series_uid, rows, cols)
    ds.SeriesTime = ds.AcquisitionTime = "095000"
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [-4.0, -3.0, z_mm]
    ds.SliceThickness = "3.0"
    ds.RescaleSlope = "1"
    ds.RescaleIntercept = "-1024"
    ds.PixelData = np.full((rows, cols), 1024, dtype=np.uint16).tobytes()
    return ds


def nm_multiframe(
    series_uid: str,
    *,
    frames: int = 3,
    rows: int = 4,
    cols: int = 5,
    counts: int = 1000,
    spacing_mm: float = 4.0,
) -> Dataset:
    """A 177Lu SPECT reconstruction in counts: 20 min acquisition (2 x 60 views x 10 s ... as
    one rotation of 120 views at 10 s), administration 7400 MBq (written in MBq) at 08:00,
    acquisition 2024-05-02 08:00 (24 h later)."""
    ds = _base(NM_STORAGE, "NM", series_uid, rows, cols)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
    ds.SeriesDate = ds.AcquisitionDate = "20240502"
    ds.SeriesTime = ds.AcquisitionTime = "080000"
    ds.NumberOfFrames = frames
    ds.FrameIncrementPointer = 0x00540080
    ds.SliceVector = list(range(1, frames + 1))
    ds.NumberOfSlices = frames
    ds.PixelSpacing = [spacing_mm, spacing_mm]
    ds.SliceThickness = f"{spacing_mm:g}"
    ds.SpacingBetweenSlices = f"{spacing_mm:g}"
    detector = Dataset()
    detector.ImagePositionPatient = [-10.0, -20.0, 30.0]
    detector.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.DetectorInformationSequence = Sequence([detector])
    rotation = Dataset()
    rotation.ActualFrameDuration = "10000"
    rotation.NumberOfFramesInRotation = 120
    ds.RotationInformationSequence = Sequence([rotation])
    window = Dataset()
    window.EnergyWindowName = "Lu177_208"
    ds.EnergyWindowInformationSequence = Sequence([window])
    ds.RadiopharmaceuticalInformationSequence = _radiopharmaceutical(
        "^177^Lutetium", 7400.0, "20240501080000", 574300.8
    )
    ds.PixelData = np.full((frames, rows, cols), counts, dtype=np.uint16).tobytes()
    return ds


def write(ds: Dataset, path: Path) -> Path:
    """Write ``ds`` as a DICOM Part 10 file; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_series(datasets, folder: Path, stem: str = "slice") -> list[Path]:
    """Write several datasets into ``folder`` as ``stem_000.dcm`` ..."""
    return [write(ds, folder / f"{stem}_{n:03d}.dcm") for n, ds in enumerate(datasets)]
