"""Post-therapy SPECT/CT dosimetry in one call: :func:`run_dosimetry`.

Steps (each timed and recorded with its parameters, see ``docs/dosimetry.md``):

1. load the SPECT/CT sessions and register them onto the reference session
   (:func:`theranostics.workflows.kinetics.prepare_study`);
2. structure masks as fractional occupancy on the reference SPECT grid
   (:func:`theranostics.io.masks.load_masks`);
3. structure TIA (MBq·h) with uncertainty — multi-time-point fits with optional GTM
   partial-volume correction (:func:`theranostics.workflows.kinetics.run_structure_kinetics`),
   or one time point by Hänscheid's or Madsen's method;
4. voxel TIA map (MBq·h per voxel) and voxel effective half-life
   (:func:`theranostics.kinetics.voxel.voxel_tia`);
5. dose map (:func:`theranostics.dose.compute.compute_dose`, voxel S-value kernel or local
   deposition, dose to medium with the CT densities) and BED map
   (:func:`theranostics.radiobiology.bed_map_Gy`);
6. per structure: mass, TIA, mean dose with uncertainty, BED, DVH metrics
   (:mod:`.dosimetry_metrics`); comparison with a plan when given;
7. exports (:mod:`.dosimetry_exports`) and the HTML report (:mod:`.dosimetry_report`).

How the structure mean dose is formed (why, in ``docs/dosimetry.md``): the voxel dose map is
blurred by the SPECT resolution (12 mm FWHM in the synthetic study), so the plain mean of the
map inside a kidney misses the counts that spilled out. The structure's TIA from the
kinetics step is partial-volume corrected (GTM) when a PSF is given; the structure mean dose
is the mass-weighted mean of the dose map inside the structure **rescaled by the ratio of the
structure TIA to the voxel-map TIA inside the structure**:

    D_s = (TIA_s / sum_v w_v T_v) · sum_v w_v rho_v D_v / sum_v w_v rho_v

which keeps the kernel physics (photon self- and cross-dose, electron escape at the edges)
and puts back the activity that resolution moved out of the structure. Without PV
correction the ratio is close to 1 (both sums see the same image).

One delivered dose per structure: the structure's DVH is the DVH of that same rescaled
distribution, ``D_s · D_v / mean(D)`` over the structure's voxels (the map's shape, the
structure's corrected level), so ``dvh.mean_Gy`` equals ``mean_dose_Gy`` and D98/D50/D2 are
read from the distribution whose mean is reported. The dose map written to ``dose_Gy.nrrd``
stays the map as computed (resolution-limited).

Planned versus delivered with a planned dose map (:func:`_verify_against_map`): by default
at matched resolution (``comparison_resolution="matched"``, :mod:`theranostics.verify.resolution`),
the planned map blurred with the delivered imaging chain's PSF; the planned structure DVHs
then get the same partial-volume rescaling (GTM with the same PSF) as the delivered ones.
``"raw"`` compares the maps as computed, labelled RAW everywhere.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .. import __version__
from ..errors import GeometryError, InputError
from ..io.output_dir import check_writable_folder
from ..progress import ProgressCallback, report, scaled
from . import dosimetry_metrics as dm

STP_METHODS = ("hanscheid", "madsen")


@dataclass(eq=False)
class DosimetryResult:
    """Everything :func:`run_dosimetry` produced.

    Attributes:
        results: the ``results.json`` document (schema ``theranostics-dosimetry/1``).
        tia_MBq_h, dose_Gy, bed_Gy: maps on the reference SPECT grid (LPS).
        effective_half_life_h: the voxel effective half-life used for BED (h).
        reference_ct: the reference CT (HU) or ``None``; ``reference_ct_files`` its files.
        masks: binary masks on the reference grid; ``weights`` fractional occupancy.
        kinetics: per structure ``{"times_h", "activities_MBq", "fit"}`` for the report.
        comparison: planned-versus-delivered rows (empty without a plan).
        dose_difference_Gy: delivered minus planned map (with a planned dose map), both at
            the comparison resolution (``results["comparison_resolution"]``).
        dvhs: per structure the mass-weighted :class:`~theranostics.dose.dvh.DVH` of the
            structure's delivered dose distribution: the dose map inside the structure times
            its ``partial_volume_scale`` (its mean is ``mean_dose_Gy``).
        files: name -> path of every file written.
    """

    results: dict
    tia_MBq_h: sitk.Image
    dose_Gy: sitk.Image
    bed_Gy: sitk.Image
    effective_half_life_h: sitk.Image
    reference_ct: sitk.Image | None
    reference_ct_files: list[Path]
    masks: dict[str, sitk.Image]
    weights: dict[str, sitk.Image]
    kinetics: dict[str, dict]
    comparison: list[dict] = field(default_factory=list)
    dose_difference_Gy: sitk.Image | None = None
    dvhs: dict = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)


def _image(array: np.ndarray, like: sitk.Image) -> sitk.Image:
    out = sitk.GetImageFromArray(np.ascontiguousarray(array, dtype=np.float32))
    out.CopyInformation(like)
    return out


def density_map(
    ct: sitk.Image | None,
    reference: sitk.Image,
    *,
    density_correction: bool,
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Mass density (g/mL) on the reference grid, ``[k, j, i]``, and notes.

    With a CT and ``density_correction`` the CT is converted (HU -> g/mL, piecewise linear,
    :mod:`theranostics.dose.density`) and averaged onto the grid; otherwise water (1 g/mL)
    everywhere, with a note saying so (no CT: a fallback, not an error).
    """
    from ..dose.density import density_on_grid

    shape = sitk.GetArrayViewFromImage(reference).shape
    if not density_correction:
        return np.ones(shape), ["density correction off: water (1 g/mL) everywhere"]
    if ct is None:
        return np.ones(shape), [
            "no CT for density correction: masses and doses use water (1 g/mL); give the "
            "session's CT for dose to medium"
        ]
    return density_on_grid(ct, reference, progress=progress), []


