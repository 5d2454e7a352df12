"""Entry point of the ``theranostics`` console script.

Each subcommand lives in its own module ``theranostics.cli.cmd_<name>`` exposing
``register(subparsers)``, which adds its parser and sets ``func(args) -> int``.

One error path for every command (docs/ingest.md, "Errors"):

- before the command runs, numeric options must be finite and physical quantities not
  negative (:func:`check_numeric_options`), input paths must exist (:data:`INPUT_OPTIONS`)
  and the output location (``-o``) must be usable (:data:`OUTPUT_OPTIONS`,
  :mod:`theranostics.io.output_dir`), so a wrong option fails before any computation;
- commands that write a folder write it whole or not at all
  (:func:`run_into_output_folder`);
- input errors (:class:`theranostics.errors.InputError`: file, tag, fix) and foreseeable
  operating-system errors (a missing file, a permission, a full disk) print one line and give
  exit code 2;
- anything else is a bug: one line on the terminal naming a log file that holds the full
  traceback (:func:`write_crash_log`), exit code 1.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import io
import math
import os
import sys
import tempfile
import traceback
from datetime import datetime
from pathlib import Path

from .. import __version__
from ..errors import InputError, OptionError, OutputError

#: Subcommand modules, in the order ``--help`` lists them.
SUBCOMMAND_MODULES = (
    "inspect",
    "suv",
    "phantom",
    "demo",
    "kernel",
    "sphere-svalue",
    "dose",
    "plan-rlt",
    "plan-sirt",
    "sirt-dosimetry",
    "dosimetry",
    "lesions",
    "response",
    "tac",
    "tia",
    "gamma",
    "cohort",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="theranostics",
        description="Radiopharmaceutical therapy imaging and dosimetry, headless.",
    )
    parser.add_argument("--version", action="version", version=f"theranostics {__version__}")
    parser.add_argument(
        "--uid-root",
        default=None,
        help="UID root of your organisation for the DICOM objects written (RT Dose, SEG, SR); "
        "default: 2.25 UUID-derived UIDs. UIDs are derived from the content, inputs and "
        "parameters, so a rerun gives the same UIDs (also $THERANOSTICS_UID_ROOT); give it "
        "before the command",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMAND_MODULES:
        module = importlib.import_module(f"{__package__}.cmd_{name.replace('-', '_')}")
        module.register(sub)
    return parser


#: Output option of each writing command: (argparse dest, "file" | "image" | "folder" |
#: "folder-any"); "image" is a file with an image suffix (.nrrd, .nii.gz, .mha ...).
#: "folder" must be new, empty or an earlier theranostics output (it is replaced whole);
#: "folder-any" only has to be a writable folder (the command checks the rest itself).
OUTPUT_OPTIONS = {
    "dose": ("output", "image"),
    "tia": ("output", "image"),
    "tac": ("output", "file"),
    "gamma": ("output", "image"),
    "plan-rlt": ("output", "file"),
    "dosimetry": ("out", "folder"),
    "lesions": ("output", "folder"),
    "plan-sirt": ("output", "folder"),
    "sirt-dosimetry": ("output", "folder"),
    "response": ("output", "folder"),
    "demo": ("out", "folder-any"),
    "phantom": ("outdir", "folder-any"),
    "cohort": ("out", "folder-any"),  # resumable: studies already done are kept
}


#: Numeric options that must be > 0, by argparse dest (a physical quantity with a unit whose
#: zero is meaningless: a calibration, a mass, a distance criterion, an activity ...).
POSITIVE_OPTIONS = frozenset(
    {
        "calibration",
        "calibration_cps_per_MBq",
        "calibration_cps_per_mbq",
        "mass_g",
        "density_g_per_mL",
        "lung_density_g_per_mL",
        "weight_kg",
        "height_m",
        "dta_mm",
        "dose_percent",
        "acquisition_duration_s",
        "activity_MBq",
        "administered_activity_MBq",
        "standard_activity_GBq",
        "activity_step_GBq",
        "rounding_GBq",
        "max_gamma",
        "normalisation_gy",
        "voxel_mm",
        "cycles",
        "max_cycles",
    }
)
#: Numeric options that must be >= 0 (thresholds, margins, limits, uncertainties ...).
NON_NEGATIVE_OPTIONS = frozenset(
    {
        "threshold",
        "percent",
        "min_volume_mL",
        "exclusion_margin_mm",
        "match_distance_mm",
        "psf_fwhm_mm",
        "spect_fwhm_mm",
        "calibration_rel_sd",
        "confidence_k",
        "cutoff_percent",
        "lung_mass",
        "lung_limit_Gy",
        "lung_cumulative_limit_Gy",
        "previous_lung_Gy",
        "normal_limit_Gy",
        "target_tumor_Gy",
        "target_normal_Gy",
        "target_perfused_Gy",
        "radius",
    }
)


#: Percentages that cannot exceed 100 (a dose criterion, a cutoff, a fraction of the maximum).
PERCENT_OPTIONS = frozenset({"dose_percent", "cutoff_percent", "percent"})
#: Activities per administration (GBq) within the plausibility range of the project
#: (docs/ingest.md: at most 100 GBq per patient).
ACTIVITY_GBQ_OPTIONS = frozenset({"standard_activity_GBq", "activity_step_GBq"})


def check_numeric_options(args: argparse.Namespace) -> None:
    """Refuse NaN and infinite values of numeric options (``float("nan")`` parses), and
    negative (or zero) values of physical quantities (:data:`POSITIVE_OPTIONS`,
    :data:`NON_NEGATIVE_OPTIONS`), before the command computes anything."""
    for name, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        option = f"--{name.replace('_', '-')}"
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            if isinstance(v, float) and not math.isfinite(v):
                raise OptionError(
                    f"{option} is {v}, not a finite number",
                    tag=option,
                    fix="give a finite number",
                )
            if name in POSITIVE_OPTIONS and v <= 0:
                raise OptionError(
                    f"{option} is {v:g}; it must be greater than 0",
                    tag=option,
                    fix="give a positive value",
                )
            if name in PERCENT_OPTIONS and v > 100:
                raise OptionError(
                    f"{option} is {v:g} %; a percentage here is at most 100",
                    tag=option,
                    fix="give a percentage between 0 and 100",
                )
            if name in ACTIVITY_GBQ_OPTIONS and v > 100:
                raise OptionError(
                    f"{option} is {v:g} GBq, more than any administration (100 GBq)",
                    tag=option,
                    fix="give the activity in GBq",
                )
            if name in NON_NEGATIVE_OPTIONS and v < 0:
                raise OptionError(
                    f"{option} is {v:g}; it cannot be negative",
                    tag=option,
                    fix="give 0 or a positive value",
                )


#: Input paths of each command (argparse dests) that must exist before any computation.
INPUT_OPTIONS = {
    "inspect": ("path",),
    "suv": ("path",),
    "dose": ("tia", "ct"),
    "tac": ("study", "masks", "names", "recovery_table"),
    "tia": ("study",),
    "dosimetry": ("study_dir", "masks", "names", "plan", "planned_dose"),
    "lesions": ("input", "exclude_organs", "liver_mask", "ct", "organs"),
    "response": ("baseline", "followup", "baseline_labels", "followup_labels", "organs"),
    "plan-rlt": ("from_dosimetry",),
    "plan-sirt": ("study_dir",),
    "sirt-dosimetry": ("image", "structures", "planned_dose", "transform", "reference_ct"),
    "gamma": ("reference", "evaluated"),
}


def check_input_options(args: argparse.Namespace) -> None:
    """Input files and folders named on the command line must exist (checked first)."""
    for dest in INPUT_OPTIONS.get(args.command, ()):
        value = getattr(args, dest, None)
        if not isinstance(value, (str, Path)) or not value:
            continue
        if not Path(value).exists():
            tag = dest.upper() if dest in _POSITIONAL else f"--{dest.replace('_', '-')}"
            raise InputError(
                "file not found (no such file or folder)", path=value, tag=tag, fix="check the path"
            )


_POSITIONAL = (
    "path",
    "input",
    "study",
    "study_dir",
    "reference",
    "evaluated",
    "baseline",
    "followup",
)


def check_output_option(args: argparse.Namespace) -> None:
    """Check the output location of the command before it computes anything."""
    from ..io.output_dir import check_output_file, check_output_folder, check_writable_folder

    spec = OUTPUT_OPTIONS.get(args.command)
    if spec is None:
        return
    dest, kind = spec
    value = getattr(args, dest, None)
    if not value:
        return
    option = "-o" if dest in ("output", "out") else dest.upper()
    if kind in ("file", "image"):
        check_output_file(value, option=option)
        from .cmd_dose import _SUFFIXES, _suffix

        if kind == "image" and not _suffix(Path(value)):
            raise OutputError(
                "unknown output image format",
                path=value,
                tag=option,
                fix=f"use one of {', '.join(_SUFFIXES)}",
            )
    elif kind == "folder":
        check_output_folder(value, option=option)
    else:
        check_writable_folder(value, option=option)


#: Text outputs in which the temporary folder's path is replaced by the final one.
_TEXT_SUFFIXES = (".json", ".csv", ".html", ".txt", ".md", ".tsv")


def run_into_output_folder(args: argparse.Namespace) -> int:
    """Run a folder-writing command whole or not at all.

    The command writes into a hidden temporary folder beside the target
    (:class:`theranostics.io.output_dir.OutputFolder`), renamed to the target when the
    command succeeds and removed when it fails, so a killed or failed run never leaves a
    folder that looks complete. Mentions of the temporary path in what the command prints
    and in its text outputs are replaced by the final path.
    """
    from ..io.output_dir import OutputFolder

    dest = OUTPUT_OPTIONS[args.command][0]
    folder = OutputFolder(getattr(args, dest), command=args.command)
    target = str(folder.target)
    buffer = io.StringIO()
    code = 1
    try:
        with folder as work:
            setattr(args, dest, str(work))
            try:
                with contextlib.redirect_stdout(buffer):
                    code = int(args.func(args) or 0)
            finally:
                sys.stdout.write(buffer.getvalue().replace(str(work), target))
            if code != 0:
                raise _CommandFailedError(code)
            for path in sorted(work.rglob("*")):
                if path.is_file() and path.suffix.lower() in _TEXT_SUFFIXES:
                    text = path.read_text(errors="surrogateescape")
                    if str(work) in text:
                        path.write_text(text.replace(str(work), target), errors="surrogateescape")
    except _CommandFailedError as failed:
        return failed.code
    return code


class _CommandFailedError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def log_folder() -> Path:
    """Where crash logs go: $THERANOSTICS_LOG_DIR, else the system temporary folder."""
    return Path(os.environ.get("THERANOSTICS_LOG_DIR") or tempfile.gettempdir())


def write_crash_log(command: str, argv: list[str] | None, exc: BaseException) -> Path | None:
    """Write the traceback of an unexpected exception to a log file; returns its path (or
    ``None`` when no log could be written)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    text = (
        f"theranostics {__version__}\ncommand: {command}\n"
        f"argv: {sys.argv if argv is None else ['theranostics', *argv]}\n\n"
        + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    )
    try:
        folder = log_folder()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"theranostics-{command}-{stamp}-{os.getpid()}.log"
        path.write_text(text)
        return path
    except OSError:
        return None


