"""CT numbers to mass density, density on the dose grid, and density scaling of dose.

HU → density: a piecewise-linear calibration through tabulated (HU, g/mL) points. The default
is a generic bilinear curve for a 120 kVp CT: air (−1000 HU, 0.0012 g/mL), water (0 HU,
1.0 g/mL), cortical bone (+1500 HU, 1.92 g/mL), extended linearly to +3000 HU; it follows the
stoichiometric calibrations of Schneider et al. (1996, Phys Med Biol 41:111) within a few per
cent for soft tissue and lung, and should be replaced by the scanner's own calibration
(pass ``table``) for bone and for other tube voltages.

Density scaling (dose to medium): the water kernel gives the energy deposited in each voxel;
dividing by the actual voxel mass ρV instead of the water mass gives

    D_medium(x) = D_water(x) · ρ_water / ρ(x).

This is the standard first-order density correction of kernel convolution (e.g. Dieudonné
et al. 2013, J Nucl Med 54:236; Sanchez-Garcia et al. 2014, Med Phys 41:062504). It does
not scale electron ranges or photon attenuation with density, so it is approximate within a
few mm of lung and bone interfaces. Voxels below ``air_threshold_g_per_mL`` (outside the
patient, gas) are given zero dose: dose to air is not a dosimetric quantity here.
"""

from __future__ import annotations

import math

import numpy as np
import SimpleITK as sitk

from ..errors import GeometryError, InputError
from ..image import overlap_fraction
from ..progress import ProgressCallback, report

#: Default HU → density calibration points (HU, g/mL); see module docstring.
DEFAULT_HU_TO_DENSITY = ((-1000.0, 0.0012), (0.0, 1.0), (1500.0, 1.92), (3000.0, 2.84))
#: Densities below this (g/mL) are treated as outside the body (dose set to 0).
AIR_THRESHOLD_G_PER_ML = 0.05
#: Voxels per slab of :func:`density_on_grid` (a progress call per slab; about 0.1 s each).
SLAB_VOXELS = 2_000_000


def hu_to_density_g_per_mL(hu, table=DEFAULT_HU_TO_DENSITY) -> np.ndarray:
    """Mass density (g/mL) from CT numbers by piecewise-linear interpolation of ``table``.

    Values outside the table are clamped to its end densities.

    Raises:
        InputError: a table that is not increasing in HU or has non-positive densities.
    """
    t = np.asarray(table, dtype=float)
    if t.ndim != 2 or t.shape[1] != 2 or t.shape[0] < 2 or np.any(np.diff(t[:, 0]) <= 0):
        raise InputError(
            "HU-to-density table must be (HU, g/mL) pairs with increasing HU",
            tag="hu_to_density",
            fix="give at least two points, e.g. ((-1000, 0.0012), (0, 1.0), (1500, 1.92))",
        )
    if np.any(t[:, 1] <= 0):
        raise InputError("densities in the HU table must be > 0", tag="hu_to_density")
    return np.interp(np.asarray(hu, dtype=float), t[:, 0], t[:, 1])


def check_overlap(ct: sitk.Image, reference: sitk.Image, *, path=None) -> float:
    """Fraction of ``reference``'s extent covered by the CT; raises if they do not overlap.

    Raises:
        GeometryError: the CT and the activity grid share less than 1 % of the activity extent.
    """
    fraction = overlap_fraction(reference, ct)
    if fraction < 0.01:
        raise GeometryError(
            f"the CT and the activity image do not overlap ({fraction:.1%} of the activity "
            "image lies inside the CT)",
            path=path,
            tag="ImagePositionPatient / origin",
            fix="give the CT of the same study, registered to the SPECT/PET "
            "(same frame of reference)",
        )
    return fraction


