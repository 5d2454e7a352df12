"""Multi-time-point SPECT/CT to time-integrated activity: per structure and per voxel.

:func:`run_structure_kinetics` — study folder (or a loaded / registered study) + a mask file
-> per-structure time-activity curves (MBq), fitted model, TIA (MBq·h) with its uncertainty
budget, registration quality, notes, parameters and timing.

:func:`run_voxel_tia` — the same study -> a TIA map (MBq·h per voxel) and the mask of voxels
whose fit fell back to the trapezoid.

Steps (see ``docs/time-activity.md``):

1. load the SPECT/CT sessions (:func:`theranostics.study.load_spect_study`: counts -> Bq/mL
   at each acquisition start, with the calibration factor in cps/MBq);
2. register every session's CT onto the reference session's CT and resample its SPECT onto
   the reference SPECT grid (:func:`theranostics.study.register_study`); without
   registration, SPECTs are resampled in scanner coordinates (identity);
3. masks onto the reference grid as fractional occupancy (:func:`theranostics.io.masks.
   load_masks`), activity sums per structure (:func:`theranostics.kinetics.tac.
   structure_tacs`), optionally corrected for partial volume by the GTM (PSF FWHM given) or
   by recovery coefficients (a :class:`~theranostics.kinetics.recovery.RecoveryTable`);
4. fit and integrate each curve (:func:`theranostics.kinetics.fit.fit_tac`) and propagate
   the uncertainty (:func:`theranostics.kinetics.uncertainty.tia_uncertainty`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import InputError, NuclideError, PhysicsError, TimingError
from ..image import QuantitativeImage
from ..metadata import AcquisitionInfo, ImageMetadata, QuantityInfo
from ..progress import ProgressCallback, report, scaled


@dataclass(frozen=True, eq=False)
class PreparedStudy:
    """Activity images of all time points on one grid.

    Attributes:
        images_Bq_per_mL: one image per time point (Bq/mL at its acquisition start), all on
            the grid of ``reference``.
        times_h: acquisition start times, hours after administration.
        reference: the reference grid (the reference session's SPECT).
        reference_meta: metadata of the reference SPECT (patient, administration ...).
        physical_half_life_h: of the administered nuclide.
        registration: per time point: ``None`` (reference or not registered) or the
            registration's JSON summary (quality figures, warnings, parameters).
        notes: what was done and what looks wrong.
        timing_s: wall time per step.
    """

    images_Bq_per_mL: list[sitk.Image]
    times_h: np.ndarray
    reference: sitk.Image
    reference_meta: ImageMetadata
    physical_half_life_h: float
    registration: list[dict | None]
    notes: list[str] = field(default_factory=list)
    timing_s: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_images(
        cls,
        images_Bq_per_mL,
        times_h,
        *,
        physical_half_life_h: float,
        reference_meta: ImageMetadata | None = None,
        reference_index: int = 0,
    ) -> PreparedStudy:
        """Activity images already on one grid (registered elsewhere, e.g. in Slicer, or
        the synthetic study's truth maps). Grids and times are checked here.

        Raises:
            GeometryError: images on different grids; TimingError: bad times;
            InputError: one image per time point is needed, bad half-life.
        """
        from ..kinetics.inputs import physical_rate_per_h, validate_times
        from ..kinetics.tac import check_same_grid

        images = [qi.image if isinstance(qi, QuantitativeImage) else qi for qi in images_Bq_per_mL]
        times = validate_times(times_h)
        if len(images) != len(times):
            raise InputError(
                f"{len(images)} images for {len(times)} time points",
                tag="images_Bq_per_mL",
                fix="give one image per time point",
            )
        check_same_grid(images, [f"image at {t:g} h" for t in times])
        physical_rate_per_h(physical_half_life_h)
        return cls(
            images_Bq_per_mL=images,
            times_h=times,
            reference=images[reference_index],
            reference_meta=reference_meta or ImageMetadata(),
            physical_half_life_h=float(physical_half_life_h),
            registration=[None] * len(images),
            notes=["activity images given on one grid (no registration here)"],
        )


def _half_life_h(administration, given: float | None) -> float:
    if given is not None:
        return float(given)
    from ..nuclides import get_nuclide

    nuclide = getattr(administration, "nuclide", None)
    if not nuclide:
        raise NuclideError(
            "the study does not name the administered nuclide",
            tag="RadionuclideCodeSequence (0054,0300)",
            fix="pass physical_half_life_h",
        )
    return float(get_nuclide(nuclide).half_life_h)


def _registration_json(reg) -> dict | None:
    if reg is None:
        return None
    if hasattr(reg, "to_json"):
        return reg.to_json()
    return {"quality": dict(getattr(reg, "quality", {})), "warnings": list(reg.warnings)}


def prepare_study(
    study,
    *,
    calibration_cps_per_MBq: float | None = None,
    registration: bool = True,
    deformable: bool = False,
    reference_index: int = 0,
    physical_half_life_h: float | None = None,
    progress: ProgressCallback | None = None,
) -> PreparedStudy:
    """Activity images of every time point on the reference SPECT grid.

    Args:
        study: a study folder, a ``SpectStudy`` (:func:`theranostics.study.load_spect_study`),
            a ``RegisteredStudy`` (:func:`theranostics.study.register_study`) or a
            :class:`PreparedStudy` (returned as it is).
        calibration_cps_per_MBq: SPECT calibration factor (cps/MBq); needed for a folder of
            count images (there is no general default; the synthetic study uses 10).
        registration: register the CTs (rigid; ``deformable`` adds a B-spline stage).
            Without it, SPECTs are resampled in scanner coordinates.
        reference_index: the session whose grid is the reference.
        physical_half_life_h: overrides the nuclide's half-life from the study.
        progress: callback(fraction, message).
    """
    if isinstance(study, PreparedStudy):
        return study
    from ..study import load_spect_study, register_study

    timing: dict[str, float] = {}
    notes: list[str] = []
    start = time.perf_counter()
    if isinstance(study, (str, Path)):
        folder = Path(study)
        if not folder.is_dir():
            raise InputError("study folder not found", path=folder, fix="give the study folder")
        study = load_spect_study(
            folder,
            calibration_cps_per_MBq=calibration_cps_per_MBq,
            progress=scaled(progress, 0.0, 0.3),
        )
        timing["load_s"] = time.perf_counter() - start
    if hasattr(study, "spect_on_reference"):  # already registered
        registered, loaded = study, getattr(study, "study", None)
    else:
        loaded = study
        notes.extend(str(p) for p in getattr(loaded, "problems", ()))
        notes.extend(time_label_notes(loaded.time_points))
        if len(loaded.time_points) == 0:
            raise TimingError("the study has no SPECT time point", fix="check the study folder")
        t0 = time.perf_counter()
        if registration:
            registered = register_study(
                loaded,
                reference_index=reference_index,
                deformable=deformable,
                progress=scaled(progress, 0.3, 1.0),
            )
            timing["registration_s"] = time.perf_counter() - t0
        else:
            registered = _unregistered(loaded, reference_index)
            notes.append("no registration: SPECTs resampled in scanner coordinates")
            timing["resampling_s"] = time.perf_counter() - t0
    reference_index = getattr(registered, "reference_index", reference_index)
    images = list(registered.spect_on_reference)
    times = np.asarray(registered.times_h, dtype=float)
    if loaded is not None:
        ref_point = loaded.time_points[reference_index]
        reference_meta = ref_point.spect.meta
        administration = loaded.administration
    else:
        reference_meta = ImageMetadata()
        administration = None
    regs = [
        _registration_json(r) for r in getattr(registered, "registrations", [None] * len(images))
    ]
    for index, reg in enumerate(regs):
        for warning in (reg or {}).get("warnings", []):
            notes.append(f"registration of time point {index} ({times[index]:g} h): {warning}")
    report(progress, 1.0, "activity images on the reference grid")
    return PreparedStudy(
        images_Bq_per_mL=images,
        times_h=times,
        reference=images[reference_index],
        reference_meta=reference_meta,
        physical_half_life_h=_half_life_h(administration, physical_half_life_h),
        registration=regs,
        notes=notes,
        timing_s=timing,
    )


@dataclass(frozen=True)
class _Unregistered:
    spect_on_reference: list
    times_h: list
    registrations: list
    study: object


def _unregistered(study, reference_index: int) -> _Unregistered:
    from ..registration import resample_activity

    reference = study.time_points[reference_index].spect.image
    images = [
        resample_activity(tp.spect, reference, sitk.Transform()).image for tp in study.time_points
    ]
    return _Unregistered(
        spect_on_reference=images,
        times_h=[tp.time_h for tp in study.time_points],
        registrations=[None] * len(images),
        study=study,
    )


# --------------------------------------------------------------------------------------------
# Per structure


@dataclass(frozen=True, eq=False)
class StructureKinetics:
    """Curve, fit and uncertainty of one structure (units in the names)."""

    name: str
    tac: object  # theranostics.kinetics.tac.StructureTac
    fit: object  # theranostics.kinetics.fit.TacFit
    uncertainty: object  # theranostics.kinetics.uncertainty.UncertaintyBudget
    recovery: dict | None = None

    @property
    def tia_MBq_h(self) -> float:
        return float(self.fit.tia_MBq_h)

    @property
    def tia_uncertainty_MBq_h(self) -> float:
        """Standard uncertainty of the TIA from the whole budget (fit, calibration, ...)."""
        return float(self.uncertainty.standard_uncertainty_MBq_h)

    def to_json(self) -> dict:
        return {
            "tia_MBq_h": self.tia_MBq_h,
            "tia_uncertainty_MBq_h": self.tia_uncertainty_MBq_h,
            "model": self.fit.model,
            "times_h": self.tac.times_h.tolist(),
            "activities_MBq": np.asarray(self.fit.activities_MBq).tolist(),
            "volume_mL": self.tac.volume_mL,
            "measured_activities_MBq": self.tac.raw_activities_MBq.tolist(),
            "partial_volume_correction": self.tac.correction,
            "recovery": self.recovery,
            "effective_half_life_h": self.fit.effective_half_life_h,
            "uncertainty": self.uncertainty.to_json(),
            "fit": self.fit.to_json(),
        }


@dataclass(frozen=True, eq=False)
class StructureKineticsResult:
    """What :func:`run_structure_kinetics` returns; ``to_json()`` is its record."""

    structures: dict[str, StructureKinetics]
    failed: dict[str, str]
    times_h: np.ndarray
    physical_half_life_h: float
    registration: list[dict | None]
    masks_source: str
    notes: list[str]
    parameters: dict
    timing_s: dict[str, float]

    def to_json(self) -> dict:
        return {
            "structures": {n: s.to_json() for n, s in self.structures.items()},
            "failed": dict(self.failed),
            "times_h": self.times_h.tolist(),
            "physical_half_life_h": self.physical_half_life_h,
            "registration": self.registration,
            "masks": self.masks_source,
            "notes": list(self.notes),
            "parameters": dict(self.parameters),
            "timing_s": dict(self.timing_s),
        }


def run_structure_kinetics(
    study,
    masks_path,
    *,
    calibration_cps_per_MBq: float | None = None,
    names_file: str | Path | None = None,
    structures: list[str] | None = None,
    model: str = "auto",
    registration: bool = True,
    deformable: bool = False,
    psf_fwhm_mm: float | None = None,
    recovery_table=None,
    calibration_rel_sd: float = 0.0,
    relative_sd: float = 0.1,
    allow_fallback: bool = False,
    physical_half_life_h: float | None = None,
    progress: ProgressCallback | None = None,
) -> StructureKineticsResult:
    """Per-structure TACs, fits and TIA with uncertainty for a multi-time-point study.

    Args:
        study: study folder, ``SpectStudy`` or ``RegisteredStudy`` (see :func:`prepare_study`).
        masks_path: DICOM SEG, RTSTRUCT or label map (+ ``names_file``) in the pose of the
            reference session (:func:`theranostics.io.masks.load_masks`), or a ``MaskSet``
            already on the reference SPECT grid (:func:`theranostics.io.masks.masks_from_images`).
        calibration_cps_per_MBq: SPECT calibration (cps/MBq) for count images.
        names_file, structures: name table of a label map; structures to keep.
        model: ``"auto"`` or a model of :data:`theranostics.kinetics.MODEL_NAMES`.
        registration, deformable: see :func:`prepare_study`.
        psf_fwhm_mm: correct for partial volume with the GTM and this Gaussian PSF (mm);
            the masks should then cover every structure holding activity.
        recovery_table: a ``RecoveryTable`` (or a path to one): divide each structure's
            activity by RC(volume). Not together with ``psf_fwhm_mm``.
        calibration_rel_sd: relative standard uncertainty of the calibration factor.
        relative_sd: relative SD of each activity, the fit's weights.
        allow_fallback: with too few points for ``model``, use trapezoid-physical.
        physical_half_life_h: overrides the nuclide's half-life.
        progress: callback(fraction, message).

    Raises:
        InputError subclasses: bad study, masks, calibration, model or too few time points
        (TimingError). A structure whose curve cannot be fitted (e.g. zero activity) is
        listed in ``failed`` instead, unless every structure fails.
    """
    from ..io.masks import resolve_masks
    from ..kinetics.fit import fit_tac
    from ..kinetics.recovery import RecoveryTable, apply_recovery
    from ..kinetics.tac import structure_tacs
    from ..kinetics.uncertainty import tia_uncertainty

    if psf_fwhm_mm is not None and recovery_table is not None:
        raise InputError(
            "both a PSF (GTM) and a recovery table were given: that corrects partial volume twice",
            tag="psf_fwhm_mm / recovery_table",
            fix="choose one partial-volume correction",
        )
    if isinstance(recovery_table, (str, Path)):
        recovery_table = RecoveryTable.from_file(recovery_table)
    parameters = {
        "masks": str(getattr(masks_path, "source", masks_path)),
        "names_file": None if names_file is None else str(names_file),
        "structures": structures,
        "calibration_cps_per_MBq": calibration_cps_per_MBq,
        "model": model,
        "registration": registration,
        "deformable": deformable,
        "psf_fwhm_mm": psf_fwhm_mm,
        "recovery_table": getattr(recovery_table, "source", None),
        "calibration_rel_sd": calibration_rel_sd,
        "relative_sd": relative_sd,
        "allow_fallback": allow_fallback,
    }
    start = time.perf_counter()
    prepared = prepare_study(
        study,
        calibration_cps_per_MBq=calibration_cps_per_MBq,
        registration=registration,
        deformable=deformable,
        physical_half_life_h=physical_half_life_h,
        progress=scaled(progress, 0.0, 0.7),
    )
    timing = dict(prepared.timing_s)
    notes = list(prepared.notes)
    t0 = time.perf_counter()
    report(progress, 0.7, "loading masks")
    # The GTM needs every structure that holds activity, so a selection only filters what
    # is reported; without the GTM only the selected structures are read.
    masks = resolve_masks(
        masks_path,
        prepared.reference,
        names_file=names_file,
        structures=structures if psf_fwhm_mm is None else None,
    )
    notes.extend(masks.notes)
    if structures is not None and psf_fwhm_mm is not None:
        missing = [s for s in structures if s not in masks.masks]
        if missing:
            raise InputError(
                f"structure(s) {missing} not in the file",
                path=str(getattr(masks_path, "source", masks_path)),
                tag="structures",
                fix=f"choose among: {', '.join(masks.names)}",
            )
    timing["masks_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tacs = structure_tacs(
        prepared.images_Bq_per_mL,
        prepared.times_h,
        masks.weights,
        psf_fwhm_mm=psf_fwhm_mm,
        progress=scaled(progress, 0.72, 0.9),
    )
    if structures is not None:
        tacs = {name: tacs[name] for name in structures}
    timing["tac_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    results: dict[str, StructureKinetics] = {}
    failed: dict[str, str] = {}
    first_error: InputError | None = None
    for index, (name, tac) in enumerate(tacs.items()):
        report(progress, 0.9 + 0.1 * index / len(tacs), f"fitting {name}")
        activities, record = tac.activities_MBq, None
        if recovery_table is not None:
            activities, record = apply_recovery(activities, tac.volume_mL, recovery_table)
        try:
            fit = fit_tac(
                tac.times_h,
                activities,
                physical_half_life_h=prepared.physical_half_life_h,
                model=model,
                relative_sd=relative_sd,
                allow_fallback=allow_fallback,
            )
        except TimingError:
            raise  # the same times for every structure: nothing else would fit either
        except InputError as exc:
            failed[name] = str(exc)
            first_error = first_error or exc
            continue
        budget = tia_uncertainty(
            fit,
            calibration_rel_sd=calibration_rel_sd,
            recovery_table=recovery_table,
            volume_mL=tac.volume_mL if recovery_table is not None else None,
        )
        results[name] = StructureKinetics(name, tac, fit, budget, record)
    if not results and first_error is not None:
        raise first_error
    for name, message in failed.items():
        notes.append(f"{name}: not fitted ({message})")
    notes.extend(tac_shape_notes(results, relative_sd))
    notes.extend(
        tia_bound_notes(
            {name: r.tia_MBq_h for name, r in results.items()},
            prepared.reference_meta.administration.activity_MBq,
            prepared.physical_half_life_h,
            calibration_cps_per_MBq=calibration_cps_per_MBq,
        )
    )
    if calibration_rel_sd == 0:
        notes.append("calibration uncertainty not given: the budget holds the fit only")
    timing["fit_s"] = time.perf_counter() - t0
    timing["total_s"] = time.perf_counter() - start
    report(progress, 1.0, "kinetics done")
    return StructureKineticsResult(
        structures=results,
        failed=failed,
        times_h=prepared.times_h,
        physical_half_life_h=prepared.physical_half_life_h,
        registration=prepared.registration,
        masks_source=masks.source,
        notes=notes,
        parameters=parameters,
        timing_s=timing,
    )


# --------------------------------------------------------------------------------------------
# Per voxel


@dataclass(frozen=True, eq=False)
class VoxelTiaMap:
    """What :func:`run_voxel_tia` returns.

    Attributes:
        tia: the TIA map, units ``"MBq*h"`` per voxel, on the reference SPECT grid.
        fallback_mask: ``uint8`` image, 1 where the voxel fit fell back to trapezoid-physical.
        model, summary: from :func:`theranostics.kinetics.voxel.voxel_tia`.
        times_h, registration, notes, parameters, timing_s: as in the structure result.
    """

    tia: QuantitativeImage
    fallback_mask: sitk.Image
    model: str
    summary: dict
    times_h: np.ndarray
    registration: list[dict | None]
    notes: list[str]
    parameters: dict
    timing_s: dict[str, float]

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "summary": self.summary,
            "total_tia_MBq_h": float(np.nansum(sitk.GetArrayViewFromImage(self.tia.image))),
            "times_h": self.times_h.tolist(),
            "registration": self.registration,
            "notes": list(self.notes),
            "parameters": dict(self.parameters),
            "timing_s": dict(self.timing_s),
        }


#: A structure's TIA may exceed A0 / lambda_phys by this factor before it is refused (beyond
#: the calibration and partial-volume uncertainty of quantitative SPECT, 10-30 %, MIRD 23).
TIA_BOUND_FACTOR = 1.5


def tia_bound_notes(
    tia_MBq_h: dict[str, float],
    administered_MBq: float | None,
    physical_half_life_h: float,
    *,
    calibration_cps_per_MBq: float | None = None,
) -> list[str]:
    """Physics sanity of structure TIAs: no activity can give more than A0 x the physical
    mean life T1/2 / ln 2 (all of it staying forever, decaying only physically).

    Returns notes when the sum over all structures exceeds that bound (overlapping
    structures can do that too); raises when one structure exceeds it by :data:`TIA_BOUND_FACTOR`,
    which only a wrong calibration or activity can give.

    Raises:
        PhysicsError: a structure's TIA above ``TIA_BOUND_FACTOR`` x A0 x T1/2 / ln 2.
    """
    if not administered_MBq or not tia_MBq_h or not physical_half_life_h:
        return []
    bound = administered_MBq * physical_half_life_h / math.log(2.0)
    worst = max(tia_MBq_h, key=lambda n: tia_MBq_h[n])
    if tia_MBq_h[worst] > TIA_BOUND_FACTOR * bound:
        raise PhysicsError(
            f"structure {worst!r} has a TIA of {tia_MBq_h[worst]:.4g} MBq·h, "
            f"{tia_MBq_h[worst] / bound:.3g} times what {administered_MBq:g} MBq can give "
            f"at most (A0 x T1/2 / ln 2 = {bound:.4g} MBq·h)",
            tag="--calibration-cps-per-MBq"
            if calibration_cps_per_MBq is not None
            else "RadionuclideTotalDose (0018,1074)",
            fix="check the calibration factor (cps/MBq) and the administered activity"
            + (
                f" (calibration given: {calibration_cps_per_MBq:g})"
                if calibration_cps_per_MBq
                else ""
            ),
        )
    notes = []
    total = float(sum(tia_MBq_h.values()))
    if total > bound:
        notes.append(
            f"the TIA of all structures together ({total:.4g} MBq·h) exceeds what the "
            f"administered {administered_MBq:g} MBq can give ({bound:.4g} MBq·h = A0 x "
            "T1/2 / ln 2): overlapping structures, or a calibration or activity that is too high"
        )
    for name, value in tia_MBq_h.items():
        if bound < value <= TIA_BOUND_FACTOR * bound:
            notes.append(
                f"{name}: TIA {value:.4g} MBq·h exceeds A0 x T1/2 / ln 2 = {bound:.4g} MBq·h "
                "(possible only within the calibration uncertainty): check the calibration"
            )
    return notes


def tac_shape_notes(results: dict, relative_sd: float) -> list[str]:
    """Flag curves that contradict their model or the acquisition order.

    - times not strictly increasing (the TAC order contradicts the acquisition times);
    - a mono-exponential fit of data that rise between time points by more than three
      standard deviations (the model can only decrease);
    - activity still rising at the last time point (the tail extrapolation is uncertain).
    """
    notes: list[str] = []
    margin = 3.0 * max(relative_sd, 0.01)
    for name, r in results.items():
        t = np.asarray(r.tac.times_h, dtype=float)
        a = np.asarray(r.fit.activities_MBq, dtype=float)
        if t.size > 1 and np.any(np.diff(t) <= 0):
            notes.append(
                f"{name}: time points are not in increasing order ({list(t)} h): the "
                "curve's order contradicts the acquisition times"
            )
            continue
        rises = [i for i in range(len(a) - 1) if a[i] > 0 and a[i + 1] > a[i] * (1.0 + margin)]
        if rises and r.fit.model == "mono-exp":
            i = rises[0]
            notes.append(
                f"{name}: activity rises from {a[i]:.3g} MBq at {t[i]:g} h to "
                f"{a[i + 1]:.3g} MBq at {t[i + 1]:g} h, which the mono-exponential model "
                "cannot follow: consider uptake-washout or check the time points"
            )
        elif rises and rises[-1] == len(a) - 2:
            notes.append(
                f"{name}: activity still rises at the last time point ({t[-1]:g} h): the "
                "extrapolated tail is uncertain"
            )
    return notes


def time_label_notes(time_points) -> list[str]:
    """Session labels (folder or series names such as ``spect_024h``) that contradict the
    acquisition times; the acquisition times are what the curves use."""
    import re

    notes = []
    pattern = re.compile(r"(?<![0-9.])(\d+(?:\.\d+)?)\s*h(?:ours?)?(?![a-z])", re.IGNORECASE)
    for tp in time_points:
        if tp.time_h is None:
            continue
        files = getattr(getattr(tp.spect, "meta", None), "source_files", ()) or ()
        labels = [parent.name for parent in list(Path(files[0]).parents)[:3]] if files else []
        found = [(name, pattern.search(name)) for name in labels]
        found = [(name, m) for name, m in found if m]
        if not found:
            continue
        label, match = found[0]
        said = float(match.group(1))
        if abs(said - tp.time_h) > max(1.0, 0.25 * tp.time_h):
            notes.append(
                f"session folder {label!r} says {said:g} h but its acquisition is "
                f"{tp.time_h:.1f} h after the administration: the names contradict the "
                "acquisition times (the times are used; are two sessions swapped?)"
            )
    return notes


def _above_physical_maximum(tia: np.ndarray, prepared: PreparedStudy) -> int:
    """Voxels whose TIA exceeds A_administered / lambda_phys (MBq·h): all the activity
    staying in one voxel forever, decaying only physically. 0 when the activity is unknown."""
    administered = prepared.reference_meta.administration.activity_MBq
    if not administered:
        return 0
    bound = administered * prepared.physical_half_life_h / np.log(2.0)
    return int(np.count_nonzero(np.nan_to_num(tia, nan=0.0) > bound))


def run_voxel_tia(
    study,
    *,
    calibration_cps_per_MBq: float | None = None,
    model: str = "mono-exp",
    registration: bool = True,
    deformable: bool = False,
    physical_half_life_h: float | None = None,
    progress: ProgressCallback | None = None,
) -> VoxelTiaMap:
    """TIA per voxel (MBq·h) of a multi-time-point study on the reference SPECT grid.

    Args: as :func:`run_structure_kinetics`; ``model`` is one of
    :data:`theranostics.kinetics.voxel.VOXEL_MODELS`. Every voxel is computed; voxels that
    are zero at every time get 0.
    """
    from ..kinetics.tac import voxel_activity_stack
    from ..kinetics.voxel import voxel_tia

    parameters = {
        "calibration_cps_per_MBq": calibration_cps_per_MBq,
        "model": model,
        "registration": registration,
        "deformable": deformable,
    }
    start = time.perf_counter()
    prepared = prepare_study(
        study,
        calibration_cps_per_MBq=calibration_cps_per_MBq,
        registration=registration,
        deformable=deformable,
        physical_half_life_h=physical_half_life_h,
        progress=scaled(progress, 0.0, 0.7),
    )
    timing = dict(prepared.timing_s)
    t0 = time.perf_counter()
    stack = voxel_activity_stack(prepared.images_Bq_per_mL)
    result = voxel_tia(
        stack,
        prepared.times_h,
        physical_half_life_h=prepared.physical_half_life_h,
        model=model,
        progress=scaled(progress, 0.7, 1.0),
    )
    timing["voxel_tia_s"] = time.perf_counter() - t0
    timing["total_s"] = time.perf_counter() - start
    tia = sitk.GetImageFromArray(result.tia.astype(np.float32))
    tia.CopyInformation(prepared.reference)
    fallback = sitk.GetImageFromArray(result.fallback_mask.astype(np.uint8))
    fallback.CopyInformation(prepared.reference)
    meta = prepared.reference_meta.replace(
        series_description=f"TIA ({result.model})",
        acquisition=AcquisitionInfo(),
        quantity=QuantityInfo(units="MBq*h", units_source=f"voxel TIA, {result.model}"),
    )
    notes = list(prepared.notes)
    implausible = _above_physical_maximum(result.tia, prepared)
    if implausible:
        notes.append(
            f"{implausible} voxels have a TIA above the physical maximum (administered "
            "activity / physical decay constant): their fits extrapolate wildly (check the "
            "curves, or use model='trapezoid-fitted-tail')"
        )
    n_fallback = int(result.fallback_mask.sum())
    if n_fallback:
        notes.append(f"{n_fallback} voxels fell back to trapezoid-physical (see fallback mask)")
    report(progress, 1.0, "TIA map done")
    return VoxelTiaMap(
        tia=QuantitativeImage(tia, meta),
        fallback_mask=fallback,
        model=result.model,
        summary=dict(result.summary),
        times_h=prepared.times_h,
        registration=prepared.registration,
        notes=notes,
        parameters=parameters,
        timing_s=timing,
    )
