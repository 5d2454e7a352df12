"""Helpers of the cohort tests: the small synthetic studies, a broken study, manifests and a
real ``dask.distributed`` cluster on 127.0.0.1 (a scheduler and worker processes started
with Dask's own command-line tools, as a site would start them)."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import _cached_study

#: Seeds of the three synthetic patients (seed 1 is the suite's shared small study).
SEEDS = (1, 2, 3)


def small_study(seed: int) -> Path:
    """The small synthetic PSMA study of ``seed`` (generated once, cached like the suite's)."""
    from theranostics.phantom.generate import PhantomConfig

    return _cached_study(PhantomConfig(size="small", seed=seed))


def broken_study(root: Path) -> Path:
    """A study folder whose only 'SPECT' file is not DICOM: every task refuses it."""
    folder = root / "broken-study"
    nm = folder / "dicom" / "spect_004h" / "NM"
    nm.mkdir(parents=True, exist_ok=True)
    (nm / "NM_0001.dcm").write_bytes(b"this is not a DICOM file\n")
    return folder


def write_manifest(path: Path, rows: list[dict]) -> Path:
    """A CSV manifest with the union of the rows' columns (id, study_dir first)."""
    columns = list(dict.fromkeys(["id", "study_dir", *(k for r in rows for k in r)]))
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_summary(out: Path) -> dict[str, dict]:
    """``cohort_summary.csv`` as ``{id: row}``."""
    with open(out / "cohort_summary.csv", newline="") as fh:
        return {row["id"]: row for row in csv.DictReader(fh)}


class DaskTestCluster:
    """``dask scheduler`` and ``n`` ``dask worker`` processes (each with its nanny, one
    thread) on 127.0.0.1, started from the command line like on a real site; the scheduler
    lets a task survive ``allowed_failures`` worker deaths."""

    def __init__(self, folder: Path, n_workers: int = 2, allowed_failures: int = 3) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.scheduler_file = folder / "scheduler.json"
        self.procs: list[subprocess.Popen] = []
        env = {
            **os.environ,
            "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": str(allowed_failures),
            "OMP_NUM_THREADS": "1",
        }
        self._start(
            "scheduler",
            [
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(self.scheduler_file),
            ],
            env,
        )
        deadline = time.monotonic() + 60
        while not self.scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        if not self.scheduler_file.is_file():
            self.close()
            raise RuntimeError(f"the Dask scheduler did not start; see {folder}")
        for n in range(n_workers):
            self._start(
                f"worker{n}",
                [
                    "distributed.cli.dask_worker",
                    "--scheduler-file",
                    str(self.scheduler_file),
                    "--host",
                    "127.0.0.1",
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--name",
                    f"worker{n}",
                ],
                env,
            )
        self.address = json.loads(self.scheduler_file.read_text())["address"]
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            client.wait_for_workers(n_workers, timeout=90)

    def _start(self, name: str, args: list[str], env: dict) -> None:
        log = open(self.folder / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        )
        log.close()

    def worker_pids(self) -> dict[str, int]:
        """``{worker address: pid of the worker process}`` (the nanny's child)."""
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            return client.run(os.getpid)

    def close(self) -> None:
        """Stop the processes this cluster started (each by its id, the workers first)."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
