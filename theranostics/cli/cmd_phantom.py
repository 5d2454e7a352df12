"""``theranostics phantom OUTDIR``: write the synthetic patient study (DICOM + ground truth)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import InputError
from ..progress import TextProgressBar


def register(sub: argparse._SubParsersAction) -> None:
    from ..phantom.presets import PRESETS, SIZES

    p = sub.add_parser(
        "phantom",
        help="generate the synthetic SPECT/CT + PET/CT patient study with exact ground truth",
        description="Write a synthetic 177Lu therapy study as DICOM (CT, NM SPECT per time point, "
        "planning PET, SEG) with its ground truth under OUTDIR/truth/. Deterministic per seed.",
    )
    p.add_argument("outdir", help="output folder (created; must be empty unless --overwrite)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="psma-lu177")
    p.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="standard",
        help="standard: clinical grids (CT 2.4 mm, SPECT 4.8 mm); small: coarse, for tests",
    )
    p.add_argument(
        "--time-points",
        default="4,24,96,168",
        help="SPECT acquisition times, hours after administration (default 4,24,96,168)",
    )
    p.add_argument("--spect-fwhm-mm", type=float, default=12.0, help="SPECT resolution (FWHM)")
    p.add_argument(
        "--calibration-cps-per-mbq", type=float, default=10.0, help="SPECT sensitivity (cps/MBq)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUTDIR")
    p.set_defaults(func=run)


def _time_points(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or any(v <= 0 for v in values) or list(values) != sorted(set(values)):
        raise InputError(
            f"--time-points {text!r} is not an increasing list of positive hours",
            tag="--time-points",
            fix="write e.g. --time-points 4,24,96,168",
        )
    return values


def run(args: argparse.Namespace) -> int:
    from ..phantom.generate import PhantomConfig, generate_study

    config = PhantomConfig(
        seed=args.seed,
        preset=args.preset,
        size=args.size,
        time_points_h=_time_points(args.time_points),
        spect_fwhm_mm=args.spect_fwhm_mm,
        calibration_cps_per_MBq=args.calibration_cps_per_mbq,
    )
    outdir = Path(args.outdir)
    if outdir.exists() and any(outdir.iterdir()) and not args.overwrite:
        raise InputError(
            "output folder exists and is not empty",
            path=outdir,
            fix="choose another folder or pass --overwrite",
        )
    started = time.perf_counter()
    truth = generate_study(outdir, config, progress=TextProgressBar(), overwrite=args.overwrite)
    print(
        f"wrote {config.preset} seed {config.seed} ({config.size}): "
        f"{len(truth['time_points'])} SPECT/CT time points, planning PET/CT, "
        f"{len(truth['regions'])} structures -> {outdir} "
        f"({time.perf_counter() - started:.1f} s)",
        file=sys.stderr,
    )
    print(outdir / "truth" / "ground_truth.json")
    return 0
