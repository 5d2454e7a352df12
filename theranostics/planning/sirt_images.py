"""From MAA SPECT/CT images and masks to partition-model compartments and dose maps.

- :func:`resolve_overlaps`: one owner per voxel, priority tumour > lung > other > normal (a
  normal-liver ROI usually contains the tumours; a lung ROI may contain a lung tumour), with a
  note of how many voxels moved; two compartments of the same tissue that overlap are refused.
- :func:`measure_compartments`: MAA counts on the SPECT grid, masses and volumes from the CT
  (HU -> density, :mod:`theranostics.dose.density`), on the CT grid when CT-grid masks are
  given (finer) or averaged onto the SPECT grid otherwise; the lung either by its CT density
  or with the conventional fixed 1000 g.
- :func:`predicted_activity_map_MBq` and :func:`predicted_dose_map`: the prescribed activity
  distributed like the MAA counts inside the compartments, then local deposition (the dose
  engine's :func:`~theranostics.dose.engines.local_deposition_dose_Gy`, mass from CT density).

Mass uncertainty: the mask boundary is taken as uncertain by ±half a voxel (uniform), so
σ_V = (V_dilated − V_eroded) / (2 √12) (one-voxel dilation/erosion, 6-connected), σ_m = ρ̄ σ_V.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..dose import density as dens
from ..dose.engines import local_deposition_dose_Gy
from ..errors import GeometryError, InputError, UnitsError
from ..image import QuantitativeImage
from ..metadata import Administration, ImageMetadata, QuantityInfo
from ..progress import ProgressCallback, report
from .sirt import CONVENTIONAL_LUNG_MASS_G
from .sirt_model import TISSUES, Compartment

#: Overlap priority: a voxel in several compartments belongs to the first tissue listed.
PRIORITY = ("tumor", "lung", "other", "normal")
#: SPECT units whose voxel sums are proportional to activity.
ACTIVITY_UNITS = ("counts", "cps", "Bq/mL")
#: A CT-grid mask may have at most this fraction of its voxels outside the SPECT field of view.
MAX_OUTSIDE_FOV = 0.01
LUNG_MASS_MODES = ("ct", "fixed")


def _same_grid(a: sitk.Image, b: sitk.Image, tol: float = 1e-3) -> bool:
    return (
        a.GetSize() == b.GetSize()
        and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=tol)
        and np.allclose(a.GetSpacing(), b.GetSpacing(), atol=tol)
        and np.allclose(a.GetDirection(), b.GetDirection(), atol=1e-5)
    )


def _arrays(masks: Mapping[str, sitk.Image], reference: sitk.Image, grid: str) -> dict:
    out = {}
    for name, mask in masks.items():
        if not _same_grid(mask, reference):
            raise GeometryError(
                f"mask {name!r} is not on the {grid} grid",
                tag=f"mask {name}",
                fix=f"rasterise/resample the mask onto the {grid} image",
            )
        out[name] = sitk.GetArrayViewFromImage(mask) > 0
    return out


def resolve_overlaps(
    masks: Mapping[str, np.ndarray], tissues: Mapping[str, str]
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Boolean masks with overlaps removed by :data:`PRIORITY`, and notes.

    Raises:
        InputError: a mask without a known tissue.
        GeometryError: two compartments of the same tissue overlap (ambiguous).
    """
    for name in masks:
        if tissues.get(name) not in TISSUES:
            raise InputError(
                f"compartment {name!r} has unknown tissue {tissues.get(name)!r}",
                tag="tissue",
                fix=f"give each mask one of {', '.join(TISSUES)}",
            )
    names = list(masks)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if tissues[a] == tissues[b] and np.any(masks[a] & masks[b]):
                raise GeometryError(
                    f"compartments {a!r} and {b!r} (both {tissues[a]}) overlap",
                    tag="masks",
                    fix="merge them into one compartment or make them disjoint",
                )
    taken = None
    out, notes = {}, []
    for tissue in PRIORITY:
        for name in (n for n in names if tissues[n] == tissue):
            m = np.asarray(masks[name], dtype=bool)
            if taken is None:
                taken = np.zeros_like(m)
            moved = int(np.count_nonzero(m & taken))
            if moved:
                notes.append(
                    f"{moved} voxels of {name!r} also belong to a higher-priority compartment "
                    f"(tumour > lung > other > normal) and were assigned to it"
                )
            out[name] = m & ~taken
            taken |= m
    return {n: out[n] for n in names}, notes


