"""Run one task over every study of a manifest on Dask (``dask.distributed``).

Each study is one Dask task (:func:`theranostics.cohort.worker.run_study`). Without a
scheduler address, a local cluster of worker processes on this machine runs them (one
thread each, ITK given the machine's cores divided among the workers); with one, the
tasks go to that existing scheduler and its workers, which need the project installed and
the manifest's paths and the output folder at the same paths (a shared file system).

Resume: every finished study folder holds ``cohort_task.json`` with the fingerprint of its
inputs (content hash of the study folder and of every file an option names) and
parameters (task, options, software version); a study whose fingerprint matches is
skipped as up to date and nothing is submitted for it.

Workers that die: Dask reschedules the study on another worker; after
``distributed.scheduler.allowed-failures`` deaths while running it (3 by default, set for
the local cluster here) the study is recorded as failed (``KilledWorker``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from ..errors import OptionError, OutputError
from ..progress import Cancelled, ProgressCallback, report
from . import tasks as _tasks
from .manifest import StudyRow, read_manifest, rows_from_records
from .worker import RECORD_NAME, TaskOptionError, _parse, one_line, run_study

#: Worker deaths a study survives on the local cluster (Dask's default, stated explicitly).
ALLOWED_FAILURES = 3
COHORT_SCHEMA = "theranostics-cohort/1"
SUMMARY_CSV = "cohort_summary.csv"
COHORT_JSON = "cohort.json"
REPORT_HTML = "cohort_report.html"


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise OptionError(
            "cohorts run on Dask, which is not installed",
            tag="dask[distributed]",
            fix="pip install 'theranostics[cohort]' (or pip install 'dask[distributed]')",
        ) from None
    return distributed


def available_cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@dataclass
class CohortResult:
    """What :func:`run_cohort` returns.

    Attributes:
        records: one dict per study in manifest order (``id``, ``status`` ok/failed/
            skipped, ``error``, ``wall_s``, ``headline`` ...), as in ``cohort.json``.
        out_dir: the cohort's output folder.
        files: ``summary_csv``, ``json`` and ``report`` paths.
        wall_s: wall time of the whole run (s).
        submitted: how many studies were sent to Dask (0 when everything was up to date).
        scheduler: ``"local"`` or the scheduler's address.
    """

    records: list[dict]
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    wall_s: float = 0.0
    submitted: int = 0
    scheduler: str = "local"

    def count(self, status: str) -> int:
        return sum(1 for r in self.records if r["status"] == status)

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.records if r["status"] == "failed"]


def _study_key(task: str, study_id: str) -> str:
    return f"theranostics-{task}-{study_id}-{uuid.uuid4().hex[:8]}"


def _clean_partials(out: Path, ids: Sequence[str]) -> None:
    """Remove what killed attempts left: hidden ``.<id>.partial-*`` / ``.<id>.old-*``."""
    for study_id in ids:
        for pattern in (f".{study_id}.partial-*", f".{study_id}.old-*"):
            for stale in out.glob(pattern):
                shutil.rmtree(stale, ignore_errors=True)


def _read_record(folder: Path) -> dict | None:
    from ..io.output_dir import is_complete_output

    path = folder / RECORD_NAME
    if not (is_complete_output(folder) and path.is_file()):
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _headline(spec: _tasks.TaskSpec, folder: Path) -> tuple[dict, str | None]:
    path = folder / spec.results_file
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return {}, f"no headline: {path.name} unreadable ({type(exc).__name__})"
    return spec.headline(doc if isinstance(doc, dict) else {}).to_json(), None


def _cluster_client(distributed, scheduler, workers: int | None, client):
    """``(client, cluster or None, label)``; the cluster is local unless an address or a
    client is given."""
    if client is not None:
        return client, None, str(getattr(client.scheduler, "address", "client"))
    if scheduler:
        try:
            return distributed.Client(scheduler, timeout="20s"), None, str(scheduler)
        except OSError as exc:
            raise OptionError(
                f"cannot reach the Dask scheduler at {scheduler} ({exc})",
                tag="--scheduler",
                fix="start it (dask scheduler; dask worker ADDRESS) or check the address",
            ) from None
    import dask

    n = workers or available_cores()
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
        cluster = distributed.LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
    return distributed.Client(cluster), cluster, "local"


def _allowed_failures(client, local: bool) -> int | None:
    if local:
        return ALLOWED_FAILURES
    try:
        return int(client.run_on_scheduler(_scheduler_allowed_failures))
    except Exception:  # the scheduler may refuse run_on_scheduler: then unknown
        return None


def _scheduler_allowed_failures(dask_scheduler=None) -> int:
    return dask_scheduler.allowed_failures


def _running(client, keys: set[str]) -> int:
    """Studies executing now: ours in each worker's processing list, at most its threads."""
    try:
        processing = client.processing()
        nthreads = client.nthreads()
    except Exception:  # a scheduler hiccup only costs one progress update
        return 0
    return sum(
        min(sum(1 for k in ks if k in keys), nthreads.get(w, 1)) for w, ks in processing.items()
    )


