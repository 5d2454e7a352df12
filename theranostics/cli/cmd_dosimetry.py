"""``theranostics dosimetry``: post-therapy SPECT/CT dosimetry of one cycle, end to end."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "dosimetry",
        help="post-therapy dosimetry: dose/BED maps, structure doses, plan check, DICOM, report",
        description=(
            "Register the SPECT/CT sessions of a study, compute structure and voxel TIA, the "
            "absorbed-dose and BED maps, per-structure doses and DVH metrics, compare with a "
            "plan, and write results.json/csv, NRRD maps, DICOM RT Dose/SEG/SR and report.html."
        ),
    )
    p.add_argument("study_dir", metavar="STUDY_DIR", help="study folder (DICOM SPECT/CT sessions)")
    p.add_argument(
        "--masks", required=True, help="structure masks: DICOM SEG, RTSTRUCT or label map"
    )
    p.add_argument("--names", default=None, help="name table of a label map (JSON or CSV)")
    p.add_argument("--plan", default=None, help="RLT plan JSON to compare with")
    p.add_argument("--method", choices=("kernel", "led"), default="kernel")
    p.add_argument(
        "--calibration-cps-per-MBq",
        type=float,
        default=None,
        dest="calibration_cps_per_MBq",
        help="SPECT calibration factor (cps/MBq) for count images",
    )
    p.add_argument("--psf-fwhm-mm", type=float, default=None, help="GTM partial-volume correction")
    p.add_argument("--model", default="auto", help="structure TAC model (default auto)")
    p.add_argument("--voxel-model", default="mono-exp")
    p.add_argument("--single-time-point", choices=("hanscheid", "madsen"), default=None, dest="stp")
    p.add_argument("--time-point-index", type=int, default=-1)
    p.add_argument(
        "--planned-dose",
        default=None,
        help="planned dose map (Gy, NRRD/NIfTI/MHA, reference session's space): gamma, "
        "difference map, planned-vs-delivered DVHs and tolerance table",
    )
    p.add_argument(
        "--comparison-resolution",
        choices=("matched", "raw"),
        default="matched",
        help="compare the maps at matched resolution (default: the planned map blurred with the "
        "delivered imaging chain's PSF) or RAW, as computed",
    )
    p.add_argument(
        "--comparison-psf-fwhm-mm",
        type=float,
        default=None,
        help="resolution (FWHM, mm) of the delivered imaging chain for the comparison "
        "(default: --psf-fwhm-mm)",
    )
    p.add_argument(
        "--planned-psf-fwhm-mm",
        type=float,
        default=0.0,
        help="resolution already in the planned map (FWHM, mm; default 0: sharp)",
    )
    p.add_argument(
        "--strict-dvh-checks",
        action="store_true",
        help="also flag DVH D50 (mean-dose tolerance) and D98/D2 (twice it); by default they "
        "are reported and the structure mean dose and gamma are flagged (docs/verification.md)",
    )
    p.add_argument("--no-density-correction", action="store_true")
    p.add_argument("--no-report", action="store_true")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..workflows.dosimetry import run_dosimetry

    def progress(fraction: float, message: str) -> None:
        print(f"[{fraction * 100:5.1f} %] {message}", file=sys.stderr)

    result = run_dosimetry(
        args.study_dir,
        args.masks,
        out_dir=args.out,
        calibration_cps_per_MBq=args.calibration_cps_per_MBq,
        plan_path=args.plan,
        method=args.method,
        density_correction=not args.no_density_correction,
        model=args.model,
        voxel_model=args.voxel_model,
        single_time_point=args.stp,
        time_point_index=args.time_point_index,
        psf_fwhm_mm=args.psf_fwhm_mm,
        names_file=args.names,
        planned_dose_path=args.planned_dose,
        comparison_resolution=args.comparison_resolution,
        comparison_psf_fwhm_mm=args.comparison_psf_fwhm_mm,
        planned_psf_fwhm_mm=args.planned_psf_fwhm_mm,
        strict_dvh_checks=args.strict_dvh_checks,
        write_report=not args.no_report,
        progress=None if args.quiet else progress,
    )
    summary = {
        name: {k: s[k] for k in ("mean_dose_Gy", "mean_dose_uncertainty_Gy", "bed_Gy")}
        for name, s in result.results["structures"].items()
    }
    print(
        json.dumps(
            {"files": {k: str(v) for k, v in result.files.items()}, "structures": summary}, indent=2
        )
    )
    return 0