def _volume_sd_mL(mask: np.ndarray, voxel_mL: float) -> float:
    """σ_V from a ±half-voxel boundary uncertainty (module docstring), on a cropped box."""
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(axis=0) - 2, 0)
    hi = idx.max(axis=0) + 3
    box = mask[tuple(slice(a, b) for a, b in zip(lo, hi))]
    st = ndimage.generate_binary_structure(3, 1)
    dil = np.count_nonzero(ndimage.binary_dilation(box, st))
    ero = np.count_nonzero(ndimage.binary_erosion(box, st, border_value=0))
    return (dil - ero) * voxel_mL / (2.0 * math.sqrt(12.0))


@dataclass(frozen=True)
class MeasuredCompartments:
    """Compartments measured on images.

    Attributes:
        compartments: for :func:`~.sirt.plan_sirt`.
        masks: boolean arrays ``[k, j, i]`` on the SPECT grid, overlaps resolved.
        total_counts: the whole SPECT image summed (counts, cps·voxel or Bq).
        outside_fraction: share of ``total_counts`` outside every compartment.
        lung_mass: ``"ct"`` or ``"fixed"``.
        notes: findings (overlaps, fixed lung mass, counts outside ...).
    """

    compartments: tuple[Compartment, ...]
    masks: dict[str, np.ndarray]
    total_counts: float
    outside_fraction: float
    lung_mass: str
    notes: tuple[str, ...]


def _spect_values(spect: QuantitativeImage) -> tuple[np.ndarray, bool]:
    units = spect.meta.quantity.units
    if units not in ACTIVITY_UNITS:
        raise UnitsError(
            f"the MAA SPECT is in {units!r}, not counts or activity",
            path=(spect.meta.source_files or (None,))[0],
            tag="quantity.units",
            fix=f"give the SPECT in one of {', '.join(ACTIVITY_UNITS)}",
        )
    arr = sitk.GetArrayFromImage(spect.image).astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any() or (arr < 0).any():
        what = f"{int(bad.sum())} NaN/infinite" if bad.any() else f"{int((arr < 0).sum())} negative"
        raise InputError(
            f"the MAA SPECT has {what} voxels",
            path=(spect.meta.source_files or (None,))[0],
            tag="SPECT voxels",
            fix="use a reconstruction with non-negative finite counts (e.g. OSEM)",
        )
    if units == "Bq/mL":
        arr = arr * spect.voxel_volume_mL
    return arr, units == "counts"


