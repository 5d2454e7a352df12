"""The cohort manifest, the task options (command line merged with manifest cells), the
fingerprint of a study and the refusals with exit code 2. No Dask needed."""

from __future__ import annotations

import pytest

from theranostics.cli.main import main
from theranostics.cohort import ManifestError, read_manifest
from theranostics.cohort.tasks import (
    TASKS,
    content_digest,
    dosimetry_headline,
    fingerprint,
    study_options,
    task_argv,
    tokenize_options,
)
from theranostics.errors import OptionError


def _write(path, text):
    path.write_text(text)
    return path


def test_csv_manifest_rows_and_relative_paths(tmp_path):
    (tmp_path / "s1").mkdir()
    manifest = _write(
        tmp_path / "m.csv",
        "id,study_dir,masks,calibration_cps_per_MBq\n"
        "p1,s1,m1.nrrd,12.5\n"
        "p2,/abs/s2,,\n"
        ",,,\n",  # an empty line of cells is no study
    )
    rows = read_manifest(manifest)
    assert [r.id for r in rows] == ["p1", "p2"]
    assert rows[0].study_dir == tmp_path / "s1"
    assert rows[0].options == {"masks": "m1.nrrd", "calibration_cps_per_MBq": "12.5"}
    assert rows[1].options == {}  # empty cells keep the command line's values


def test_yaml_manifest(tmp_path):
    manifest = _write(
        tmp_path / "m.yaml",
        "studies:\n  - id: a\n    study_dir: sa\n    psf_fwhm_mm: 10\n  - {id: b, study_dir: sb}\n",
    )
    rows = read_manifest(manifest)
    assert [(r.id, r.options) for r in rows] == [("a", {"psf_fwhm_mm": "10"}), ("b", {})]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("study_dir\ns1\n", "'id' is missing"),
        ("id,study_dir\na,s\na,t\n", "already used on line 2"),
        ("id,study_dir\n../up,s\n", "not usable as a folder name"),
        ("id,study_dir\n.hidden,s\n", "not usable as a folder name"),
        ("id,study_dir\na,\n", "has no study_dir"),
        ("id,study_dir\n", "no studies"),
    ],
)
def test_bad_manifests_are_refused_by_line_and_column(tmp_path, text, words):
    with pytest.raises(ManifestError, match=words) as info:
        read_manifest(_write(tmp_path / "m.csv", text))
    assert str(tmp_path / "m.csv") in str(info.value)


def test_row_cells_override_the_command_line(tmp_path):
    masks = _write(tmp_path / "labels.nrrd", "x")
    manifest = _write(
        tmp_path / "m.csv",
        "id,study_dir,masks,calibration-cps-per-MBq,no_report\np1,s,labels.nrrd,12,false\n",
    )
    (row,) = read_manifest(manifest)
    command_line = tokenize_options(
        "dosimetry", ["--calibration-cps-per-MBq", "10", "--no-report", "--method=led"]
    )
    options = study_options("dosimetry", row, command_line, base=tmp_path, manifest=manifest)
    argv = task_argv("dosimetry", row.study_dir, options, tmp_path / "out")
    assert argv[:2] == ["dosimetry", str(tmp_path / "s")]
    assert argv[-2:] == ["-o", str(tmp_path / "out")]
    assert argv.count("--calibration-cps-per-MBq") == 1
    assert argv[argv.index("--calibration-cps-per-MBq") + 1] == "12"  # the row wins
    assert "--no-report" not in argv  # a false flag removes the command line's
    assert argv[argv.index("--method") + 1] == "led"
    assert argv[argv.index("--masks") + 1] == str(masks)  # relative to the manifest


def test_masks_column_fills_each_tasks_own_option():
    assert TASKS["dosimetry"].masks_option == "--masks"
    assert TASKS["lesions"].masks_option == "--exclude-organs"
    assert TASKS["plan-sirt"].masks_option == "--structures"


