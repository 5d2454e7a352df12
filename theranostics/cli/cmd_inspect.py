"""``theranostics inspect DIR``: the series table of a DICOM folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..io.inspect import SUMMARY_COLUMNS, inspect_directory
from ..io.scan import scan_directory
from ..progress import TextProgressBar

COLUMNS = (*SUMMARY_COLUMNS, ("quantification", "Quantification"))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect",
        help="list the series of a DICOM folder with their quantitative metadata and problems",
    )
    p.add_argument("path", help="folder (searched recursively) or DICOM file")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per series")
    p.add_argument(
        "--activity-unit",
        choices=("auto", "Bq", "MBq"),
        default="auto",
        help="unit of RadionuclideTotalDose (default: auto, > 1e5 means Bq)",
    )
    p.set_defaults(func=run)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "x".join(_cell(v) for v in value)
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def format_table(rows: list[dict]) -> str:
    """A plain-text table of the inspect rows, problems listed under each series."""
    header = [title for _, title in COLUMNS]
    body = [[_cell(row.get(key)) for key, _ in COLUMNS] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(header)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    for row, cells in zip(rows, body):
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths)))
        if row.get("structures"):
            lines.append(f"    structures: {', '.join(row['structures'])}")
        for problem in row.get("problems", []):
            lines.append(f"    ! {problem}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    bar = TextProgressBar()
    scan = scan_directory(args.path, progress=bar)
    rows = inspect_directory(args.path, scan=scan, activity_unit=args.activity_unit, progress=bar)
    if not rows and Path(args.path).is_file():  # one file given, and it is not usable
        from ..errors import NotDicomError

        why = scan.skipped[0].reason if scan.skipped else "no image or structure set in it"
        raise NotDicomError(
            f"cannot be inspected: {why}",
            path=args.path,
            fix="give a DICOM file or folder, or a NRRD/NIfTI image",
        )
    for skipped in scan.skipped:
        print(f"skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(rows) if rows else "no DICOM series found")
    return 0
