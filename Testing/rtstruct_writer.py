"""Write small, valid RTSTRUCT files with pydicom for the tests (spheres, rings, boxes).

Contour points are given in DICOM patient coordinates (LPS, mm). The files carry the tags a
planning system writes (SOP class, Modality RTSTRUCT, referenced frame of reference, ROI and
contour sequences, observations) so the reader is exercised on a realistic layout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
FRAME_OF_REFERENCE_UID = "1.2.826.0.1.3680043.8.498.1001"


def circle(
    center_lps: tuple[float, float, float],
    radius_mm: float,
    z_mm: float,
    n_vertices: int = 180,
    *,
    clockwise: bool = False,
) -> np.ndarray:
    """A closed axial polygon (N, 3) in LPS mm approximating a circle in the plane z = z_mm."""
    angles = np.linspace(0.0, 2.0 * np.pi, n_vertices, endpoint=False)
    if clockwise:
        angles = angles[::-1]
    return np.column_stack(
        (
            center_lps[0] + radius_mm * np.cos(angles),
            center_lps[1] + radius_mm * np.sin(angles),
            np.full(n_vertices, z_mm),
        )
    )


def sphere_contours(
    center_lps: tuple[float, float, float], radius_mm: float, plane_spacing_mm: float
) -> list[np.ndarray]:
    """Axial contours of a sphere on planes z = m * plane_spacing_mm (like CT slice positions)."""
    cz = center_lps[2]
    first = int(np.ceil((cz - radius_mm) / plane_spacing_mm))
    last = int(np.floor((cz + radius_mm) / plane_spacing_mm))
    contours = []
    for m in range(first, last + 1):
        z = m * plane_spacing_mm
        r2 = radius_mm**2 - (z - cz) ** 2
        if r2 > 1e-6:
            contours.append(circle(center_lps, float(np.sqrt(r2)), z))
    return contours


def write_rtstruct(
    path: Path,
    rois: dict[str, list[np.ndarray]],
    *,
    colors: dict[str, tuple[int, int, int]] | None = None,
    frame_of_reference_uid: str = FRAME_OF_REFERENCE_UID,
    geometric_type: str = "CLOSED_PLANAR",
    extra_contours: dict[str, list[tuple[str, np.ndarray]]] | None = None,
) -> Path:
    """Write an RTSTRUCT with one ROI per entry of ``rois`` (name -> contours in LPS mm).

    ``extra_contours`` adds contours of other geometric types (name -> [(type, points)]).
    """
    colors = colors or {}
    extra_contours = extra_contours or {}
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RT_STRUCTURE_SET_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = RT_STRUCTURE_SET_STORAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTSTRUCT"
    ds.PatientName = "Phantom^Sphere"
    ds.PatientID = "TEST-RTSTRUCT"
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.StructureSetLabel = "TEST"
    ds.StructureSetDate = "20240501"
    ds.StructureSetTime = "093000"
    ref = Dataset()
    ref.FrameOfReferenceUID = frame_of_reference_uid
    ds.ReferencedFrameOfReferenceSequence = Sequence([ref])

    ss_items, contour_items, observations = [], [], []
    for number, (name, contours) in enumerate(rois.items(), start=1):
        item = Dataset()
        item.ROINumber = number
        item.ReferencedFrameOfReferenceUID = frame_of_reference_uid
        item.ROIName = name
        item.ROIGenerationAlgorithm = "MANUAL"
        ss_items.append(item)

        roi_contour = Dataset()
        roi_contour.ReferencedROINumber = number
        roi_contour.ROIDisplayColor = list(colors.get(name, (255, 0, 0)))
        sequence = [(geometric_type, c) for c in contours] + extra_contours.get(name, [])
        contour_list = []
        for kind, points in sequence:
            contour = Dataset()
            contour.ContourGeometricType = kind
            contour.NumberOfContourPoints = len(points)
            contour.ContourData = [f"{v:.4f}" for v in np.asarray(points).ravel()]
            contour_list.append(contour)
        if contour_list:
            roi_contour.ContourSequence = Sequence(contour_list)
        contour_items.append(roi_contour)

        obs = Dataset()
        obs.ObservationNumber = number
        obs.ReferencedROINumber = number
        obs.RTROIInterpretedType = "ORGAN"
        obs.ROIInterpreter = ""
        observations.append(obs)

    ds.StructureSetROISequence = Sequence(ss_items)
    ds.ROIContourSequence = Sequence(contour_items)
    ds.RTROIObservationsSequence = Sequence(observations)
    ds.save_as(path, enforce_file_format=True)
    return Path(path)
