"""``theranostics sirt-dosimetry``: post-treatment 90Y microsphere dosimetry of one PET/SPECT
volume (NRRD/NIfTI, as 3D Slicer saves it) with a segmentation (``.seg.nrrd``)."""

from __future__ import annotations

import argparse
import csv
import io
import json
from datetime import datetime
from pathlib import Path

from ..errors import InputError
from ..io.output_dir import write_text_atomically
from . import format_cell


def _datetime(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date-time (e.g. 2024-03-01T14:30)"
        ) from None


def _names(values) -> list[str] | None:
    if not values:
        return None
    out: list[str] = []
    for value in values:
        out += [v.strip() for v in value.split(",") if v.strip()]
    return out


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sirt-dosimetry",
        help="post-treatment 90Y microsphere dosimetry of one PET/SPECT volume",
        description="Permanent-implant dosimetry (TIA = A x T1/2 / ln 2, local deposition by "
        "default) of a post-treatment 90Y PET or SPECT volume (.nrrd/.nii, metadata from its "
        "JSON sidecar or the options) with a Slicer segmentation (.seg.nrrd) or any mask file. "
        "The time the activity refers to is never guessed: give "
        "--decay-corrected-to-implantation, or the implantation and acquisition date-times. "
        "See docs/sirt-dosimetry.md.",
    )
    p.add_argument("image", help="post-treatment PET/SPECT volume (.nrrd, .nii, .nii.gz)")
    p.add_argument(
        "--structures", required=True, help=".seg.nrrd segmentation (or SEG/RTSTRUCT/label map)"
    )
    p.add_argument("--nuclide", help="e.g. Y-90 (default: the sidecar's)")
    p.add_argument("--units", help="voxel units: Bq/mL, counts or cps (default: the sidecar's)")
    p.add_argument("--calibration-cps-per-MBq", type=float, help="for counts/cps images")
    p.add_argument("--method", choices=("led", "kernel"), default="led", help="(led)")
    when = p.add_argument_group("time reference (one of the two)")
    when.add_argument(
        "--decay-corrected-to-implantation",
        action="store_true",
        help="the image already shows the activity at implantation",
    )
    when.add_argument("--implantation-datetime", type=_datetime, help="ISO 8601")
    when.add_argument("--acquisition-datetime", type=_datetime, help="ISO 8601")
    p.add_argument("--acquisition-duration-s", type=float, help="scan duration, s")
    p.add_argument("--administered-activity-MBq", type=float, help="administered 90Y activity")
    p.add_argument("--structure", action="append", metavar="NAME[,NAME...]", help="only these")
    p.add_argument("--tumor", action="append", metavar="NAME[,NAME...]", help="tumour segments")
    p.add_argument("--normal", metavar="NAME", help="normal-tissue segment (T/N ratio)")
    p.add_argument("--lung", action="append", metavar="NAME", help="lung segment(s)")
    p.add_argument("--density-g-per-mL", type=float, default=1.03, help="tissue density (1.03)")
    p.add_argument("--lung-density-g-per-mL", type=float, default=0.3, help="lung density (0.3)")
    p.add_argument(
        "--clip-negative",
        action="store_true",
        help="set negative voxels (reconstruction noise) to 0, with a note",
    )
    p.add_argument("--planned-dose", help="MAA-predicted dose map (plan-sirt's predicted_dose)")
    p.add_argument(
        "--register", choices=("none", "rigid"), default="none", help="planned to delivered"
    )
    p.add_argument("--transform", help="ITK transform file (delivered -> predicted points)")
    p.add_argument("--reference-ct", help="DICOM CT folder of the patient: also write RT Dose")
    p.add_argument("--no-report", action="store_true", help="do not write report.html")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("-o", "--output", help="folder for dose.nrrd, results.json, report.html ...")
    p.set_defaults(func=run)


