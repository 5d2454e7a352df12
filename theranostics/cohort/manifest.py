"""The cohort manifest: one row per study.

A manifest is a CSV file (header row) or a YAML file (a list of mappings, or a mapping with
a ``studies`` list). Columns:

- ``id`` (required): the study's name, also the name of its output folder ``OUT/<id>/``;
  letters, digits, ``.``, ``_`` and ``-``, not starting with a dot, unique in the manifest;
- ``study_dir`` (required): the study folder given to the task;
- ``masks`` (optional): the structure masks of the study (the task's mask option);
- any other column: an option of the task by its command-line name, with dashes or
  underscores (``calibration_cps_per_MBq``, ``psf-fwhm-mm`` ...). A value in a row
  overrides the command-line value for that study; an empty cell keeps the command line's.

Relative paths are taken relative to the manifest's folder.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

#: Allowed study ids (they name folders).
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")


class ManifestError(InputError):
    """The cohort manifest cannot be used: unreadable, a required column missing, an id that
    is empty, repeated or not a folder name, or a column that is no option of the task."""


@dataclass(frozen=True)
class StudyRow:
    """One row of the manifest.

    Attributes:
        id: the study's name (its output folder).
        study_dir: the study folder, absolute.
        options: the other non-empty cells, ``{column: text}`` in the file's order
            (``masks`` included), paths not yet resolved.
        line: the row's line (CSV) or position (YAML, 1-based) in the manifest, for errors.
    """

    id: str
    study_dir: Path
    options: dict[str, str] = field(default_factory=dict)
    line: int = 0


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _read_csv(path: Path) -> list[tuple[int, dict]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(
            f"not a UTF-8 text file ({exc.reason})", path=path, fix="save it as UTF-8 CSV"
        ) from None
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames:
        raise ManifestError("the manifest is empty", path=path, fix="add a header row id,study_dir")
    rows = []
    for row in reader:
        if None in row:  # more cells than header columns
            raise ManifestError(
                f"line {reader.line_num} has more cells than the header has columns",
                path=path,
                fix="quote cells that contain commas",
            )
        cells = {(k or "").strip(): _cell(v) for k, v in row.items()}
        if any(cells.values()):
            rows.append((reader.line_num, cells))
    return rows


def _read_yaml(path: Path) -> list[tuple[int, dict]]:
    import yaml  # PyYAML, installed with dask (the cohort extra)

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ManifestError(f"not valid YAML ({exc})", path=path) from None
    if isinstance(doc, dict):
        doc = doc.get("studies")
    if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
        raise ManifestError(
            "a YAML manifest is a list of studies (mappings with id and study_dir), or a "
            "mapping with such a list under 'studies'",
            path=path,
        )
    return [(n, {str(k).strip(): _cell(v) for k, v in r.items()}) for n, r in enumerate(doc, 1)]


def read_manifest(path: str | Path) -> list[StudyRow]:
    """Read a cohort manifest (CSV, or YAML by the suffix ``.yaml``/``.yml``).

    Returns the rows in file order; raises :class:`ManifestError` naming the file, the line
    and the column at fault.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(
            "the manifest file does not exist", path=path, fix="give a CSV or YAML file"
        )
    raw = _read_yaml(path) if path.suffix.lower() in (".yaml", ".yml") else _read_csv(path)
    return rows_from_records(raw, base=path.parent.absolute(), source=path)


def rows_from_records(
    records: list[tuple[int, dict]] | list[dict], *, base: Path, source: str | Path = "manifest"
) -> list[StudyRow]:
    """Validate manifest records (``{column: value}``, optionally numbered) into rows.

    ``base`` resolves relative ``study_dir`` paths; ``source`` names the manifest in errors.
    """
    numbered = [r if isinstance(r, tuple) else (n, r) for n, r in enumerate(records, 1)]
    if not numbered:
        raise ManifestError("the manifest has no studies", path=source, fix="add a row per study")
    rows: list[StudyRow] = []
    seen: dict[str, int] = {}
    for line, record in numbered:
        cells = {str(k).strip(): _cell(v) for k, v in record.items()}
        for required in ("id", "study_dir"):
            if required not in cells:
                raise ManifestError(
                    f"the column '{required}' is missing",
                    path=source,
                    tag=required,
                    fix="the manifest needs the columns id and study_dir (masks and task "
                    "options are optional)",
                )
        study_id = cells.pop("id")
        if not ID_PATTERN.match(study_id):
            raise ManifestError(
                f"line {line}: id '{study_id}' is not usable as a folder name",
                path=source,
                tag="id",
                fix="use letters, digits, '.', '_' and '-' (not starting with '.')",
            )
        if study_id in seen:
            raise ManifestError(
                f"line {line}: id '{study_id}' already used on line {seen[study_id]}",
                path=source,
                tag="id",
                fix="give every study its own id",
            )
        seen[study_id] = line
        study_dir = cells.pop("study_dir")
        if not study_dir:
            raise ManifestError(
                f"line {line}: study '{study_id}' has no study_dir", path=source, tag="study_dir"
            )
        folder = Path(study_dir).expanduser()
        if not folder.is_absolute():
            folder = base / folder
        options = {k: v for k, v in cells.items() if k and v != ""}
        rows.append(StudyRow(study_id, folder, options, line))
    return rows
