"""SIRT planning from 3D Slicer's files: an MAA SPECT volume (``.nrrd``/``.nii``) and a
segmentation (``.seg.nrrd``), without DICOM and without a CT.

Compartments are segments chosen by name (tumours, the normal compartment, optionally a lung
and others). Slicer segmentations often hold overlapping segments (liver, tumours, perfused
volume, perfused normal ...): the chosen ones are made disjoint on the segmentation's own
(fine) grid by the priority of :func:`~.sirt_images.resolve_overlaps` (tumour > lung > other >
normal), so a "perfused volume" or "liver" given as the normal compartment loses its tumour
voxels, and a "perfused normal" keeps what it is. The disjoint compartments are then put on the
SPECT grid as fractional occupancy (:func:`theranostics.io.slicer_files.label_occupancy`):

    C_i = Σ_v w_i,v C_v      (MAA counts of compartment i; w its occupancy of SPECT voxel v)
    V_i = N_i · V_seg        (N_i voxels of the disjoint segment on the segmentation grid)
    m_i = ρ_i · V_i          (no CT: ρ = ``density_g_per_mL``, 1.03 g/mL by default)

Lung. Without a lung segment the lung shunt fraction measured on planar images (how most
centres measure it) is given as ``lung_shunt_fraction`` F: a lung compartment is added with
MAA counts C_L = F / (1 − F) · (C_T + C_N), so that the partition model's
LSF = C_L / (C_L + C_T + C_N) is exactly F, and the conventional fixed lung mass of the planar
method (1000 g, TG-144) — it is outside the SPECT field of view and has no voxels in the
predicted map. A lung segment uses the same fixed mass (no CT density), with a note.

The predicted 90Y dose map distributes the prescribed activity like the MAA counts inside each
compartment, A_v = A f_i w_i,v C_v / C_i, and deposits it locally (complete decay in place,
Ã = A T½ / ln 2), as :func:`~.sirt_images.predicted_dose_map` does with a CT.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import GeometryError, InputError
from ..image import QuantitativeImage
from ..metadata import Administration, ImageMetadata, QuantityInfo
from ..progress import ProgressCallback, report
from .sirt import CONVENTIONAL_LUNG_MASS_G, SirtLimits, SirtPlan, plan_sirt
from .sirt_images import _spect_values, resolve_overlaps
from .sirt_model import Compartment

#: Tissue density without a CT, g/mL (liver; TG-144 and the sphere IFUs).
DEFAULT_DENSITY_G_PER_ML = 1.03
#: Name of the compartment added for a planar lung shunt fraction.
PLANAR_LUNG = "lung (planar LSF)"
#: A compartment may lose at most this fraction of its volume outside the SPECT field of view.
MAX_OUTSIDE_FOV = 0.01


@dataclass(frozen=True)
class SirtFilesResult:
    """Plan, predicted dose (Gy, SPECT grid), the SPECT and the compartment occupancies.

    Attributes:
        plan: the :class:`~.sirt.SirtPlan`.
        dose: predicted 90Y absorbed dose, Gy, on the SPECT grid.
        spect: the MAA SPECT.
        weights: compartment -> occupancy ``[k, j, i]`` on the SPECT grid (overlaps
            resolved; the planar lung has none).
        counts: compartment -> MAA counts (the planar lung's derived from F).
        tissues: compartment -> tissue.
    """

    plan: SirtPlan
    dose: QuantitativeImage
    spect: QuantitativeImage
    weights: dict
    counts: dict
    tissues: dict


def _check_lsf(value) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        f = math.nan
    if not (math.isfinite(f) and 0.0 <= f < 1.0):
        raise InputError(
            f"lung shunt fraction {value!r} is not in [0, 1)",
            tag="--lung-shunt-fraction",
            fix="give the planar LSF as a fraction, e.g. 0.08 for 8 %",
        )
    return f


def plan_sirt_files(
    spect: str | Path | QuantitativeImage,
    segmentation,
    *,
    tumors: Sequence[str],
    normal: str | None = None,
    normal_role: str = "normal",
    lung: str | None = None,
    lung_shunt_fraction: float | None = None,
    others: Sequence[str] = (),
    units: str | None = None,
    density_g_per_mL: float = DEFAULT_DENSITY_G_PER_ML,
    method: str = "partition",
    target_tumor_Gy: float | None = None,
    target_normal_Gy: float | None = None,
    target_perfused_Gy: float | None = None,
    limits: SirtLimits | None = None,
    height_m: float | None = None,
    weight_kg: float | None = None,
    bsa_formula: str = "dubois",
    rounding_GBq: float = 0.01,
    clip_negative: bool = False,
    progress: ProgressCallback | None = None,
) -> SirtFilesResult:
    """Plan 90Y SIRT from an MAA SPECT volume and a Slicer segmentation (module docstring).

    Args:
        spect: the MAA SPECT file (units from ``units`` or its sidecar) or image.
        segmentation: a ``.seg.nrrd`` path or a
            :class:`~theranostics.io.slicer_files.SlicerSegmentation`.
        tumors: tumour segment names.
        normal: the normal compartment's segment (``None``: the one segment whose name
            contains "normal", when exactly one does).
        normal_role: what it is (``"liver"``, ``"perfused"``, ``"normal"``), recorded.
        lung: a lung segment, or ``None`` with ``lung_shunt_fraction``.
        lung_shunt_fraction: planar LSF F in [0, 1) when there is no lung segment.
        others: further segments as "other" compartments.
        units: SPECT voxel units when the sidecar does not give them (``counts`` ...).
        density_g_per_mL: tissue density for the masses (no CT).
        method, target_*, limits, height_m, weight_kg, bsa_formula, rounding_GBq: see
            :func:`~.sirt.plan_sirt`.
        clip_negative: set negative voxels (reconstruction noise) to 0, with a note saying
            how many and how much; without it they are refused.
        progress: callback.

    Raises:
        InputError: unknown segment names, no tumour, no or ambiguous normal compartment,
            neither lung nor LSF (or both), SPECT units/values unusable, an empty compartment;
            errors of :func:`~.sirt.plan_sirt`.
        GeometryError: a compartment outside the SPECT field of view.
    """
    from ..io.slicer_files import (
        SlicerSegmentation,
        label_occupancy,
        read_segmentation,
        read_volume,
    )

    report(progress, 0.0, "reading the SPECT and the segmentation")
    seg = (
        segmentation
        if isinstance(segmentation, SlicerSegmentation)
        else read_segmentation(segmentation)
    )
    if not tumors:
        raise InputError("no tumour segment given", tag="--tumor", fix="name the tumour(s)")
    for name in (*tumors, *others, *([normal] if normal else []), *([lung] if lung else [])):
        seg.segment(name)  # unknown names fail here, listing the segments
    notes: list[str] = []
    if normal is None:
        candidates = [n for n in seg.names if re.search("normal", n, re.IGNORECASE)]
        candidates = [n for n in candidates if n not in tumors]
        if len(candidates) != 1:
            raise InputError(
                "no normal compartment chosen: "
                + (
                    "no segment is named like one"
                    if not candidates
                    else f"several segments could be it ({', '.join(repr(c) for c in candidates)})"
                ),
                path=seg.path,
                tag="SegmentN_Name",
                fix="name it (--normal/--perfused/--liver NAME); segments: "
                + ", ".join(repr(n) for n in seg.names),
            )
        normal = candidates[0]
        notes.append(f"normal compartment: segment {normal!r} (the only one named 'normal')")
    if (lung is None) == (lung_shunt_fraction is None):
        raise InputError(
            "give either a lung segment or the planar lung shunt fraction"
            + (", not both" if lung is not None else ""),
            tag="--lung / --lung-shunt-fraction",
            fix="--lung NAME when the segmentation holds the lungs, else "
            "--lung-shunt-fraction F (planar LSF, e.g. 0.06)",
        )
    if not (math.isfinite(density_g_per_mL) and density_g_per_mL > 0):
        raise InputError(f"density {density_g_per_mL!r} g/mL", tag="density", fix="give > 0")
    tissues = {n: "tumor" for n in tumors}
    tissues.update({n: "other" for n in others})
    if lung is not None:
        tissues[lung] = "lung"
    tissues[normal] = "normal"
    if len(tissues) != len(tumors) + len(others) + 1 + (lung is not None):
        raise InputError("a segment is named for two compartments", tag="segment names")
    if not isinstance(spect, QuantitativeImage):
        spect = read_volume(spect, overrides={"units": units})
    if clip_negative:
        spect, clip_note = clip_negative_voxels(spect)
        notes += [clip_note] if clip_note else []
    counts_array, poisson = _spect_values(spect)
    report(progress, 0.2, "overlaps and occupancy")
    fine, overlap_notes = resolve_overlaps({n: seg.mask_array(n) for n in tissues}, tissues)
    notes += [f"segmentation grid: {n}" for n in overlap_notes]
    labels = np.zeros(seg.grid.GetSize()[::-1], dtype=np.uint16)
    for value, name in enumerate(tissues, start=1):
        if not fine[name].any():
            raise InputError(
                f"compartment {name!r} is empty (or wholly inside a higher-priority one)",
                path=seg.path,
                tag=f"segment {name}",
                fix="check the segment in Slicer",
            )
        labels[fine[name]] = value
    label_image = sitk.GetImageFromArray(labels)
    label_image.CopyInformation(seg.grid)
    weights, occ_notes = label_occupancy(
        label_image,
        {n: v for v, n in enumerate(tissues, start=1)},
        spect.image,
        source=seg.path,
    )
    notes += occ_notes
    seg_mL = seg.voxel_volume_mL
    comps, counts = [], {}
    for name, tissue in tissues.items():
        w = weights[name].astype(np.float64)
        volume = float(np.count_nonzero(fine[name])) * seg_mL
        outside = outside_fraction(fine[name], seg.grid, spect.image)
        if outside > MAX_OUTSIDE_FOV:
            raise GeometryError(
                f"compartment {name!r} lies {outside:.1%} outside the SPECT field of view: its "
                "MAA counts would be incomplete",
                path=seg.path,
                tag=f"segment {name}",
                fix="use a SPECT covering the whole compartment, or cut the segment to it",
            )
        counts[name] = float(np.sum(w * counts_array))
        mass = volume * density_g_per_mL
        source = f"segment {name!r} ({tissue}) of {Path(seg.path).name}; mass = volume x "
        source += f"{density_g_per_mL:g} g/mL (no CT)"
        if tissue == "lung":
            mass, source = CONVENTIONAL_LUNG_MASS_G, f"segment {name!r}; fixed lung mass"
            notes.append(
                f"lung {name!r}: conventional fixed mass {CONVENTIONAL_LUNG_MASS_G:g} g (no CT)"
            )
        comps.append(
            Compartment(
                name=name,
                tissue=tissue,
                mass_g=mass,
                counts=counts[name],
                volume_mL=volume,
                poisson_counts=poisson and lung_shunt_fraction is None,
                source=source,
            )
        )
    if lung_shunt_fraction is not None:
        f = _check_lsf(lung_shunt_fraction)
        liver_counts = sum(counts[n] for n, t in tissues.items() if t in ("tumor", "normal"))
        counts[PLANAR_LUNG] = f / (1.0 - f) * liver_counts
        tissues[PLANAR_LUNG] = "lung"
        comps.append(
            Compartment(
                name=PLANAR_LUNG,
                tissue="lung",
                mass_g=CONVENTIONAL_LUNG_MASS_G,
                counts=counts[PLANAR_LUNG],
                source=f"planar lung shunt fraction {f:g}; conventional lung mass "
                f"{CONVENTIONAL_LUNG_MASS_G:g} g",
            )
        )
        notes.append(
            f"lung from the planar lung shunt fraction {f:.3g}: lung counts set to "
            "F/(1-F) x (tumour + normal counts), lung mass 1000 g; no counting uncertainty "
            "is propagated"
        )
    total = float(counts_array.sum())
    inside = sum(v for k, v in counts.items() if k != PLANAR_LUNG)
    context = {
        "spect": (spect.meta.source_files or ("in memory",))[0],
        "spect_units": spect.meta.quantity.units,
        "structures": seg.path,
        "segments": {n: tissues[n] for n in tissues},
        "normal_role": normal_role,
        "lung_source": "planar lung shunt fraction" if lung is None else f"segment {lung!r}",
        "mass_rule": f"volume x {density_g_per_mL:g} g/mL (no CT); lung 1000 g",
        "total_spect_counts": total,
        "counts_outside_compartments_fraction": 1.0 - inside / total if total > 0 else 0.0,
    }
    report(progress, 0.6, "prescription")
    plan = plan_sirt(
        comps,
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
        notes=notes,
    )
    report(progress, 0.8, "predicted dose map")
    dose = predicted_dose_from_weights(spect, weights, plan, density_g_per_mL=density_g_per_mL)
    report(progress, 1.0, "plan done")
    return SirtFilesResult(plan, dose, spect, weights, counts, tissues)


def clip_negative_voxels(image: QuantitativeImage) -> tuple[QuantitativeImage, str | None]:
    """The image with negative voxels set to 0 and a note (``None`` when there were none)."""
    arr = sitk.GetArrayFromImage(image.image)
    negative = arr < 0
    if not negative.any():
        return image, None
    total = float(arr[~negative].sum(dtype=np.float64))
    lost = float(arr[negative].sum(dtype=np.float64))
    clipped = sitk.GetImageFromArray(np.where(negative, 0, arr).astype(arr.dtype))
    clipped.CopyInformation(image.image)
    note = (
        f"{int(negative.sum())} negative voxels (sum {lost:.4g}, {100 * -lost / total:.3g} % of "
        "the positive total) set to 0 (--clip-negative)"
    )
    return QuantitativeImage(clipped, image.meta), note


def outside_fraction(mask: np.ndarray, grid: sitk.Image, image: sitk.Image) -> float:
    """Fraction of the voxels of ``mask`` (boolean ``[k, j, i]`` on ``grid``) whose centres lie
    outside the field of view of ``image`` (its voxel edges), any directions."""
    kji = np.argwhere(mask)
    if kji.size == 0:
        return 0.0
    axes = np.reshape(grid.GetDirection(), (3, 3)) * np.asarray(grid.GetSpacing())
    points = np.asarray(grid.GetOrigin()) + kji[:, ::-1] @ axes.T
    target = np.reshape(image.GetDirection(), (3, 3)) * np.asarray(image.GetSpacing())
    index = np.linalg.solve(target, (points - np.asarray(image.GetOrigin())).T).T
    size = np.asarray(image.GetSize())
    inside = np.all((index >= -0.5) & (index <= size - 0.5), axis=1)
    return 1.0 - float(np.count_nonzero(inside)) / len(inside)


def predicted_dose_from_weights(
    spect: QuantitativeImage,
    weights: Mapping[str, np.ndarray],
    plan: SirtPlan,
    *,
    density_g_per_mL: float = DEFAULT_DENSITY_G_PER_ML,
) -> QuantitativeImage:
    """Predicted 90Y dose (Gy) on the SPECT grid from occupancy weights (module docstring):
    A_v = A f_i w_i,v C_v / Σ_v w_i,v C_v, Ã = A T½ / ln 2, local deposition at uniform
    density."""
    from ..dose.engines import local_deposition_dose_Gy
    from ..nuclide_data import get_emissions

    counts, _ = _spect_values(spect)
    activity = np.zeros_like(counts)
    total_MBq = plan.recommended_activity_GBq * 1000.0
    for name, w in weights.items():
        wc = w * counts
        s = float(wc.sum())
        if s > 0:
            activity += total_MBq * plan.partition.by_compartment[name].fraction * wc / s
    em = get_emissions("Y-90")
    tia = activity * em.half_life_h / math.log(2.0)
    dose = local_deposition_dose_Gy(
        tia, spect.image.GetSpacing(), em, density_g_per_mL=density_g_per_mL
    )
    image = sitk.GetImageFromArray(dose.astype(np.float32))
    image.CopyInformation(spect.image)
    meta = ImageMetadata(
        modality="RTDOSE",
        series_description=(
            f"90Y predicted dose ({plan.method}, {plan.recommended_activity_GBq:g} GBq)"
        ),
        frame_of_reference_uid=spect.meta.frame_of_reference_uid,
        patient=spect.meta.patient,
        administration=Administration(
            nuclide="Y-90",
            radiopharmaceutical="90Y microspheres",
            activity_MBq=total_MBq,
        ),
        quantity=QuantityInfo(units="Gy", units_source="SIRT plan from files, local deposition"),
        source_files=spect.meta.source_files,
    )
    return QuantitativeImage(image, meta)
