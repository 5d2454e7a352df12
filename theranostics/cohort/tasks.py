"""What one study of a cohort runs: the command line of a ``theranostics`` subcommand.

A cohort task is the subcommand itself (``dosimetry``, ``lesions``, ``tac``, ``plan-sirt``,
``sirt-dosimetry``), parsed by the subcommand's own parser and run by its own function, so a
cohort computes exactly what the single-study command computes. This module knows, per task,
which option takes the masks, where the output goes, which file holds the results and which
of its numbers are the headline of the cohort summary; it merges the command line's task
options with a manifest row's, and fingerprints a study's inputs and parameters for resume.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..errors import OptionError
from .manifest import ManifestError, StudyRow

#: Schema of the fingerprint: changing it makes every finished study out of date.
FINGERPRINT_SCHEMA = "theranostics-cohort-fingerprint/1"


@dataclass
class Headline:
    """The numbers of one study shown in the cohort summary.

    Attributes:
        per_structure: ``{metric: {structure: value}}`` (e.g. ``mean_dose_Gy``).
        scalars: ``{name: value}`` of the study as a whole.
        lesions: names of the structures that are lesions (pooled across patients in the
            report: lesion_01 of one patient is not lesion_01 of another).
    """

    per_structure: dict[str, dict[str, float]] = field(default_factory=dict)
    scalars: dict[str, float] = field(default_factory=dict)
    lesions: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "per_structure": self.per_structure,
            "scalars": self.scalars,
            "lesions": list(self.lesions),
        }

    @classmethod
    def from_json(cls, data: dict | None) -> Headline:
        data = data or {}
        return cls(
            per_structure={k: dict(v) for k, v in (data.get("per_structure") or {}).items()},
            scalars=dict(data.get("scalars") or {}),
            lesions=list(data.get("lesions") or []),
        )

    def columns(self) -> dict[str, float]:
        """Flat summary columns: scalars by name, then ``<structure>_<metric>``."""
        out = dict(self.scalars)
        for metric, values in self.per_structure.items():
            for structure, value in values.items():
                out[f"{structure}_{metric}"] = value
        return out


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(float(value)) else None


def _structure_headline(doc: dict, metrics: dict[str, str]) -> Headline:
    """Per-structure numbers from ``doc["structures"]`` (``{name: {key: value}}``);
    ``metrics`` maps the summary's metric name to the key in each structure."""
    head = Headline()
    structures = doc.get("structures") or {}
    if not isinstance(structures, dict):
        return head
    for name, entry in structures.items():
        if not isinstance(entry, dict):
            continue
        for metric, key in metrics.items():
            value = _number(entry.get(key))
            if value is not None:
                head.per_structure.setdefault(metric, {})[name] = value
        if entry.get("category") == "lesion" or str(name).startswith("lesion"):
            head.lesions.append(name)
    return head


def dosimetry_headline(doc: dict) -> Headline:
    """Mean absorbed dose (Gy) and dose per administered activity (Gy/GBq) per structure."""
    head = _structure_headline(
        doc, {"mean_dose_Gy": "mean_dose_Gy", "Gy_per_GBq": "dose_per_activity_Gy_per_GBq"}
    )
    activity = _number(doc.get("administered_activity_MBq"))
    if activity is not None:
        head.scalars["administered_activity_MBq"] = activity
    return head


def tac_headline(doc: dict) -> Headline:
    """Time-integrated activity (MBq·h) and effective half-life (h) per structure."""
    return _structure_headline(
        doc, {"tia_MBq_h": "tia_MBq_h", "effective_half_life_h": "effective_half_life_h"}
    )


def lesions_headline(doc: dict) -> Headline:
    """The whole-body lesion totals (count, volume, SUV figures, activity)."""
    head = Headline()
    totals = (doc.get("biomarkers") or {}).get("total") or {}
    for key, value in totals.items():
        number = _number(value)
        if number is not None:
            head.scalars[key] = number
    return head


def plan_sirt_headline(doc: dict) -> Headline:
    """Recommended activity (GBq), lung shunt fraction, T/N and predicted lung dose; per
    compartment the predicted mean dose (Gy) and dose per GBq (schema
    ``theranostics-plan-sirt/1``)."""
    head = _structure_headline(
        {"structures": doc.get("compartments") or {}},
        {"predicted_dose_Gy": "predicted_dose_Gy", "Gy_per_GBq": "dose_Gy_per_GBq"},
    )
    compartments = doc.get("compartments") or {}
    head.lesions = [
        n for n, c in compartments.items() if isinstance(c, dict) and c.get("tissue") == "tumor"
    ]
    for key in (
        "recommended_activity_GBq",
        "lung_shunt_fraction",
        "tumor_to_normal_ratio",
        "predicted_lung_cumulative_Gy",
    ):
        number = _number(doc.get(key))
        if number is not None:
            head.scalars[key] = number
    return head


