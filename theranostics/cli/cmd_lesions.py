"""``theranostics lesions INPUT -o OUT``: lesion segmentation and biomarkers of a PET or
quantitative SPECT (methods in docs/lesions.md).

Writes into OUT: ``lesions_labels.nrrd`` + ``lesions_labels.json`` (label map and names),
``physiological_labels.nrrd`` + ``.json`` (candidates set aside as physiological uptake),
``lesions.csv`` and ``lesions.json`` (biomarkers, parameters, physiological candidates with
organ, rule, reason and include seed, notes) and, for DICOM input with at least one lesion,
``lesions_seg.dcm`` (DICOM SEG) and ``lesions_sr.dcm`` (TID 1500 SR).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
from pathlib import Path

from ..errors import InputError, MixedSeriesError

#: Biomarker keys the TID 1500 SR writer codes.
SR_KEYS = (
    "suv_max",
    "suv_peak",
    "suv_mean",
    "volume_mL",
    "total_lesion_uptake_mL",
    "activity_MBq",
    "concentration_mean_Bq_per_mL",
    "concentration_max_Bq_per_mL",
)


def _point(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"{text!r}: give a point as X,Y,Z (LPS mm)")
    return values


def add_segmentation_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``lesions`` and ``response``."""
    p.add_argument(
        "--method", choices=("fixed", "percist", "percent-max", "adaptive"), default="percent-max"
    )
    p.add_argument(
        "--threshold",
        type=float,
        help="fixed threshold, or detection floor of percent-max/adaptive (SUVbw for PET, "
        "default 3; Bq/mL for SPECT, required)",
    )
    p.add_argument("--percent", type=float, help="percent-max: %% of max (41); adaptive: 50")
    p.add_argument("--min-volume-mL", type=float, default=1.0, help="smallest lesion (mL)")
    p.add_argument("--exclude-organs", help="organ masks: label map (+JSON names), SEG, RTSTRUCT")
    p.add_argument(
        "--exclude-names",
        default="auto",
        help="organs to exclude: 'auto' (kidneys, bladder, salivary glands, liver, spleen, "
        "bowel by name), 'all', or a comma-separated list",
    )
    p.add_argument("--exclusion-margin-mm", type=float, default=0.0)
    p.add_argument("--liver-mask", help="liver mask file for --method percist")
    p.add_argument("--quantity", choices=("auto", "SUVbw", "Bq/mL"), default="auto")
    p.add_argument("--weight-kg", type=float, help="override PatientWeight (kg) for SUV")
    p.add_argument(
        "--calibration-cps-per-MBq", type=float, help="SPECT in counts: calibration factor"
    )
    p.add_argument(
        "--physiology",
        choices=("auto", "ct", "masks", "totalsegmentator", "off"),
        default="auto",
        help="how physiological uptake is recognised: 'auto' (organ masks from --organs, else "
        "TotalSegmentator when installed with its weights, else the CT rules; without CT or "
        "masks: not recognised, with a warning), 'ct', 'masks', 'totalsegmentator', 'off'",
    )
    p.add_argument(
        "--organs",
        help="organ masks that label physiological uptake: label map (+JSON), SEG, RTSTRUCT or "
        "a folder of NIfTI masks (TotalSegmentator output)",
    )
    p.add_argument(
        "--tracer",
        choices=("auto", "psma", "sstr", "fdg", "none"),
        default="auto",
        help="tracer family of the physiological-uptake rules (auto: from the radiopharmaceutical)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lesions",
        help="segment lesions on PET/SPECT; label map, biomarker table, DICOM SEG and SR",
        description=__doc__,
    )
    p.add_argument("input", help="study folder, series folder, DICOM file or NRRD/NIfTI+JSON")
    p.add_argument("--series-uid", help="series to segment (default: the only PET)")
    add_segmentation_arguments(p)
    p.add_argument("--ct", help="CT of the PET/CT (default: the CT series of the study folder "
                   "sharing the PET's FrameOfReferenceUID)")  # fmt: skip
    p.add_argument("--include-seed", type=_point, action="append", default=[], metavar="X,Y,Z")
    p.add_argument("--exclude-seed", type=_point, action="append", default=[], metavar="X,Y,Z")
    p.add_argument("--no-dicom", action="store_true", help="do not write SEG and SR")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.set_defaults(func=run)


def load_emission(path: str, series_uid: str | None, args) -> object:
    """The PET (or the series ``series_uid``) of a study folder / file, in Bq/mL, with the
    ``--weight-kg`` override applied."""
    from ..io import read_image, scan_directory
    from ..io.sidecar import SIDECAR_IMAGE_SUFFIXES
    from ..quant.spect import counts_to_activity_concentration

    p = Path(path)
    if p.is_file() and p.name.lower().endswith(SIDECAR_IMAGE_SUFFIXES):
        qimage = read_image(p)
    elif series_uid:
        qimage = read_image(p, series_uid=series_uid)
    else:
        scan = scan_directory(p)
        pets = [s for s in scan.series if s.kind == "PT"]
        if len(pets) != 1:
            listing = "; ".join(
                f"{s.kind} {s.series_instance_uid} '{s.description}'"
                for s in scan.series
                if s.is_image
            )
            raise MixedSeriesError(
                f"{len(pets)} PET series found ({listing or 'no image series'})",
                path=p,
                tag="SeriesInstanceUID (0020,000E)",
                fix="choose the series with --series-uid (a SPECT needs it)",
            )
        qimage = read_image(pets[0])
    if qimage.meta.quantity.units == "counts":
        qimage = counts_to_activity_concentration(qimage, args.calibration_cps_per_MBq)
    if args.weight_kg:
        from dataclasses import replace

        patient = replace(qimage.meta.patient, weight_kg=args.weight_kg)
        qimage = type(qimage)(qimage.image, qimage.meta.replace(patient=patient))
    return qimage


