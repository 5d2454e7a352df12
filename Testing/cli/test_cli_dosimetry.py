"""CLI ``theranostics dosimetry``: parser, refusals with exit code 2, and an end-to-end run."""

from __future__ import annotations

import json

import pytest

from theranostics.cli.main import build_parser, main


def test_parser_has_the_documented_options():
    args = build_parser().parse_args(
        [
            "dosimetry",
            "S",
            "--masks",
            "m.nrrd",
            "--plan",
            "p.json",
            "--method",
            "led",
            "--calibration-cps-per-MBq",
            "10",
            "-o",
            "out",
        ]
    )
    assert args.method == "led" and args.calibration_cps_per_MBq == 10.0
    assert args.plan == "p.json" and args.out == "out" and args.masks == "m.nrrd"
    # like-with-like by default; the raw comparison is an option
    assert args.comparison_resolution == "matched" and args.planned_dose is None
    assert args.planned_psf_fwhm_mm == 0.0 and args.comparison_psf_fwhm_mm is None
    raw = build_parser().parse_args(
        [
            *("dosimetry", "S", "--masks", "m", "-o", "o", "--planned-dose", "d.nrrd"),
            *("--comparison-resolution", "raw", "--comparison-psf-fwhm-mm", "10"),
        ]
    )
    assert raw.comparison_resolution == "raw" and raw.planned_dose == "d.nrrd"
    assert raw.comparison_psf_fwhm_mm == 10.0
    # D50/D98/D2 reported by default, flagged on request
    assert args.strict_dvh_checks is False
    strict = build_parser().parse_args(
        ["dosimetry", "S", "--masks", "m", "-o", "o", "--strict-dvh-checks"]
    )
    assert strict.strict_dvh_checks is True
    with pytest.raises(SystemExit):
        build_parser().parse_args(
            ["dosimetry", "S", "--masks", "m", "-o", "o", "--comparison-resolution", "blurry"]
        )


def test_missing_study_folder_exits_2(tmp_path, capsys):
    code = main(
        [
            "dosimetry",
            str(tmp_path / "none"),
            "--masks",
            str(tmp_path / "m.nrrd"),
            "--calibration-cps-per-MBq",
            "10",
            "-o",
            str(tmp_path / "o"),
            "--quiet",
        ]
    )
    assert code == 2
    assert "dosimetry: error" in capsys.readouterr().err


@pytest.mark.slow
def test_end_to_end_small_study(synthetic_study_small, tmp_path, capsys):
    pytest.importorskip("theranostics.study")
    out = tmp_path / "out"
    code = main(
        [
            "dosimetry",
            str(synthetic_study_small),
            "--masks",
            str(synthetic_study_small / "truth" / "labels.nrrd"),
            "--method",
            "led",
            "--calibration-cps-per-MBq",
            "10",
            "-o",
            str(out),
            "--quiet",
            "--no-report",
        ]
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["structures"]["liver"]["mean_dose_Gy"] > 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["schema"] == "theranostics-dosimetry/1"


@pytest.mark.slow
def test_plan_of_another_patient_is_refused(synthetic_study_small, tmp_path, capsys):
    pytest.importorskip("theranostics.study")
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "schema": "theranostics-plan-rlt/1",
                "patient_id": "ANOTHER-PATIENT",
                "structures": [{"name": "liver", "absorbed_dose_per_cycle_Gy": 1.0}],
            }
        )
    )
    code = main(
        [
            "dosimetry",
            str(synthetic_study_small),
            "--masks",
            str(synthetic_study_small / "truth" / "labels.nrrd"),
            "--plan",
            str(plan),
            "--calibration-cps-per-MBq",
            "10",
            "-o",
            str(tmp_path / "o"),
            "--quiet",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "ANOTHER-PATIENT" in err and "PHANTOM" in err
    assert not (tmp_path / "o").exists()
