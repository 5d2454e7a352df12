"""DICOM RT Dose export: round trip through our reader, pydicom and SimpleITK (GDCM), the
reference CT's frame of reference, precision of DoseGridScaling, dciodvfy, bad input."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from theranostics.errors import GeometryError, InputError, UnitsError
from theranostics.io import read_image
from theranostics.io.rtdose import MAX_STORED, read_rtdose, write_rtdose

WHEN = datetime(2024, 5, 1, 12, 0, 0)


@pytest.fixture(scope="module")
def session(synthetic_study_small):
    folder = synthetic_study_small / "dicom" / "spect_004h"
    ct_files = sorted((folder / "CT").glob("*.dcm"))
    spect = read_image(folder / "NM").image  # the SPECT grid, same frame of reference
    rng = np.random.default_rng(7)
    values = rng.gamma(2.0, 1.5, size=sitk.GetArrayViewFromImage(spect).shape)
    values[40, 30, 30] = 61.7  # a hot voxel sets the maximum
    dose = sitk.GetImageFromArray(values)
    dose.CopyInformation(spect)
    return ct_files, dose, values


@pytest.fixture(scope="module")
def written(session, tmp_path_factory):
    ct_files, dose, _ = session
    out = tmp_path_factory.mktemp("rd") / "dose.dcm"
    return write_rtdose(out, dose, ct_files, description="Lu-177 dose", content_datetime=WHEN)


def test_round_trip_values_geometry_and_frame_of_reference(session, written):
    ct_files, dose, values = session
    ds = pydicom.dcmread(written)
    ct = pydicom.dcmread(ct_files[0], stop_before_pixels=True)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.481.2" and ds.Modality == "RTDOSE"
    for keyword in ("FrameOfReferenceUID", "StudyInstanceUID", "PatientID", "PatientName"):
        assert ds.data_element(keyword).value == ct.data_element(keyword).value, keyword
    assert (ds.DoseUnits, ds.DoseType, ds.DoseSummationType) == ("GY", "PHYSICAL", "PLAN_OVERVIEW")
    assert (ds.BitsAllocated, ds.PixelRepresentation) == (32, 0)
    scaling = float(ds.DoseGridScaling)
    stored = ds.pixel_array
    assert stored.max() <= MAX_STORED and stored.max() >= MAX_STORED * (1 - 1e-8)
    assert float(ds.GridFrameOffsetVector[0]) == 0.0
    back = read_rtdose(written)
    assert back.GetSize() == dose.GetSize()
    np.testing.assert_allclose(back.GetOrigin(), dose.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(back.GetSpacing(), dose.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(back.GetDirection(), dose.GetDirection(), atol=1e-9)
    error = np.abs(sitk.GetArrayFromImage(back) - values)
    assert error.max() <= scaling / 2 * (1 + 1e-6)
    assert scaling / values.max() < 3e-10  # about 2^-32 of the maximum


def test_simpleitk_reads_the_same_grid(session, written):
    _, dose, values = session
    gdcm = sitk.ReadImage(str(written))  # GDCM: raw stored values, geometry from the header
    np.testing.assert_allclose(gdcm.GetOrigin(), dose.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(gdcm.GetSpacing(), dose.GetSpacing(), atol=1e-6)
    scaling = float(pydicom.dcmread(written, stop_before_pixels=True).DoseGridScaling)
    raw = sitk.GetArrayFromImage(gdcm).astype(np.float64).reshape(values.shape)
    assert np.abs(raw * scaling - values).max() <= scaling / 2 * (1 + 1e-6)


def test_left_handed_grid_written_with_increasing_offsets(session, tmp_path):
    ct_files, dose, values = session
    flipped = sitk.GetImageFromArray(values[::-1].copy())
    direction = np.array(dose.GetDirection()).reshape(3, 3)
    direction[:, 2] *= -1
    flipped.SetDirection(tuple(direction.ravel()))
    flipped.SetSpacing(dose.GetSpacing())
    flipped.SetOrigin(dose.TransformIndexToPhysicalPoint((0, 0, dose.GetSize()[2] - 1)))
    path = write_rtdose(tmp_path / "lh.dcm", flipped, ct_files)
    offsets = [float(v) for v in pydicom.dcmread(path).GridFrameOffsetVector]
    assert np.all(np.diff(offsets) > 0)
    back = read_rtdose(path)  # the same physical dose, now on the right-handed grid
    np.testing.assert_allclose(back.GetOrigin(), dose.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(back.GetDirection(), dose.GetDirection(), atol=1e-9)
    scaling = float(pydicom.dcmread(path, stop_before_pixels=True).DoseGridScaling)
    assert np.abs(sitk.GetArrayFromImage(back) - values).max() <= scaling / 2 * (1 + 1e-6)


def test_deterministic_and_folder_output(session, written, tmp_path):
    ct_files, dose, _ = session
    again = write_rtdose(tmp_path, dose, ct_files, description="Lu-177 dose", content_datetime=WHEN)
    assert again.name == "RD_Lu_177_dose.dcm"
    assert again.read_bytes() == written.read_bytes()


def test_zero_and_noise_negative_doses(session, tmp_path):
    ct_files, dose, values = session
    zero = sitk.Image(dose.GetSize(), sitk.sitkFloat64)
    zero.CopyInformation(dose)
    path = write_rtdose(tmp_path / "zero.dcm", zero, ct_files)
    assert not sitk.GetArrayViewFromImage(read_rtdose(path)).any()
    noisy = values.copy()
    noisy[0, 0, 0] = -1e-9 * values.max()  # FFT round-off: stored as 0 Gy
    image = sitk.GetImageFromArray(noisy)
    image.CopyInformation(dose)
    path = write_rtdose(tmp_path / "noisy.dcm", image, ct_files)
    assert read_rtdose(path)[0, 0, 0] == 0.0


def test_bad_input(session, tmp_path, synthetic_study_small):
    ct_files, dose, values = session
    for bad_value, message in ((np.nan, "NaN"), (-1.0, "negative")):
        bad = values.copy()
        bad[1, 2, 3] = bad_value
        image = sitk.GetImageFromArray(bad)
        image.CopyInformation(dose)
        with pytest.raises(InputError, match=message):
            write_rtdose(tmp_path / "bad.dcm", image, ct_files)
    far = sitk.Image(dose)
    far.SetOrigin([v + 5000.0 for v in dose.GetOrigin()])
    with pytest.raises(GeometryError, match="does not overlap"):
        write_rtdose(tmp_path / "bad.dcm", far, ct_files)
    pt = sorted((synthetic_study_small / "dicom" / "pet_planning" / "PT").glob("*.dcm"))
    with pytest.raises(InputError, match="not CT"):
        write_rtdose(tmp_path / "bad.dcm", dose, pt)
    with pytest.raises(InputError, match="dose_summation_type"):
        write_rtdose(tmp_path / "bad.dcm", dose, ct_files, dose_summation_type="BEAM")
    with pytest.raises(InputError, match="reference CT"):
        write_rtdose(tmp_path / "bad.dcm", dose, [])
    assert not (tmp_path / "bad.dcm").exists()
    with pytest.raises(InputError, match="not a grid-based RT Dose"):
        read_rtdose(ct_files[0])
    relative = pydicom.dcmread(write_rtdose(tmp_path / "good.dcm", dose, ct_files))
    relative.DoseUnits = "RELATIVE"
    relative.save_as(tmp_path / "relative.dcm")
    with pytest.raises(UnitsError, match="DoseUnits"):
        read_rtdose(tmp_path / "relative.dcm")


@pytest.mark.skipif(
    shutil.which("dciodvfy") is None,
    reason="dciodvfy not on PATH (install the Debian package dicom3tools)",
)
def test_passes_dciodvfy(written, tmp_path):
    """dicom3tools asserts on 32-bit OW pixel data (it assumes at most 16 bits per word), so
    the check runs on a copy whose pixels are re-encoded in 16 bits with the scaling
    adjusted; every other attribute is the file's own."""
    ds = pydicom.dcmread(written)
    stored = ds.pixel_array
    ds.PixelData = (stored >> 16).astype("<u2").tobytes()
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.DoseGridScaling = f"{float(ds.DoseGridScaling) * 65536:.10g}"
    copy = tmp_path / "rd16.dcm"
    ds.save_as(copy)
    result = subprocess.run(["dciodvfy", str(copy)], capture_output=True, text=True)
    errors = [line for line in (result.stdout + result.stderr).splitlines() if "Error" in line]
    assert not errors, errors
