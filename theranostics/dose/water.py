"""Interaction data for water (the reference medium of the kernels).

Photon mass attenuation and mass energy-absorption coefficients of liquid water from the NIST
tables of Hubbell & Seltzer (1995, NISTIR 5632, "Tables of X-ray mass attenuation coefficients
and mass energy-absorption coefficients", Table 4, water, liquid), entered here as physical
facts at the tabulated energies and interpolated log-log.

Electron continuous-slowing-down (CSDA) ranges of liquid water from NIST ESTAR (Berger,
Coursey, Zucker & Chang; ICRU Report 37, 1984), entered at a selection of energies and
interpolated log-log; the stopping power is taken as dE/dR of that interpolant, so that range
and energy loss are consistent by construction.
"""

from __future__ import annotations

import numpy as np

#: Joules per MeV (exact, SI 2019).
J_PER_MeV = 1.602176634e-13
#: Density of water, g/mL (= g/cm^3).
WATER_DENSITY_G_PER_ML = 1.0

# Hubbell & Seltzer (NISTIR 5632), water, liquid: energy MeV, mu/rho cm^2/g, mu_en/rho cm^2/g.
_PHOTON_TABLE = np.array(
    [
        [1.0e-3, 4.078e3, 4.065e3],
        [1.5e-3, 1.376e3, 1.372e3],
        [2.0e-3, 6.173e2, 6.152e2],
        [3.0e-3, 1.929e2, 1.917e2],
        [4.0e-3, 8.278e1, 8.191e1],
        [5.0e-3, 4.258e1, 4.188e1],
        [6.0e-3, 2.464e1, 2.405e1],
        [8.0e-3, 1.037e1, 9.915e0],
        [1.0e-2, 5.329e0, 4.944e0],
        [1.5e-2, 1.673e0, 1.374e0],
        [2.0e-2, 8.096e-1, 5.503e-1],
        [3.0e-2, 3.756e-1, 1.557e-1],
        [4.0e-2, 2.683e-1, 6.947e-2],
        [5.0e-2, 2.269e-1, 4.223e-2],
        [6.0e-2, 2.059e-1, 3.190e-2],
        [8.0e-2, 1.837e-1, 2.597e-2],
        [1.0e-1, 1.707e-1, 2.546e-2],
        [1.5e-1, 1.505e-1, 2.764e-2],
        [2.0e-1, 1.370e-1, 2.967e-2],
        [3.0e-1, 1.186e-1, 3.192e-2],
        [4.0e-1, 1.061e-1, 3.279e-2],
        [5.0e-1, 9.687e-2, 3.299e-2],
        [6.0e-1, 8.956e-2, 3.284e-2],
        [8.0e-1, 7.865e-2, 3.206e-2],
        [1.0e0, 7.072e-2, 3.103e-2],
        [1.25e0, 6.323e-2, 2.965e-2],
        [1.5e0, 5.754e-2, 2.833e-2],
        [2.0e0, 4.942e-2, 2.608e-2],
        [3.0e0, 3.969e-2, 2.281e-2],
        [4.0e0, 3.403e-2, 2.066e-2],
        [5.0e0, 3.031e-2, 1.915e-2],
        [6.0e0, 2.770e-2, 1.806e-2],
        [8.0e0, 2.429e-2, 1.658e-2],
        [1.0e1, 2.219e-2, 1.566e-2],
    ]
)

# NIST ESTAR, water, liquid: kinetic energy MeV, CSDA range g/cm^2.
_ELECTRON_RANGE_TABLE = np.array(
    [
        [1.0e-2, 2.515e-4],
        [1.5e-2, 5.147e-4],
        [2.0e-2, 8.573e-4],
        [3.0e-2, 1.759e-3],
        [4.0e-2, 2.932e-3],
        [5.0e-2, 4.320e-3],
        [6.0e-2, 5.917e-3],
        [8.0e-2, 9.704e-3],
        [1.0e-1, 1.431e-2],
        [1.5e-1, 2.817e-2],
        [2.0e-1, 4.488e-2],
        [3.0e-1, 8.421e-2],
        [4.0e-1, 1.288e-1],
        [5.0e-1, 1.766e-1],
        [6.0e-1, 2.265e-1],
        [8.0e-1, 3.290e-1],
        [1.0e0, 4.367e-1],
        [1.25e0, 5.723e-1],
        [1.5e0, 7.084e-1],
        [2.0e0, 9.785e-1],
        [2.5e0, 1.244e0],
        [3.0e0, 1.506e0],
        [4.0e0, 2.019e0],
        [5.0e0, 2.518e0],
    ]
)

