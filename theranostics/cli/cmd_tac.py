"""``theranostics tac``: per-structure time-activity curves and TIA of a SPECT/CT study."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path


def add_study_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments shared by ``tac`` and ``tia``: study, calibration, registration."""
    p.add_argument("study", metavar="STUDY_DIR", help="folder with the SPECT/CT sessions")
    p.add_argument(
        "--calibration-cps-per-MBq",
        dest="calibration",
        type=float,
        help="SPECT calibration factor in cps/MBq (required for images in counts; the "
        "synthetic study uses 10)",
    )
    p.add_argument(
        "--no-registration",
        action="store_true",
        help="do not register the CTs (SPECTs resampled in scanner coordinates)",
    )
    p.add_argument("--deformable", action="store_true", help="add a B-spline registration stage")


def register(subparsers) -> None:
    from ..kinetics.models import MODEL_NAMES

    p = subparsers.add_parser(
        "tac",
        help="time-activity curves and time-integrated activity per structure",
        description="Time-activity curves (MBq) of each structure over the SPECT/CT sessions "
        "of a study, the fitted model and the time-integrated activity (MBq·h) with its "
        "standard uncertainty.",
    )
    add_study_arguments(p)
    p.add_argument("--masks", required=True, help="DICOM SEG, RTSTRUCT or label map (NRRD/NIfTI)")
    p.add_argument("--names", help="name table of a label map (JSON or CSV label,name)")
    p.add_argument("--structures", help="comma-separated structure names to keep")
    p.add_argument("--model", default="auto", choices=("auto", *MODEL_NAMES))
    p.add_argument(
        "--psf-fwhm-mm",
        type=float,
        help="partial-volume correction by the geometric transfer matrix with this Gaussian "
        "PSF (mm); the masks should cover every structure holding activity",
    )
    p.add_argument("--recovery-table", help="recovery coefficients by volume (CSV/JSON)")
    p.add_argument(
        "--calibration-rel-sd",
        type=float,
        default=0.0,
        help="relative standard uncertainty of the calibration factor (e.g. 0.05)",
    )
    p.add_argument(
        "--allow-fallback",
        action="store_true",
        help="with too few time points for the model, use a trapezoid with physical decay",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("-o", "--output", help="write the full record (JSON) to this file")
    p.set_defaults(func=run)


def write_json_atomically(data: dict, path: str | Path) -> None:
    """Write JSON via a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".json")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=1, allow_nan=True)
        from ..io.output_dir import file_mode

        os.chmod(tmp, file_mode())  # mkstemp gives 0600
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _table(result) -> str:
    rows = [
        ("structure", "volume mL", "model", "TIA MBq·h", "u(TIA)", "u %", "T_eff h", "MBq at "
         + ", ".join(f"{t:g}" for t in result.times_h) + " h")
    ]  # fmt: skip
    for name, s in result.structures.items():
        teff = s.fit.effective_half_life_h
        rows.append(
            (
                name,
                f"{s.tac.volume_mL:.1f}",
                s.fit.model,
                f"{s.tia_MBq_h:.1f}",
                f"{s.tia_uncertainty_MBq_h:.1f}",
                f"{100 * s.tia_uncertainty_MBq_h / s.tia_MBq_h:.1f}" if s.tia_MBq_h else "-",
                f"{teff:.1f}" if teff is not None and math.isfinite(teff) else "-",
                " ".join(f"{a:.2f}" for a in s.fit.activities_MBq),
            )
        )
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..progress import TextProgressBar
    from ..workflows.kinetics import run_structure_kinetics

    structures = [s.strip() for s in args.structures.split(",")] if args.structures else None
    result = run_structure_kinetics(
        args.study,
        args.masks,
        calibration_cps_per_MBq=args.calibration,
        names_file=args.names,
        structures=structures,
        model=args.model,
        registration=not args.no_registration,
        deformable=args.deformable,
        psf_fwhm_mm=args.psf_fwhm_mm,
        recovery_table=args.recovery_table,
        calibration_rel_sd=args.calibration_rel_sd,
        allow_fallback=args.allow_fallback,
        progress=TextProgressBar(),
    )
    if args.output:
        write_json_atomically(result.to_json(), args.output)
    if args.json:
        summary = {
            name: {
                key: s.to_json()[key]
                for key in (
                    "tia_MBq_h",
                    "tia_uncertainty_MBq_h",
                    "model",
                    "times_h",
                    "activities_MBq",
                    "volume_mL",
                    "effective_half_life_h",
                    "partial_volume_correction",
                )
            }
            for name, s in result.structures.items()
        }
        json.dump(summary, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    print(_table(result))
    for index, reg in enumerate(result.registration):
        if reg is not None:
            quality = reg.get("quality", {})
            shown = ", ".join(
                f"{k} {v:.3g}" for k, v in quality.items() if isinstance(v, (int, float))
            )
            print(f"registration {result.times_h[index]:g} h: {shown}")
    for note in result.notes:
        print(f"note: {note}")
    if args.output:
        print(f"record written to {args.output}")
    return 0