def write_outputs(result, out: Path, *, reference_ct: str | None, report: bool) -> list[Path]:
    """Write dose.nrrd (+ sidecar), results.json, structures.csv, report.html and, with a
    reference CT, the DICOM RT Dose; returns the files written."""
    from ..io.sidecar import write_image_with_sidecar

    out.mkdir(parents=True, exist_ok=True)
    written = [out / "dose.nrrd"]
    write_image_with_sidecar(result.dose, out / "dose.nrrd")
    if result.comparison is not None:
        import SimpleITK as sitk

        sitk.WriteImage(result.comparison.difference_Gy, str(out / "dose_difference.nrrd"), True)
        written.append(out / "dose_difference.nrrd")
    doc = dict(result.results)
    write_text_atomically(json.dumps(doc, indent=2), out / "results.json")
    written.append(out / "results.json")
    rows = [{"structure": n, **e} for n, e in doc["structures"].items()]
    if rows:
        buf = io.StringIO()
        keys = list(dict.fromkeys(k for r in rows for k in r))
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
        write_text_atomically(buf.getvalue(), out / "structures.csv")
        written.append(out / "structures.csv")
    if reference_ct is not None:
        from ..io import scan_directory
        from ..io.rtdose import write_rtdose

        cts = scan_directory(reference_ct).by_kind("CT")
        if len(cts) != 1:
            raise InputError(
                f"{len(cts)} CT series found, one expected",
                path=reference_ct,
                tag="--reference-ct",
                fix="give the folder of the patient's CT series",
            )
        written.append(
            write_rtdose(
                out,
                result.dose.image,
                cts[0].files,
                description=f"{doc['nuclide']} microsphere dose",
                dose_comment=f"{doc['nuclide']} microspheres, permanent implant, {doc['method']}",
            )
        )
    if report:
        from ..workflows.sirt_report import write_sirt_report

        written.append(write_sirt_report(result, out / "report.html"))
    return written


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from ..io.slicer_files import read_volume
    from ..progress import TextProgressBar
    from ..workflows.sirt_dosimetry import sirt_dosimetry

    if args.decay_corrected_to_implantation and args.acquisition_datetime:
        raise InputError(
            "--decay-corrected-to-implantation and --acquisition-datetime contradict each other",
            tag="--decay-corrected-to-implantation",
            fix="give one time reference",
        )
    out = Path(args.output) if args.output else None
    if out is not None and out.exists() and not out.is_dir():
        raise InputError("output exists and is not a folder", path=out, tag="-o")
    image = read_volume(
        args.image,
        overrides={
            "units": args.units,
            "nuclide": args.nuclide,
            "administered_activity_MBq": args.administered_activity_MBq,
        },
    )
    bar = None if args.json else TextProgressBar()
    result = sirt_dosimetry(
        image,
        args.structures,
        calibration_cps_per_MBq=args.calibration_cps_per_MBq,
        method=args.method,
        decay_corrected_to_implantation=args.decay_corrected_to_implantation,
        implantation_datetime=args.implantation_datetime,
        acquisition_datetime=args.acquisition_datetime,
        acquisition_duration_s=args.acquisition_duration_s,
        structure_names=_names(args.structure),
        tumors=_names(args.tumor),
        normal=args.normal,
        lung=_names(args.lung),
        density_g_per_mL=args.density_g_per_mL,
        lung_density_g_per_mL=args.lung_density_g_per_mL,
        clip_negative=args.clip_negative,
        progress=bar,
    )
    if args.planned_dose:
        import SimpleITK as sitk

        from ..workflows.sirt_verification import compare_predicted_delivered

        path = Path(args.planned_dose)
        if not path.is_file():
            raise InputError("planned dose file not found", path=path, tag="--planned-dose")
        try:
            planned = sitk.ReadImage(str(path), sitk.sitkFloat32)
        except RuntimeError as exc:
            raise InputError(f"cannot read the planned dose ({exc})", path=path) from None
        comparison = compare_predicted_delivered(
            planned, result, register=args.register, transform=args.transform
        )
        results = dict(result.results, comparison=comparison.to_json())
        result = dataclasses.replace(result, results=results, comparison=comparison)
    written = []
    if out is not None:
        written = write_outputs(
            result, out, reference_ct=args.reference_ct, report=not args.no_report
        )
    elif args.reference_ct:
        raise InputError("--reference-ct needs -o OUT", tag="--reference-ct", fix="add -o")
    doc = result.results
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    timing = doc["timing"]
    print(
        f"{doc['nuclide']} {doc['method']}: {doc['total_activity_in_field_of_view_MBq']:.1f} MBq "
        f"in the field of view at implantation ({timing['mode']}); T/N "
        f"{format_cell(doc['tumor_to_normal_ratio'])}"
    )
    header = ("volume_mL", "mass_g", "activity_MBq", "mean_dose_Gy", "D70_Gy", "V100Gy_percent")
    print(f"{'structure':>20}  " + "  ".join(f"{h:>14}" for h in header))
    for name, e in doc["structures"].items():
        print(f"{name:>20}  " + "  ".join(f"{format_cell(e.get(h)):>14}" for h in header))
    if "comparison" in doc:
        g = doc["comparison"]["gamma"]
        print(f"predicted vs delivered: gamma pass rate {g['pass_rate_percent']:.1f} %")
    for note in doc["notes"]:
        print(f"note: {note}")
    if written:
        print("written: " + ", ".join(str(p) for p in written))
    return 0