def run_cohort(
    manifest: str | Path | Sequence[dict],
    out_dir: str | Path,
    *,
    task: str = "dosimetry",
    task_options: Sequence[str] = (),
    workers: int | None = None,
    scheduler: str | None = None,
    client=None,
    threads_per_study: int | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> CohortResult:
    """Run ``theranostics TASK`` on every study of a manifest, in parallel on Dask.

    Args:
        manifest: a CSV or YAML manifest (:mod:`theranostics.cohort.manifest`), or rows as
            dicts (``id``, ``study_dir``, optional ``masks`` and task options; relative
            paths against the current folder).
        out_dir: the cohort folder: ``OUT/<id>/`` per study, ``cohort_summary.csv``,
            ``cohort.json``, ``cohort_report.html``.
        task: a key of :data:`theranostics.cohort.tasks.TASKS`.
        task_options: the subcommand's options for every study, as on its command line
            (``["--calibration-cps-per-MBq", "10"]``); manifest cells override them.
        workers: worker processes of the local cluster (default: the cores).
        scheduler: address of an existing ``dask.distributed`` scheduler
            (``tcp://HOST:PORT``); ``None`` starts a local cluster.
        client: an existing ``distributed.Client`` (instead of ``scheduler``).
        threads_per_study: ITK threads in each study (default: cores / workers on the local
            cluster, the worker's default otherwise).
        force: recompute studies that are up to date.
        progress: ``progress(fraction, message)``, message e.g. ``"3/6 done, 2 running,
            1 failed"``.

    Returns:
        A :class:`CohortResult`. Study failures are records, not exceptions; input errors
        of the cohort itself (manifest, options, output folder) raise
        :class:`theranostics.errors.InputError` before anything runs.
    """
    started_wall = time.perf_counter()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    spec = _tasks.task_spec(task)
    command_line = _tasks.tokenize_options(task, task_options)
    if isinstance(manifest, (str, Path)):
        source: str | Path = Path(manifest)
        rows: list[StudyRow] = read_manifest(manifest)
        base = Path(manifest).parent.absolute()
    else:
        source, base = "manifest", Path.cwd()
        rows = rows_from_records(list(manifest), base=base)
    out = Path(out_dir).absolute()
    if out.exists() and not out.is_dir():
        raise OutputError(
            "the cohort output exists and is a file", path=out, tag="-o", fix="give a folder"
        )
    out.mkdir(parents=True, exist_ok=True)
    _clean_partials(out, [r.id for r in rows])

    records: dict[str, dict] = {}
    pending: list[dict] = []
    cache: dict = {}
    for row in rows:
        options = _tasks.study_options(task, row, command_line, base=base, manifest=source)
        argv_options = _tasks.task_argv(task, row.study_dir, options, "x")[2:-2]
        record = {"id": row.id, "task": task, "study_dir": str(row.study_dir), "error": ""}
        try:
            _parse([task, str(row.study_dir), *argv_options, "-o", str(out / row.id)])
        except TaskOptionError as exc:
            records[row.id] = {**record, "status": "failed", "error": one_line(exc)}
            continue
        fp = _tasks.fingerprint(task, row.study_dir, options, cache)
        previous = _read_record(out / row.id)
        up_to_date = previous and previous.get("fingerprint") == fp
        if not force and up_to_date and previous.get("status") == "ok":
            records[row.id] = {**previous, "status": "skipped", "error": ""}
            continue
        pending.append(
            {
                "id": row.id,
                "task": task,
                "study_dir": str(row.study_dir),
                "options": argv_options,
                "out_dir": str(out),
                "output_file": spec.output_file,
                "fingerprint": fp,
                "threads": threads_per_study,
            }
        )

    total = len(rows)
    ctx = _Context(out, rows, spec, source, list(task_options), started_at, started_wall)
    counts = {"failed": sum(1 for r in records.values() if r["status"] == "failed")}

    def tell(running: int = 0) -> None:
        done = len(records)
        report(
            progress,
            done / total,
            f"{done}/{total} done, {running} running, {counts['failed']} failed",
        )

    tell()
    if pending:
        distributed = _import_distributed()
        n_local = min(workers or available_cores(), len(pending))
        own_client, cluster, ctx.label = _cluster_client(distributed, scheduler, n_local, client)
        ctx.submitted = len(pending)
        try:
            ctx.allowed = _allowed_failures(own_client, cluster is not None)
            if cluster is not None and threads_per_study is None:
                n_workers = len(cluster.workers) or 1
                per = max(1, available_cores() // n_workers)
                for item in pending:
                    item["threads"] = per
            futures = {
                own_client.submit(run_study, item, key=_study_key(task, item["id"]), pure=False): (
                    item
                )
                for item in pending
            }
            keys = {f.key for f in futures}
            waiting = set(futures)
            last_running = -1
            try:
                while waiting:
                    finished = [f for f in waiting if f.done()]
                    for fut in finished:
                        waiting.discard(fut)
                        item = futures[fut]
                        try:
                            result = fut.result()
                        except Exception as exc:  # KilledWorker, lost scheduler ...
                            result = {
                                "id": item["id"],
                                "task": task,
                                "study_dir": item["study_dir"],
                                "status": "failed",
                                "error": one_line(exc),
                                "error_type": type(exc).__name__,
                                "fingerprint": item["fingerprint"],
                            }
                        records[item["id"]] = result
                        if result["status"] == "failed":
                            counts["failed"] += 1
                        keys.discard(fut.key)
                    running = _running(own_client, keys) if waiting else 0
                    if finished or running != last_running:
                        tell(running)
                        last_running = running
                    if waiting:
                        time.sleep(0.25)
            except (KeyboardInterrupt, Cancelled) as stop:  # Ctrl-C, or the Cancel button
                for fut in waiting:
                    fut.cancel()
                for item in futures.values():
                    if item["id"] not in records:
                        records[item["id"]] = {
                            "id": item["id"],
                            "task": task,
                            "study_dir": item["study_dir"],
                            "status": "failed",
                            "error": f"{type(stop).__name__}: the cohort run was stopped "
                            "before this study ended",
                        }
                _finish(ctx, records)
                raise
        finally:
            if own_client is not client:
                own_client.close()
            if cluster is not None:
                cluster.close()
    return _finish(ctx, records)


@dataclass
class _Context:
    """What the summary needs to know about the run."""

    out: Path
    rows: list[StudyRow]
    spec: _tasks.TaskSpec
    source: str | Path
    task_options: list[str]
    started_at: str
    started_wall: float
    submitted: int = 0
    label: str = "none (all up to date)"
    allowed: int | None = None


def _finish(ctx: _Context, records: dict[str, dict]) -> CohortResult:
    from .summary import write_cohort_json, write_report_html, write_summary_csv

    out, rows, spec, task = ctx.out, ctx.rows, ctx.spec, ctx.spec.name

    _clean_partials(out, [r.id for r in rows])
    ordered = []
    for row in rows:
        record = dict(records[row.id])
        if record["status"] in ("ok", "skipped"):
            record["headline"], note = _headline(spec, out / row.id)
            if note:
                record["headline_note"] = note
        ordered.append(record)
    result = CohortResult(
        records=ordered,
        out_dir=out,
        wall_s=round(time.perf_counter() - ctx.started_wall, 3),
        submitted=ctx.submitted,
        scheduler=ctx.label,
    )
    meta = {
        "schema": COHORT_SCHEMA,
        "theranostics": __version__,
        "task": task,
        "task_options": list(ctx.task_options),
        "manifest": str(ctx.source),
        "out_dir": str(out),
        "scheduler": ctx.label,
        "allowed_failures": ctx.allowed,
        "started_at": ctx.started_at,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_s": result.wall_s,
        "submitted": ctx.submitted,
        "counts": {s: result.count(s) for s in ("ok", "skipped", "failed")},
    }
    result.files = {
        "summary_csv": write_summary_csv(ordered, out / SUMMARY_CSV),
        "json": write_cohort_json(meta, ordered, out / COHORT_JSON),
        "report": write_report_html(meta, ordered, out / REPORT_HTML),
    }
    return result
