"""``theranostics cohort run`` on a real ``dask.distributed`` cluster on 127.0.0.1 (a
scheduler and two worker processes started by the test): three small synthetic patients
(seeds 1-3) and one broken study, dosimetry with the issue's command line; one worker is
killed while it computes a study, and the cohort still finishes. One cohort run (and one
resumed run) is shared by the assertions below through module-scoped fixtures."""

from __future__ import annotations

import glob
import json
import os
import signal
import threading
import time

import pytest

pytest.importorskip(
    "distributed", reason="the cohort extra is not installed (pip install .[cohort])"
)

from cohort_helpers import (
    SEEDS,
    DaskTestCluster,
    broken_study,
    read_summary,
    small_study,
    write_manifest,
)

from theranostics.cli.main import main

pytestmark = pytest.mark.slow

IDS = [f"patient{s}" for s in SEEDS]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = DaskTestCluster(tmp_path_factory.mktemp("dask-cluster"), n_workers=2)
    yield c
    c.close()


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """The bars manifest: columns id, study_dir, masks; three patients and a broken study."""
    root = tmp_path_factory.mktemp("cohort-inputs")
    rows = []
    for seed, study_id in zip(SEEDS, IDS):
        study = small_study(seed)
        rows.append({"id": study_id, "study_dir": study, "masks": study / "truth" / "labels.nrrd"})
    rows.append(
        {
            "id": "broken",
            "study_dir": broken_study(root),
            "masks": small_study(1) / "truth" / "labels.nrrd",
        }
    )
    return write_manifest(root / "cohort.csv", rows)


def _argv(manifest, out, address):
    return [
        "cohort",
        "run",
        str(manifest),
        "-o",
        str(out),
        "--task",
        "dosimetry",
        "--calibration-cps-per-MBq",
        "10",
        "--scheduler",
        address,
        "--no-report",  # a task option: the HTML/PDF report of each study is not needed here
    ]


class _Killer(threading.Thread):
    """Kills (SIGKILL) the worker process that is computing a study, once one is."""

    def __init__(self, cluster, out):
        super().__init__(daemon=True)
        self.cluster, self.out = cluster, out
        self.killed: dict | None = None
        self.stop = threading.Event()

    def run(self):
        from distributed import Client

        pids = self.cluster.worker_pids()
        with Client(self.cluster.address, timeout="30s") as client:
            while not self.stop.is_set() and self.killed is None:
                busy = [i for i in IDS if glob.glob(str(self.out / f".{i}.partial-*"))]
                if busy:
                    time.sleep(1.0)  # well inside the study, which takes tens of seconds
                    for worker, keys in client.processing().items():
                        hit = [i for i in busy if any(f"-{i}-" in k for k in keys)]
                        if hit and worker in pids:
                            os.kill(pids[worker], signal.SIGKILL)
                            self.killed = {"id": hit[0], "worker": worker, "pid": pids[worker]}
                            break
                time.sleep(0.2)


@pytest.fixture(scope="module")
def first_run(cluster, manifest, tmp_path_factory):
    out = tmp_path_factory.mktemp("cohort-out") / "out"
    killer = _Killer(cluster, out)
    killer.start()
    started = time.perf_counter()
    code = main(_argv(manifest, out, cluster.address))
    wall = time.perf_counter() - started
    killer.stop.set()
    killer.join(timeout=10)
    return {"out": out, "code": code, "wall_s": wall, "killed": killer.killed}


@pytest.fixture(scope="module")
def resumed_run(first_run, cluster, manifest):
    out = first_run["out"]
    mtimes = {i: (out / i / "results.json").stat().st_mtime_ns for i in IDS}
    started = time.perf_counter()
    code = main(_argv(manifest, out, cluster.address))
    wall = time.perf_counter() - started
    return {"code": code, "wall_s": wall, "mtimes_before": mtimes}