def density_on_grid(
    ct: sitk.Image,
    reference: sitk.Image,
    *,
    table=DEFAULT_HU_TO_DENSITY,
    outside_density_g_per_mL: float = 0.0012,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """Mean mass density (g/mL) of each voxel of ``reference``, from a CT in HU.

    The CT is converted to density on its own grid, then averaged over each reference voxel
    by sampling the reference grid ``f`` times finer along each axis (``f`` from the ratio of
    voxel sizes) with linear interpolation and taking block means: mass-consistent, unlike
    point sampling. Outside the CT the density is ``outside_density_g_per_mL`` (air).

    Both steps run in slabs of about :data:`SLAB_VOXELS` voxels (CT slices, then reference
    slices), with a ``progress`` call before each (a raised
    :class:`~theranostics.progress.Cancelled` stops there); each sampled point is the same
    as in one whole-grid resampling.

    Returns:
        Array indexed [k, j, i] on the reference grid.
    """
    check_overlap(ct, reference)
    hu = sitk.GetArrayViewFromImage(ct)
    rho = np.empty(hu.shape, dtype=np.float32)
    step = max(1, SLAB_VOXELS // max(1, hu.shape[1] * hu.shape[2]))
    for k0 in range(0, hu.shape[0], step):
        report(progress, 0.3 * k0 / hu.shape[0], "density: CT numbers to g/mL")
        rho[k0 : k0 + step] = hu_to_density_g_per_mL(hu[k0 : k0 + step], table)
    density = sitk.GetImageFromArray(rho)
    density.CopyInformation(ct)
    ratio = np.array(reference.GetSpacing()) / np.array(ct.GetSpacing())
    factors = [max(1, min(8, math.ceil(r))) for r in ratio]
    spacing = [sp / f for sp, f in zip(reference.GetSpacing(), factors)]
    direction = np.array(reference.GetDirection()).reshape(3, 3)
    # First fine voxel centre: shift from the reference voxel centre by -(f-1)/2 fine voxels.
    shift = direction @ (-(np.array(factors) - 1) / 2.0 * np.array(spacing))
    origin = np.array(reference.GetOrigin()) + shift
    fk, fj, fi = factors[2], factors[1], factors[0]
    nk, nj, ni = reference.GetSize()[2], reference.GetSize()[1], reference.GetSize()[0]
    out = np.empty((nk, nj, ni), dtype=np.float64)
    slab = max(1, SLAB_VOXELS // max(1, nj * fj * ni * fi * fk))  # reference slices per slab
    for k0 in range(0, nk, slab):
        k1 = min(nk, k0 + slab)
        report(progress, 0.3 + 0.7 * k0 / nk, f"density on the dose grid: slices {k0}-{k1 - 1}")
        fine = sitk.Image([ni * fi, nj * fj, (k1 - k0) * fk], sitk.sitkFloat32)
        fine.SetSpacing(spacing)
        fine.SetDirection(reference.GetDirection())
        fine.SetOrigin(tuple(origin + direction @ np.array([0.0, 0.0, k0 * fk * spacing[2]])))
        sampled = sitk.Resample(
            density,
            fine,
            sitk.Transform(),
            sitk.sitkLinear,
            outside_density_g_per_mL,
            sitk.sitkFloat32,
        )
        arr = sitk.GetArrayViewFromImage(sampled)
        out[k0:k1] = arr.reshape(k1 - k0, fk, nj, fj, ni, fi).mean(axis=(1, 3, 5), dtype=np.float64)
    return out


def density_scaled_dose_Gy(
    dose_water_Gy, density_g_per_mL, *, air_threshold_g_per_mL: float = AIR_THRESHOLD_G_PER_ML
) -> np.ndarray:
    """Dose to medium from dose to water: D · 1.0 / ρ, zero where ρ < the air threshold."""
    rho = np.asarray(density_g_per_mL, dtype=float)
    d = np.asarray(dose_water_Gy, dtype=float)
    if rho.shape != d.shape:
        raise GeometryError(
            f"density grid {rho.shape} differs from dose grid {d.shape}",
            tag="density",
            fix="resample the CT onto the dose grid (density_on_grid)",
        )
    out = np.zeros_like(d)
    body = rho >= air_threshold_g_per_mL
    out[body] = d[body] / rho[body]
    return out
