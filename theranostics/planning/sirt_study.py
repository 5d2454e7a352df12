"""SIRT planning of a DICOM MAA SPECT/CT study folder with an RTSTRUCT (the CLI's workflow).

:func:`plan_sirt_study` reads the one NM (MAA SPECT, counts) and the one CT series of a folder,
the RTSTRUCT (in the folder or given), rasterises the chosen ROIs on the SPECT grid (counts)
and on the CT grid (masses), measures the compartments, prescribes the activity and computes
the predicted dose map. The normal compartment is an ROI (liver, perfused volume ...), an ROI
whose name contains "liver" when exactly one does (noted), or, when asked, the documented
fallback "rest of body": every voxel of the SPECT field of view inside the body
(CT > −500 HU) that belongs to no other compartment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..image import QuantitativeImage
from ..io import read_image, scan_directory
from ..io.rtstruct import rasterize_rtstruct, read_rtstruct
from ..progress import ProgressCallback, report, scaled
from .sirt import SirtLimits, SirtPlan, plan_sirt
from .sirt_images import (
    MeasuredCompartments,
    fov_on_grid,
    measure_compartments,
    predicted_dose_map,
)

#: Name of the fallback normal compartment.
REST_OF_BODY = "rest of body"
#: Body threshold of the rest-of-body fallback, HU.
BODY_THRESHOLD_HU = -500.0


@dataclass(frozen=True)
class SirtStudyResult:
    """Plan, predicted dose map (Gy, SPECT grid) and what they were computed from."""

    plan: SirtPlan
    dose: QuantitativeImage
    spect: QuantitativeImage
    ct: QuantitativeImage
    measured: MeasuredCompartments


def _one(scan, kind: str, study_dir: Path):
    found = scan.by_kind(kind)
    if len(found) != 1:
        raise InputError(
            f"{len(found)} {kind} series found, exactly one expected",
            path=study_dir,
            tag="Modality (0008,0060)",
            fix=f"give a folder holding one {kind} series of the MAA SPECT/CT study",
        )
    return found[0]


def _find_series(study_dir: Path, structures):
    if not study_dir.is_dir():
        raise InputError("study folder not found", path=study_dir, fix="check the path")
    scan = scan_directory(study_dir)
    nm, ct = _one(scan, "NM", study_dir), _one(scan, "CT", study_dir)
    if structures is None:
        structures = _one(scan, "RTSTRUCT", study_dir).files[0]
    return nm, ct, Path(structures)


def load_maa_study(study_dir: str | Path, *, structures: str | Path | None = None):
    """(SPECT, CT, RTSTRUCT path) of a study folder; ``structures`` overrides the RTSTRUCT.

    Raises:
        InputError: not exactly one NM, one CT, one RTSTRUCT (when ``structures`` is None).
    """
    nm, ct, rt_path = _find_series(Path(study_dir), structures)
    return read_image(nm), read_image(ct), rt_path


def _rest_of_body(spect: sitk.Image, ct: sitk.Image, exclude_spect, exclude_ct):
    """Rest-of-body masks on the SPECT and CT grids (module docstring)."""
    hu_on_spect = sitk.Resample(ct, spect, sitk.Transform(), sitk.sitkLinear, -1000.0)
    body_spect = sitk.GetArrayFromImage(hu_on_spect) > BODY_THRESHOLD_HU
    body_ct = (sitk.GetArrayViewFromImage(ct) > BODY_THRESHOLD_HU) & fov_on_grid(spect, ct)
    for m in exclude_spect:
        body_spect &= ~(sitk.GetArrayViewFromImage(m) > 0)
    for m in exclude_ct:
        body_ct &= ~(sitk.GetArrayViewFromImage(m) > 0)
    out = []
    for arr, ref in ((body_spect, spect), (body_ct, ct)):
        img = sitk.GetImageFromArray(arr.astype(np.uint8))
        img.CopyInformation(ref)
        out.append(img)
    return out


def plan_sirt_study(
    study_dir: str | Path,
    *,
    tumors: list[str] | tuple[str, ...],
    lung: str,
    normal: str | None = None,
    normal_role: str = "normal",
    rest_of_body: bool = False,
    others: list[str] | tuple[str, ...] = (),
    structures: str | Path | None = None,
    lung_mass: str = "ct",
    method: str = "partition",
    target_tumor_Gy: float | None = None,
    target_normal_Gy: float | None = None,
    target_perfused_Gy: float | None = None,
    limits: SirtLimits | None = None,
    height_m: float | None = None,
    weight_kg: float | None = None,
    bsa_formula: str = "dubois",
    rounding_GBq: float = 0.01,
    progress: ProgressCallback | None = None,
) -> SirtStudyResult:
    """Plan 90Y SIRT for a DICOM MAA SPECT/CT study folder (see the module docstring).

    Args:
        study_dir: folder with the NM, CT and (unless ``structures``) RTSTRUCT series.
        tumors: tumour ROI names (one or more).
        lung: lung ROI name.
        normal: normal-compartment ROI (normal liver or perfused volume; tumours are removed
            from it by the overlap priority). ``None``: an ROI whose name contains "liver",
            if exactly one does, else ``rest_of_body`` must be true.
        normal_role: what the normal ROI is (``"liver"``, ``"perfused"``, ``"normal"``),
            recorded in the plan.
        rest_of_body: use the rest-of-body fallback as the normal compartment.
        others: further ROIs as "other" compartments.
        structures: RTSTRUCT file (default: the one in ``study_dir``).
        lung_mass, method, target_*, limits, height_m, weight_kg, bsa_formula, rounding_GBq:
            see :func:`~.sirt_images.measure_compartments` and :func:`~.sirt.plan_sirt`.
        progress: progress callback.

    Raises:
        InputError: see :func:`load_maa_study`, the RTSTRUCT reader/rasteriser,
            :func:`~.sirt_images.measure_compartments` and :func:`~.sirt.plan_sirt`; no
            normal compartment chosen.
    """
    report(progress, 0.0, "reading the study")
    if not tumors:
        raise InputError("no tumour ROI given", tag="--tumor", fix="name the tumour ROI(s)")
    nm_record, ct_record, rt_path = _find_series(Path(study_dir), structures)
    struct = read_rtstruct(rt_path)
    for name in (*tumors, lung, *others, *([normal] if normal else [])):
        struct.roi(name)  # an unknown name fails here, before the images are read
    notes = []
    if normal is None and not rest_of_body:
        livers = [n for n in struct.names if "liver" in n.casefold()]
        if len(livers) != 1:
            raise InputError(
                "no normal compartment: the structure set has "
                + ("no liver ROI" if not livers else f"several liver ROIs {livers}"),
                path=rt_path,
                tag="ROIName (3006,0026)",
                fix="name the normal liver or perfused-volume ROI (--liver/--perfused NAME), or "
                "use the rest of the body in the SPECT field of view (--normal-rest-of-body); "
                f"ROIs: {', '.join(struct.names)}",
            )
        normal, normal_role = livers[0], "liver"
        notes.append(f"normal compartment: ROI {normal!r} (the only ROI named like a liver)")
    tissues = {name: "tumor" for name in tumors}
    tissues[lung] = "lung"
    tissues.update({name: "other" for name in others})
    if normal is not None:
        tissues[normal] = "normal"
    if len(tissues) != len(tumors) + 1 + len(others) + (normal is not None):
        raise InputError("an ROI is named for two compartments", tag="ROI names")
    names = list(tissues)
    spect, ct = read_image(nm_record), read_image(ct_record)
    report(progress, 0.2, "rasterising ROIs")
    m_spect = rasterize_rtstruct(struct, spect, names)
    m_ct = rasterize_rtstruct(struct, ct, names)
    # Keys as the user typed them (rasterize_rtstruct keys by the file's spelling).
    m_spect = dict(zip(names, m_spect.values()))
    m_ct = dict(zip(names, m_ct.values()))
    sources = {n: f"RTSTRUCT ROI {n!r} ({tissues[n]})" for n in names}
    if rest_of_body:
        m_spect[REST_OF_BODY], m_ct[REST_OF_BODY] = _rest_of_body(
            spect.image, ct.image, list(m_spect.values()), list(m_ct.values())
        )
        tissues[REST_OF_BODY] = "normal"
        sources[REST_OF_BODY] = (
            f"fallback: body (CT > {BODY_THRESHOLD_HU:g} HU) in the SPECT field of view minus "
            "all other compartments"
        )
        notes.append(
            "normal compartment is the rest-of-body fallback, not a liver: its dose is a mean "
            "over all remaining tissue in the field of view"
        )
    measured = measure_compartments(
        spect,
        ct,
        m_spect,
        tissues,
        ct_masks=m_ct,
        lung_mass=lung_mass,
        sources=sources,
        progress=scaled(progress, 0.3, 0.7),
    )
    context = {
        "study_dir": str(study_dir),
        "spect_series_instance_uid": spect.meta.series_instance_uid,
        "spect_units": spect.meta.quantity.units,
        "ct_series_instance_uid": ct.meta.series_instance_uid,
        "structures": str(rt_path),
        "rois": {n: tissues[n] for n in tissues},
        "normal_role": normal_role if normal is not None else REST_OF_BODY,
        "lung_mass": lung_mass,
        "mass_grid": "CT",
        "total_spect_counts": measured.total_counts,
        "counts_outside_compartments_fraction": measured.outside_fraction,
    }
    plan = plan_sirt(
        measured.compartments,
        method=method,
        target_tumor_Gy=target_tumor_Gy,
        target_normal_Gy=target_normal_Gy,
        target_perfused_Gy=target_perfused_Gy,
        limits=limits,
        height_m=height_m,
        weight_kg=weight_kg,
        bsa_formula=bsa_formula,
        rounding_GBq=rounding_GBq,
        context=context,
        notes=notes + list(measured.notes),
    )
    dose = predicted_dose_map(spect, ct, measured.masks, plan, progress=scaled(progress, 0.7, 1))
    return SirtStudyResult(plan, dose, spect, ct, measured)