def test_unknown_and_reserved_options_are_refused(tmp_path):
    with pytest.raises(OptionError, match="--not-an-option"):
        tokenize_options("dosimetry", ["--not-an-option", "1"])
    with pytest.raises(OptionError, match="sets the output itself"):
        tokenize_options("dosimetry", ["-o", "x"])
    manifest = _write(tmp_path / "m.csv", "id,study_dir,colour\np1,s,red\n")
    (row,) = read_manifest(manifest)
    with pytest.raises(ManifestError, match="'colour' is not an option"):
        study_options("dosimetry", row, [], base=tmp_path, manifest=manifest)


def test_fingerprint_follows_content_and_parameters(tmp_path):
    study = tmp_path / "study"
    (study / "a").mkdir(parents=True)
    (study / "a" / "f.dcm").write_bytes(b"one")
    masks = _write(tmp_path / "m.nrrd", "mask")
    opts = [("--masks", [str(masks)]), ("--calibration-cps-per-MBq", ["10"])]
    first = fingerprint("dosimetry", study, opts)
    assert fingerprint("dosimetry", study, opts) == first
    assert (
        fingerprint("dosimetry", study, [opts[0], ("--calibration-cps-per-MBq", ["11"])]) != first
    )
    moved = tmp_path / "moved"
    study.rename(moved)  # same content elsewhere: still up to date
    assert fingerprint("dosimetry", moved, opts) == first
    (moved / "a" / "f.dcm").write_bytes(b"two")
    assert fingerprint("dosimetry", moved, opts) != first
    (moved / "a" / "f.dcm").write_bytes(b"one")
    masks.write_text("other mask")  # an input named by an option is hashed too
    assert fingerprint("dosimetry", moved, opts) != first
    assert content_digest(tmp_path / "nothing") == "missing"


def test_dosimetry_headline_reads_per_structure_numbers():
    doc = {
        "administered_activity_MBq": 7400.0,
        "structures": {
            "liver": {
                "category": "organ",
                "mean_dose_Gy": 3.7,
                "dose_per_activity_Gy_per_GBq": 0.5,
            },
            "lesion_01": {"category": "lesion", "mean_dose_Gy": 20.0},
            "bad": {"mean_dose_Gy": float("nan")},
        },
    }
    head = dosimetry_headline(doc)
    assert head.per_structure["mean_dose_Gy"] == {"liver": 3.7, "lesion_01": 20.0}
    assert head.per_structure["Gy_per_GBq"] == {"liver": 0.5}
    assert head.lesions == ["lesion_01"]
    assert head.columns()["liver_mean_dose_Gy"] == 3.7


def test_cli_refuses_bad_cohort_inputs_with_exit_2(tmp_path, capsys):
    assert main(["cohort", "run", str(tmp_path / "none.csv"), "-o", str(tmp_path / "o")]) == 2
    assert "manifest file does not exist" in capsys.readouterr().err
    manifest = _write(tmp_path / "m.csv", "id,study_dir\np1,s\n")
    argv = ["cohort", "run", str(manifest), "-o", str(tmp_path / "o")]
    assert main([*argv, "--task", "dosimetry", "--no-such-option"]) == 2
    assert "--no-such-option" in capsys.readouterr().err
    assert main([*argv, "--workers", "0"]) == 2
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_a_row_with_a_refused_value_fails_alone_without_running(tmp_path):
    """A cell the task's parser refuses is that study's failure, found before anything is
    submitted (here nothing else is left, so no cluster is started at all)."""
    from theranostics.cohort import run_cohort

    (tmp_path / "s").mkdir()
    manifest = _write(
        tmp_path / "m.csv", "id,study_dir,masks,calibration_cps_per_MBq\np1,s,m.nrrd,abc\n"
    )
    result = run_cohort(manifest, tmp_path / "out", task="dosimetry")
    (record,) = result.records
    assert record["status"] == "failed" and result.submitted == 0
    assert record["error"].startswith("TaskOptionError: ")
    assert "invalid float value: 'abc'" in record["error"]
    assert (tmp_path / "out" / "cohort_summary.csv").is_file()
    assert (tmp_path / "out" / "cohort_report.html").is_file()
