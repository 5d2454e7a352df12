"""``theranostics response BASELINE FOLLOWUP -o OUT``: lesion matching and PERCIST 1.0 /
RECIP 1.0 classification between two PET (or SPECT) studies (docs/lesions.md).

Each study is segmented with the chosen method, physiological uptake set aside as by
``theranostics lesions`` (``--physiology``; the CT of each study folder, or ``--baseline-ct`` /
``--followup-ct``), or its lesions are read from ``--baseline-labels`` /
``--followup-labels`` (label maps on the study's grid). With
``--register`` the follow-up CT is registered rigidly to the baseline CT (the CT series that
shares the emission image's FrameOfReferenceUID in each study folder, or ``--baseline-ct`` /
``--followup-ct``); without it both studies are assumed in one coordinate system.
Writes ``response.csv`` and ``response.json`` into OUT.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from .cmd_lesions import add_segmentation_arguments, detect, load_emission, segment, write_csv


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "response",
        help="response assessment (PERCIST 1.0, RECIP 1.0) between two studies",
        description=__doc__,
    )
    p.add_argument("baseline", help="baseline study/series folder or image file")
    p.add_argument("followup", help="follow-up study/series folder or image file")
    p.add_argument("--baseline-series-uid")
    p.add_argument("--followup-series-uid")
    p.add_argument("--baseline-labels", help="baseline lesion label map (skips segmentation)")
    p.add_argument("--followup-labels", help="follow-up lesion label map")
    add_segmentation_arguments(p)
    p.add_argument("--register", action="store_true", help="rigid CT-to-CT registration")
    p.add_argument("--baseline-ct", help="baseline CT series (default: found in the folder)")
    p.add_argument("--followup-ct", help="follow-up CT series")
    p.add_argument("--match-distance-mm", type=float, default=15.0)
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.set_defaults(func=run)


def _labels(path: str | None, qimage, args, study: str, ct: str | None, physiology: dict, key):
    if path is None:
        if args.physiology != "off" and not args.exclude_organs:
            local = argparse.Namespace(
                **{**vars(args), "input": study, "ct": ct, "include_seed": [], "exclude_seed": []}
            )
            detection = detect(qimage, local)
            physiology[key] = {
                "organ_source": detection.organ_source,
                "physiological_organs": [p.organ for p in detection.physiological],
                "floor": detection.floor.get("value"),
            }
            return detection.lesions
        return segment(qimage, args)
    from ..cli.cmd_dose import read_image as read_plain

    return read_plain(path, "--baseline-labels/--followup-labels")


def _ct_for(study: str, qimage, explicit: str | None):
    from ..io import read_image, scan_directory

    if explicit:
        return read_image(explicit)
    root = Path(study)
    if root.is_file():
        root = root.parent
    for candidate in (root, root.parent):
        cts = [
            s
            for s in scan_directory(candidate).series
            if s.kind == "CT"
            and str(s.headers[0].get("FrameOfReferenceUID", ""))
            == qimage.meta.frame_of_reference_uid
        ]
        if len(cts) == 1:
            return read_image(cts[0])
    raise InputError(
        "no CT sharing the emission image's FrameOfReferenceUID found for --register",
        path=study,
        tag="FrameOfReferenceUID (0020,0052)",
        fix="give --baseline-ct/--followup-ct",
    )


def rigid_registration(fixed, moving):
    """Baseline -> follow-up rigid transform of two CTs (ITK convention, fixed = baseline):
    :func:`theranostics.registration.register_ct` when installed, otherwise a plain
    SimpleITK Mattes-MI rigid registration (moments initialisation, 3-level pyramid)."""
    try:
        from ..registration import register_ct
    except ImportError:
        register_ct = None
    if register_ct is not None:
        result = register_ct(fixed, moving)
        return result.transform, "theranostics.registration.register_ct", result.warnings
    import SimpleITK as sitk

    f = sitk.Cast(fixed.image, sitk.sitkFloat32)
    m = sitk.Cast(moving.image, sitk.sitkFloat32)
    initial = sitk.CenteredTransformInitializer(
        f, m, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS
    )
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(50)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.1, 20240312)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(2.0, 1e-3, 200)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([4, 2, 1])
    method.SetSmoothingSigmasPerLevel([2, 1, 0])
    method.SetInitialTransform(initial, inPlace=False)
    transform = method.Execute(f, m)
    return transform, "SimpleITK rigid (Mattes MI) fallback", []


def run(args: argparse.Namespace) -> int:
    from ..lesions import assess_response
    from ..lesions.label_maps import write_json

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    base = load_emission(args.baseline, args.baseline_series_uid, args)
    follow = load_emission(args.followup, args.followup_series_uid, args)
    physiology: dict = {}
    seg_b = _labels(
        args.baseline_labels, base, args, args.baseline, args.baseline_ct, physiology, "baseline"
    )
    seg_f = _labels(
        args.followup_labels, follow, args, args.followup, args.followup_ct, physiology, "followup"
    )
    transform, registration = None, {"method": "none"}
    if args.register:
        ct_b = _ct_for(args.baseline, base, args.baseline_ct)
        ct_f = _ct_for(args.followup, follow, args.followup_ct)
        transform, how, warnings = rigid_registration(ct_b, ct_f)
        registration = {"method": how, "warnings": list(warnings)}
    result = assess_response(
        base, seg_b, follow, seg_f, transform=transform, match_distance_mm=args.match_distance_mm
    )
    write_csv(out / "response.csv", result.rows)
    payload = result.to_json()
    payload["registration"] = registration
    payload["physiology"] = physiology or {"organ_source": "not recognised (--physiology off, "
                                           "--exclude-organs or label maps given)"}  # fmt: skip
    write_json(out / "response.json", payload)
    print(
        f"PERCIST 1.0: {result.percist['category']}; RECIP 1.0: {result.recip['category']} "
        f"({sum(r['status'] == 'new' for r in result.rows)} new, "
        f"{sum(r['status'] == 'disappeared' for r in result.rows)} disappeared); "
        f"written to {out}"
    )
    return 0