def _check_overlap(weights: dict[str, sitk.Image], images: list[sitk.Image], source: str):
    """Refuse masks that hold (almost) no emission signal: they do not overlap the SPECT."""
    total = sum(sitk.GetArrayViewFromImage(im).astype(np.float64) for im in images)
    inside = np.zeros_like(total, dtype=bool)
    for w in weights.values():
        inside |= sitk.GetArrayViewFromImage(w) > 0
    body = total > 0.01 * float(np.nanmax(total)) if np.nanmax(total) > 0 else total > 0
    if not (inside & body).any():
        raise GeometryError(
            "the structure masks do not overlap the SPECT signal",
            path=source,
            fix="check that the masks belong to this study and are in the pose of the "
            "reference session",
        )


def run_dosimetry(
    study_dir,
    masks_path,
    *,
    out_dir: str | Path,
    calibration_cps_per_MBq: float | None,
    plan_path: str | Path | None = None,
    method: str = "kernel",
    density_correction: bool = True,
    model: str = "auto",
    voxel_model: str = "mono-exp",
    single_time_point: str | None = None,
    time_point_index: int = -1,
    psf_fwhm_mm: float | None = None,
    names_file: str | Path | None = None,
    registration: bool = True,
    calibration_rel_sd: float = 0.0,
    tolerance_percent: float | None = None,
    planned_dose_path: str | Path | None = None,
    gamma_criteria: tuple[float, float, float] = (3.0, 3.0, 10.0),
    comparison_resolution: str = "matched",
    comparison_psf_fwhm_mm: float | None = None,
    planned_psf_fwhm_mm: float = 0.0,
    strict_dvh_checks: bool = False,
    comparison_tolerances: dict[str, float] | None = None,
    write_report: bool = True,
    progress: ProgressCallback | None = None,
) -> DosimetryResult:
    """Post-therapy dosimetry of one cycle, end to end (module docstring for the steps).

    Args:
        study_dir: study folder with the SPECT/CT sessions (DICOM), or a study already in
            memory: a ``SpectStudy`` (:func:`theranostics.study.load_spect_study`, registered
            here when ``registration``) or a ``RegisteredStudy`` (used as it is; this is how
            the Slicer module passes transforms the user accepted).
        masks_path: structure masks (DICOM SEG, RTSTRUCT or label map + name table) in the
            pose of the reference (first) session, or a ``MaskSet`` on the reference SPECT
            grid (:func:`theranostics.io.masks.masks_from_images`).
        out_dir: output folder (created; files replaced atomically).
        calibration_cps_per_MBq: SPECT calibration factor (cps/MBq) for count images.
        plan_path: an RLT plan JSON (``theranostics-plan-rlt/1``) to compare with; refused
            when it names another patient.
        method: ``"kernel"`` (voxel S-values) or ``"led"`` (local deposition).
        density_correction: dose to medium and masses from the CT (water without CT).
        model: structure TAC model (``"auto"`` or one of ``kinetics.MODEL_NAMES``).
        voxel_model: voxel TIA model (``kinetics.VOXEL_MODELS``).
        single_time_point: ``None`` (all time points) or ``"hanscheid"`` / ``"madsen"``.
        time_point_index: which time point the single-time-point methods use.
        psf_fwhm_mm: SPECT resolution (FWHM, mm) for the GTM partial-volume correction of the
            structure TIA; ``None``: no correction.
        names_file: name table of a label map.
        registration: register the sessions' CTs (rigid).
        calibration_rel_sd: relative standard uncertainty of the calibration.
        tolerance_percent: one plan-comparison tolerance for every structure (%); ``None``:
            by category, organ 10 %, lesion 20 % (:mod:`theranostics.verify.compare`).
        planned_dose_path: a planned dose map (Gy; NRRD/NIfTI/MHA in the reference session's
            LPS space, any grid): adds a 3D gamma analysis (planned = reference), a
            dose-difference map (delivered - planned, on the delivered grid), the
            planned-versus-delivered DVHs and the tolerance table.
        gamma_criteria: (dose %, distance mm, low-dose cutoff %) of the global gamma.
        comparison_resolution: ``"matched"`` (default): the maps at matched resolution (the
            planned map blurred with the delivered imaging chain's PSF, or the delivered map
            with the planned one's when that is coarser); ``"raw"``: as computed. Gamma, the
            difference map and the DVH comparison all use it; results.json records it.
        comparison_psf_fwhm_mm: resolution (FWHM, mm) of the delivered imaging chain for the
            comparison; default ``psf_fwhm_mm`` (the PSF the kinetics step corrected for).
            Neither given: no resolution is known and the comparison is raw, with a note.
        planned_psf_fwhm_mm: resolution already in the planned map (0: sharp, computed from
            structures or Monte Carlo).
        strict_dvh_checks: also flag the DVH quantiles (D50 at the mean-dose tolerance,
            D98/D2 at twice it); by default they are reported, not flagged, and the tolerance
            table flags the structure mean dose and gamma
            (:func:`theranostics.verify.compare.tolerance_table`, docs/verification.md).
        comparison_tolerances: overrides of the tolerance table's tolerances (keys of
            ``verify.compare.DEFAULT_TOLERANCES``, ``STRICT_TOLERANCES`` — a quantile
            tolerance given here is checked — or ``dvh_curve_volume_points``).
        write_report: write ``report.html`` too.
        progress: callback(fraction, message).

    Raises:
        InputError subclasses: bad study, masks (GeometryError when they do not overlap the
        SPECT), plan from another patient, unknown method.
    """
    from ..io.masks import resolve_masks
    from ..study import register_study
    from .dosimetry_exports import read_plan, write_all
    from .kinetics import prepare_study

    if method not in ("kernel", "led"):
        raise InputError(f"unknown dose method {method!r}", tag="method", fix="kernel or led")
    from ..verify.resolution import check_mode

    check_mode(comparison_resolution)
    if single_time_point not in (None, *STP_METHODS):
        raise InputError(
            f"unknown single-time-point method {single_time_point!r}",
            tag="single_time_point",
            fix=f"use one of {STP_METHODS} or None",
        )
    # The output place is checked before any work (a file, a read-only place): callers from
    # Python or Slicer get the error now, not after the whole computation. The CLI also
    # writes the folder whole through OutputFolder.
    out = check_writable_folder(out_dir, option="out_dir")
    started = time.perf_counter()
    timing: dict[str, float] = {}
    notes: list[str] = []
    parameters = {
        "study_dir": _source_of(study_dir),
        "masks": str(getattr(masks_path, "source", masks_path)),
        "plan": None if plan_path is None else str(plan_path),
        "calibration_cps_per_MBq": calibration_cps_per_MBq,
        "method": method,
        "density_correction": density_correction,
        "model": model,
        "voxel_model": voxel_model,
        "single_time_point": single_time_point,
        "time_point_index": time_point_index if single_time_point else None,
        "psf_fwhm_mm": psf_fwhm_mm,
        "registration": registration,
        "calibration_rel_sd": calibration_rel_sd,
        "tolerance_percent": tolerance_percent,
        "planned_dose": None if planned_dose_path is None else str(planned_dose_path),
        "gamma_criteria": list(gamma_criteria) if planned_dose_path is not None else None,
        "comparison_resolution": comparison_resolution if planned_dose_path is not None else None,
        "comparison_psf_fwhm_mm": comparison_psf_fwhm_mm,
        "planned_psf_fwhm_mm": planned_psf_fwhm_mm if planned_dose_path is not None else None,
        "strict_dvh_checks": strict_dvh_checks if planned_dose_path is not None else None,
        "comparison_tolerances": (
            dict(comparison_tolerances) if comparison_tolerances is not None else None
        ),
    }

    # 1. study --------------------------------------------------------------------------
    t0 = time.perf_counter()
    loaded, registered = _study_of(study_dir, calibration_cps_per_MBq, progress)
    timing["load_s"] = time.perf_counter() - t0
    plan_doc = read_plan(plan_path, loaded) if plan_path is not None else None
    # 2. masks --------------------------------------------------------------------------
    t0 = time.perf_counter()
    report(progress, 0.1, "loading masks")
    # the reference session: the first, or the one a given RegisteredStudy was registered to
    ref_index = registered.reference_index if registered is not None else 0
    reference = loaded.time_points[ref_index].spect.image  # every SPECT is put on its grid
    mask_set = resolve_masks(
        masks_path, reference, names_file=names_file, progress=scaled(progress, 0.1, 0.1)
    )
    notes.extend(mask_set.notes)
    _check_overlap(mask_set.weights, [reference], mask_set.source)
    timing["masks_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if registered is None:
        registered = loaded
        if registration and len(loaded.time_points) > 1:
            registered = register_study(loaded, progress=scaled(progress, 0.1, 0.35))
    # a registered study is used as it is; an unregistered one is resampled (identity)
    prepared = prepare_study(registered, registration=False, progress=scaled(progress, 0.35, 0.4))
    notes.extend(prepared.notes)
    timing["registration_s"] = time.perf_counter() - t0
    reference = prepared.reference
    ref_point = loaded.time_points[ref_index]
    ct_q = getattr(ref_point, "ct", None)
    reference_ct = None if ct_q is None else getattr(ct_q, "image", ct_q)
    ct_files = [Path(f) for f in getattr(getattr(ct_q, "meta", None), "source_files", ())]

    rho, density_notes = density_map(
        reference_ct,
        reference,
        density_correction=density_correction,
        progress=scaled(progress, 0.4, 0.4),
    )
    notes.extend(density_notes)

    # 3-4. TIA --------------------------------------------------------------------------
    from .dosimetry_tia import structure_tia, voxel_tia_maps

    t0 = time.perf_counter()
    kin = structure_tia(
        loaded,
        prepared,
        registered,
        mask_set,
        names_file=names_file,
        model=model,
        psf_fwhm_mm=psf_fwhm_mm,
        calibration_rel_sd=calibration_rel_sd,
        single_time_point=single_time_point,
        time_point_index=time_point_index,
        progress=scaled(progress, 0.4, 0.6),
    )
    notes.extend(kin["notes"])
    timing["structure_tia_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tia_arr, teff_arr, voxel_notes = voxel_tia_maps(
        prepared,
        mask_set,
        kin,
        voxel_model=voxel_model,
        single_time_point=single_time_point,
        time_point_index=time_point_index,
        progress=scaled(progress, 0.6, 0.7),
    )
    notes.extend(voxel_notes)
    timing["voxel_tia_s"] = time.perf_counter() - t0

    # 5. dose and BED maps ----------------------------------------------------------------
    from ..dose.compute import compute_dose
    from ..dose.dvh import dvh_from_samples
    from ..radiobiology import bed_map_Gy

    t0 = time.perf_counter()
    nuclide = loaded.administration.nuclide or "Lu-177"
    tia_img = _image(tia_arr, reference)
    dose_img = compute_dose(
        tia_img, nuclide, method=method, ct=None, float32=True,
        progress=scaled(progress, 0.7, 0.85),
    )  # fmt: skip
    dose = sitk.GetArrayFromImage(dose_img).astype(np.float64)
    if density_correction and reference_ct is not None:
        # dose to medium with the density map above: compute_dose(ct=...) would average the
        # CT onto the grid a second time (1.7 s of CPU on the standard study)
        from ..dose.density import density_scaled_dose_Gy

        dose = density_scaled_dose_Gy(dose, rho)
    dose = np.maximum(dose, 0.0)  # FFT round-off gives -1e-7 Gy far from activity
    timing["dose_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ab = np.full(dose.shape, dm.DEFAULT_ALPHA_BETA_GY)
    trep = np.full(dose.shape, dm.DEFAULT_REPAIR_HALF_TIME_H)
    for name, mask in mask_set.masks.items():
        a, r, _ = dm.lq_parameters(name)
        inside = sitk.GetArrayViewFromImage(mask) > 0
        ab[inside], trep[inside] = a, r
    bed = bed_map_Gy(dose, teff_arr, ab, trep)
    timing["bed_s"] = time.perf_counter() - t0

    # 6. per structure ------------------------------------------------------------------
    t0 = time.perf_counter()
    report(progress, 0.87, "structure doses")
    activity_MBq = float(loaded.administration.activity_MBq or math.nan)
    voxel_mL = float(np.prod(reference.GetSpacing())) / 1000.0
    structures: dict[str, dict] = {}
    dvhs: dict = {}
    for name, weight in mask_set.weights.items():
        if name not in kin["structures"]:
            continue
        report(progress, 0.87, f"structure doses: {name}")  # per structure (issue 14 s. 4)
        k = kin["structures"][name]
        w = sitk.GetArrayViewFromImage(weight).astype(np.float64)
        idx = np.nonzero(w > 0)
        mass_g = float(np.dot(w[idx], rho[idx])) * voxel_mL
        tia_vox = float(np.dot(w[idx], tia_arr[idx]))
        scale = k["tia_MBq_h"] / tia_vox if tia_vox > 0 else 1.0
        rel_u = k["tia_uncertainty_MBq_h"] / k["tia_MBq_h"] if k["tia_MBq_h"] > 0 else 0.0
        # one delivered dose per structure: the DVH of the rescaled distribution (docstring)
        structure_dose = scale * dose[idx]
        dvh = dvh_from_samples(
            structure_dose,
            w[idx],
            voxel_mL=voxel_mL,
            density_g_per_mL=rho[idx],
            d_percents=dm.DVH_D_PERCENTS,
            v_doses_Gy=dm.DEFAULT_V_THRESHOLDS_GY,
            dose_relative_sd=rel_u,
        )
        dvhs[name] = dvh
        metrics = dvh.metrics
        mean_dose = metrics["mean_Gy"]
        a, r, source = dm.lq_parameters(name)
        bed_voxels = bed_map_Gy(structure_dose, teff_arr[idx], a, r)
        t_eff = k["effective_half_life_h"] or prepared.physical_half_life_h
        bed_s = float(bed_map_Gy(mean_dose, t_eff, a, r))
        structures[name] = {
            "category": _category(name),
            "mass_g": mass_g,
            "volume_mL": float(w[idx].sum() * voxel_mL),
            "tia_MBq_h": k["tia_MBq_h"],
            "tia_uncertainty_MBq_h": k["tia_uncertainty_MBq_h"],
            "effective_half_life_h": k["effective_half_life_h"],
            "mean_dose_Gy": mean_dose,
            "mean_dose_uncertainty_Gy": mean_dose * rel_u,
            "bed_Gy": bed_s,
            "alpha_beta_Gy": a,
            "repair_half_time_h": r,
            "lq_source": source,
            "dose_per_activity_Gy_per_GBq": mean_dose / (activity_MBq / 1000.0),
            "partial_volume_scale": scale,
            "dvh": {
                **metrics,
                "bed_mean_Gy": float(np.dot(bed_voxels, w[idx] * rho[idx]) * voxel_mL / mass_g),
            },
            "dvh_uncertainty": dict(dvh.uncertainties),
            "kinetic_model": k["model"],
        }
    comparison = []
    if plan_doc is not None:
        comparison = dm.compare_with_plan(
            structures,
            plan_doc["structures"],
            administered_GBq=activity_MBq / 1000.0,
            tolerance_percent=tolerance_percent,
        )
        for row in comparison:
            row["category"] = structures[row["structure"]]["category"]
        missing = sorted(set(plan_doc["structures"]) - set(structures))
        if missing:
            notes.append(f"plan structures without a delivered dose: {', '.join(missing)}")
    timing["structures_s"] = time.perf_counter() - t0
    gamma, difference, dvh_comparison, tolerances, resolution = None, None, None, None, None
    if planned_dose_path is not None:
        t0 = time.perf_counter()
        report(progress, 0.88, "gamma index and DVH comparison with the planned dose map")
        verification = _verify_against_map(
            _read_planned_dose(planned_dose_path),
            _image(dose, reference),
            structures,
            dvhs,
            mask_set.weights,
            rho,
            voxel_mL,
            mode=comparison_resolution,
            delivered_fwhm_mm=(
                comparison_psf_fwhm_mm if comparison_psf_fwhm_mm is not None else psf_fwhm_mm
            ),
            planned_fwhm_mm=planned_psf_fwhm_mm,
            pv_fwhm_mm=psf_fwhm_mm,
            gamma_criteria=gamma_criteria,
            planned_levels_Gy={
                r["structure"]: r["planned_at_given_activity_Gy"] for r in comparison
            },
            strict=strict_dvh_checks,
            tolerances=comparison_tolerances,
            progress=scaled(progress, 0.88, 0.9),
        )
        gamma, difference, dvh_comparison, tolerances, resolution = verification
        if resolution.get("note"):
            notes.append(resolution["note"])
        timing["verification_s"] = time.perf_counter() - t0

    results = {
        "schema": "theranostics-dosimetry/1",
        "software_version": __version__,
        "nuclide": nuclide,
        "radiopharmaceutical": loaded.administration.radiopharmaceutical,
        "administered_activity_MBq": activity_MBq,
        "administration_datetime": _iso(loaded.administration.datetime),
        "patient": _patient(loaded),
        "time_points": [
            {"name": getattr(tp, "name", str(i)), "time_h": float(tp.time_h)}
            for i, tp in enumerate(loaded.time_points)
        ],
        "method": method,
        "structure_dose_rule": (
            "dose-map mean rescaled to the structure TIA; the structure DVH is of the same "
            "rescaled distribution (docs/dosimetry.md)"
        ),
        "structures": structures,
        "plan_comparison": comparison,
        "comparison_resolution": resolution,
        "gamma": gamma,
        "dvh_comparison": dvh_comparison,
        "tolerance_table": tolerances,
        "registration": [
            _without_timing(r, i, timing) for i, r in enumerate(prepared.registration)
        ],
        "notes": notes,
        "provenance": {"software_version": __version__, "parameters": parameters},
    }
    result = DosimetryResult(
        results=results,
        tia_MBq_h=tia_img,
        dose_Gy=_image(dose, reference),
        bed_Gy=_image(bed, reference),
        effective_half_life_h=_image(teff_arr, reference),
        reference_ct=reference_ct,
        reference_ct_files=ct_files,
        masks=dict(mask_set.masks),
        weights=dict(mask_set.weights),
        kinetics=kin["curves"],
        comparison=comparison,
        dose_difference_Gy=difference,
        dvhs=dvhs,
    )
    t0 = time.perf_counter()
    write_all(
        result,
        out,
        loaded=loaded,
        inputs=[
            p
            for p in (_path_of(study_dir), _path_of(masks_path), plan_path, planned_dose_path)
            if p is not None
        ],
        timing=timing,
        started=started,
        write_report=write_report,
        progress=scaled(progress, 0.9, 1.0),
    )
    report(progress, 1.0, "dosimetry done")
    return result


def _study_of(study, calibration_cps_per_MBq, progress):
    """``(loaded SpectStudy, RegisteredStudy or None)`` from a folder or a study in memory."""
    from ..study import load_spect_study

    if hasattr(study, "spect_on_reference"):  # a RegisteredStudy: transforms already chosen
        return study.study, study
    if hasattr(study, "time_points"):
        return study, None
    folder = Path(study)
    if not folder.is_dir():
        raise InputError("study folder not found", path=folder, fix="give the study folder")
    loaded = load_spect_study(
        folder,
        calibration_cps_per_MBq=calibration_cps_per_MBq,
        progress=scaled(progress, 0.0, 0.1),
    )
    return loaded, None


def _path_of(source) -> Path | None:
    """The file or folder behind an input (hashed into the provenance), if there is one."""
    if isinstance(source, (str, Path)):
        return Path(source)
    root = getattr(getattr(source, "study", source), "root", "") or getattr(source, "source", "")
    return Path(root) if root and Path(root).exists() else None


def _source_of(study) -> str:
    """How the study is named in the provenance: its folder, or 'in memory'."""
    path = _path_of(study)
    return str(path) if path is not None else "study in memory (Slicer scene)"


def _read_planned_dose(path) -> sitk.Image:
    """The planned dose map (Gy) from a NRRD/NIfTI/MHA file, as float32."""
    p = Path(path)
    if not p.is_file():
        raise InputError("planned dose file not found", path=p, fix="check the path")
    try:
        return sitk.Cast(sitk.ReadImage(str(p)), sitk.sitkFloat32)
    except RuntimeError as exc:
        raise InputError(f"cannot read the planned dose ({exc})", path=p) from None


def _gamma(planned: sitk.Image, delivered: sitk.Image, criteria, progress=None) -> dict:
    """Global and local 3D gamma of the delivered dose against the planned map (reference),
    on their own grids (:func:`theranostics.verify.gamma.gamma_index`)."""
    from ..verify.gamma import gamma_index

    dose_percent, dta_mm, cutoff = criteria
    return {
        kind: gamma_index(
            planned,
            delivered,
            dose_percent=dose_percent,
            dta_mm=dta_mm,
            cutoff_percent=cutoff,
            local=kind == "local",
            progress=scaled(progress, 0.5 * n, 0.5 * (n + 1)),
        ).to_json()
        for n, kind in enumerate(("global", "local"))
    }


def _verify_against_map(
    planned_map: sitk.Image,
    delivered_map: sitk.Image,
    structures: dict,
    dvhs: dict,
    weights: dict,
    rho: np.ndarray,
    voxel_mL: float,
    *,
    mode: str,
    delivered_fwhm_mm: float | None,
    planned_fwhm_mm: float,
    pv_fwhm_mm: float | None,
    gamma_criteria,
    planned_levels_Gy: dict[str, float] | None = None,
    strict: bool = False,
    tolerances: dict[str, float] | None = None,
    progress: ProgressCallback | None = None,
):
    """Gamma, difference map, DVH comparison and tolerance table of the delivered dose
    against a planned map, in the chosen comparison mode.

    Both maps are first brought to one resolution (:func:`.verify.resolution.match_resolution`;
    ``"raw"``: as computed). Gamma and the difference map compare the two maps voxel by
    voxel. Per structure, the delivered DVH is the reported one (the map rescaled to the
    structure dose, so its mean is ``mean_dose_Gy``; when the delivered map had to be blurred
    to a coarser plan, that blurred map rescaled to the same mean). The planned DVH is, in
    the same way, the planned map at the comparison resolution rescaled to the planned
    structure dose: the plan's structure dose when a plan gives one (``planned_levels_Gy``,
    at the activity given), otherwise (matched mode, delivered doses partial-volume
    corrected) the planned map's structure mean after the same GTM correction (PSF
    ``pv_fwhm_mm``). So both DVHs are "the map's shape at the structure's dose", the DVH
    mean check agrees with the plan comparison, and D98/D50/D2 compare shapes at one
    resolution. In raw mode, or without PV correction, the planned map is used as it is.

    Flags (:func:`.verify.compare.tolerance_table`): the DVH mean (the structure dose) and
    gamma by default, the quantiles D50/D98/D2 too with ``strict``. When a plan gives
    structure doses (``planned_levels_Gy``), the structures it does not contain are compared
    against the planned map but marked "not in the plan" and not flagged.

    Returns ``(gamma, difference image, dvh_comparison, tolerance table, resolution info)``.
    """
    from ..dose.dvh import dvh_from_samples
    from ..verify.compare import compare_dvhs, tolerance_table
    from ..verify.resolution import gtm_structure_scales, match_resolution

    matched = match_resolution(
        planned_map,
        delivered_map,
        delivered_fwhm_mm=delivered_fwhm_mm,
        planned_fwhm_mm=planned_fwhm_mm,
        mode=mode,
    )
    info = dict(matched.info)
    gamma = _gamma(matched.planned, matched.delivered, gamma_criteria, scaled(progress, 0.0, 0.9))
    planned = sitk.GetArrayFromImage(matched.planned)
    delivered = sitk.GetArrayFromImage(matched.delivered)
    difference = _image(delivered - planned, delivered_map)
    planned_scale = {name: 1.0 for name in dvhs}
    source = {name: "planned map as it is" for name in dvhs}
    levels = planned_levels_Gy or {}
    if info["mode"] == "matched" and pv_fwhm_mm is not None:
        fwhm = max(info["delivered_fwhm_mm"], info["planned_fwhm_mm"])
        gtm_names = [n for n in dvhs if n not in levels]
        if gtm_names:  # the GTM needs every structure (spill between neighbours)
            report(progress, 0.9, "planned map: GTM partial-volume scales")
            scales = gtm_structure_scales(
                matched.planned,
                {n: weights[n] for n in dvhs},
                fwhm,
                progress=scaled(progress, 0.9, 0.95),
            )
            planned_scale.update({n: scales[n] for n in gtm_names})
        source.update(
            {n: f"planned map, GTM partial-volume correction ({fwhm:g} mm)" for n in gtm_names}
        )
    out = {}
    for number, (name, delivered_dvh) in enumerate(dvhs.items()):
        report(progress, 0.95 + 0.05 * number / len(dvhs), f"DVH comparison: {name}")
        w = sitk.GetArrayViewFromImage(weights[name]).astype(np.float64)
        idx = np.nonzero(w > 0)
        if info["mode"] == "matched" and name in levels:
            wr = w[idx] * rho[idx]
            map_mean = float(np.dot(planned[idx], wr)) / float(wr.sum())
            planned_scale[name] = levels[name] / map_mean if map_mean > 0 else 1.0
            source[name] = "structure dose of the plan"
        if info["blurred"] == "delivered":  # the reported mean, the blurred map's shape
            d = delivered[idx]
            level = float(np.dot(d, w[idx] * rho[idx])) / float(np.dot(w[idx], rho[idx]))
            mean = structures[name]["mean_dose_Gy"]
            delivered_dvh = dvh_from_samples(
                d * (mean / level if level > 0 else 1.0),
                w[idx],
                voxel_mL=voxel_mL,
                density_g_per_mL=rho[idx],
                d_percents=dm.DVH_D_PERCENTS,
            )
        planned_dvh = dvh_from_samples(
            planned_scale[name] * planned[idx],
            w[idx],
            voxel_mL=voxel_mL,
            density_g_per_mL=rho[idx],
            d_percents=dm.DVH_D_PERCENTS,
        )
        out[name] = compare_dvhs(planned_dvh, delivered_dvh)
        out[name]["planned_structure_scale"] = planned_scale[name]
        out[name]["planned_level_source"] = source[name]
        out[name]["planned_dvh"] = _curve(planned_dvh)
    categories = {n: _category(n) for n in out}
    table = tolerance_table(
        dvhs=out,
        gamma=gamma["global"],
        categories=categories,
        strict=strict,
        tolerances=tolerances,
        unplanned=[n for n in out if n not in levels] if levels else (),
    )
    for name in table.policy["not_in_plan"]:
        out[name]["planned_level_source"] += " (not in the plan: reported, not flagged)"
    return gamma, difference, out, table.to_json(), info


def _curve(dvh, points: int = 101) -> dict:
    """A DVH as ``{"dose_Gy": [...], "volume_percent": [...]}`` at ``points`` doses from 0
    to the structure's maximum (for the report's planned-versus-delivered figure)."""
    top = float(dvh._doses.max()) if dvh._doses.size else 0.0
    axis = np.linspace(0.0, top * 1.02 if top > 0 else 1.0, points)
    return {"dose_Gy": axis.tolist(), "volume_percent": dvh.volume_percent_at(axis).tolist()}


def _without_timing(reg: dict | None, index: int, timing: dict) -> dict | None:
    """The registration summary without its wall times, which go to the run-time timings
    (so that results.json is byte-identical between runs except ``provenance.timing_s``)."""
    if reg is None:
        return None
    reg = dict(reg)
    for key, value in (reg.pop("timing_s", None) or {}).items():
        timing[f"registration_{index}_{key}_s"] = float(value)
    return reg


def _category(name: str) -> str:
    return "lesion" if dm.tissue_for(name) == "tumour" else "organ"


def _iso(value) -> str | None:
    return None if value is None else value.isoformat()


def _patient(loaded) -> dict:
    from .dosimetry_exports import study_patient_tags

    patient = getattr(loaded, "patient", None)
    fields = patient if isinstance(patient, dict) else vars(patient) if patient else {}
    out = study_patient_tags(loaded)
    out.update(
        {
            k: v
            for k, v in fields.items()
            if isinstance(v, (str, int, float)) and not k.startswith("_")
        }
    )
    return out
