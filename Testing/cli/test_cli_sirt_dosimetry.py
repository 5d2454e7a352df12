"""``theranostics sirt-dosimetry`` on a synthetic Slicer phantom and on real patient 1."""

from __future__ import annotations

import json

import pytest
import SimpleITK as sitk
from dicom_factory import ct_slice, write_series
from sirt_nrrd import PET_1, SEG_1, sirt_nrrd_dir, write_y90_phantom

from theranostics.cli.main import main
from theranostics.io.rtdose import read_rtdose


def test_cli_json_keyed_by_segment_names_and_outputs(tmp_path, capsys):
    pet, seg = write_y90_phantom(tmp_path)
    ct_dir = tmp_path / "ct"
    write_series([ct_slice("1.2.3.4", z) for z in (0.0, 3.0, 6.0)], ct_dir)
    out = tmp_path / "out"
    argv = [
        "sirt-dosimetry",
        str(pet),
        "--structures",
        str(seg),
        "--units",
        "Bq/mL",
        "--nuclide",
        "Y-90",
        "--decay-corrected-to-implantation",
        "--reference-ct",
        str(ct_dir),
        "--json",
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc["structures"]) == ["Liver", "Tumor 1", "Normal liver"]
    for key in ("volume_mL", "mass_g", "activity_MBq", "mean_dose_Gy", "D70_Gy", "D50_Gy"):
        assert doc["structures"]["Tumor 1"][key] > 0
    assert "V100Gy_percent" in doc["structures"]["Tumor 1"]
    assert doc["timing"]["mode"].startswith("decay-corrected to implantation")
    saved = json.loads((out / "results.json").read_text())
    assert saved["structures"] == doc["structures"]
    dose = sitk.ReadImage(str(out / "dose.nrrd"))
    assert dose.GetSize() == (20, 20, 20)
    assert (out / "dose.json").is_file() and (out / "structures.csv").is_file()
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and "Tumor 1" in html
    rtdose = list(out.glob("RD_*.dcm"))
    assert len(rtdose) == 1
    back = sitk.GetArrayFromImage(read_rtdose(rtdose[0]))
    assert back.max() == pytest.approx(sitk.GetArrayFromImage(dose).max(), rel=1e-4)


def test_cli_missing_time_reference_is_exit_2(tmp_path, capsys):
    pet, seg = write_y90_phantom(tmp_path)
    argv = ["sirt-dosimetry", str(pet), "--structures", str(seg), "--units", "Bq/mL"]
    argv += ["--nuclide", "Y-90"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "implantation date-time" in err and "--decay-corrected-to-implantation" in err


def test_cli_missing_units_is_exit_2(tmp_path, capsys):
    pet, seg = write_y90_phantom(tmp_path)
    argv = ["sirt-dosimetry", str(pet), "--structures", str(seg), "--nuclide", "Y-90"]
    assert main([*argv, "--decay-corrected-to-implantation"]) == 2
    assert "--units" in capsys.readouterr().err


@pytest.mark.realdata
@pytest.mark.slow
def test_cli_real_patient_1(tmp_path, capsys):
    folder = sirt_nrrd_dir()
    out = tmp_path / "p1"
    argv = [
        "sirt-dosimetry",
        str(folder / PET_1),
        "--structures",
        str(folder / SEG_1),
        "--units",
        "Bq/mL",
        "--nuclide",
        "Y-90",
        "--decay-corrected-to-implantation",
        "--administered-activity-MBq",
        "1400",
        "--json",
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc["structures"]) == [
        "Liver",
        "Tumor 1",
        "Tumor 2",
        "Tumor 3",
        "Tumor 4",
        "Tumor 5",
        "Tumor 6",
        "Normal Tissue",
    ]
    assert 1050 < doc["total_activity_in_field_of_view_MBq"] < 1200
    assert doc["fraction_of_administered_in_field_of_view"] == pytest.approx(
        doc["total_activity_in_field_of_view_MBq"] / 1400
    )
    tumour, normal = doc["structures"]["Tumor 2"], doc["structures"]["Normal Tissue"]
    assert tumour["mean_dose_Gy"] > normal["mean_dose_Gy"]
    assert (out / "report.html").stat().st_size > 50_000
