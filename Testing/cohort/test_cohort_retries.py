"""The end of Dask's retries: on a scheduler that allows no worker death per task
(``distributed.scheduler.allowed-failures = 0``), a study whose worker is killed while it
runs is recorded as failed with ``KilledWorker``, and the cohort still ends with a summary."""

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

from cohort_helpers import DaskTestCluster, read_summary, small_study

from theranostics.cohort import run_cohort

pytestmark = pytest.mark.slow


def test_study_whose_worker_dies_past_the_allowed_failures_is_a_failure(tmp_path):
    cluster = DaskTestCluster(tmp_path / "cluster", n_workers=1, allowed_failures=0)
    try:
        (pid,) = cluster.worker_pids().values()
        out = tmp_path / "out"
        killed = []

        def kill_when_running():
            deadline = time.monotonic() + 120
            while not killed and time.monotonic() < deadline:
                if glob.glob(str(out / ".tac1.partial-*")):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                time.sleep(0.05)

        killer = threading.Thread(target=kill_when_running, daemon=True)
        killer.start()
        study = small_study(1)
        result = run_cohort(
            [{"id": "tac1", "study_dir": study, "masks": study / "truth" / "labels.nrrd"}],
            out,
            task="tac",
            task_options=["--calibration-cps-per-MBq", "10", "--no-registration"],
            scheduler=cluster.address,
        )
        killer.join(timeout=10)
    finally:
        cluster.close()
    assert killed, "the study finished before its worker could be killed"
    (record,) = result.records
    assert record["status"] == "failed"
    assert record["error"].startswith("KilledWorker: ")
    assert read_summary(out)["tac1"]["status"] == "failed"
    doc = json.loads((out / "cohort.json").read_text())
    assert doc["allowed_failures"] == 0
    assert not (out / "tac1").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # the partial is gone
