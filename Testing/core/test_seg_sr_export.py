"""DICOM SEG and TID 1500 SR export: round trips through highdicom and pydicom on the PET of
the small synthetic study, the structure SEG the phantom writes, dciodvfy, and bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from theranostics.errors import GeometryError, InputError, UnitsError
from theranostics.io import read_image
from theranostics.io.seg_export import write_seg
from theranostics.io.seg_read import read_seg, read_seg_info, read_seg_on
from theranostics.io.sr_export import read_measurement_sr, write_measurement_sr

WHEN = datetime(2024, 5, 1, 12, 0, 0)


@pytest.fixture(scope="module")
def pet(synthetic_study_small):
    folder = synthetic_study_small / "dicom" / "pet_planning" / "PT"
    return sorted(folder.glob("*.dcm")), read_image(folder).image


def _mask(reference: sitk.Image, array: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array.astype(np.uint8))
    image.CopyInformation(reference)
    return image


@pytest.fixture(scope="module")
def masks(pet):
    _, image = pet
    shape = sitk.GetArrayViewFromImage(image).shape
    k, j, i = np.indices(shape)
    sphere = (k - 40) ** 2 + (j - 30) ** 2 + (i - 28) ** 2 <= 2.2**2
    box = np.zeros(shape, bool)
    box[45:48, 20:24, 38:41] = True
    return {
        "lesion_01": _mask(image, sphere),
        "lesion_02": _mask(image, box),
        "kidney_left": _mask(image, (k - 50) ** 2 / 4 + (j - 34) ** 2 + (i - 40) ** 2 <= 9),
        "lesion_03": _mask(image, np.zeros(shape, bool)),  # empty segments are kept
    }


@pytest.fixture(scope="module")
def seg_path(pet, masks, tmp_path_factory):
    files, _ = pet
    out = tmp_path_factory.mktemp("seg") / "lesions_seg.dcm"
    return write_seg(out, masks, files, series_description="Test lesions", content_datetime=WHEN)


MEASUREMENTS = {
    "lesion_01": {
        "suv_max": 14.123456789012345,
        "suv_peak": 11.5,
        "suv_mean": 7.25,
        "volume_mL": 2.0,
        "total_lesion_uptake_mL": 14.5,
        "activity_MBq": 0.0123,
        "concentration_mean_Bq_per_mL": 51234.5,
    },
    "lesion_02": {
        "suv_max": 5.0,
        "suv_peak": 4.0,
        "suv_mean": np.float32(3.5),  # numpy scalars are accepted
        "volume_mL": 10.6,
        "total_lesion_uptake_mL": 37.1,
        "activity_MBq": 0.5,
        "concentration_mean_Bq_per_mL": 1e4,
    },
    "kidney_left": {"volume_mL": 150.0, "mean_dose_Gy": 3.21, "tia_MBq_h": 1234.5},
}


@pytest.fixture(scope="module")
def sr_path(pet, seg_path):
    files, _ = pet
    return write_measurement_sr(
        seg_path.with_name("lesions_sr.dcm"), seg_path, files, MEASUREMENTS, content_datetime=WHEN
    )


def test_seg_round_trip_highdicom_and_masks(pet, masks, seg_path):
    files, image = pet
    seg = hd.seg.segread(seg_path)
    labels = [item.SegmentLabel for item in seg.SegmentSequence]
    assert labels == list(masks)
    described = {d.SegmentLabel: d for d in seg.SegmentSequence}
    lesion = described["lesion_01"]
    assert lesion.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "49755003"
    assert lesion.SegmentedPropertyTypeCodeSequence[0].CodeValue == "52988006"
    assert lesion.SegmentAlgorithmType == "SEMIAUTOMATIC"
    kidney = described["kidney_left"].SegmentedPropertyTypeCodeSequence[0]
    assert (kidney.CodeValue, kidney.CodeMeaning) == ("64033007", "Kidney")
    assert kidney.SegmentedPropertyTypeModifierCodeSequence[0].CodeMeaning == "Left"
    # the source series is referenced, and the frame of reference is the PET's
    pt0 = pydicom.dcmread(files[0], stop_before_pixels=True)
    raw = pydicom.dcmread(seg_path)
    assert raw.ReferencedSeriesSequence[0].SeriesInstanceUID == pt0.SeriesInstanceUID
    assert raw.FrameOfReferenceUID == pt0.FrameOfReferenceUID
    assert raw.StudyInstanceUID == pt0.StudyInstanceUID
    assert raw.SeriesDescription == "Test lesions"
    # masks come back voxel for voxel on the PET grid
    back = read_seg_on(seg_path, image)
    assert list(back) == list(masks)
    for name, mask in masks.items():
        assert np.array_equal(
            sitk.GetArrayViewFromImage(back[name]), sitk.GetArrayViewFromImage(mask)
        ), name
    # ... and on the SEG's own grid they sit at the same physical points
    own = read_seg(seg_path)["lesion_01"]
    index = np.argwhere(sitk.GetArrayViewFromImage(own))[0][::-1]
    point = own.TransformIndexToPhysicalPoint([int(v) for v in index])
    assert masks["lesion_01"][image.TransformPhysicalPointToIndex(point)] == 1
    info = {s.label: s for s in read_seg_info(seg_path)}
    assert info["lesion_02"].number == 2 and info["lesion_02"].color_rgb is not None


def test_seg_deterministic_uids_and_bytes(pet, masks, seg_path, tmp_path):
    files, _ = pet
    again = write_seg(
        tmp_path / "again.dcm",
        masks,
        files,
        series_description="Test lesions",
        content_datetime=WHEN,
    )
    assert again.read_bytes() == seg_path.read_bytes()
    changed = dict(masks)
    changed["lesion_03"] = masks["lesion_02"]
    other = write_seg(tmp_path / "other.dcm", changed, files, content_datetime=WHEN)
    assert pydicom.dcmread(other).SOPInstanceUID != pydicom.dcmread(seg_path).SOPInstanceUID


def test_seg_masks_on_another_grid_refused_or_resampled(pet, masks, tmp_path):
    files, image = pet
    fine = sitk.Resample(
        masks["lesion_01"],
        [2 * s for s in image.GetSize()],
        sitk.Transform(),
        sitk.sitkNearestNeighbor,
        image.TransformContinuousIndexToPhysicalPoint((-0.25, -0.25, -0.25)),
        [s / 2 for s in image.GetSpacing()],
        image.GetDirection(),
    )
    with pytest.raises(GeometryError, match="not on the grid of the source series"):
        write_seg(tmp_path / "x.dcm", {"lesion_01": fine}, files)
    path = write_seg(tmp_path / "x.dcm", {"lesion_01": fine}, files, resample=True)
    assert "resampled nearest-neighbour" in pydicom.dcmread(path).ContentDescription
    back = sitk.GetArrayFromImage(read_seg_on(path, image)["lesion_01"])  # a copy, not a view
    assert np.array_equal(back, sitk.GetArrayViewFromImage(masks["lesion_01"]))


def test_seg_on_the_masks_own_grid(synthetic_study_small, tmp_path):
    """grid="masks": the SEG keeps the SPECT grid (as the dosimetry writes it), references the
    CT of the session, holds only frames with a segment, reads back voxel for voxel and
    passes dciodvfy."""
    session = synthetic_study_small / "dicom" / "spect_004h"
    ct_files = sorted((session / "CT").glob("*.dcm"))
    spect = read_image(session / "NM").image
    shape = sitk.GetArrayViewFromImage(spect).shape
    k, j, i = np.indices(shape)
    centre = np.array(shape) // 2
    ball = (k - centre[0]) ** 2 + (j - centre[1]) ** 2 + (i - centre[2]) ** 2 <= 9
    box = np.zeros(shape, bool)
    box[centre[0] + 4 : centre[0] + 6, 2:5, 3:7] = True
    masks = {"kidney_left": _mask(spect, ball), "lesion_01": _mask(spect, box)}
    with pytest.raises(InputError, match="grid"):
        write_seg(tmp_path / "x.dcm", masks, ct_files, grid="spect")
    path = write_seg(tmp_path / "own.dcm", masks, ct_files, grid="masks", content_datetime=WHEN)
    ds = pydicom.dcmread(path)
    assert "own grid" in ds.ContentDescription
    # one frame per (segment, slice) that holds the segment: 7 slices of the ball, 2 of the box
    assert int(ds.NumberOfFrames) == int(ball.any(axis=(1, 2)).sum() + box.any(axis=(1, 2)).sum())
    referenced = {r.SeriesInstanceUID for r in ds.ReferencedSeriesSequence}
    assert referenced == {pydicom.dcmread(ct_files[0], stop_before_pixels=True).SeriesInstanceUID}
    back = read_seg_on(path, spect)
    for name, mask in masks.items():
        assert np.array_equal(
            sitk.GetArrayFromImage(back[name]), sitk.GetArrayViewFromImage(mask)
        ), name
    again = write_seg(tmp_path / "again.dcm", masks, ct_files, grid="masks", content_datetime=WHEN)
    assert again.read_bytes() == path.read_bytes()
    if shutil.which("dciodvfy") is not None:
        result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
        errors = [line for line in (result.stdout + result.stderr).splitlines() if "Error" in line]
        assert not errors, errors


def test_seg_bad_input(pet, masks, tmp_path, synthetic_study_small):
    files, image = pet
    two = sitk.GetArrayFromImage(masks["lesion_01"]) * 2
    with pytest.raises(InputError, match="not binary"):
        write_seg(tmp_path / "b.dcm", {"lesion_01": _mask(image, two)}, files)
    shifted = sitk.Image(masks["lesion_02"])
    shifted.SetOrigin([v + 1.0 for v in image.GetOrigin()])
    with pytest.raises(GeometryError, match="another grid than mask"):
        write_seg(tmp_path / "b.dcm", {"a": masks["lesion_01"], "b": shifted}, files)
    with pytest.raises(InputError, match="label"):
        write_seg(tmp_path / "b.dcm", {"x" * 65: masks["lesion_01"]}, files)
    with pytest.raises(InputError, match="segment_info names"):
        write_seg(tmp_path / "b.dcm", masks, files, segment_info={"liver": {}})
    nm = next((synthetic_study_small / "dicom" / "spect_004h" / "NM").glob("*"))
    with pytest.raises(InputError, match="multi-frame"):
        write_seg(tmp_path / "b.dcm", masks, [nm])
    # no lesion at all: no SEG (a SEG needs a segment), nothing written
    assert write_seg(tmp_path / "none.dcm", {}, files) is None
    assert not (tmp_path / "none.dcm").exists()
    assert not list(tmp_path.glob("*.tmp"))


def test_read_seg_phantom_truth_matches_label_map(synthetic_study_small):
    truth = synthetic_study_small / "truth"
    labels = sitk.ReadImage(str(truth / "labels.nrrd"))
    names = json.loads((truth / "labels.json").read_text())
    masks = read_seg_on(truth / "structures_seg.dcm", labels)
    assert set(masks) == set(names.values())
    array = sitk.GetArrayViewFromImage(labels)
    for value, name in names.items():
        assert np.array_equal(sitk.GetArrayViewFromImage(masks[name]) > 0, array == int(value))
    with pytest.raises(InputError, match="not a DICOM Segmentation"):
        read_seg(next((synthetic_study_small / "dicom" / "pet_planning" / "PT").glob("*.dcm")))


def test_sr_round_trip_values_and_references(seg_path, sr_path):
    assert read_measurement_sr(sr_path) == {
        name: {k: float(v) for k, v in values.items()} for name, values in MEASUREMENTS.items()
    }
    sr = hd.sr.srread(sr_path)
    groups = sr.content.get_volumetric_roi_measurement_groups()
    seg = pydicom.dcmread(seg_path)
    numbers = {item.SegmentLabel: item.SegmentNumber for item in seg.SegmentSequence}
    tracking = {item.SegmentLabel: item.TrackingUID for item in seg.SegmentSequence}
    # groups follow the SEG's segment order (QuantitativeReporting pairs them by index)
    assert [str(g.tracking_identifier) for g in groups] == ["lesion_01", "lesion_02", "kidney_left"]
    for group in groups:
        name = str(group.tracking_identifier)
        segment = group.referenced_segment
        assert segment.referenced_sop_instance_uid == seg.SOPInstanceUID
        assert segment.referenced_segment_numbers == [numbers[name]]
        assert group.tracking_uid == tracking[name]
    units = {}
    for g in groups:
        for m in g.get_measurements():
            derivation = m.derivation.meaning if m.derivation else ""
            units[(str(g.tracking_identifier), m.name.meaning, derivation)] = m.unit.value
    assert units[("lesion_01", "SUVbw", "Maximum")] == "g/ml{SUVbw}"
    assert units[("lesion_01", "SUVbw", "Peak Value Within ROI")] == "g/ml{SUVbw}"
    assert units[("lesion_01", "Volume", "")] == "ml"
    assert units[("lesion_01", "Nuclear Medicine Tomographic Activity", "Mean")] == "Bq/ml"
    assert units[("kidney_left", "Absorbed Dose", "Mean")] == "Gy"


def test_sr_layout_quantitative_reporting_reads(seg_path, sr_path):
    """What QuantitativeReporting's DICOMTID1500Plugin checks before handing the file to
    dcmqi's tid1500reader: SR modality, an SR storage class it knows, TID 1500, the SEG in
    the evidence."""
    ds = pydicom.dcmread(sr_path)
    assert ds.Modality == "SR"
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert ds.ConceptNameCodeSequence[0].CodeValue == "126000"  # Imaging Measurement Report
    evidence = [
        sop
        for study in ds.CurrentRequestedProcedureEvidenceSequence
        for series in study.ReferencedSeriesSequence
        for sop in series.ReferencedSOPSequence
    ]
    seg = pydicom.dcmread(seg_path, stop_before_pixels=True)
    referenced = {(s.ReferencedSOPClassUID, s.ReferencedSOPInstanceUID) for s in evidence}
    assert (seg.SOPClassUID, seg.SOPInstanceUID) in referenced
    assert ds.PatientID == seg.PatientID and ds.StudyInstanceUID == seg.StudyInstanceUID


def test_sr_suv_flavour_and_bad_input(pet, seg_path, tmp_path):
    files, _ = pet
    lbm = write_measurement_sr(
        tmp_path / "lbm.dcm",
        seg_path,
        files,
        {"lesion_01": {"suv_max": 9.0, "total_lesion_uptake_mL": 3.0}},
        units={"suv_max": "g/ml{SUVlbm(Janma)}"},
    )
    group = hd.sr.srread(lbm).content.get_volumetric_roi_measurement_groups()[0]
    found = {m.name.value: m.unit.value for m in group.get_measurements()}
    assert found == {"126405": "g/ml{SUVlbm(Janma)}", "TLU": "ml{SUVlbm(Janma)}"}
    cases = [
        ({"lesion_01": {"suv_max": float("nan")}}, None, InputError, "not a finite number"),
        ({"lesion_09": {"suv_max": 1.0}}, None, InputError, "does not hold"),
        ({"lesion_01": {"suv_maximum": 1.0}}, None, InputError, "unknown measurement keys"),
        ({"lesion_01": {"volume_mL": 1.0}}, {"volume_mL": "l"}, UnitsError, "contradicts"),
        ({"lesion_01": {"suv_max": 1.0}}, {"suv_max": "Bq/ml"}, UnitsError, "not an SUV unit"),
    ]
    for measurements, units, error, message in cases:
        with pytest.raises(error, match=message):
            write_measurement_sr(tmp_path / "bad.dcm", seg_path, files, measurements, units=units)
    assert not (tmp_path / "bad.dcm").exists()
    assert write_measurement_sr(tmp_path / "none.dcm", seg_path, files, {}) is None


def test_sr_deterministic(pet, seg_path, sr_path, tmp_path):
    files, _ = pet
    again = write_measurement_sr(
        tmp_path / "again.dcm", seg_path, files, MEASUREMENTS, content_datetime=WHEN
    )
    assert again.read_bytes() == sr_path.read_bytes()


@pytest.mark.skipif(
    shutil.which("dciodvfy") is None,
    reason="dciodvfy not on PATH (install the Debian package dicom3tools)",
)
def test_seg_and_sr_pass_dciodvfy(seg_path, sr_path):
    for path in (seg_path, sr_path):
        result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
        errors = [line for line in (result.stdout + result.stderr).splitlines() if "Error" in line]
        assert not errors, f"{Path(path).name}: {errors}"