def organ_masks(args, reference) -> tuple[dict, object, list[str]]:
    """(exclusion masks, liver mask or None, notes) from the command-line files."""
    from ..lesions import import_organ_masks, select_physiological

    exclude, notes, liver = {}, [], None
    if args.exclude_organs:
        masks, notes = import_organ_masks(args.exclude_organs, reference)
        if args.exclude_names == "auto":
            names = select_physiological(masks)
        elif args.exclude_names == "all":
            names = list(masks)
        else:
            names = [n.strip() for n in args.exclude_names.split(",") if n.strip()]
            missing = [n for n in names if n not in masks]
            if missing:
                raise InputError(
                    f"organs {missing} not in the mask file (it has {sorted(masks)})",
                    path=args.exclude_organs,
                    tag="--exclude-names",
                    fix="use names from the file, 'auto' or 'all'",
                )
        exclude = {n: masks[n] for n in names}
    if args.liver_mask:
        masks, more = import_organ_masks(args.liver_mask, reference)
        notes += more
        named = [n for n in masks if "liver" in n.lower()] or (
            list(masks) if len(masks) == 1 else []
        )
        if not named:
            raise InputError(
                f"no mask named 'liver' in {sorted(masks)}",
                path=args.liver_mask,
                tag="--liver-mask",
                fix="give a file with one mask, or one named liver",
            )
        liver = masks[named[0]]
    return exclude, liver, notes


def segment(qimage, args, *, include=(), exclude_seeds=()):
    """Segment with the command-line options; returns the LesionSegmentation."""
    from ..lesions import segment_lesions
    from ..progress import TextProgressBar

    exclude, liver, notes = organ_masks(args, qimage.image)
    seg = segment_lesions(
        qimage,
        method=args.method,
        threshold=args.threshold,
        percent=args.percent,
        liver_mask=liver,
        exclude=exclude or None,
        exclusion_margin_mm=args.exclusion_margin_mm,
        min_volume_mL=args.min_volume_mL,
        include_seeds_lps=include,
        exclude_seeds_lps=exclude_seeds,
        quantity=args.quantity,
        progress=TextProgressBar(),
    )
    if notes:
        from dataclasses import replace

        seg = replace(seg, notes=tuple(notes) + seg.notes)
    return seg


def write_csv(path: Path, rows: list[dict]) -> None:
    """Rows as CSV (union of the keys as header), atomically."""
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buffer.getvalue())
    os.replace(tmp, path)


def write_dicom(out: Path, qimage, seg, table) -> list[str]:
    """SEG and SR next to the tables when the input was DICOM; returns what was written or
    why not."""
    sources = [
        f
        for f in qimage.meta.source_files
        if not f.lower().endswith((".json", ".nrrd", ".nii", ".gz", ".mha"))
    ]
    if not sources:
        return ["no DICOM SEG/SR: the input is not DICOM"]
    if seg.count == 0:
        return ["no DICOM SEG/SR: no lesion"]
    from ..io.seg_export import write_seg
    from ..io.sr_export import write_measurement_sr

    seg_path = write_seg(
        out / "lesions_seg.dcm",
        seg.masks(),
        sources,
        series_description=f"Lesions ({seg.method})",
        segment_info={n: {"category": "lesion"} for n in seg.names},
    )
    measurements = {
        row["name"]: {k: float(row[k]) for k in SR_KEYS if row.get(k) is not None}
        for row in table.lesions
    }
    sr_path = write_measurement_sr(out / "lesions_sr.dcm", seg_path, sources, measurements)
    return [f"DICOM SEG {seg_path}", f"DICOM SR {sr_path}"]


def find_ct(path: str, qimage, explicit: str | None):
    """The CT of the PET/CT: ``explicit``, else the only CT series of the input's study folder
    (or its parent) sharing the PET's FrameOfReferenceUID; ``(ct or None, note)``."""
    from ..io import read_image, scan_directory

    if explicit:
        ct = read_image(explicit)
        if ct.meta.frame_of_reference_uid != qimage.meta.frame_of_reference_uid:
            return ct, (
                "the CT given with --ct has another FrameOfReferenceUID than the PET: their "
                "positions are taken as they are (no registration)"
            )
        return ct, f"CT from --ct {explicit}"
    root = Path(path)
    if root.is_file() or not qimage.meta.frame_of_reference_uid:
        return None, "no CT: the input is a single image file (give --ct)"
    for candidate in (root, root.parent):
        cts = [
            s
            for s in scan_directory(candidate).series
            if s.kind == "CT"
            and str(s.headers[0].get("FrameOfReferenceUID", ""))
            == qimage.meta.frame_of_reference_uid
        ]
        if len(cts) == 1:
            return read_image(cts[0]), f"CT series {cts[0].series_instance_uid} (same frame)"
        if len(cts) > 1:
            return None, f"{len(cts)} CT series share the PET's frame of reference: give --ct"
    return None, "no CT series shares the PET's FrameOfReferenceUID (give --ct)"