def _os_error_line(exc: OSError) -> str:
    where = exc.filename if exc.filename is not None else ""
    reason = exc.strerror or str(exc)
    fixes = {
        errno.ENOENT: "check the path",
        errno.EACCES: "check the permissions, or choose another location",
        errno.EPERM: "check the permissions, or choose another location",
        errno.EROFS: "the file system is read-only: choose another location",
        errno.ENOSPC: "the disk is full: free space or choose another location",
        errno.EISDIR: "a file was expected, this is a folder",
        errno.ENOTDIR: "a folder was expected, this is a file",
        errno.EEXIST: "remove it or choose another name",
    }
    fix = fixes.get(exc.errno, "check the path and its permissions")
    return f"{where}: {reason}. Fix: {fix}" if where else f"{reason}. Fix: {fix}"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    previous_validation = _quiet_pydicom()
    try:
        if getattr(args, "uid_root", None):
            from ..io.export_common import set_uid_root

            set_uid_root(args.uid_root)
        check_numeric_options(args)
        check_input_options(args)
        check_output_option(args)
        if OUTPUT_OPTIONS.get(args.command, ("", ""))[1] == "folder" and getattr(
            args, OUTPUT_OPTIONS[args.command][0], None
        ):
            return run_into_output_folder(args)
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"theranostics {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        sys.stderr.close()
        return 0
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        print(f"theranostics {args.command}: error: {_os_error_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EROFS, errno.EEXIST, errno.EDQUOT):
            print(f"theranostics {args.command}: error: {_os_error_line(exc)}", file=sys.stderr)
            return 2
        return _unexpected(args.command, argv, exc)
    except MemoryError:
        print(
            f"theranostics {args.command}: error: not enough memory. Fix: use a coarser "
            "grid, fewer structures or a machine with more memory",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line here, the traceback in a log file
        return _unexpected(args.command, argv, exc)
    finally:
        _restore_pydicom(previous_validation)
        if getattr(args, "uid_root", None):  # main() may run again in the same process
            from ..io.export_common import set_uid_root

            set_uid_root(None)


def _quiet_pydicom():
    """Stop pydicom's own value validation while a command runs; returns the previous mode.

    pydicom warns (``UserWarning`` plus a log line on the terminal) about every value that
    breaks its VR rules, e.g. a date of month 13. Our readers parse and check each value
    they use (``theranostics.io.dicom_values`` and the plausibility rules) and turn a bad
    one into an error naming the file, the tag and the fix, so the warning would only repeat
    it in a form the user cannot act on."""
    import pydicom.config

    previous = pydicom.config.settings.reading_validation_mode
    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
    return previous


def _restore_pydicom(previous) -> None:
    import pydicom.config

    pydicom.config.settings.reading_validation_mode = previous


def _unexpected(command: str, argv, exc: BaseException) -> int:
    log = write_crash_log(command, argv, exc)
    where = f"; full traceback in {log}" if log else ""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    print(
        f"theranostics {command}: internal error ({type(exc).__name__}"
        f"{': ' + first[:200] if first else ''}){where}. Please report it with the log file.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":  # pragma: no cover - python -m theranostics.cli.main
    sys.exit(main())