def test_every_study_has_its_outputs(first_run):
    out = first_run["out"]
    for study_id in IDS:
        doc = json.loads((out / study_id / "results.json").read_text())
        assert doc["schema"] == "theranostics-dosimetry/1"
        record = json.loads((out / study_id / "cohort_task.json").read_text())
        assert record["status"] == "ok" and record["id"] == study_id
        assert str(out / study_id) in record["argv"]
    # the broken study left no folder, and killed attempts left no partial folder
    assert not (out / "broken").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_failure_is_named_in_the_summary_and_the_exit_code(first_run):
    assert first_run["code"] == 1  # one study failed
    summary = read_summary(first_run["out"])
    assert [summary[i]["status"] for i in IDS] == ["ok", "ok", "ok"]
    broken = summary["broken"]
    assert broken["status"] == "failed"
    error_class, _, message = broken["error"].partition(": ")
    assert error_class.endswith("Error") and "broken-study" in message
    assert "\n" not in broken["error"]
    doc = json.loads((first_run["out"] / "cohort.json").read_text())
    failed = [s for s in doc["studies"] if s["status"] == "failed"]
    assert [s["id"] for s in failed] == ["broken"] and "Traceback" in failed[0]["traceback"]
    assert doc["counts"] == {"ok": 3, "skipped": 0, "failed": 1}
    html = (first_run["out"] / "cohort_report.html").read_text()
    assert "Failures (1)" in html and broken["error"].split(":")[0] in html
    assert "<svg" in html and "kidney_left" in html  # the per-organ distribution figure


def test_killed_worker_is_survived(first_run):
    killed = first_run["killed"]
    assert killed is not None, "no worker was computing a study while the cohort ran"
    record = json.loads((first_run["out"] / killed["id"] / "cohort_task.json").read_text())
    assert record["status"] == "ok"
    assert record["pid"] != killed["pid"]  # computed again by another worker process
    doc = json.loads((first_run["out"] / "cohort.json").read_text())
    assert doc["allowed_failures"] == 3 and doc["scheduler"].startswith("tcp://127.0.0.1:")


def test_summary_holds_per_organ_dose_and_dose_per_activity(first_run):
    summary = read_summary(first_run["out"])
    kidney = []
    for study_id in IDS:
        row = summary[study_id]
        dose, per_gbq = float(row["kidney_left_mean_dose_Gy"]), float(row["kidney_left_Gy_per_GBq"])
        activity_GBq = float(row["administered_activity_MBq"]) / 1000.0
        assert dose > 0
        assert per_gbq == pytest.approx(dose / activity_GBq, rel=1e-9)
        results = json.loads((first_run["out"] / study_id / "results.json").read_text())
        assert dose == results["structures"]["kidney_left"]["mean_dose_Gy"]
        kidney.append(dose)
    assert len(set(kidney)) == 3  # three different patients


def test_bars_resumed_run_skips_finished_studies(first_run, resumed_run):
    """The issue's bars check: manifest id,study_dir,masks; --task dosimetry
    --calibration-cps-per-MBq 10 --scheduler tcp://127.0.0.1:PORT; OUT/*summary*.csv with
    id and status; OUT/<id>/results.json; the resumed run at least four times faster."""
    out = first_run["out"]
    summaries = glob.glob(str(out / "*summary*.csv"))
    assert summaries
    summary = read_summary(out)
    assert {"id", "status"} <= set(next(iter(summary.values())))
    assert [summary[i]["status"] for i in IDS] == ["skipped"] * 3
    assert summary["broken"]["status"] == "failed"  # tried again, fails again
    for study_id in IDS:  # not recomputed: the result files are the first run's
        mtime = (out / study_id / "results.json").stat().st_mtime_ns
        assert mtime == resumed_run["mtimes_before"][study_id]
    doc = json.loads((out / "cohort.json").read_text())
    assert doc["submitted"] == 1  # only the failed study went to the cluster again
    assert resumed_run["code"] == 1
    assert first_run["wall_s"] >= 4 * resumed_run["wall_s"], (first_run, resumed_run)


