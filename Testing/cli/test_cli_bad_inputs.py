"""Bad workflow inputs through the fast commands (dose, gamma, plan-rlt, kernel,
sphere-svalue): every one is refused with exit 2 and one line naming what is wrong, never a
traceback and never a result computed from an impossible value."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from theranostics.cli.main import main


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("THERANOSTICS_LOG_DIR", str(tmp_path / "logs"))

    def write(name, array):
        image = sitk.GetImageFromArray(np.asarray(array, np.float32))
        if image.GetDimension() == 3:
            image.SetSpacing((4.0, 4.0, 4.0))
        sitk.WriteImage(image, str(tmp_path / name))

    write("tia.nrrd", np.ones((6, 6, 6)))
    write("zero.nrrd", np.zeros((6, 6, 6)))
    write("nan.nrrd", np.full((6, 6, 6), np.nan))
    write("neg.nrrd", -np.ones((6, 6, 6)))
    write("2d.nrrd", np.ones((6, 6)))
    (tmp_path / "garbage.nrrd").write_text("hello")
    (tmp_path / "empty.json").write_text("")
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "schema.json").write_text(json.dumps({"schema": "x"}))
    return tmp_path


K = "kidney:0.6:40"
CASES = [
    (["dose", "--tia", "nan.nrrd", "--nuclide", "Lu-177", "-o", "o.nrrd"], "NaN"),
    (["dose", "--tia", "neg.nrrd", "--nuclide", "Lu-177", "-o", "o.nrrd"], "negative"),
    (["dose", "--tia", "2d.nrrd", "--nuclide", "Lu-177", "-o", "o.nrrd"], "3D"),
    (["dose", "--tia", "garbage.nrrd", "--nuclide", "Lu-177", "-o", "o.nrrd"], "cannot read"),
    (["dose", "--tia", "tia.nrrd", "--nuclide", "Xx-999", "-o", "o.nrrd"], "nuclide"),
    (["dose", "--tia", "tia.nrrd", "--nuclide", "Lu-177", "-o", "o.txt"], "format"),
    (["dose", "--tia", "tia.nrrd", "--nuclide", "Lu-177", "--ct", "2d.nrrd", "-o", "o.nrrd"], "3D"),
    (
        ["dose", "--tia", "tia.nrrd", "--nuclide", "Lu-177", "--ct", "none.nrrd", "-o", "o.nrrd"],
        "not found",
    ),
    (["gamma", "zero.nrrd", "zero.nrrd"], "> 0"),
    (["gamma", "nan.nrrd", "tia.nrrd"], "NaN"),
    (["gamma", "2d.nrrd", "tia.nrrd"], "3D"),
    (["gamma", "tia.nrrd", "tia.nrrd", "--max-gamma", "0"], "greater than 0"),
    (["gamma", "tia.nrrd", "tia.nrrd", "--dose-percent", "1e9"], "at most 100"),
    (["gamma", "tia.nrrd", "tia.nrrd", "--dta-mm", "nan"], "not a finite number"),
    (["gamma", "tia.nrrd", "tia.nrrd", "-o", "g.txt"], "format"),
    (["plan-rlt", "--oar", K, "--from-dosimetry", "empty.json"], "empty.json"),
    (["plan-rlt", "--oar", K, "--from-dosimetry", "bad.json"], "bad.json"),
    (["plan-rlt", "--oar", K, "--from-dosimetry", "schema.json"], "schema"),
    (["plan-rlt", "--oar", "kidney"], "kidney"),
    (["plan-rlt", "--oar", "kidney:x:40"], "kidney"),
    (["plan-rlt", "--oar", K, "--alpha-beta", "kidney"], "--alpha-beta"),
    (["plan-rlt", "--oar", K, "--alpha-beta", "kidney=-1"], "kidney"),
    (["plan-rlt", "--oar", K, "--previous-bed-Gy", "kidney=nan"], "kidney"),
    (["plan-rlt", "--oar", K, "--limit-bed-Gy", "kidney=0"], "kidney"),
    (["plan-rlt", "--oar", K, "--cycles", "0"], "--cycles"),
    (["plan-rlt", "--oar", K, "--cycles", "8", "--max-cycles", "2"], "at most 2 cycles"),
    (["plan-rlt", "--oar", "kidney:1e30:40"], "kidney"),
    (["plan-rlt", "--oar", K, "--standard-activity-GBq", "1e9"], "100 GBq"),
    (["plan-rlt", "--oar", K, "--activity-step-GBq", "1e9"], "100 GBq"),
    (["plan-rlt", "--oar", K, "--confidence-k", "-1"], "negative"),
    (["plan-rlt", "--oar", K, "-o", "sub"], "is a folder"),  # "sub" is made below
    (["kernel", "--nuclide", "Lu-177", "--voxel-mm", "0"], "voxel"),
    (["kernel", "--nuclide", "Lu-177", "--voxel-mm", "a,b"], "voxel size"),
    (["kernel", "--nuclide", "Lu-177", "--voxel-mm", "1e6"], "impossible"),
    (["kernel", "--nuclide", "Lu-177", "--voxel-mm", "4", "--radius", "-1"], "negative"),
    (["sphere-svalue", "--nuclide", "Lu-177", "--mass-g", "0"], "greater than 0"),
    (["sphere-svalue", "--nuclide", "Lu-177", "--mass-g", "-5"], "greater than 0"),
    (["sphere-svalue", "--nuclide", "Xx", "--mass-g", "1"], "Xx"),
    (["suv", "garbage.nrrd"], "garbage.nrrd"),
    (["inspect", "empty.json"], "cannot be inspected: not a DICOM file"),
    (["suv", "none.dcm"], "not found"),
    (["tia", "none", "-o", "x.nrrd"], "not found"),
    # tac and dosimetry: refused before the study is loaded
    (["tac", ".", "--masks", "none.nrrd"], "not found"),
    (["tac", ".", "--masks", "tia.nrrd", "--names", "none.json"], "--names"),
    (["tac", ".", "--masks", "tia.nrrd", "--recovery-table", "none.csv"], "--recovery-table"),
    (["tac", ".", "--masks", "tia.nrrd", "--calibration-cps-per-MBq", "-10"], "greater than 0"),
    (["tac", ".", "--masks", "tia.nrrd", "--calibration-cps-per-MBq", "inf"], "finite"),
    (["tac", ".", "--masks", "tia.nrrd", "--psf-fwhm-mm", "-1"], "negative"),
    (["tac", ".", "--masks", "tia.nrrd", "--calibration-rel-sd", "-0.1"], "negative"),
    (["tac", ".", "--masks", "tia.nrrd", "-o", "sub"], "is a folder, a file is needed"),
    (["dosimetry", ".", "--masks", "none.nrrd", "-o", "d"], "not found"),
    (["dosimetry", ".", "--masks", "tia.nrrd", "--plan", "none.json", "-o", "d"], "--plan"),
    (["dosimetry", ".", "--masks", "tia.nrrd", "-o", "tia.nrrd"], "a folder is needed"),
    (["dosimetry", ".", "--masks", "tia.nrrd", "-o", "."], "not an earlier output"),
    (["dosimetry", ".", "--masks", "tia.nrrd", "--psf-fwhm-mm", "nan", "-o", "d"], "finite"),
]


@pytest.mark.parametrize(("argv", "expected"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_input_is_one_clean_line(files, capsys, argv, expected):
    (files / "sub").mkdir(exist_ok=True)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, f"exit {code}: {err}"
    assert "Traceback" not in err and "internal error" not in err
    lines = [line for line in err.strip().splitlines() if "error:" in line]
    assert len(lines) == 1, err
    if expected is not None:
        assert expected in lines[0], lines[0]
    assert not (files / "logs").exists()
    assert not list(files.glob(".*.partial-*")) and not list(files.glob(".o.*"))


SUV_OVERRIDES = [
    (["--administration-datetime", "1959-06-14T14:17"], "half-lives"),
    (["--weight-kg", "0.07"], "patient weight (kg) 0.07 is impossible"),
    (["--activity-MBq", "1e30"], "administered activity (MBq) 1e+30 is impossible"),
    (["--height-m", "17"], "patient height (m) 17 is impossible"),
    (["--administration-datetime", "1960-06-14T15:30"], "before the administration"),
]


@pytest.mark.parametrize(("extra", "expected"), SUV_OVERRIDES)
def test_suv_overrides_follow_the_plausibility_rules(extra, expected, capsys):
    from conftest import REAL_DATA

    pet = REAL_DATA / "pet-flt-slices" / "slice1.dcm"
    if not pet.is_file():
        pytest.skip("real PET slice not found")
    assert main(["suv", str(pet), *extra]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def test_suv_override_at_the_scan_instant_is_a_problem(capsys):
    from conftest import REAL_DATA

    pet = REAL_DATA / "pet-flt-slices" / "slice1.dcm"
    if not pet.is_file():
        pytest.skip("real PET slice not found")
    argv = ["suv", str(pet), "--json", "--administration-datetime", "1960-06-14T15:23:16.921"]
    assert main(argv) == 0
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert any("administration at the scan start instant" in p for p in problems)
