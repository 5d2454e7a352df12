"""``theranostics cohort run MANIFEST -o OUT``: one task over every study of a manifest, in
parallel on Dask (a local cluster by default, an existing scheduler with ``--scheduler``).

Options that ``cohort run`` does not know are the task's options
(``--calibration-cps-per-MBq 10``, ``--no-report`` ...): they are passed to every study, and
manifest columns of the same name override them per study. Exit code 0 when every study is
ok or up to date, 1 when any failed, 2 for errors of the cohort's own inputs.
"""

from __future__ import annotations

import argparse
import sys


class _TaskOptionsParser(argparse.ArgumentParser):
    """Keeps the options it does not know as the task's options (``task_options``) instead
    of refusing them; the task's own parser checks them before anything runs."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        namespace.task_options = [*getattr(namespace, "task_options", []), *extras]
        return namespace, []


def register(subparsers) -> None:
    from ..cohort.tasks import TASKS

    p = subparsers.add_parser(
        "cohort",
        help="run dosimetry, lesions, tac or planning over many studies on Dask",
        description=__doc__.splitlines()[0].replace("``", ""),
    )
    sub = p.add_subparsers(dest="cohort_command", metavar="ACTION", parser_class=_TaskOptionsParser)
    sub.required = True
    run = sub.add_parser(
        "run",
        allow_abbrev=False,
        help="run a task on every study of a manifest",
        description=(
            "Run a task on every study of MANIFEST (CSV or YAML: id, study_dir, optional masks "
            "and task options by their command-line name) into OUT/<id>/, then write "
            "OUT/cohort_summary.csv, OUT/cohort.json and OUT/cohort_report.html. Studies whose "
            "inputs and parameters are unchanged since they finished are skipped as up to "
            "date. Unknown options are the task's options (see theranostics TASK --help). "
            "Exit code 1 when a study failed."
        ),
        epilog="example: theranostics cohort run cohort.csv -o out --task dosimetry "
        "--calibration-cps-per-MBq 10 --workers 4",
    )
    run.add_argument("manifest", metavar="MANIFEST", help="CSV or YAML manifest, one row a study")
    run.add_argument("-o", "--out", required=True, help="cohort output folder")
    run.add_argument("--task", choices=sorted(TASKS), default="dosimetry")
    run.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes of the local cluster (default: the cores)",
    )
    run.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="existing dask.distributed scheduler, e.g. tcp://HOST:8786 (default: local cluster)",
    )
    run.add_argument(
        "--threads-per-study",
        type=int,
        default=None,
        help="ITK threads per study (default: cores / workers on the local cluster)",
    )
    run.add_argument("--force", action="store_true", help="recompute studies that are up to date")
    run.set_defaults(func=run_command, task_options=[])


def run_command(args: argparse.Namespace) -> int:
    from ..cohort import run_cohort
    from ..errors import OptionError
    from ..progress import TextProgressBar

    for name in ("workers", "threads_per_study"):
        value = getattr(args, name)
        if value is not None and value < 1:
            flag = f"--{name.replace('_', '-')}"
            raise OptionError(f"{flag} must be at least 1", tag=flag, fix="give 1 or more")
    if args.workers is not None and args.scheduler:
        print(
            "cohort: --workers is ignored with --scheduler (the scheduler has its workers)",
            file=sys.stderr,
        )
    result = run_cohort(
        args.manifest,
        args.out,
        task=args.task,
        task_options=args.task_options,
        workers=args.workers,
        scheduler=args.scheduler,
        threads_per_study=args.threads_per_study,
        force=args.force,
        progress=TextProgressBar(),
    )
    ok, skipped, failed = (result.count(s) for s in ("ok", "skipped", "failed"))
    print(
        f"cohort {args.task}: {ok} ok, {skipped} up to date, {failed} failed "
        f"in {result.wall_s:.1f} s; summary {result.files['summary_csv']}, report "
        f"{result.files['report']}"
    )
    for record in result.failed:
        print(f"  failed {record['id']}: {record['error']}")
    return 1 if failed else 0