def sirt_dosimetry_headline(doc: dict) -> Headline:
    """Mean absorbed dose and D70 (Gy) per structure, and the activity, T/N and lung dose
    figures at the top of results.json."""
    head = _structure_headline(doc, {"mean_dose_Gy": "mean_dose_Gy", "D70_Gy": "D70_Gy"})
    for key in (
        "total_activity_in_field_of_view_MBq",
        "administered_activity_MBq",
        "fraction_of_administered_in_field_of_view",
        "tumor_to_normal_ratio",
        "lung_mean_dose_Gy",
    ):
        number = _number(doc.get(key))
        if number is not None:
            head.scalars[key] = number
    return head


@dataclass(frozen=True)
class TaskSpec:
    """How the cohort runs one subcommand.

    Attributes:
        name: the subcommand (``theranostics NAME``).
        masks_option: the subcommand's option that the manifest's ``masks`` column fills.
        output_file: ``None`` when ``-o`` is the study's output folder; else the name of the
            file, inside the study's folder, that ``-o`` names.
        results_file: the file in the study's folder holding its results.
        headline: the summary numbers from the parsed results file.
    """

    name: str
    masks_option: str
    output_file: str | None
    results_file: str
    headline: Callable[[dict], Headline]


#: The tasks ``theranostics cohort run --task`` accepts.
TASKS: dict[str, TaskSpec] = {
    "dosimetry": TaskSpec("dosimetry", "--masks", None, "results.json", dosimetry_headline),
    "lesions": TaskSpec("lesions", "--exclude-organs", None, "lesions.json", lesions_headline),
    "tac": TaskSpec("tac", "--masks", "tac.json", "tac.json", tac_headline),
    "plan-sirt": TaskSpec("plan-sirt", "--structures", None, "plan.json", plan_sirt_headline),
    # its input is one volume file (the manifest's study_dir names it), its masks a .seg.nrrd
    "sirt-dosimetry": TaskSpec(
        "sirt-dosimetry", "--structures", None, "results.json", sirt_dosimetry_headline
    ),
}

#: Options the cohort sets itself and a manifest or the command line may not give.
RESERVED = {"o", "out", "output", "h", "help"}


def registered(task: str) -> bool:
    """Whether ``theranostics TASK`` is a registered subcommand of this installation."""
    from ..cli.main import SUBCOMMAND_MODULES

    return task in SUBCOMMAND_MODULES


def task_spec(task: str) -> TaskSpec:
    """The :class:`TaskSpec` of ``task``; :class:`OptionError` if unknown or not installed."""
    if task not in TASKS:
        raise OptionError(
            f"unknown cohort task '{task}'", tag="--task", fix=f"choose one of {sorted(TASKS)}"
        )
    if not registered(task):
        raise OptionError(
            f"the subcommand 'theranostics {task}' is not part of this installation",
            tag="--task",
            fix="update theranostics, or choose another task",
        )
    return TASKS[task]


@functools.cache
def task_parser(task: str) -> argparse.ArgumentParser:
    """The subcommand's own argument parser (registered on a fresh parser; cached, do not
    modify it)."""
    root = argparse.ArgumentParser(prog="theranostics")
    sub = root.add_subparsers(dest="command")
    module = importlib.import_module(f"theranostics.cli.cmd_{task.replace('-', '_')}")
    module.register(sub)
    return sub.choices[task]


def _key(option: str) -> str:
    return option.lstrip("-").replace("-", "_").lower()


@dataclass(frozen=True)
class _Option:
    canonical: str  # the option string written into the argv
    nargs: object  # argparse nargs (0 for flags)
    takes_path: bool  # a text value that may name a file
    append: bool


@functools.cache
def option_table(task: str) -> dict[str, _Option]:
    """``{normalised name: option}`` of every optional argument of the task; names are
    the option strings without dashes, ``-`` as ``_``, lower case (so the manifest column
    ``calibration_cps_per_MBq`` finds ``--calibration-cps-per-MBq``)."""
    table: dict[str, _Option] = {}
    for action in task_parser(task)._actions:  # argparse keeps no public list of its actions
        if not action.option_strings:
            continue
        longs = [s for s in action.option_strings if s.startswith("--")]
        canonical = longs[0] if longs else action.option_strings[0]
        nargs = 0 if action.nargs == 0 else action.nargs
        takes_path = nargs != 0 and action.type in (None, str)
        option = _Option(canonical, nargs, takes_path, isinstance(action, argparse._AppendAction))
        for s in action.option_strings:
            table[_key(s)] = option
        table[_key(action.dest)] = table.get(_key(action.dest), option)
    return table


def _is_option(token: str) -> bool:
    if not token.startswith("-") or token == "-":
        return False
    try:
        float(token)
        return False
    except ValueError:
        return True


Tokens = list[tuple[str, list[str]]]


