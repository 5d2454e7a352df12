"""One study of a cohort, as it runs on a Dask worker.

:func:`run_study` runs the subcommand's own parser and function (the same checks and
computation as ``theranostics TASK ...`` on the command line) into a hidden temporary folder
beside ``OUT/<id>/`` (:class:`theranostics.io.output_dir.OutputFolder`), writes the study's
record ``cohort_task.json`` into it and renames it to ``OUT/<id>/``: the folder appears
complete or not at all. Every exception of the study is caught and returned as a failure
record (error class and one line), so one study never stops the others; only the death of
the worker process itself reaches Dask, which then runs the study again elsewhere.
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import socket
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

#: The record a finished study folder holds (its fingerprint decides "up to date").
RECORD_NAME = "cohort_task.json"
#: What the subcommand printed (stdout and stderr), kept in the study folder.
LOG_NAME = "cohort_task.log"
RECORD_SCHEMA = "theranostics-cohort-task/1"

_TEXT_SUFFIXES = (".json", ".csv", ".html", ".txt", ".md", ".tsv", ".log")


def peak_memory_MiB() -> float | None:
    """Peak resident memory of this process so far (MiB), where the OS reports it."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def one_line(exc: BaseException) -> str:
    """``ClassName: first line of the message`` (at most 300 characters)."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first[:300]}" if first else type(exc).__name__


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def _replace_paths(folder: Path, old: str, new: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in _TEXT_SUFFIXES:
            text = path.read_text(errors="surrogateescape")
            if old in text:
                path.write_text(text.replace(old, new), errors="surrogateescape")


class TaskOptionError(Exception):
    """The task's parser refused the study's options (argparse printed why)."""


def _parse(argv: list[str]):
    from ..cli.main import build_parser

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return build_parser().parse_args(argv)
    except SystemExit:
        lines = [ln for ln in err.getvalue().strip().splitlines() if ln.strip()]
        raise TaskOptionError(lines[-1] if lines else "invalid options") from None


def _run_command(args) -> int:
    """The CLI's own checks before any computation, then the subcommand."""
    from ..cli import main as cli

    for check in ("check_numeric_options", "check_output_option"):
        fn = getattr(cli, check, None)
        if fn is not None:
            fn(args)
    return int(args.func(args) or 0)


def run_study(spec: dict) -> dict:
    """Run one study; returns its record (status ``ok`` or ``failed``).

    ``spec`` holds ``id``, ``task``, ``study_dir``, ``options`` (the argv between the study
    folder and ``-o``), ``out_dir`` (the cohort's output folder), ``output_file`` (``None``
    or the file ``-o`` names inside the study folder), ``fingerprint`` and ``threads`` (threads
    for ITK in this study, or ``None``).
    """
    from ..io.output_dir import OutputFolder
    from .tasks import option_table

    started = time.perf_counter()
    record = {
        "schema": RECORD_SCHEMA,
        "id": spec["id"],
        "task": spec["task"],
        "status": "failed",
        "error": "",
        "fingerprint": spec["fingerprint"],
        "study_dir": spec["study_dir"],
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "worker": _worker_name(),
        "host": platform.node(),
        "pid": os.getpid(),
    }
    if spec.get("threads"):
        import SimpleITK as sitk

        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(int(spec["threads"]))
    target = Path(spec["out_dir"]) / spec["id"]
    log = io.StringIO()
    try:
        folder = OutputFolder(target, command=f"cohort {spec['task']}")
        with folder as work:
            output = work / spec["output_file"] if spec.get("output_file") else work
            argv = [spec["task"], spec["study_dir"], *spec["options"], "-o", str(output)]
            if "quiet" in option_table(spec["task"]) and "--quiet" not in argv:
                argv.insert(2, "--quiet")  # no per-step progress lines in the study's log
            record["argv"] = (
                [*argv[:-1], str(target / spec["output_file"])]
                if spec.get("output_file")
                else [*argv[:-1], str(target)]
            )
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                code = _run_command(_parse(argv))
            if code != 0:
                raise RuntimeError(f"theranostics {spec['task']} exited with code {code}")
            (work / LOG_NAME).write_text(log.getvalue())
            _replace_paths(work, str(work), str(target))
            record["status"] = "ok"
            record["wall_s"] = round(time.perf_counter() - started, 3)
            record["peak_memory_MiB"] = peak_memory_MiB()
            record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            import json

            (work / RECORD_NAME).write_text(json.dumps(record, indent=1) + "\n")
    except Exception as exc:  # isolate the study: its failure is a record, not a crash
        record["status"] = "failed"
        record["error"] = one_line(exc)
        record["error_type"] = type(exc).__name__
        record["traceback"] = "".join(
            traceback.format_exception(type(exc), exc, exc.__traceback__)
        )[-4000:]
        record["log_tail"] = log.getvalue()[-2000:]
        record["wall_s"] = round(time.perf_counter() - started, 3)
        record["peak_memory_MiB"] = peak_memory_MiB()
    return record
