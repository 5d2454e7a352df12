"""``theranostics tia``: voxel-wise time-integrated activity map (MBq·h per voxel)."""

from __future__ import annotations

import argparse

from .cmd_dose import write_image_atomically
from .cmd_tac import add_study_arguments


def register(subparsers) -> None:
    from ..kinetics.voxel import VOXEL_MODELS

    p = subparsers.add_parser(
        "tia",
        help="voxel-wise time-integrated activity map (MBq·h per voxel)",
        description="Register the SPECT/CT sessions of a study, fit every voxel's "
        "time-activity curve and write the time-integrated activity (MBq·h per voxel) with "
        "a JSON sidecar (units MBq*h).",
    )
    add_study_arguments(p)
    p.add_argument("--model", default="mono-exp", choices=VOXEL_MODELS)
    p.add_argument("-o", "--output", required=True, help="TIA image (.nrrd, .nii.gz, .mha)")
    p.add_argument(
        "--fallback-mask",
        help="write the mask of voxels that fell back to trapezoid-physical (NRRD/NIfTI)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..io.sidecar import write_image_with_sidecar
    from ..progress import TextProgressBar
    from ..workflows.kinetics import run_voxel_tia

    result = run_voxel_tia(
        args.study,
        calibration_cps_per_MBq=args.calibration,
        model=args.model,
        registration=not args.no_registration,
        deformable=args.deformable,
        progress=TextProgressBar(),
    )
    side = write_image_with_sidecar(result.tia, args.output)
    record = result.to_json()
    print(
        f"TIA map written to {args.output} (MBq*h per voxel, sidecar {side.name}); "
        f"model {result.model}, total {record['total_tia_MBq_h']:.1f} MBq·h"
    )
    if args.fallback_mask:
        write_image_atomically(result.fallback_mask, args.fallback_mask)
        print(f"fallback mask written to {args.fallback_mask}")
    for note in result.notes:
        print(f"note: {note}")
    return 0