#: Lowest photon energy with attenuation data; lower-energy photons are absorbed locally.
PHOTON_MIN_MeV = float(_PHOTON_TABLE[0, 0])
#: Lowest electron energy with a tabulated range (2.5 µm); lower-energy electrons are local.
ELECTRON_MIN_MeV = float(_ELECTRON_RANGE_TABLE[0, 0])


def _loglog(x, xp, fp):
    return np.exp(np.interp(np.log(x), np.log(xp), np.log(fp)))


def photon_mu_per_mm(energy_MeV, density_g_per_mL: float = 1.0) -> np.ndarray:
    """Linear attenuation coefficient µ of water at ``density_g_per_mL``, in 1/mm.

    Log-log interpolation of Hubbell & Seltzer (1995); energies clamped to 1 keV–10 MeV.
    """
    e = np.clip(np.asarray(energy_MeV, dtype=float), _PHOTON_TABLE[0, 0], _PHOTON_TABLE[-1, 0])
    return _loglog(e, _PHOTON_TABLE[:, 0], _PHOTON_TABLE[:, 1]) * density_g_per_mL / 10.0


def photon_mu_en_per_mm(energy_MeV, density_g_per_mL: float = 1.0) -> np.ndarray:
    """Linear energy-absorption coefficient µ_en of water, in 1/mm (Hubbell & Seltzer 1995)."""
    e = np.clip(np.asarray(energy_MeV, dtype=float), _PHOTON_TABLE[0, 0], _PHOTON_TABLE[-1, 0])
    return _loglog(e, _PHOTON_TABLE[:, 0], _PHOTON_TABLE[:, 2]) * density_g_per_mL / 10.0


def electron_csda_range_mm(energy_MeV, density_g_per_mL: float = 1.0) -> np.ndarray:
    """CSDA range of electrons of kinetic energy ``energy_MeV`` in water, in mm (ESTAR).

    Below 10 keV the range is extrapolated as R ∝ E^1.7 (slope of the ESTAR table there);
    these ranges (< 2.5 µm) only matter as "local".
    """
    e = np.asarray(energy_MeV, dtype=float)
    tab = _ELECTRON_RANGE_TABLE
    lo = e < tab[0, 0]
    out = _loglog(np.clip(e, tab[0, 0], tab[-1, 0]), tab[:, 0], tab[:, 1])
    slope = np.log(tab[1, 1] / tab[0, 1]) / np.log(tab[1, 0] / tab[0, 0])
    out = np.where(lo, tab[0, 1] * (np.maximum(e, 1e-12) / tab[0, 0]) ** slope, out)
    return out * 10.0 / density_g_per_mL


def electron_energy_at_range_MeV(range_mm, density_g_per_mL: float = 1.0) -> np.ndarray:
    """Kinetic energy (MeV) of an electron whose CSDA range in water is ``range_mm``.

    The inverse of :func:`electron_csda_range_mm`; 0 for a zero range.
    """
    r = np.asarray(range_mm, dtype=float) * density_g_per_mL / 10.0
    tab = _ELECTRON_RANGE_TABLE
    slope = np.log(tab[1, 1] / tab[0, 1]) / np.log(tab[1, 0] / tab[0, 0])
    safe = np.maximum(r, 1e-30)
    inside = _loglog(np.clip(safe, tab[0, 1], tab[-1, 1]), tab[:, 1], tab[:, 0])
    below = tab[0, 0] * (safe / tab[0, 1]) ** (1.0 / slope)
    return np.where(r <= 0, 0.0, np.where(r < tab[0, 1], below, inside))
