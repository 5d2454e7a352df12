"""The ``theranostics inspect`` and ``theranostics suv`` commands, end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from dicom_factory import pet_slice, write_series
from pydicom.uid import generate_uid

from theranostics.cli.main import main

REQUIRED_KEYS = {
    "files",
    "modality",
    "series_instance_uid",
    "series_description",
    "size",
    "spacing_mm",
    "nuclide",
    "administered_activity_MBq",
    "administration_datetime",
    "acquisition_datetime",
    "units",
    "problems",
}


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.realdata
def test_inspect_json_on_siemens_study(siemens_maa_dir):
    # Through the installed console script, as a user runs it.
    proc = subprocess.run(
        [sys.executable, "-m", "theranostics", "inspect", str(siemens_maa_dir), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(proc.stdout)
    assert all(set(row) >= REQUIRED_KEYS for row in rows)
    by_modality = {row["modality"]: row for row in rows}
    assert set(by_modality) == {"CT", "NM", "RTSTRUCT"}
    nm = by_modality["NM"]
    assert nm["size"] == [128, 128, 80]
    assert nm["spacing_mm"] == pytest.approx([4.7951998710632] * 3)
    assert nm["nuclide"] == "Tc-99m"
    assert nm["administered_activity_MBq"] == pytest.approx(142.45)
    assert nm["acquisition_datetime"] == "2020-12-22T14:24:40.062000"
    assert nm["units"] == "counts"
    assert nm["administration_datetime"] is None
    assert any("administration time" in p for p in nm["problems"])
    ct = by_modality["CT"]
    assert ct["size"] == [512, 512, 78] and len(ct["files"]) == 78 and ct["units"] == "HU"
    assert "Lung" in by_modality["RTSTRUCT"]["structures"]


@pytest.mark.realdata
def test_inspect_table_on_siemens_study(capsys, siemens_maa_dir):
    code, out, _ = _run(capsys, "inspect", str(siemens_maa_dir))
    assert code == 0
    assert "Tc-99m" in out and "512x512x78" in out and "structures: Esophagus" in out


@pytest.mark.realdata
def test_suv_json_on_flt_slice(capsys, flt_pet_dir):
    code, out, _ = _run(capsys, "suv", str(flt_pet_dir / "slice1.dcm"), "--json")
    assert code == 0
    result = json.loads(out)
    for key in (
        "suv_bw_factor",
        "sul_factor",
        "decay_corrected_activity_Bq",
        "reference_datetime",
        "rule",
    ):
        assert key in result
    assert result["sul_factor"] is None  # no PatientSize in this file
    assert result["reference_datetime"] == "1960-06-14T15:23:16.921000"
    assert "START" in result["rule"]
    # height and sex given on the command line enable SUL
    code, out, _ = _run(
        capsys, "suv", str(flt_pet_dir / "slice1.dcm"), "--json", "--height-m", "1.65"
    )
    assert json.loads(out)["sul_factor"] < json.loads(out)["suv_bw_factor"]


def test_suv_without_weight_fails_clearly(capsys, tmp_path):
    uid = generate_uid()
    slices = [pet_slice(uid, 3.0 * k) for k in range(2)]
    for ds in slices:
        del ds.PatientWeight
    write_series(slices, tmp_path)
    code, _, err = _run(capsys, "suv", str(tmp_path), "--json")
    assert code == 2
    assert "PatientWeight" in err and "Fix:" in err
    code, out, _ = _run(capsys, "suv", str(tmp_path), "--json", "--weight-kg", "70")
    assert code == 0 and json.loads(out)["patient_weight_kg"] == 70


def test_inspect_reports_bad_series_and_skipped_files(capsys, tmp_path):
    uid = generate_uid()
    write_series([pet_slice(uid, 0.0), pet_slice(uid, 3.0)], tmp_path / "good")
    bad = generate_uid()
    write_series([pet_slice(bad, 0.0), pet_slice(bad, 0.0)], tmp_path / "bad")
    (tmp_path / "readme.txt").write_text("hello")
    code, out, err = _run(capsys, "inspect", str(tmp_path), "--json")
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 2
    assert sum("error" in r for r in rows) == 1
    assert "readme.txt" in err and "not a DICOM file" in err
