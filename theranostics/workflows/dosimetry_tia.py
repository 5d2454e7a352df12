"""Structure and voxel time-integrated activity for :func:`.dosimetry.run_dosimetry`.

Multi-time-point: structure TIA from :func:`.kinetics.run_structure_kinetics` (fits, AICc,
uncertainty budget, optional GTM partial-volume correction); voxel TIA and effective
half-life from :func:`theranostics.kinetics.voxel.voxel_tia`.

Single time point (one SPECT, ``time_point_index``): Hänscheid et al., J Nucl Med
2018;59:75-81 (``TIA = A(t) · 2t / ln 2``, no half-life needed, exact when ``t`` equals
``T_eff / ln 2``) or Madsen et al., Med Phys 2018;45:2318-2324 (``TIA = A(t) e^(λt) / λ``
with a population effective half-life, :mod:`theranostics.kinetics.single_time_point`). The
voxel map uses the same formula per voxel (Madsen: the structure's population half-life in
its voxels, the physical half-life elsewhere — an upper bound, said in a note). The
structure TIA uncertainty is, for Madsen, first-order propagation of the population SD; for
Hänscheid, the method's relative error at the population half-life (a bias estimate).
"""

from __future__ import annotations

import math

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..progress import ProgressCallback, report

LN2 = math.log(2.0)


def _population(loaded, name: str):
    """The population half-life entry of a structure, or None. The DICOM radiopharmaceutical
    text varies ("Lu177-PSMA-617", "177Lu-PSMA-617", ...): the name as given is tried first,
    then the ligand alone ("psma", "dotatate"), which the table's aliases resolve."""
    from ..kinetics.single_time_point import population_half_life

    rp = getattr(loaded.administration, "radiopharmaceutical", None) or ""
    candidates = [rp] + [key for key in ("psma", "dotatate") if key in rp.lower()]
    for candidate in candidates:
        try:
            return population_half_life(candidate, name)
        except InputError:
            continue
    return None


def structure_tia(
    loaded,
    prepared,
    registered,
    mask_set,
    *,
    names_file=None,
    model: str = "auto",
    psf_fwhm_mm: float | None = None,
    calibration_rel_sd: float = 0.0,
    single_time_point: str | None = None,
    time_point_index: int = -1,
    progress: ProgressCallback | None = None,
) -> dict:
    """Per-structure TIA (MBq·h), its standard uncertainty and effective half-life (h).

    Returns ``{"structures": {name: {"tia_MBq_h", "tia_uncertainty_MBq_h",
    "effective_half_life_h", "model"}}, "curves": {name: {"times_h", "activities_MBq",
    "fit"}}, "notes": [...]}`` (``fit`` is a :class:`~theranostics.kinetics.TacFit` or None).
    """
    if single_time_point is None:
        from .kinetics import run_structure_kinetics

        res = run_structure_kinetics(
            registered,
            mask_set,
            names_file=names_file,
            model=model,
            psf_fwhm_mm=psf_fwhm_mm,
            calibration_rel_sd=calibration_rel_sd,
            registration=False,
            physical_half_life_h=prepared.physical_half_life_h,
            progress=progress,
        )
        structures, curves = {}, {}
        for name, k in res.structures.items():
            structures[name] = {
                "tia_MBq_h": k.tia_MBq_h,
                "tia_uncertainty_MBq_h": k.tia_uncertainty_MBq_h,
                "effective_half_life_h": k.fit.effective_half_life_h,
                "model": k.fit.model,
            }
            curves[name] = {
                "times_h": np.asarray(k.tac.times_h, dtype=float),
                "activities_MBq": np.asarray(k.fit.activities_MBq, dtype=float),
                "fit": k.fit,
            }
        notes = [n for n in res.notes if n not in prepared.notes and "masks" not in n.lower()]
        return {"structures": structures, "curves": curves, "notes": notes}

    from ..kinetics.single_time_point import hanscheid_relative_error
    from ..kinetics.tac import structure_tacs

    k = time_point_index % len(prepared.times_h)
    t = float(prepared.times_h[k])
    tacs = structure_tacs(
        [prepared.images_Bq_per_mL[k]], [t], mask_set.weights, psf_fwhm_mm=psf_fwhm_mm
    )
    structures, curves, notes = {}, {}, []
    phys = prepared.physical_half_life_h
    for name, tac in tacs.items():
        report(progress, 0.5, f"single time point {name}")
        a = max(float(tac.activities_MBq[0]), 0.0)
        pop = _population(loaded, name)
        if single_time_point == "hanscheid":
            tia = a * 2.0 * t / LN2
            u = abs(hanscheid_relative_error(t, pop.effective_half_life_h)) * tia if pop else 0.0
            t_eff = pop.effective_half_life_h if pop else None
        else:
            t_eff = pop.effective_half_life_h if pop else phys
            lam = LN2 / t_eff
            tia = a * math.exp(lam * t) / lam
            sd = pop.sd_h if pop and pop.sd_h else 0.0
            u = abs(tia * (1.0 - lam * t) / t_eff) * sd
            if pop is None:
                notes.append(f"{name}: no population half-life; physical half-life used")
        structures[name] = {
            "tia_MBq_h": tia,
            "tia_uncertainty_MBq_h": u,
            "effective_half_life_h": t_eff,
            "model": f"single-time-point {single_time_point} at {t:g} h",
        }
        curves[name] = {"times_h": np.array([t]), "activities_MBq": np.array([a]), "fit": None}
    notes.append(f"single-time-point dosimetry ({single_time_point}) from the {t:g} h SPECT")
    from .kinetics import tia_bound_notes  # A0 x T1/2 / ln 2 bounds every structure's TIA

    notes += tia_bound_notes(
        {name: s["tia_MBq_h"] for name, s in structures.items()},
        getattr(loaded.administration, "activity_MBq", None),
        phys,
    )
    return {"structures": structures, "curves": curves, "notes": notes}


