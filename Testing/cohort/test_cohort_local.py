"""The local default: ``theranostics cohort run`` without ``--scheduler`` starts a Dask
cluster of worker processes on this machine. Lesion analysis (fast) of two small synthetic
patients, a per-row option override, then a changed option that recomputes only its study,
through the Python API with the project's progress callback."""

from __future__ import annotations

import json

import pytest

pytest.importorskip(
    "distributed", reason="the cohort extra is not installed (pip install .[cohort])"
)

from cohort_helpers import read_summary, small_study, write_manifest

from theranostics.cli.main import main
from theranostics.cohort import run_cohort

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort-local")
    rows = [
        {"id": "p1", "study_dir": small_study(1), "min_volume_mL": ""},
        {"id": "p2", "study_dir": small_study(2), "min_volume_mL": "2.0"},
    ]
    manifest = write_manifest(root / "cohort.csv", rows)
    out = root / "out"
    argv = ["cohort", "run", str(manifest), "-o", str(out), "--task", "lesions"]
    code = main([*argv, "--workers", "2", "--min-volume-mL", "0.5", "--no-dicom"])
    return {"root": root, "out": out, "code": code, "rows": rows}


def test_local_cluster_runs_every_study(local_run):
    assert local_run["code"] == 0
    out = local_run["out"]
    doc = json.loads((out / "cohort.json").read_text())
    assert doc["scheduler"] == "local" and doc["allowed_failures"] == 3
    assert doc["counts"] == {"ok": 2, "skipped": 0, "failed": 0}
    summary = read_summary(out)
    for study_id in ("p1", "p2"):
        lesions = json.loads((out / study_id / "lesions.json").read_text())
        count = len(lesions["biomarkers"]["lesions"])
        assert count > 0
        assert float(summary[study_id]["lesion_count"]) == count
    assert "lesion_count" in (out / "cohort_report.html").read_text()


def test_manifest_cell_overrides_the_command_line(local_run):
    def option(study_id):
        argv = json.loads((local_run["out"] / study_id / "cohort_task.json").read_text())["argv"]
        i = argv.index("--min-volume-mL")
        assert argv.count("--min-volume-mL") == 1
        return argv[i + 1]

    assert option("p1") == "0.5"  # empty cell: the command line's value
    assert option("p2") == "2.0"  # the row's value
    lesions = json.loads((local_run["out"] / "p2" / "lesions.json").read_text())
    assert all(les["volume_mL"] >= 2.0 for les in lesions["biomarkers"]["lesions"])


def test_changed_option_recomputes_only_its_study_with_progress(local_run):
    rows = [dict(r) for r in local_run["rows"]]
    rows[1]["min_volume_mL"] = "3.0"
    manifest = write_manifest(local_run["root"] / "changed.csv", rows)
    seen = []
    result = run_cohort(
        manifest,
        local_run["out"],
        task="lesions",
        task_options=["--min-volume-mL", "0.5", "--no-dicom"],
        workers=1,
        progress=lambda fraction, message: seen.append((fraction, message)),
    )
    assert [r["status"] for r in result.records] == ["skipped", "ok"]
    assert result.submitted == 1
    assert seen[0][0] == pytest.approx(0.5) and seen[-1][0] == pytest.approx(1.0)
    assert "1/2 done" in seen[0][1] and "running" in seen[0][1] and "failed" in seen[0][1]
    assert seen[-1][1].startswith("2/2 done")
    lesions = json.loads((local_run["out"] / "p2" / "lesions.json").read_text())
    assert all(les["volume_mL"] >= 3.0 for les in lesions["biomarkers"]["lesions"])


def test_cancelled_run_then_resumed_does_only_what_is_missing(local_run, tmp_path):
    """The Slicer Cancel button (the progress callback raises ``Cancelled``) stops the run
    after the first study; the summary says so; the same run again computes only the rest."""
    from theranostics.progress import Cancelled

    rows = [{"id": r["id"], "study_dir": r["study_dir"]} for r in local_run["rows"]]
    manifest = write_manifest(tmp_path / "cohort.csv", rows)
    out = tmp_path / "out"
    options = ["--min-volume-mL", "0.5", "--no-dicom"]

    def cancel_after_the_first(fraction, message):
        if message.startswith("1/2 done"):
            raise Cancelled("cancelled by the user")

    with pytest.raises(Cancelled):
        run_cohort(
            manifest,
            out,
            task="lesions",
            task_options=options,
            workers=1,
            progress=cancel_after_the_first,
        )
    summary = read_summary(out)
    first = [i for i in ("p1", "p2") if summary[i]["status"] == "ok"]
    stopped = [i for i in ("p1", "p2") if summary[i]["status"] == "failed"]
    assert len(first) == 1 and len(stopped) == 1
    assert summary[stopped[0]]["error"].startswith("Cancelled: the cohort run was stopped")

    result = run_cohort(manifest, out, task="lesions", task_options=options, workers=1)
    status = {r["id"]: r["status"] for r in result.records}
    assert status[first[0]] == "skipped"
    assert status[stopped[0]] in ("ok", "skipped")  # "skipped" if it finished after the cancel
    assert (out / stopped[0] / "lesions.json").is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
