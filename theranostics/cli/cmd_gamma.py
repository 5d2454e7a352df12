"""``theranostics gamma``: 3D gamma index of an evaluated dose against a reference dose."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import InputError, UnitsError


def read_dose(path: str, tag: str):
    """A dose image (SimpleITK, Gy) from NRRD/NIfTI/MetaImage (JSON sidecar optional; when
    present its units must be Gy) or a DICOM image readable by ``theranostics.io``."""
    from ..io.reader import read_image

    p = Path(path)
    if not p.exists():
        raise InputError("file not found", path=p, tag=tag, fix="check the path")
    qimage = read_image(p)
    units = qimage.meta.quantity.units
    if units not in ("Gy", "1"):
        raise UnitsError(
            f"image holds {units}, not a dose in Gy",
            path=p,
            tag=tag,
            fix="give a dose image (units Gy in its sidecar, or no sidecar)",
        )
    return qimage.image


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "gamma",
        help="3D gamma index of an evaluated dose against a reference dose",
        description="Gamma index (Low et al. 1998), global or local, on grids that may "
        "differ. Doses in Gy (NRRD/NIfTI, sidecar optional). See docs/verification.md.",
    )
    p.add_argument("reference", metavar="REF", help="reference dose image (Gy)")
    p.add_argument("evaluated", metavar="EVAL", help="evaluated dose image (Gy)")
    p.add_argument("--dose-percent", type=float, default=3.0, help="dose criterion, %% (3)")
    p.add_argument("--dta-mm", type=float, default=3.0, help="distance criterion, mm (3)")
    p.add_argument("--local", action="store_true", help="local dose criterion (default global)")
    p.add_argument(
        "--cutoff-percent", type=float, default=10.0, help="low-dose cutoff, %% of norm (10)"
    )
    p.add_argument("--normalisation-gy", type=float, help="global normalisation (default max)")
    p.add_argument("--max-gamma", type=float, default=2.0, help="gamma values clipped here (2)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("-o", "--output", help="write the gamma map (NRRD/NIfTI)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..progress import TextProgressBar
    from ..verify.gamma import gamma_index
    from .cmd_dose import write_image_atomically

    reference = read_dose(args.reference, "REF")
    evaluated = read_dose(args.evaluated, "EVAL")
    result = gamma_index(
        reference,
        evaluated,
        dose_percent=args.dose_percent,
        dta_mm=args.dta_mm,
        local=args.local,
        cutoff_percent=args.cutoff_percent,
        normalisation_Gy=args.normalisation_gy,
        max_gamma=args.max_gamma,
        progress=TextProgressBar(),
    )
    if args.output:
        write_image_atomically(result.gamma, args.output)
    summary = result.to_json()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        kind = "local" if args.local else "global"
        print(
            f"gamma {args.dose_percent:g} %/{args.dta_mm:g} mm {kind}, "
            f"cutoff {args.cutoff_percent:g} %"
        )
        print(f"pass_rate_percent {result.pass_rate_percent:.2f}")
        print(f"gamma_mean {result.gamma_mean:.4f}")
        print(f"evaluated_points {result.evaluated_points}")
        if args.output:
            print(f"gamma map written to {args.output}")
    return 0
