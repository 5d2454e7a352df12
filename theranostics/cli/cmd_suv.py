"""``theranostics suv PATH``: SUV factors of a PET file or series folder."""

from __future__ import annotations

import argparse
import json
from datetime import datetime

from ..io.reader import read_image
from ..quant.suv import suv_factors


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "suv", help="SUV factors (multiply Bq/mL) of a PET image, after the QIBA decay rules"
    )
    p.add_argument("path", help="PET DICOM file or series folder")
    p.add_argument("--series-uid", help="series to use when the folder holds several")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.add_argument(
        "--activity-unit",
        choices=("auto", "Bq", "MBq"),
        default="auto",
        help="unit of RadionuclideTotalDose (default: auto, > 1e5 means Bq)",
    )
    p.add_argument("--weight-kg", type=float, help="override PatientWeight (kg)")
    p.add_argument("--height-m", type=float, help="override PatientSize (m)")
    p.add_argument("--sex", choices=("F", "M"), help="override PatientSex")
    p.add_argument("--activity-MBq", type=float, help="override the administered activity (MBq)")
    p.add_argument(
        "--administration-datetime",
        type=datetime.fromisoformat,
        help="override the administration time (ISO 8601, e.g. 2024-05-01T09:30)",
    )
    p.set_defaults(func=run)


def _check_overrides(args) -> None:
    """Options are values at the boundary too: the plausibility rules apply."""
    from .. import plausibility

    for value, rule, option in (
        (args.weight_kg, plausibility.WEIGHT_KG, "--weight-kg"),
        (args.height_m, plausibility.HEIGHT_M, "--height-m"),
        (args.activity_MBq, plausibility.ACTIVITY_MBQ, "--activity-MBq"),
    ):
        if value is not None:
            plausibility.check(value, rule, tag=option, fix=f"give {option} in its unit")


def _with_overrides(meta, args):
    _check_overrides(args)
    patient = meta.patient.__class__(
        weight_kg=args.weight_kg or meta.patient.weight_kg,
        height_m=args.height_m or meta.patient.height_m,
        sex=args.sex or meta.patient.sex,
    )
    admin = meta.administration
    changes = {}
    if args.activity_MBq is not None:
        changes["activity_MBq"] = args.activity_MBq
        changes["activity_rule"] = "--activity-MBq"
    if args.administration_datetime is not None:
        changes["datetime"] = args.administration_datetime
    if changes:
        from dataclasses import replace

        admin = replace(admin, **changes)
    return meta.replace(patient=patient, administration=admin)


def run(args: argparse.Namespace) -> int:
    qimage = read_image(args.path, series_uid=args.series_uid, activity_unit=args.activity_unit)
    meta = _with_overrides(qimage.meta, args)
    f = suv_factors(meta)
    if args.administration_datetime is not None:  # the header's time was checked at ingest
        from .. import plausibility

        notes = plausibility.check_elapsed(
            meta.administration.datetime,
            f.reference_datetime,
            f.half_life_s,
            tag="--administration-datetime vs the image time",
        )
        meta = meta.replace(problems=(*meta.problems, *notes))
    result = {
        "suv_bw_factor": f.suv_bw_factor,
        "sul_factor": f.sul_factor,
        "suv_bsa_factor": f.suv_bsa_factor,
        "decay_corrected_activity_Bq": f.decay_corrected_activity_Bq,
        "reference_datetime": f.reference_datetime.isoformat(),
        "rule": f.rule,
        "half_life_s": f.half_life_s,
        "half_life_source": f.half_life_source,
        "lean_body_mass_kg": f.lean_body_mass_kg,
        "body_surface_area_m2": f.body_surface_area_m2,
        "patient_weight_kg": meta.patient.weight_kg,
        "administered_activity_MBq": meta.administration.activity_MBq,
        "activity_rule": meta.administration.activity_rule,
        "administration_datetime": meta.administration.datetime.isoformat()
        if meta.administration.datetime
        else None,
        "units": meta.quantity.units,
        "decay_correction": meta.quantity.decay_correction,
        "problems": list(meta.problems),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:30s} {value}")
    return 0