def test_sirt_dosimetry_through_the_same_path(cluster, tmp_path):
    """The 90Y post-treatment dosimetry of a real patient (Slicer NRRD files) as a cohort
    task on the same cluster: the manifest's study_dir names the PET volume."""
    from theranostics.cohort import run_cohort
    from theranostics.cohort.tasks import registered

    if not registered("sirt-dosimetry"):
        pytest.skip("theranostics sirt-dosimetry is not registered in this installation")
    from sirt_nrrd import PET_1, SEG_1, sirt_nrrd_dir

    folder = sirt_nrrd_dir()
    result = run_cohort(
        [{"id": "sirt1", "study_dir": folder / PET_1, "masks": folder / SEG_1}],
        tmp_path / "out",
        task="sirt-dosimetry",
        task_options=[
            "--nuclide",
            "Y-90",
            "--units",
            "Bq/mL",
            "--decay-corrected-to-implantation",
            "--no-report",
        ],
        scheduler=cluster.address,
    )
    (record,) = result.records
    assert record["status"] == "ok", record.get("error")
    doc = json.loads((tmp_path / "out" / "sirt1" / "results.json").read_text())
    row = read_summary(tmp_path / "out")["sirt1"]
    assert float(row["Tumor 1_mean_dose_Gy"]) == doc["structures"]["Tumor 1"]["mean_dose_Gy"]
    assert float(row["tumor_to_normal_ratio"]) == doc["tumor_to_normal_ratio"]
    assert "lesions (pooled)" in (tmp_path / "out" / "cohort_report.html").read_text()


@pytest.mark.realdata
def test_plan_sirt_through_the_same_path(cluster, tmp_path, siemens_maa_dir):
    """90Y partition-model planning of the real Siemens MAA SPECT/CT as a cohort task: the
    plan's headline (activity, per-compartment predicted dose) reaches the summary."""
    from theranostics.cohort import run_cohort

    result = run_cohort(
        [{"id": "maa1", "study_dir": siemens_maa_dir}],
        tmp_path / "out",
        task="plan-sirt",
        task_options=[
            "--target",
            "Tumor",
            "--lung",
            "Lung",
            "--normal-rest-of-body",
            "--target-tumor-Gy",
            "200",
        ],
        scheduler=cluster.address,
    )
    (record,) = result.records
    assert record["status"] == "ok", record.get("error")
    plan = json.loads((tmp_path / "out" / "maa1" / "plan.json").read_text())
    row = read_summary(tmp_path / "out")["maa1"]
    assert float(row["recommended_activity_GBq"]) == plan["recommended_activity_GBq"]
    # the activity is rounded down, so the tumour gets at most its 200 Gy target
    assert 180.0 < float(row["Tumor_predicted_dose_Gy"]) <= 200.0


def test_tac_writes_its_record_file_inside_the_study_folder(cluster, tmp_path):
    """A task whose -o is a file (tac): the file lands in OUT/<id>/, its TIA per structure
    in the summary."""
    from theranostics.cohort import run_cohort

    study = small_study(2)
    result = run_cohort(
        [{"id": "tac2", "study_dir": study, "masks": study / "truth" / "labels.nrrd"}],
        tmp_path / "out",
        task="tac",
        task_options=["--calibration-cps-per-MBq", "10", "--no-registration"],
        scheduler=cluster.address,
    )
    assert result.records[0]["status"] == "ok", result.records[0].get("error")
    doc = json.loads((tmp_path / "out" / "tac2" / "tac.json").read_text())
    row = read_summary(tmp_path / "out")["tac2"]
    liver = doc["structures"]["liver"]
    assert float(row["liver_tia_MBq_h"]) == liver["tia_MBq_h"] > 0
    assert float(row["liver_effective_half_life_h"]) == liver["effective_half_life_h"]