def detect(qimage, args):
    """Lesions with physiological uptake recognised (``--physiology``); returns the
    :class:`~theranostics.lesions.detection.LesionDetection`, or None for the old paths
    (``--physiology off``, ``--exclude-organs``)."""
    import sys

    from ..lesions import import_organ_masks
    from ..lesions.detection import detect_lesions
    from ..lesions.totalseg import run_totalsegmentator, totalsegmentator_status

    mode = args.physiology
    if mode == "off" or args.exclude_organs:
        return None
    if mode == "masks" and not args.organs:
        raise InputError(
            "--physiology masks needs organ masks",
            tag="--organs",
            fix="give --organs FILE (label map, SEG, RTSTRUCT or TotalSegmentator folder)",
        )
    ct, ct_note = (None, "CT not used (organ masks given)")
    if mode != "masks":
        ct, ct_note = find_ct(args.input, qimage, args.ct)
    if ct is None and mode in ("ct", "totalsegmentator"):
        raise InputError(
            f"--physiology {mode} needs the CT: {ct_note}",
            path=args.input,
            tag="FrameOfReferenceUID (0020,0052)",
            fix="give --ct DIR, organ masks with --organs, or --physiology off",
        )
    masks, source, notes = None, "organ masks", [ct_note]
    if args.organs and mode in ("auto", "masks"):
        masks, more = import_organ_masks(args.organs, qimage.image)
        notes += more
        source = f"organ masks ({args.organs})"
    elif mode in ("auto", "totalsegmentator") and ct is not None:
        available, why = totalsegmentator_status()
        if available:
            folder = run_totalsegmentator(ct.image, Path(args.output) / "totalsegmentator")
            masks, more = import_organ_masks(folder, qimage.image)
            notes += more
            source = f"TotalSegmentator ({why})"
        elif mode == "totalsegmentator":
            run_totalsegmentator(ct.image)  # raises with the reason
        else:
            notes.append(f"TotalSegmentator not used: {why}")
    detection = detect_lesions(
        qimage,
        ct,
        organ_masks=masks,
        organ_masks_source=source,
        tracer=args.tracer,
        method=args.method,
        threshold=args.threshold,
        percent=args.percent,
        min_volume_mL=args.min_volume_mL,
        include_seeds_lps=args.include_seed,
        exclude_seeds_lps=args.exclude_seed,
        quantity=args.quantity,
    )
    if detection.organ_source.startswith("none"):
        print(f"WARNING: physiological uptake not recognised ({detection.organ_source})",
              file=sys.stderr)  # fmt: skip
    from dataclasses import replace

    lesions = replace(detection.lesions, notes=tuple(notes) + detection.lesions.notes)
    return replace(detection, lesions=lesions, notes=tuple(notes) + detection.notes)


def run(args: argparse.Namespace) -> int:
    from ..lesions import lesion_biomarkers
    from ..lesions.label_maps import write_json, write_label_map

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    qimage = load_emission(args.input, args.series_uid, args)
    detection = detect(qimage, args)
    if detection is None:
        seg = segment(qimage, args, include=args.include_seed, exclude_seeds=args.exclude_seed)
        physiology = {
            "organ_source": "excluded before segmentation (--exclude-organs)"
            if args.exclude_organs
            else "none: --physiology off",
            "physiological": [],
        }
    else:
        seg = detection.lesions
        physiology = detection.to_json()
        names = [f"{p.name}_{p.organ}" for p in detection.physiological]
        write_label_map(out / "physiological_labels.nrrd", detection.physiological_labels, names)
    table = lesion_biomarkers(qimage, seg, quantity=args.quantity)
    write_label_map(out / "lesions_labels.nrrd", seg.labels, seg.names)
    write_csv(out / "lesions.csv", table.rows())
    written = [] if args.no_dicom else write_dicom(out, qimage, seg, table)
    write_json(
        out / "lesions.json",
        {
            "segmentation": seg.to_json(),
            "biomarkers": table.to_json(),
            "physiology": physiology,
            "outputs": written,
        },
    )
    print(f"{seg.count} lesion(s), method {seg.method}, unit {seg.unit}; written to {out}")
    if detection is not None:
        print(f"physiological uptake: {detection.organ_source}")
        for p in detection.physiological:
            seed = ",".join(f"{c:.1f}" for c in p.include_seed_lps_mm)
            print(f"  {p.name}: {p.organ} ({p.reason}); report as lesion: --include-seed {seed}")
    for note in (*seg.notes, *written):
        print(f"  {note}")
    return 0
