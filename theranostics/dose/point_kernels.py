"""Radial energy-deposition profiles around a point source in water (point kernels).

Each function returns a *cumulative* profile: the energy (or fraction of the emitted energy)
deposited inside a sphere of radius ``r`` around an isotropic point source in an infinite
water medium. Voxel S-values (:mod:`.kernels`) and sphere absorbed fractions
(:mod:`.svalues`) are built from these profiles.

Electrons (monoenergetic, energy E0, CSDA range R0 from ESTAR). The energy lost along the path
follows the continuous-slowing-down approximation: after a path length s the electron has
lost E0 - E(R0 - s), where E(R) inverts the CSDA range (:mod:`.water`). Multiple scattering
makes the radial distance reached after a path s shorter than s and spread out. With
t = s/R0, the radial distance reached is modelled as a Gaussian (folded at r = 0) of mean
m(t) R0 and standard deviation w(t) R0,

    m(t) = t (1 - a t^b),    w(t) = c t^d,

with a and c varying with ln E0 (:data:`PENETRATION_FIT`). The radial path is straight at
first (m ≈ t for small t) and the spread grows along the track. The six constants were
fitted by least squares to published Monte Carlo scaled dose point kernels of monoenergetic
electrons in water at 0.1, 0.5 and 1 MeV (ETRAN, Seltzer 1991 Appl Radiat Isot 42:917, as
tabulated by Ferrer et al. 2007 Cancer Biother Radiopharm 22:125) and at 0.1 and 1 MeV
(EGSnrc/EDKnrc, Mainegra-Hing et al. 2005 Med Phys 32:685); the values are in
:mod:`.published_kernels` and the fit is redone by ``benchmarks/kernel_accuracy.py``.
Outside 0.1-1 MeV the energy dependence is held at the end values (the scaled kernels change
little with energy). Energy is conserved exactly: every profile ends at the emitted energy.
Beta emitters are integrated over the ICRP 107 beta spectrum.

Photons (line of energy E). Uncollided-plus-scattered energy absorption with a linear
build-up factor B(µr) = 1 + C µr, the Berger form B = 1 + C µr e^(D µr) with D = 0 (Berger
1968, MIRD Pamphlet 2): the energy deposited per unit radius is
E µ_en e^(-µr) (1 + C µr), and C = µ/µ_en - 1 makes the integral over all space equal to E
(all photon energy is absorbed in an infinite medium). µ and µ_en from Hubbell & Seltzer.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

from .water import (
    ELECTRON_MIN_MeV,
    PHOTON_MIN_MeV,
    electron_csda_range_mm,
    electron_energy_at_range_MeV,
    photon_mu_en_per_mm,
    photon_mu_per_mm,
)

#: Radial penetration model of electrons in water (see module docstring): m(t) = t (1 - A t^b)
#: and w(t) = C t^d with A = a + a_log ln(E/MeV) and C = c + c_log ln(E/MeV), ln E clipped to
#: :data:`PENETRATION_FIT_RANGE_MeV`. Least-squares fit to the published scaled dose point
#: kernels of :mod:`.published_kernels` (``benchmarks/kernel_accuracy.py``).
PENETRATION_FIT = {
    "a": 0.2408,
    "a_log": -0.0108,
    "b": 1.0857,
    "c": 0.1244,
    "c_log": -0.0100,
    "d": 0.7389,
}
#: Energies (MeV) of the dose point kernels the penetration model was fitted to.
PENETRATION_FIT_RANGE_MeV = (0.1, 1.0)
_N_PATH = 120


def radial_penetration(t, energy_MeV: float, params: dict | None = None):
    """Mean and spread of the radial distance reached after a fraction ``t`` of the CSDA range.

    Args:
        t: path length over the CSDA range R0 (0-1, array).
        energy_MeV: initial kinetic energy, MeV.
        params: model constants (default :data:`PENETRATION_FIT`).

    Returns:
        ``(mean, sigma)``: arrays like ``t``, in units of R0.
    """
    p = PENETRATION_FIT if params is None else params
    lo, hi = PENETRATION_FIT_RANGE_MeV
    log_e = math.log(min(max(float(energy_MeV), lo), hi))
    t = np.asarray(t, dtype=float)
    mean = t * (1.0 - (p["a"] + p["a_log"] * log_e) * t ** p["b"])
    sigma = (p["c"] + p["c_log"] * log_e) * t ** p["d"]
    return mean, sigma


def max_penetration_fraction(params: dict | None = None) -> float:
    """Largest mean + 4 sigma of :func:`radial_penetration` over energies and path, in R0."""
    t = np.linspace(0.0, 1.0, 201)
    out = 0.0
    for e in PENETRATION_FIT_RANGE_MeV:
        mean, sigma = radial_penetration(t, e, params)
        out = max(out, float(np.max(mean + 4.0 * sigma)))
    return out


def electron_cumulative_fraction(
    r_mm, energy_MeV: float, density_g_per_mL: float = 1.0, params: dict | None = None
):
    """Fraction of the kinetic energy of a monoenergetic electron deposited within ``r_mm``.

    Args:
        r_mm: radii, mm (array).
        energy_MeV: initial kinetic energy, MeV.
        density_g_per_mL: density of the water-like medium (ranges scale as 1/density).
        params: penetration model constants (default :data:`PENETRATION_FIT`; for fitting).

    Returns:
        Array like ``r_mm`` rising from 0 at r = 0 to 1 (electrons below 10 keV: 1 for r > 0).
    """
    r = np.asarray(r_mm, dtype=float)
    if energy_MeV < ELECTRON_MIN_MeV:
        return np.where(r > 0, 1.0, 0.0)
    r0 = float(electron_csda_range_mm(energy_MeV, density_g_per_mL))
    # Path samples: finer near the end of the track where the energy loss rate rises.
    u_edges = 1.0 - np.linspace(0.0, 1.0, _N_PATH + 1) ** 2
    u_edges = np.sort(u_edges)
    residual = electron_energy_at_range_MeV(r0 * (1.0 - u_edges), density_g_per_mL)
    d_energy = -np.diff(residual)  # energy lost on each path segment, MeV
    d_energy *= energy_MeV / d_energy.sum()
    t_mid = 0.5 * (u_edges[1:] + u_edges[:-1])
    mean, sigma = radial_penetration(t_mid, energy_MeV, params)
    mean = mean * r0
    sigma = np.maximum(sigma * r0, 1e-9)
    rr = r.reshape(-1, 1)
    inside = ndtr((rr - mean) / sigma) - ndtr((-rr - mean) / sigma)
    return (inside @ d_energy).reshape(r.shape) / energy_MeV


def scaled_point_kernel(x, energy_MeV: float, bin_width: float, params: dict | None = None):
    """Scaled dose point kernel J(x) of a monoenergetic electron in water, bin means.

    J is the fraction of the initial energy deposited per unit x = r/r0 (r0 the CSDA range),
    averaged over the bins [x - w/2, x + w/2] (clipped at 0), the form in which Monte Carlo
    point kernels are published (:mod:`.published_kernels`).

    Args:
        x: bin centres, in units of r0.
        energy_MeV: electron energy, MeV.
        bin_width: bin width w, in units of r0.
        params: penetration model constants (default :data:`PENETRATION_FIT`).
    """
    x = np.asarray(x, dtype=float)
    lo = np.maximum(x - 0.5 * bin_width, 0.0)
    hi = x + 0.5 * bin_width
    r0 = float(electron_csda_range_mm(energy_MeV))
    f_hi = electron_cumulative_fraction(hi * r0, energy_MeV, params=params)
    f_lo = electron_cumulative_fraction(lo * r0, energy_MeV, params=params)
    return (f_hi - f_lo) / (hi - lo)


def beta_cumulative_MeV(r_mm, energy_MeV, number_per_MeV, density_g_per_mL: float = 1.0):
    """Beta energy (MeV per decay) deposited within ``r_mm``, integrated over a spectrum.

    Args:
        r_mm: radii, mm.
        energy_MeV, number_per_MeV: the beta spectrum (betas per MeV per decay).

    Returns:
        Cumulative energy, MeV per decay; its limit is ∫ E N(E) dE.
    """
    e = np.asarray(energy_MeV, dtype=float)
    n = np.asarray(number_per_MeV, dtype=float)
    # Trapezoid weights of E·N(E) on the tabulated grid, regrouped on <= 64 energy bins.
    w = np.zeros_like(e)
    de = np.diff(e)
    w[:-1] += 0.5 * de * e[:-1] * n[:-1]
    w[1:] += 0.5 * de * e[1:] * n[1:]
    edges = np.geomspace(max(e[e > 0].min(), 1e-4), e.max() * 1.0001, 65)
    idx = np.clip(np.searchsorted(edges, e, side="right") - 1, 0, 63)
    bin_energy = np.bincount(idx, weights=w, minlength=64)
    bin_mean = np.bincount(idx, weights=w * e, minlength=64)
    keep = bin_energy > 0
    centres = bin_mean[keep] / bin_energy[keep]
    r = np.asarray(r_mm, dtype=float)
    out = np.zeros_like(r)
    for centre, energy in zip(centres, bin_energy[keep]):
        out += energy * electron_cumulative_fraction(r, centre, density_g_per_mL)
    return out


def electron_lines_cumulative_MeV(r_mm, lines, density_g_per_mL: float = 1.0):
    """Energy (MeV per decay) within ``r_mm`` from discrete electron lines ``(E_MeV, yield)``.

    Lines are grouped on a logarithmic energy grid (energy-weighted mean per group).
    """
    r = np.asarray(r_mm, dtype=float)
    lines = np.asarray(lines, dtype=float).reshape(-1, 2)
    out = np.zeros_like(r)
    if lines.size == 0:
        return out
    energy = lines[:, 0] * lines[:, 1]
    local = lines[:, 0] < ELECTRON_MIN_MeV
    out += np.where(r > 0, energy[local].sum(), 0.0)
    far = lines[~local]
    if far.size:
        edges = np.geomspace(ELECTRON_MIN_MeV, far[:, 0].max() * 1.0001, 41)
        idx = np.clip(np.searchsorted(edges, far[:, 0], side="right") - 1, 0, 39)
        e_sum = np.bincount(idx, weights=far[:, 0] * far[:, 1], minlength=40)
        e_mom = np.bincount(idx, weights=far[:, 0] ** 2 * far[:, 1], minlength=40)
        for k in np.flatnonzero(e_sum > 0):
            out += e_sum[k] * electron_cumulative_fraction(r, e_mom[k] / e_sum[k], density_g_per_mL)
    return out


def photon_cumulative_fraction(r_mm, energy_MeV: float, density_g_per_mL: float = 1.0):
    """Fraction of a photon line's energy absorbed within ``r_mm`` (point source, water).

    Closed form of ∫0^r µ_en e^(-µr') (1 + C µr') dr' with C = µ/µ_en - 1:
    (µ_en/µ) [(1 - e^-x) + C (1 - e^-x (1 + x))], x = µ r. Tends to 1 as r → ∞.
    Photons below 1 keV are absorbed locally.
    """
    r = np.asarray(r_mm, dtype=float)
    if energy_MeV < PHOTON_MIN_MeV:
        return np.where(r > 0, 1.0, 0.0)
    mu = float(photon_mu_per_mm(energy_MeV, density_g_per_mL))
    mu_en = float(photon_mu_en_per_mm(energy_MeV, density_g_per_mL))
    c = mu / mu_en - 1.0
    x = mu * r
    ex = np.exp(-x)
    return (mu_en / mu) * ((1.0 - ex) + c * (1.0 - ex * (1.0 + x)))


def photon_lines_cumulative_MeV(r_mm, lines, density_g_per_mL: float = 1.0):
    """Photon energy (MeV per decay) absorbed within ``r_mm`` from lines ``(E_MeV, yield)``."""
    r = np.asarray(r_mm, dtype=float)
    out = np.zeros_like(r)
    for e, y in np.asarray(lines, dtype=float).reshape(-1, 2):
        out += e * y * photon_cumulative_fraction(r, e, density_g_per_mL)
    return out


def cumulative_profile_MeV(r_mm, emissions, *, photons: bool = True, density_g_per_mL=1.0):
    """Energy per decay (MeV) absorbed within ``r_mm`` of a point source of ``emissions``.

    Sum of beta spectra, discrete electrons, alphas (local: all energy at r > 0) and, if
    ``photons``, photon lines. ``emissions`` is a
    :class:`theranostics.nuclide_data.EmissionData`.
    """
    r = np.asarray(r_mm, dtype=float)
    out = np.where(r > 0, emissions.alpha_energy_MeV, 0.0)
    for e, n in emissions.beta_spectra:
        out = out + beta_cumulative_MeV(r, e, n, density_g_per_mL)
    out = out + electron_lines_cumulative_MeV(r, emissions.electron_lines, density_g_per_mL)
    if photons:
        out = out + photon_lines_cumulative_MeV(r, emissions.photon_lines, density_g_per_mL)
    return out