def fov_on_grid(spect: sitk.Image, reference: sitk.Image) -> np.ndarray:
    """Boolean array on ``reference``'s grid: voxel centres inside the SPECT field of view."""
    ones = sitk.Image(spect.GetSize(), sitk.sitkUInt8) + 1
    ones.CopyInformation(spect)
    resampled = sitk.Resample(ones, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    return sitk.GetArrayFromImage(resampled) > 0


def _check_fov(name: str, mask: np.ndarray, in_fov: np.ndarray) -> None:
    n = np.count_nonzero(mask)
    outside = np.count_nonzero(mask & ~in_fov) / n if n else 0.0
    if outside > MAX_OUTSIDE_FOV:
        raise GeometryError(
            f"compartment {name!r} lies {outside:.1%} outside the SPECT field of view: its MAA "
            "counts would be incomplete",
            tag=f"mask {name}",
            fix="use a SPECT covering the whole compartment, or a mask cut to the field of view",
        )


def measure_compartments(
    spect: QuantitativeImage,
    ct: QuantitativeImage | None,
    masks: Mapping[str, sitk.Image],
    tissues: Mapping[str, str],
    *,
    ct_masks: Mapping[str, sitk.Image] | None = None,
    lung_mass: str = "ct",
    fixed_lung_mass_g: float = CONVENTIONAL_LUNG_MASS_G,
    hu_to_density=dens.DEFAULT_HU_TO_DENSITY,
    sources: Mapping[str, str] | None = None,
    progress: ProgressCallback | None = None,
) -> MeasuredCompartments:
    """Counts, masses, volumes and mass uncertainties of each compartment.

    Args:
        spect: MAA SPECT (counts, cps or Bq/mL).
        ct: CT in HU of the same frame of reference (masses).
        masks: compartment name -> mask on the SPECT grid.
        tissues: compartment name -> one of :data:`~.sirt_model.TISSUES`.
        ct_masks: the same compartments on the CT grid (masses measured there; also checks
            that each lies inside the SPECT field of view). ``None``: masses on the SPECT grid.
        lung_mass: ``"ct"`` (Σ ρ V over the lung mask) or ``"fixed"`` (``fixed_lung_mass_g``,
            the conventional 1 kg of the planar LSF method).
        hu_to_density: (HU, g/mL) calibration points.
        sources: compartment name -> provenance text.
        progress: progress callback.

    Raises:
        InputError: missing CT (masses), SPECT not in activity units, NaN/negative counts,
            unknown tissue, empty compartment, masks not on their grids, overlap of two
            compartments of one tissue, a compartment outside the SPECT field of view.
    """
    if not masks:
        raise InputError("no compartment masks given", tag="masks", fix="give at least one")
    if ct is None:
        raise InputError(
            "no CT: compartment masses cannot be measured",
            tag="CT",
            fix="give the CT of the SPECT/CT study (or masses in calculator mode)",
        )
    if ct.meta.quantity.units != "HU":
        raise UnitsError(
            f"the CT is in {ct.meta.quantity.units!r}, not HU",
            tag="CT units",
            fix="give the CT in Hounsfield units",
        )
    if lung_mass not in LUNG_MASS_MODES:
        raise InputError(f"unknown lung mass mode {lung_mass!r}", fix="use 'ct' or 'fixed'")
    counts, poisson = _spect_values(spect)
    report(progress, 0.05, "compartment masks")
    spect_masks, notes = resolve_overlaps(_arrays(masks, spect.image, "SPECT"), tissues)
    for name, m in spect_masks.items():
        if not m.any():
            raise InputError(
                f"compartment {name!r} has no voxel on the SPECT grid (empty, or wholly taken "
                "by a higher-priority compartment)",
                tag=f"mask {name}",
                fix="check the ROI and that it lies in the SPECT field of view",
            )
    if ct_masks is not None:
        if set(ct_masks) != set(masks):
            raise InputError(
                "CT-grid masks and SPECT-grid masks name different compartments",
                tag="ct_masks",
                fix="give the same compartments on both grids",
            )
        grid_masks, _ = resolve_overlaps(_arrays(ct_masks, ct.image, "CT"), tissues)
        in_fov = fov_on_grid(spect.image, ct.image)
        for name, m in grid_masks.items():
            _check_fov(name, m, in_fov)
        rho = dens.hu_to_density_g_per_mL(sitk.GetArrayViewFromImage(ct.image), hu_to_density)
        voxel_mL = math.prod(ct.image.GetSpacing()) / 1000.0
    else:
        grid_masks = spect_masks
        rho = dens.density_on_grid(ct.image, spect.image, table=hu_to_density)
        voxel_mL = spect.voxel_volume_mL
    lungs = [n for n in masks if tissues[n] == "lung"]
    if lung_mass == "fixed" and len(lungs) != 1:
        raise InputError(
            f"the fixed lung mass needs exactly one lung compartment, got {len(lungs)}",
            tag="lung_mass",
            fix="merge the lungs into one compartment, or use lung_mass='ct'",
        )
    comps = []
    sources = dict(sources or {})
    for index, (name, m) in enumerate(grid_masks.items()):
        report(progress, 0.1 + 0.8 * index / len(grid_masks), f"measuring {name}")
        n_vox = int(np.count_nonzero(m))
        if n_vox == 0:
            raise InputError(f"compartment {name!r} is empty on the CT grid", tag=f"mask {name}")
        volume = n_vox * voxel_mL
        mass = float(np.sum(rho[m])) * voxel_mL
        mass_sd = _volume_sd_mL(m, voxel_mL) * mass / volume
        src = (
            sources.get(name, "mask")
            + f"; mass from CT on the {'CT' if ct_masks else 'SPECT'} grid"
        )
        if tissues[name] == "lung" and lung_mass == "fixed":
            notes.append(
                f"lung {name!r}: conventional fixed mass {fixed_lung_mass_g:g} g used (CT-derived "
                f"{mass:.0f} g, mean density {mass / volume:.3f} g/mL)"
            )
            mass, mass_sd, src = fixed_lung_mass_g, None, sources.get(name, "mask") + "; fixed mass"
        comps.append(
            Compartment(
                name=name,
                tissue=tissues[name],
                mass_g=mass,
                counts=float(np.sum(counts[spect_masks[name]])),
                volume_mL=volume,
                mass_sd_g=mass_sd,
                poisson_counts=poisson,
                source=src,
            )
        )
    total = float(counts.sum())
    inside = sum(c.counts for c in comps)
    outside = 1.0 - inside / total if total > 0 else 0.0
    notes.append(
        f"{outside:.1%} of the SPECT counts lie outside every compartment and are not assigned "
        "activity (fractions are shares of the counts inside the compartments)"
    )
    report(progress, 1.0, "compartments measured")
    return MeasuredCompartments(tuple(comps), spect_masks, total, outside, lung_mass, tuple(notes))


def predicted_activity_map_MBq(
    spect: QuantitativeImage, masks: Mapping[str, np.ndarray], plan
) -> sitk.Image:
    """90Y activity per voxel (MBq) on the SPECT grid for the plan's recommended activity.

    A_v = A · f_i · C_v / C_i for a voxel v of compartment i (zero outside the compartments),
    so Σ_v A_v = A · Σ f_i = A (minus the unassigned fraction of calculator-mode plans).
    """
    counts, _ = _spect_values(spect)
    out = np.zeros_like(counts)
    total_MBq = plan.recommended_activity_GBq * 1000.0
    for name, m in masks.items():
        f = plan.partition.by_compartment[name].fraction
        c = counts[m]
        if c.sum() > 0:
            out[m] = total_MBq * f * c / c.sum()
    image = sitk.GetImageFromArray(out)
    image.CopyInformation(spect.image)
    return image


def predicted_dose_map(
    spect: QuantitativeImage,
    ct: QuantitativeImage,
    masks: Mapping[str, np.ndarray],
    plan,
    *,
    hu_to_density=dens.DEFAULT_HU_TO_DENSITY,
    progress: ProgressCallback | None = None,
) -> QuantitativeImage:
    """Predicted 90Y absorbed dose (Gy) on the SPECT grid, local deposition.

    TIA_v = A_v · T½ / ln 2 (complete decay in place), then
    :func:`~theranostics.dose.engines.local_deposition_dose_Gy` with the voxel density from
    the CT averaged onto the SPECT grid; voxels of a compartment below the body density
    threshold (0.05 g/mL) take that density (noted in ``meta.problems``).
    """
    from ..nuclide_data import get_emissions

    report(progress, 0.0, "predicted activity")
    activity = sitk.GetArrayFromImage(predicted_activity_map_MBq(spect, masks, plan))
    report(progress, 0.2, "density on the SPECT grid")
    rho = dens.density_on_grid(ct.image, spect.image, table=hu_to_density)
    inside = np.zeros(activity.shape, dtype=bool)
    for m in masks.values():
        inside |= m
    low = inside & (rho < dens.AIR_THRESHOLD_G_PER_ML)
    rho = np.where(low, dens.AIR_THRESHOLD_G_PER_ML, rho)
    tia = activity * get_emissions("Y-90").half_life_h / math.log(2.0)
    report(progress, 0.7, "local deposition")
    dose = local_deposition_dose_Gy(tia, spect.image.GetSpacing(), "Y-90", density_g_per_mL=rho)
    image = sitk.GetImageFromArray(dose.astype(np.float32))
    image.CopyInformation(spect.image)
    problems = []
    if low.any():
        problems.append(f"{int(low.sum())} compartment voxels below 0.05 g/mL set to 0.05 g/mL")
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
            activity_MBq=plan.recommended_activity_GBq * 1000.0,
        ),
        quantity=QuantityInfo(units="Gy", units_source="SIRT plan, local deposition"),
        source_files=spect.meta.source_files,
        problems=tuple(problems),
    )
    report(progress, 1.0, "done")
    return QuantitativeImage(image, meta)
