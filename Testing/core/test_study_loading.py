"""Loading multi-time-point SPECT/CT studies: pairing, calibration, time axis, bad input."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from theranostics.errors import GeometryError, InputError, InvalidTagError, TimingError
from theranostics.study import load_spect_study

CAL = 10.0  # cps/MBq, the synthetic study's calibration


@pytest.fixture(scope="module")
def small_study(small_study_loaded):
    return small_study_loaded  # loaded once per session at CAL (Testing/conftest.py)


def test_synthetic_study_time_points_and_activity(small_study, synthetic_study_small):
    truth = json.loads((synthetic_study_small / "truth" / "ground_truth.json").read_text())
    study = small_study
    assert study.times_h == pytest.approx([tp["time_h"] for tp in truth["time_points"]])
    assert [tp.name for tp in study.time_points] == ["4h", "24h", "96h", "168h"]
    assert study.administration.nuclide == "Lu-177"
    assert study.administration.activity_MBq == pytest.approx(7400.0)
    assert study.patient_id == truth["patient"]["patient_id"]
    for tp, tp_truth in zip(study.time_points, truth["time_points"], strict=True):
        assert tp.spect.meta.quantity.units == "Bq/mL"
        assert tp.spect.meta.quantity.decay_correction == "START"
        assert tp.ct.meta.quantity.units == "HU"
        assert tp.spect.meta.frame_of_reference_uid == tp.ct.meta.frame_of_reference_uid
        assert tp.duration_s == pytest.approx(tp_truth["duration_s"])
        total_MBq = float(tp.spect.array().sum()) * tp.spect.voxel_volume_mL / 1e6
        # Counts are Poisson and the PSF loses a little at the field-of-view edge.
        assert total_MBq == pytest.approx(tp_truth["total_activity_MBq"], rel=0.02)
    # The planning PET/CT is ignored, and said so.
    assert any("ignored PET" in p for p in study.problems)
    assert any("belongs to no SPECT" in p for p in study.problems)


def test_progress_is_reported(synthetic_study_small, tmp_path):
    session = _copy_session(synthetic_study_small, "spect_024h", tmp_path / "one")
    calls = []
    load_spect_study(session.parent, calibration_cps_per_MBq=CAL,
                     progress=lambda f, m: calls.append((f, m)))  # fmt: skip
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def _copy_session(study: Path, name: str, dest: Path, edit=None, new_uids: bool = False) -> Path:
    """Copy one SPECT/CT session, optionally editing every header (and giving it new series,
    study and frame-of-reference UIDs)."""
    src = study / "dicom" / name
    out = dest / name
    if edit is None and not new_uids:
        shutil.copytree(src, out)
        return out
    uids = {key: generate_uid() for key in ("frame", "study", "CT", "NM")}
    for file in sorted(src.rglob("*.dcm")):
        ds = pydicom.dcmread(file)
        if new_uids:
            ds.FrameOfReferenceUID = uids["frame"]
            ds.StudyInstanceUID = uids["study"]
            ds.SeriesInstanceUID = uids[file.parent.name]
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        if edit is not None:
            edit(ds, file.parent.name)
        target = out / file.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(target)
    return out


def test_single_time_point(synthetic_study_small, tmp_path):
    _copy_session(synthetic_study_small, "spect_096h", tmp_path)
    study = load_spect_study(tmp_path, calibration_cps_per_MBq=CAL)
    assert len(study.time_points) == 1
    assert study.time_points[0].time_h == pytest.approx(96.0)


def test_spect_without_ct_is_refused(synthetic_study_small, tmp_path):
    shutil.copytree(synthetic_study_small / "dicom" / "spect_024h" / "NM", tmp_path / "NM")
    with pytest.raises(GeometryError, match="no CT sharing its FrameOfReferenceUID"):
        load_spect_study(tmp_path, calibration_cps_per_MBq=CAL)


def test_two_cts_for_one_spect_are_ambiguous(synthetic_study_small, tmp_path):
    _copy_session(synthetic_study_small, "spect_024h", tmp_path / "a")
    second_ct = generate_uid()

    def other_ct_series(ds, kind):
        ds.SeriesInstanceUID = second_ct
        ds.SOPInstanceUID = generate_uid()

    src = synthetic_study_small / "dicom" / "spect_024h" / "CT"
    for file in sorted(src.glob("*.dcm")):
        ds = pydicom.dcmread(file)
        other_ct_series(ds, "CT")
        (tmp_path / "b").mkdir(exist_ok=True)
        ds.save_as(tmp_path / "b" / file.name)
    with pytest.raises(InputError, match="ambiguous") as info:
        load_spect_study(tmp_path, calibration_cps_per_MBq=CAL)
    assert "2 CT series" in str(info.value)


def test_two_patients_are_refused(synthetic_study_small, tmp_path):
    _copy_session(synthetic_study_small, "spect_004h", tmp_path)

    def other_patient(ds, kind):
        ds.PatientID = "SOMEONE-ELSE"

    _copy_session(synthetic_study_small, "spect_024h", tmp_path, edit=other_patient)
    with pytest.raises(InvalidTagError, match="two patients") as info:
        load_spect_study(tmp_path, calibration_cps_per_MBq=CAL)
    assert "spect_004h" in str(info.value) and "spect_024h" in str(info.value)


def test_two_administrations_are_refused(synthetic_study_small, tmp_path):
    _copy_session(synthetic_study_small, "spect_004h", tmp_path)

    def other_activity(ds, kind):
        if kind == "NM":
            ds.RadiopharmaceuticalInformationSequence[0].RadionuclideTotalDose = "6000"

    _copy_session(synthetic_study_small, "spect_024h", tmp_path, edit=other_activity)
    with pytest.raises(InvalidTagError, match="two administrations") as info:
        load_spect_study(tmp_path, calibration_cps_per_MBq=CAL)
    message = str(info.value)
    assert "7400" in message and "6000" in message and "RadionuclideTotalDose" in message


def test_duplicate_time_point_is_refused(synthetic_study_small, tmp_path):
    _copy_session(synthetic_study_small, "spect_024h", tmp_path / "a")
    _copy_session(synthetic_study_small, "spect_024h", tmp_path / "b", new_uids=True)
    with pytest.raises(TimingError, match="same time after administration"):
        load_spect_study(tmp_path, calibration_cps_per_MBq=CAL)


def test_acquisition_before_administration_is_refused(synthetic_study_small, tmp_path):
    def late_injection(ds, kind):
        if kind == "NM":
            item = ds.RadiopharmaceuticalInformationSequence[0]
            item.RadiopharmaceuticalStartDateTime = "20240320093000"
            if "RadiopharmaceuticalStartTime" in item:
                item.RadiopharmaceuticalStartTime = "093000"

    _copy_session(synthetic_study_small, "spect_024h", tmp_path, edit=late_injection)
    with pytest.raises(TimingError):
        load_spect_study(tmp_path, calibration_cps_per_MBq=CAL)


def test_folder_without_spect(synthetic_study_small, tmp_path):
    shutil.copytree(synthetic_study_small / "dicom" / "spect_024h" / "CT", tmp_path / "CT")
    with pytest.raises(InputError, match="no SPECT"):
        load_spect_study(tmp_path, calibration_cps_per_MBq=CAL)


def test_real_siemens_maa_study(siemens_maa_dir):
    study = load_spect_study(siemens_maa_dir, calibration_cps_per_MBq=9.5)
    assert len(study.time_points) == 1
    tp = study.time_points[0]
    assert study.administration.nuclide == "Tc-99m"
    assert study.administration.activity_MBq == pytest.approx(142.45)
    # The headers lack the administration time: loaded, with a note, no time axis.
    assert tp.time_h is None
    assert any("administration time unknown" in p for p in study.problems)
    assert tp.spect.meta.quantity.units == "Bq/mL"
    assert tp.ct.image.GetSize() == (512, 512, 78)
    counts = float(np.sum(tp.spect.array()))
    assert counts > 0 and np.isfinite(counts)
    assert any("RTSTRUCT" in p for p in study.problems)


def test_real_study_with_given_administration_time(siemens_maa_dir):
    given = datetime(2020, 12, 22, 13, 0, 0)
    study = load_spect_study(
        siemens_maa_dir, calibration_cps_per_MBq=9.5, administration_datetime=given
    )
    tp = study.time_points[0]
    expected_h = (tp.acquisition_start - given).total_seconds() / 3600.0
    assert tp.time_h == pytest.approx(expected_h)