def tokenize_options(task: str, argv: Sequence[str]) -> Tokens:
    """Split command-line task options into ``[(canonical option, [values])]`` with the
    task's parser; unknown or reserved options raise :class:`OptionError`."""
    table = option_table(task)
    tokens: Tokens = []
    i = 0
    argv = list(argv)
    while i < len(argv):
        token = argv[i]
        if not _is_option(token):
            raise OptionError(
                f"'{token}' is not an option of 'theranostics {task}' (study folders come "
                "from the manifest)",
                tag="task options",
                fix=f"see theranostics {task} --help",
            )
        name, _, inline = token.partition("=")
        key = _key(name)
        if key in RESERVED or key not in table:
            raise OptionError(
                f"{name} is not a task option of 'theranostics {task}'"
                + (" (the cohort sets the output itself)" if key in RESERVED else ""),
                tag=name,
                fix=f"see theranostics {task} --help",
            )
        option = table[key]
        i += 1
        values: list[str] = []
        if "=" in token:
            values = [inline]
        elif option.nargs != 0:
            while i < len(argv) and not _is_option(argv[i]):
                values.append(argv[i])
                i += 1
                if option.nargs in (None, "?") or (
                    isinstance(option.nargs, int) and len(values) == option.nargs
                ):
                    break
        tokens.append((option.canonical, values))
    return tokens


_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off"}


def _absolute_if_path(value: str, base: Path) -> str:
    candidate = Path(value).expanduser()
    if not candidate.is_absolute():
        candidate = base / candidate
    return str(candidate) if candidate.exists() else value


def study_options(
    task: str,
    row: StudyRow,
    command_line: Tokens,
    *,
    base: Path | None = None,
    manifest: str | Path = "manifest",
) -> Tokens:
    """The options of one study: the command line's, with each of the row's cells replacing
    every occurrence of its option (an empty cell keeps the command line's value, a false
    flag removes it). Relative paths in cells are resolved against the study's manifest
    folder ``base`` (``row.study_dir`` is already absolute); in the command line, against
    the current folder. ``manifest`` names the manifest in errors."""
    spec = TASKS[task]
    table = option_table(task)
    merged: Tokens = [
        (o, [_absolute_if_path(v, Path.cwd()) if table[_key(o)].takes_path else v for v in vals])
        for o, vals in command_line
    ]
    base = Path.cwd() if base is None else Path(base)
    for column, text in row.options.items():
        key = _key(spec.masks_option) if column == "masks" else _key(column)
        if key in RESERVED or key not in table:
            raise ManifestError(
                f"line {row.line}: column '{column}' is not an option of 'theranostics {task}'",
                path=manifest,
                tag=column,
                fix=f"remove the column or rename it after an option of theranostics {task} --help",
            )
        option = table[key]
        merged = [(o, v) for o, v in merged if o != option.canonical]
        if option.nargs == 0:
            if text.lower() in _TRUE:
                merged.append((option.canonical, []))
            elif text.lower() not in _FALSE:
                raise ManifestError(
                    f"line {row.line}: column '{column}' is a flag, '{text}' is neither true "
                    "nor false",
                    path=manifest,
                    tag=column,
                    fix="write true or false (or leave the cell empty)",
                )
        else:
            values = (
                text.split()
                if option.nargs in ("+", "*") or isinstance(option.nargs, int)
                else [text]
            )
            if option.takes_path:
                values = [_absolute_if_path(v, base) for v in values]
            merged.append((option.canonical, values))
    return merged


def task_argv(task: str, study_dir: str | Path, options: Tokens, output: str | Path) -> list[str]:
    """The subcommand's argv: ``[task, study_dir, options..., -o output]``."""
    argv = [task, str(study_dir)]
    for option, values in options:
        argv.append(option)
        argv.extend(values)
    return [*argv, "-o", str(output)]


# ----------------------------------------------------------------------------------------
# fingerprints
# ----------------------------------------------------------------------------------------
def _file_digest(path: Path, h) -> None:
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)


def content_digest(path: str | Path, cache: dict | None = None) -> str:
    """SHA-256 over a file's bytes, or over a folder's files (relative path, size and
    bytes of each, in sorted order); ``missing`` when the path does not exist."""
    path = Path(path)
    key = str(path.absolute())
    if cache is not None and key in cache:
        return cache[key]
    h = hashlib.sha256()
    if path.is_file():
        _file_digest(path, h)
    elif path.is_dir():
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for name in sorted(filenames):
                full = Path(dirpath) / name
                rel = full.relative_to(path).as_posix()
                h.update(f"\0{rel}\0{full.stat().st_size}\0".encode())
                _file_digest(full, h)
    else:
        return "missing"
    digest = h.hexdigest()
    if cache is not None:
        cache[key] = digest
    return digest


def fingerprint(
    task: str, study_dir: str | Path, options: Tokens, cache: dict | None = None
) -> str:
    """The study's fingerprint: task, software version, options (paths by their content,
    so moving an unchanged study keeps it up to date) and the study folder's content."""
    table = option_table(task)
    normalised = []
    for option, values in options:
        shown = []
        for value in values:
            if table[_key(option)].takes_path and Path(value).exists():
                shown.append(f"content:{content_digest(value, cache)}")
            else:
                shown.append(value)
        normalised.append([option, shown])
    doc = {
        "schema": FINGERPRINT_SCHEMA,
        "theranostics": __version__,
        "task": task,
        "options": normalised,
        "study": content_digest(study_dir, cache),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
