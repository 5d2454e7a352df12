"""``theranostics plan-sirt``: 90Y radioembolisation plan from a 99mTc-MAA SPECT/CT study."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

from ..errors import InputError
from ..io.output_dir import write_text_atomically
from . import format_cell


def _names(values) -> list[str]:
    """ROI names from repeated options, each possibly comma-separated."""
    out: list[str] = []
    for value in values or ():
        out += [v.strip() for v in value.split(",") if v.strip()]
    return out


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "plan-sirt",
        help="90Y radioembolisation plan from a 99mTc-MAA SPECT/CT study",
        description="Partition-model, MIRD or BSA prescription of 90Y microspheres from an MAA "
        "SPECT/CT folder with an RTSTRUCT, or from a SPECT volume file (.nrrd/.nii, as 3D "
        "Slicer saves it) with a .seg.nrrd segmentation; writes the plan JSON, the predicted "
        "dose map and a table. See docs/planning-sirt.md.",
    )
    p.add_argument(
        "study_dir",
        help="folder with the NM (MAA SPECT), CT and RTSTRUCT series, or a SPECT volume file",
    )
    p.add_argument(
        "--structures",
        help="RTSTRUCT file (default: the one in STUDY_DIR); with a SPECT file: the .seg.nrrd",
    )
    p.add_argument(
        "--tumor",
        "--target",
        dest="tumor",
        action="append",
        required=True,
        metavar="NAME[,NAME...]",
        help="tumour ROI(s); repeat or separate by commas",
    )
    p.add_argument("--lung", metavar="NAME", help="lung ROI/segment")
    p.add_argument(
        "--lung-shunt-fraction",
        type=float,
        metavar="F",
        help="planar lung shunt fraction (0-1) when there is no lung segment (SPECT file only)",
    )
    p.add_argument("--units", help="SPECT file: voxel units when no sidecar says (counts)")
    p.add_argument(
        "--density-g-per-mL", type=float, default=1.03, help="SPECT file: tissue density (1.03)"
    )
    p.add_argument(
        "--clip-negative",
        action="store_true",
        help="SPECT file: set negative voxels (reconstruction noise) to 0, with a note",
    )
    normal = p.add_mutually_exclusive_group()
    normal.add_argument("--liver", metavar="NAME", help="liver ROI (normal = liver - tumours)")
    normal.add_argument("--perfused", metavar="NAME", help="perfused-volume ROI")
    normal.add_argument("--normal", metavar="NAME", help="other normal-tissue ROI")
    normal.add_argument(
        "--normal-rest-of-body",
        action="store_true",
        help="fallback: the body in the SPECT field of view minus all other compartments",
    )
    p.add_argument("--other", action="append", metavar="NAME", help="other compartment ROI(s)")
    p.add_argument("--method", choices=("partition", "mird", "bsa"), default="partition")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--target-tumor-Gy", type=float, help="partition: tumour mean dose")
    target.add_argument("--target-normal-Gy", type=float, help="partition: normal mean dose")
    target.add_argument("--target-perfused-Gy", type=float, help="mird: perfused mean dose")
    p.add_argument("--lung-limit-Gy", type=float, default=30.0, help="per treatment (30)")
    p.add_argument("--lung-cumulative-limit-Gy", type=float, default=50.0, help="(50)")
    p.add_argument("--previous-lung-Gy", type=float, default=0.0, help="earlier lung dose")
    p.add_argument("--normal-limit-Gy", type=float, default=70.0, help="(70; 0 disables)")
    p.add_argument(
        "--lung-mass", choices=("ct", "fixed"), default="ct", help="CT-derived or fixed 1000 g"
    )
    p.add_argument("--height-m", type=float, help="BSA method: height, m")
    p.add_argument("--weight-kg", type=float, help="BSA method: weight, kg")
    p.add_argument("--bsa-formula", choices=("dubois", "mosteller"), default="dubois")
    p.add_argument("--rounding-GBq", type=float, default=0.01, help="round down to (0.01)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument(
        "-o", "--output", help="folder for plan.json, predicted_dose.nrrd (+.json), plan.csv"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..io.sidecar import write_image_with_sidecar
    from ..planning.sirt import save_plan
    from ..planning.sirt_json import plan_table_rows

    normal = args.liver or args.perfused or args.normal
    role = "liver" if args.liver else "perfused" if args.perfused else "normal"
    out = Path(args.output) if args.output else None
    if out is not None and out.exists() and not out.is_dir():
        raise InputError("output exists and is not a folder", path=out, tag="-o")
    if Path(args.study_dir).is_file():
        result = _plan_from_files(args, normal, role)
    else:
        result = _plan_from_study(args, normal, role)
    doc = result.plan.to_json()
    rows = plan_table_rows(doc)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        save_plan(result.plan, out / "plan.json")
        write_image_with_sidecar(result.dose, out / "predicted_dose.nrrd")
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        write_text_atomically(buf.getvalue(), out / "plan.csv")
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(
        f"recommended 90Y activity: {doc['recommended_activity_GBq']:g} GBq "
        f"({doc['method']}; binding: {doc['binding_constraint']}); "
        f"LSF {doc['lung_shunt_fraction']:.1%}, T/N {format_cell(doc['tumor_to_normal_ratio'])}"
    )
    header = ("kind", "name", "fraction", "mass_g", "dose_Gy_per_GBq", "predicted_dose_Gy")
    print("  ".join(f"{h:>18}" for h in header))
    for r in rows:
        print("  ".join(f"{format_cell(r[h]):>18}" for h in header))
    for note in doc["notes"]:
        print(f"note: {note}")
    if out is not None:
        print(f"written: {out / 'plan.json'}, {out / 'predicted_dose.nrrd'}, {out / 'plan.csv'}")
    return 0


def _prescription_options(args) -> dict:
    """The method, targets, limits, patient size and rounding, shared by both input kinds."""
    from ..planning.sirt import SirtLimits
    from ..progress import TextProgressBar

    return dict(
        method=args.method,
        target_tumor_Gy=args.target_tumor_Gy,
        target_normal_Gy=args.target_normal_Gy,
        target_perfused_Gy=args.target_perfused_Gy,
        limits=SirtLimits(
            lung_per_treatment_Gy=args.lung_limit_Gy,
            lung_cumulative_Gy=args.lung_cumulative_limit_Gy,
            previous_lung_Gy=args.previous_lung_Gy,
            normal_Gy=args.normal_limit_Gy or None,
        ),
        height_m=args.height_m,
        weight_kg=args.weight_kg,
        bsa_formula=args.bsa_formula,
        rounding_GBq=args.rounding_GBq,
        progress=None if args.json else TextProgressBar(),
    )


def _plan_from_study(args, normal, role):
    """plan_sirt_study on a DICOM MAA SPECT/CT folder."""
    from ..planning.sirt_study import plan_sirt_study

    if not args.lung:
        raise InputError(
            "a DICOM study needs the lung ROI",
            path=args.study_dir,
            tag="--lung",
            fix="name the lung ROI (--lung NAME); --lung-shunt-fraction is for SPECT files",
        )
    if args.lung_shunt_fraction is not None:
        raise InputError(
            "--lung-shunt-fraction is for a SPECT volume file with a segmentation",
            tag="--lung-shunt-fraction",
            fix="use the lung ROI of the study (--lung NAME)",
        )
    return plan_sirt_study(
        args.study_dir,
        tumors=_names(args.tumor),
        lung=args.lung,
        normal=normal,
        normal_role=role,
        rest_of_body=args.normal_rest_of_body,
        others=_names(args.other),
        structures=args.structures,
        lung_mass=args.lung_mass,
        **_prescription_options(args),
    )


def _plan_from_files(args, normal, role):
    """plan_sirt_files on a SPECT volume file and a Slicer .seg.nrrd."""
    from ..planning.sirt_files import plan_sirt_files

    if not args.structures:
        raise InputError(
            "a SPECT volume file needs its segmentation",
            path=args.study_dir,
            tag="--structures",
            fix="give the .seg.nrrd with --structures",
        )
    if args.normal_rest_of_body:
        raise InputError(
            "--normal-rest-of-body needs the CT of a DICOM study",
            tag="--normal-rest-of-body",
            fix="name the normal segment (--normal/--perfused/--liver NAME)",
        )
    return plan_sirt_files(
        args.study_dir,
        args.structures,
        tumors=_names(args.tumor),
        normal=normal,
        normal_role=role if normal else "normal",
        lung=args.lung,
        lung_shunt_fraction=args.lung_shunt_fraction,
        others=_names(args.other),
        units=args.units,
        density_g_per_mL=args.density_g_per_mL,
        clip_negative=args.clip_negative,
        **_prescription_options(args),
    )