def voxel_tia_maps(
    prepared,
    mask_set,
    kin: dict,
    *,
    voxel_model: str = "mono-exp",
    single_time_point: str | None = None,
    time_point_index: int = -1,
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Voxel TIA (MBq·h per voxel) and effective half-life (h) maps, ``[k, j, i]``.

    The effective half-life is filled where the voxel fit gave none (fallback voxels,
    zero voxels) with the structure's fitted value inside a structure and the physical
    half-life elsewhere, and clipped to (0, physical] (uptake-dominated voxels), so that
    the BED map is defined everywhere.
    """
    from ..kinetics.tac import voxel_activity_stack
    from ..kinetics.voxel import voxel_tia

    phys = prepared.physical_half_life_h
    notes: list[str] = []
    teff_struct = np.full(sitk.GetArrayViewFromImage(prepared.reference).shape, phys)
    for name, mask in mask_set.masks.items():
        value = kin["structures"].get(name, {}).get("effective_half_life_h")
        if value and np.isfinite(value) and value > 0:
            teff_struct[sitk.GetArrayViewFromImage(mask) > 0] = min(float(value), phys)
    if single_time_point is None:
        stack = voxel_activity_stack(prepared.images_Bq_per_mL, dtype=np.float32)
        res = voxel_tia(
            stack,
            prepared.times_h,
            physical_half_life_h=phys,
            model=voxel_model,
            progress=progress,
        )
        trap = voxel_tia(
            stack, prepared.times_h, physical_half_life_h=phys, model="trapezoid-physical"
        )
        del stack
        tia = np.asarray(res.tia, dtype=np.float64)
        bound = np.nan_to_num(np.asarray(trap.tia, dtype=np.float64), nan=0.0)
        # a mono-exp extrapolated far back to t = 0 (noise in low-count voxels) can give
        # absurd TIAs: beyond 10x the trapezoid-physical value of the same voxel, use that
        wild = ~np.isfinite(tia) | (tia > 10.0 * np.maximum(bound, 0.0))
        wild &= bound > 0
        if wild.any():
            notes.append(
                f"{int(wild.sum())} voxels with a mono-exp TIA above 10x their "
                "trapezoid-physical TIA (noise) use the trapezoid-physical value"
            )
        tia = np.where(wild, bound, np.nan_to_num(tia, nan=0.0, posinf=0.0))
        teff = res.effective_half_life_h
        if teff is None:
            teff = teff_struct
        else:
            teff = np.asarray(teff, dtype=np.float64)
            bad = ~(np.isfinite(teff) & (teff > 0))
            teff = np.where(bad, teff_struct, np.minimum(teff, phys))
        n_fb = int(np.count_nonzero(res.fallback_mask))
        if n_fb:
            notes.append(f"{n_fb} voxels fell back to trapezoid-physical in the voxel TIA")
        return np.maximum(tia, 0.0), teff, notes
    k = time_point_index % len(prepared.times_h)
    t = float(prepared.times_h[k])
    a = voxel_activity_stack([prepared.images_Bq_per_mL[k]])[0]
    a = np.maximum(np.nan_to_num(a, nan=0.0), 0.0)
    if single_time_point == "hanscheid":
        tia = a * 2.0 * t / LN2
    else:
        lam = LN2 / teff_struct
        tia = a * np.exp(lam * t) / lam
        notes.append("voxels outside the structures use the physical half-life (upper bound)")
    return tia, teff_struct, notes
