"""Post-treatment radioembolisation (SIRT) dosimetry from one 90Y PET or SPECT time point.

Microspheres are a **permanent implant**: they do not wash out, so the activity decays only
physically where it lodged. With A_v the activity of voxel v *at implantation* (MBq), the
time-integrated activity over complete decay is

    Ã_v = A_v · T½ / ln 2                    (MBq·h; T½ from ICRP 107, 64.1 h for 90Y)

and the absorbed dose follows by local energy deposition (the default; Gulec, Mesoloras &
Stabin 2006, J Nucl Med 47:1209; AAPM TG-144, Dezarn et al. 2011, Med Phys 38:4824) or by
convolution with the voxel S-value kernel of the dose engine (``method="kernel"``):

    D_v = Ã_v · E_β / (ρ_v V_v)              (local deposition)

which for a structure of mass m holding A MBq gives D = K · A / m with K = E_β T½ / ln 2 =
49.77 Gy·kg/GBq for the ICRP 107 data (E_β = 0.9331 MeV, T½ = 64.1 h); the literature value
49.67 Gy·kg/GBq (Gulec et al. 2006) comes from older decay data (0.2 % lower).

The time the image's activity refers to is never guessed (:func:`activity_at_implantation`):
either the image is declared decay-corrected to the implantation, or the implantation and the
acquisition date-times are both known (options or the sidecar) and the activity is
decay-corrected back to the implantation, A_impl = A_ref · 2^(Δt / T½). The result says which.

Voxel values: ``Bq/mL`` (quantitative PET or SPECT) become MBq per voxel through the voxel
volume; ``counts`` or ``cps`` need a calibration factor (cps/MBq) and, for counts, the
acquisition duration. Masses are volume × density: without a CT the tissue density is one
stated value (default 1.03 g/mL, the liver density of TG-144 and of the resin and glass
instructions for use) and lung structures take ``lung_density_g_per_mL``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .. import __version__
from ..errors import InputError, NuclideError, QuantificationError, TimingError, UnitsError
from ..image import QuantitativeImage
from ..io.masks import MaskSet, resolve_masks
from ..metadata import Administration, ImageMetadata, QuantityInfo
from ..progress import ProgressCallback, report

#: Dose methods.
METHODS = ("led", "kernel")
#: The local-deposition constant of 90Y quoted in the literature (Gulec et al. 2006), Gy·kg/GBq.
LITERATURE_Y90_CONSTANT_GY_KG_PER_GBQ = 49.67
#: Default soft-tissue (liver) density without a CT, g/mL (TG-144; glass and resin IFUs).
DEFAULT_TISSUE_DENSITY_G_PER_ML = 1.03
#: Default density of a structure named as lung without a CT, g/mL (aerated lung).
DEFAULT_LUNG_DENSITY_G_PER_ML = 0.3
#: D_x levels (percent of the structure's mass) and V_x levels (Gy) reported per structure.
D_PERCENTS = (98.0, 90.0, 70.0, 50.0, 2.0)
V_DOSES_GY = (70.0, 100.0, 120.0, 150.0, 200.0)
#: Name patterns of the automatic roles (used only when the roles are not given).
TUMOUR_PATTERN = re.compile(r"tumou?r|lesion|hcc|metast", re.IGNORECASE)
NORMAL_PATTERN = re.compile(r"normal", re.IGNORECASE)
LUNG_PATTERN = re.compile(r"lung", re.IGNORECASE)
LIVER_PATTERN = re.compile(r"liver", re.IGNORECASE)


@dataclass(frozen=True)
class SirtDosimetryResult:
    """Result of :func:`sirt_dosimetry`.

    Attributes:
        results: the JSON document (``structures`` keyed by segment name as written, timing,
            constants, notes ...).
        dose: absorbed dose, Gy, on the image grid.
        activity_MBq: activity per voxel at implantation, MBq, on the image grid.
        image: the input image.
        masks: the structures on the image grid.
        dvhs: structure name -> :class:`~theranostics.dose.dvh.DVH` (mass-weighted).
        comparison: predicted-versus-delivered comparison (:mod:`.sirt_verification`) or
            ``None``.
    """

    results: dict
    dose: QuantitativeImage
    activity_MBq: sitk.Image
    image: QuantitativeImage
    masks: MaskSet
    dvhs: dict = field(default_factory=dict)
    comparison: object | None = None


def _nuclide(image: QuantitativeImage, nuclide: str | None):
    from ..nuclide_data import get_emissions
    from ..nuclides import normalise_nuclide_name

    given = nuclide or image.meta.administration.nuclide
    if not given:
        raise NuclideError(
            "the nuclide of the image is not known",
            path=_source(image),
            tag="nuclide",
            fix='give --nuclide Y-90 (or write "nuclide" in the sidecar)',
        )
    key = normalise_nuclide_name(given)
    if key is None:
        raise NuclideError(f"nuclide {given!r} not recognised", tag="nuclide", fix="e.g. Y-90")
    return get_emissions(key)


def _source(image: QuantitativeImage):
    return (image.meta.source_files or (None,))[0]


def activity_at_implantation(
    image: QuantitativeImage,
    half_life_s: float,
    *,
    calibration_cps_per_MBq: float | None = None,
    decay_corrected_to_implantation: bool = False,
    implantation_datetime: datetime | None = None,
    acquisition_datetime: datetime | None = None,
    acquisition_duration_s: float | None = None,
) -> tuple[np.ndarray, dict]:
    """Activity per voxel at implantation (MBq, ``[k, j, i]``) and how it was obtained.

    Args:
        image: the post-treatment image (``Bq/mL``, ``counts`` or ``cps``).
        half_life_s: physical half-life, s.
        calibration_cps_per_MBq: system sensitivity for ``counts``/``cps`` images.
        decay_corrected_to_implantation: the voxel values already give the activity at
            implantation (no decay correction is applied).
        implantation_datetime, acquisition_datetime: override the image metadata's
            administration and acquisition start.
        acquisition_duration_s: override the acquisition duration (counts images; decay
            during the acquisition).

    Returns:
        ``(activity_MBq, timing)``; ``timing`` holds ``mode`` (``"decay-corrected to
        implantation"`` or ``"decay-corrected from <reference> to implantation"``), the
        date-times, ``elapsed_h`` and ``decay_correction_factor``.

    Raises:
        UnitsError: units that are not activity, counts without a calibration or duration.
        QuantificationError: NaN, infinite or negative voxels.
        TimingError: implantation or acquisition time unknown (unless decay-corrected to
            implantation), or the acquisition before the implantation.
    """
    meta = image.meta
    units = meta.quantity.units
    values = sitk.GetArrayFromImage(image.image).astype(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        raise QuantificationError(
            f"the image has {int(bad.sum())} NaN or infinite voxels",
            path=_source(image),
            tag="voxels",
            fix="use a reconstruction with finite values (or fill undefined voxels with 0)",
        )
    if (values < 0).any():
        raise QuantificationError(
            f"the image has {int((values < 0).sum())} negative voxels (minimum "
            f"{float(values.min()):.4g} {units})",
            path=_source(image),
            tag="voxels",
            fix="an activity cannot be negative: clip reconstruction noise to 0 before "
            "dosimetry, or check the units",
        )
    duration = acquisition_duration_s or meta.acquisition.duration_s
    if units == "Bq/mL":
        activity = values * image.voxel_volume_mL / 1e6
        rule = "Bq/mL x voxel volume"
    elif units in ("counts", "cps"):
        if not calibration_cps_per_MBq or calibration_cps_per_MBq <= 0:
            raise UnitsError(
                f"the image is in {units}: a calibration factor is needed for activity",
                path=_source(image),
                tag="calibration_cps_per_MBq",
                fix="give --calibration-cps-per-MBq C (the system's 90Y sensitivity)",
            )
        if units == "counts":
            if not duration or duration <= 0:
                raise UnitsError(
                    "the image is in counts: the acquisition duration is needed",
                    path=_source(image),
                    tag="acquisition_duration_s",
                    fix="give --acquisition-duration-s or write it in the sidecar",
                )
            activity = values / duration / calibration_cps_per_MBq
            rule = f"counts / {duration:g} s / {calibration_cps_per_MBq:g} cps/MBq"
        else:
            activity = values / calibration_cps_per_MBq
            rule = f"cps / {calibration_cps_per_MBq:g} cps/MBq"
    else:
        raise UnitsError(
            f"the image is in {units!r}, not an activity, counts or count rate",
            path=_source(image),
            tag="units",
            fix="give the post-treatment PET/SPECT in Bq/mL (or counts with a calibration)",
        )
    implanted = implantation_datetime or meta.administration.datetime
    timing = {
        "implantation_datetime": _iso(implanted),
        "activity_rule": rule,
        "half_life_h": half_life_s / 3600.0,
    }
    if decay_corrected_to_implantation:
        timing.update(
            mode="decay-corrected to implantation (declared by the user)",
            reference_datetime=_iso(implanted),
            elapsed_h=0.0,
            decay_correction_factor=1.0,
        )
        return activity, timing
    acquired = acquisition_datetime or meta.acquisition.start
    q = meta.quantity
    if q.decay_correction in ("START", "REF", "ADMIN") and q.decay_reference is not None:
        reference, why = q.decay_reference, f"image decay-corrected ({q.decay_correction}) to"
        average = 1.0
    else:
        reference, why = acquired, "acquisition start"
        average = 1.0
        if reference is not None and duration and units != "counts":
            from ..quant.decay import acquisition_average_factor

            average = acquisition_average_factor(duration, half_life_s)
    missing = [
        what
        for what, value in (
            (
                "implantation date-time (--implantation-datetime, or sidecar "
                "administration_datetime)",
                implanted,
            ),
            (
                "acquisition date-time (--acquisition-datetime, or sidecar acquisition_datetime)",
                reference,
            ),
        )
        if value is None
    ]
    if missing:
        raise TimingError(
            "the time the image's activity refers to is not known: missing "
            + " and ".join(missing),
            path=_source(image),
            tag="administration_datetime/acquisition_datetime",
            fix="give both date-times, or --decay-corrected-to-implantation when the image "
            "already shows the activity at implantation",
        )
    elapsed_s = (reference - implanted).total_seconds()
    if elapsed_s < 0:
        raise TimingError(
            f"the image's reference time {reference.isoformat()} is before the implantation "
            f"{implanted.isoformat()}",
            path=_source(image),
            tag="acquisition_datetime",
            fix="check both date-times",
        )
    factor = 2.0 ** (elapsed_s / half_life_s) / average
    timing.update(
        mode=f"decay-corrected from {why} {reference.isoformat()} to implantation",
        reference_datetime=reference.isoformat(),
        elapsed_h=elapsed_s / 3600.0,
        decay_correction_factor=factor,
        acquisition_average_factor=average,
    )
    return activity * factor, timing


def structure_roles(
    names: Sequence[str],
    *,
    tumors: Sequence[str] | None = None,
    normal: str | None = None,
    lung: Sequence[str] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """Role of each structure (``tumor``, ``normal``, ``lung``, ``liver`` or ``other``) and
    notes saying which roles were recognised by name.

    Given roles win; otherwise tumours are names matching :data:`TUMOUR_PATTERN`, the normal
    structure the one name matching :data:`NORMAL_PATTERN` (none when several do: give it),
    lungs names matching :data:`LUNG_PATTERN`.

    Raises:
        InputError: a given name that is not a structure.
    """
    known = list(names)
    for given in [*(tumors or ()), *([normal] if normal else []), *(lung or ())]:
        if given not in known:
            raise InputError(
                f"no structure named {given!r}",
                tag="structure names",
                fix=f"choose among: {', '.join(repr(n) for n in known)}",
            )
    notes = []
    if tumors is None:
        tumors = [n for n in known if TUMOUR_PATTERN.search(n)]
        if tumors:
            notes.append(f"tumours recognised by name: {', '.join(tumors)}")
    if lung is None:
        lung = [n for n in known if LUNG_PATTERN.search(n) and n not in tumors]
    if normal is None:
        candidates = [n for n in known if NORMAL_PATTERN.search(n) and n not in tumors]
        if len(candidates) == 1:
            normal = candidates[0]
            notes.append(f"normal tissue recognised by name: {normal}")
        elif len(candidates) > 1:
            notes.append(
                f"several structures could be the normal tissue ({', '.join(candidates)}): "
                "no tumour-to-normal ratio unless one is chosen (--normal NAME)"
            )
    roles = {}
    for n in known:
        if n in tumors:
            roles[n] = "tumor"
        elif n == normal:
            roles[n] = "normal"
        elif n in lung:
            roles[n] = "lung"
        elif LIVER_PATTERN.search(n):
            roles[n] = "liver"
        else:
            roles[n] = "other"
    return roles, notes


def sirt_dosimetry(
    image: QuantitativeImage,
    structures: str | Path | MaskSet,
    *,
    nuclide: str | None = None,
    calibration_cps_per_MBq: float | None = None,
    method: str = "led",
    decay_corrected_to_implantation: bool = False,
    implantation_datetime: datetime | None = None,
    acquisition_datetime: datetime | None = None,
    acquisition_duration_s: float | None = None,
    structure_names: Sequence[str] | None = None,
    tumors: Sequence[str] | None = None,
    normal: str | None = None,
    lung: Sequence[str] | None = None,
    density_g_per_mL: float = DEFAULT_TISSUE_DENSITY_G_PER_ML,
    lung_density_g_per_mL: float = DEFAULT_LUNG_DENSITY_G_PER_ML,
    administered_activity_MBq: float | None = None,
    clip_negative: bool = False,
    progress: ProgressCallback | None = None,
) -> SirtDosimetryResult:
    """90Y (or other permanent-implant) microsphere dosimetry of one image (module docstring).

    Args:
        image: post-treatment PET/SPECT (``Bq/mL``, or ``counts``/``cps`` with a calibration).
        structures: a ``.seg.nrrd`` (or any mask file of :func:`~theranostics.io.masks.
            load_masks`) or a :class:`MaskSet` on the image grid.
        nuclide: overrides the image metadata's nuclide (e.g. ``"Y-90"``).
        calibration_cps_per_MBq: sensitivity for counts/cps images.
        method: ``"led"`` (local deposition, default) or ``"kernel"`` (voxel S-value kernel
            of :mod:`theranostics.dose.kernels`, dose to water scaled by 1/ρ).
        decay_corrected_to_implantation, implantation_datetime, acquisition_datetime,
            acquisition_duration_s: the time reference (:func:`activity_at_implantation`).
        structure_names: only these structures (default: all, in file order).
        tumors, normal, lung: roles of structures (:func:`structure_roles`).
        density_g_per_mL: tissue density (no CT), g/mL.
        lung_density_g_per_mL: density of lung structures (no CT), g/mL.
        administered_activity_MBq: the prescribed/administered activity (reported with the
            fraction found in the field of view), overrides the metadata.
        clip_negative: set negative voxels (reconstruction noise) to 0 with a note; without
            it they are refused.
        progress: ``progress(fraction, message)`` callback.

    Raises:
        InputError (subclasses): see :func:`activity_at_implantation`,
            :func:`~theranostics.io.masks.load_masks`, unknown method or structure names,
            non-positive densities.
    """
    from ..dose.dvh import dvh_from_samples
    from ..dose.engines import kernel_dose_Gy, local_deposition_dose_Gy

    if method not in METHODS:
        raise InputError(f"unknown method {method!r}", tag="--method", fix="use led or kernel")
    for value, name in ((density_g_per_mL, "density"), (lung_density_g_per_mL, "lung density")):
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"{name} {value!r} g/mL is not positive", tag=name, fix="give > 0")
    report(progress, 0.0, "activity at implantation")
    em = _nuclide(image, nuclide)
    clip_note = None
    if clip_negative:
        from ..planning.sirt_files import clip_negative_voxels

        image, clip_note = clip_negative_voxels(image)
    activity, timing = activity_at_implantation(
        image,
        em.half_life_s,
        calibration_cps_per_MBq=calibration_cps_per_MBq,
        decay_corrected_to_implantation=decay_corrected_to_implantation,
        implantation_datetime=implantation_datetime,
        acquisition_datetime=acquisition_datetime,
        acquisition_duration_s=acquisition_duration_s,
    )
    report(progress, 0.1, "structures on the image grid")
    masks = resolve_masks(structures, image, structures=structure_names)
    roles, notes = structure_roles(masks.names, tumors=tumors, normal=normal, lung=lung)
    notes = list(masks.notes) + notes + ([clip_note] if clip_note else [])
    rho = np.full(activity.shape, float(density_g_per_mL))
    lung_names = [n for n, r in roles.items() if r == "lung"]
    for name in lung_names:
        w = sitk.GetArrayViewFromImage(masks.weights[name])
        rho = np.where(w >= 0.5, lung_density_g_per_mL, rho)
    tia = activity * em.half_life_h / math.log(2.0)
    spacing = image.image.GetSpacing()
    report(progress, 0.3, f"absorbed dose ({method})")
    if method == "led":
        dose = local_deposition_dose_Gy(tia, spacing, em, density_g_per_mL=rho)
        method_text = (
            f"local energy deposition of the {em.nonpenetrating_energy_MeV:.4f} MeV/decay "
            "electron energy (photons escape)"
        )
    else:
        from ..dose.density import density_scaled_dose_Gy
        from ..dose.kernels import voxel_kernel

        water = kernel_dose_Gy(tia, voxel_kernel(em.key, spacing))
        dose = density_scaled_dose_Gy(water, rho)
        method_text = "voxel S-value kernel convolution (dose to water) scaled by 1/density"
    voxel_mL = image.voxel_volume_mL
    k_icrp = em.nonpenetrating_energy_MeV * 1.602176634e-13 * 1e9 * em.half_life_s / math.log(2)
    report(progress, 0.7, "structure doses and DVHs")
    structures_json: dict[str, dict] = {}
    dvhs = {}
    total_MBq = float(activity.sum())
    seg_counts = _segment_voxel_counts(structures)
    for index, name in enumerate(masks.names):
        report(progress, 0.7 + 0.25 * index / max(len(masks.names), 1), f"structure {name}")
        w = sitk.GetArrayViewFromImage(masks.weights[name]).astype(np.float64)
        idx = np.nonzero(w > 0)
        if idx[0].size == 0:
            continue
        dvh = dvh_from_samples(
            dose[idx],
            w[idx],
            voxel_mL=voxel_mL,
            density_g_per_mL=rho[idx],
            d_percents=D_PERCENTS,
            v_doses_Gy=V_DOSES_GY,
        )
        dvhs[name] = dvh
        m = dvh.metrics
        volume = float(w[idx].sum()) * voxel_mL
        mass = float(np.sum(w[idx] * rho[idx])) * voxel_mL
        a = float(np.sum(w[idx] * activity[idx]))
        entry = {
            "role": roles[name],
            "category": "lesion" if roles[name] == "tumor" else "organ",
            "volume_mL": volume,
            "mass_g": mass,
            "density_g_per_mL": mass / volume,
            "activity_MBq": a,
            "activity_fraction_of_field_of_view": a / total_MBq if total_MBq > 0 else None,
            "activity_concentration_MBq_per_mL": a / volume,
            "mean_dose_Gy": m["mean_Gy"],
            "median_dose_Gy": m["median_Gy"],
            "min_dose_Gy": m["min_Gy"],
            "max_dose_Gy": m["max_Gy"],
        }
        for p in D_PERCENTS:
            entry[f"D{p:g}_Gy"] = m[f"D{p:g}_Gy"]
        for x in V_DOSES_GY:
            entry[f"V{x:g}Gy_percent"] = m[f"V{x:g}Gy_percent"]
            entry[f"V{x:g}Gy_mL"] = m[f"V{x:g}Gy_mL"]
        if name in seg_counts:
            seg_mL = seg_counts[name][0] * seg_counts[name][1]
            entry["segmentation_voxels"] = seg_counts[name][0]
            entry["segmentation_volume_mL"] = seg_mL
            entry["fraction_in_field_of_view"] = volume / seg_mL if seg_mL > 0 else None
        structures_json[name] = entry
    tn = _tumour_to_normal(structures_json)
    for entry in structures_json.values():
        if entry["role"] == "tumor" and tn["normal"] is not None:
            normal_entry = structures_json[tn["normal"]]
            entry["tumor_to_normal_ratio"] = (
                entry["activity_concentration_MBq_per_mL"]
                / normal_entry["activity_concentration_MBq_per_mL"]
                if normal_entry["activity_concentration_MBq_per_mL"] > 0
                else None
            )
    lung_dose = {n: structures_json[n]["mean_dose_Gy"] for n in lung_names if n in structures_json}
    administered = administered_activity_MBq or image.meta.administration.activity_MBq
    results = {
        "schema": "theranostics-sirt-dosimetry/1",
        "software_version": __version__,
        "image": str(_source(image)),
        "structures_file": masks.source,
        "nuclide": em.key,
        "model": "permanent implant, physical decay only: TIA = A(implantation) x T1/2 / ln 2",
        "method": method,
        "method_description": method_text,
        "local_deposition_constant_Gy_kg_per_GBq": k_icrp,
        "local_deposition_constant_source": (
            f"ICRP 107: E = {em.nonpenetrating_energy_MeV:.4f} MeV/decay, T1/2 = "
            f"{em.half_life_h:g} h (literature: {LITERATURE_Y90_CONSTANT_GY_KG_PER_GBQ} "
            "Gy kg/GBq, Gulec et al. 2006, older decay data)"
            if em.key == "Y-90"
            else f"ICRP 107: E = {em.nonpenetrating_energy_MeV:.4f} MeV/decay"
        ),
        "timing": timing,
        "density_g_per_mL": density_g_per_mL,
        "lung_density_g_per_mL": lung_density_g_per_mL if lung_names else None,
        "mass_rule": "volume x density (no CT): tissue "
        f"{density_g_per_mL:g} g/mL"
        + (f", lung {lung_density_g_per_mL:g} g/mL" if lung_names else ""),
        "total_activity_in_field_of_view_MBq": total_MBq,
        "administered_activity_MBq": administered,
        "fraction_of_administered_in_field_of_view": (
            total_MBq / administered if administered else None
        ),
        "tumor_to_normal_ratio": tn["ratio"],
        "tumor_to_normal_definition": tn["definition"],
        "lung_mean_dose_Gy": lung_dose or None,
        "structures": structures_json,
        "notes": list(dict.fromkeys(notes + list(image.meta.problems))),
    }
    dose_image = sitk.GetImageFromArray(dose.astype(np.float32))
    dose_image.CopyInformation(image.image)
    activity_image = sitk.GetImageFromArray(activity)
    activity_image.CopyInformation(image.image)
    meta = ImageMetadata(
        modality="RTDOSE",
        series_description=f"{em.key} microsphere dose ({method})",
        frame_of_reference_uid=image.meta.frame_of_reference_uid,
        patient=image.meta.patient,
        administration=Administration(
            nuclide=em.key, radiopharmaceutical="microspheres", activity_MBq=administered
        ),
        quantity=QuantityInfo(units="Gy", units_source=f"sirt-dosimetry ({method})"),
        source_files=image.meta.source_files,
    )
    report(progress, 1.0, "SIRT dosimetry done")
    return SirtDosimetryResult(
        results=results,
        dose=QuantitativeImage(dose_image, meta),
        activity_MBq=activity_image,
        image=image,
        masks=masks,
        dvhs=dvhs,
    )


def _segment_voxel_counts(structures) -> dict[str, tuple[int, float]]:
    """name -> (voxels, voxel mL) on a Slicer segmentation's own grid, when one was given."""
    if isinstance(structures, MaskSet):
        return {}
    from ..io.slicer_files import is_slicer_segmentation, read_segmentation

    if not is_slicer_segmentation(structures):
        return {}
    seg = read_segmentation(structures)
    return {n: (c, seg.voxel_volume_mL) for n, c in seg.voxel_counts().items()}


def _tumour_to_normal(structures: Mapping[str, dict]) -> dict:
    """Pooled tumour-to-normal ratio of activity concentrations (MBq/mL)."""
    tumours = [e for e in structures.values() if e["role"] == "tumor"]
    normals = [n for n, e in structures.items() if e["role"] == "normal"]
    out = {"ratio": None, "normal": normals[0] if len(normals) == 1 else None, "definition": None}
    if tumours and out["normal"]:
        n = structures[out["normal"]]
        t_conc = sum(e["activity_MBq"] for e in tumours) / sum(e["volume_mL"] for e in tumours)
        n_conc = n["activity_concentration_MBq_per_mL"]
        out["ratio"] = t_conc / n_conc if n_conc > 0 else None
        out["definition"] = (
            "(sum of tumour activity / sum of tumour volume) / (activity / volume of "
            f"{out['normal']!r}), activity at implantation"
        )
    return out


def _iso(value) -> str | None:
    return None if value is None else value.isoformat()


__all__ = [
    "DEFAULT_LUNG_DENSITY_G_PER_ML",
    "DEFAULT_TISSUE_DENSITY_G_PER_ML",
    "LITERATURE_Y90_CONSTANT_GY_KG_PER_GBQ",
    "METHODS",
    "SirtDosimetryResult",
    "activity_at_implantation",
    "sirt_dosimetry",
    "structure_roles",
]
