"""Biologically effective dose (BED) and EQD2 for radiopharmaceutical therapy.

Linear-quadratic model with incomplete repair during continuous irradiation (Dale 1985,
Br J Radiol 58:515; Dale 1996, Phys Med Biol 41:1871; Wessels et al. 2008, MIRD Pamphlet 20,
J Nucl Med 49:1884). For a dose rate R(t) and monoexponential repair (µ = ln 2 / T_rep),

    BED = D + (2/(α/β)) ∫0^∞ R(t) ∫0^t R(w) e^(−µ(t−w)) dw dt.

For a sum of exponentials R(t) = Σ_i a_i e^(−k_i t) the double integral is exactly
Σ_ij a_i a_j / ((k_i + k_j)(k_i + µ)) (derivation in docs/radiobiology.md). Special cases:

* mono-exponential, R = R0 e^(−λt), D = R0/λ:
  BED = D + D² /(α/β) · λ/(µ + λ) = D + D²/(α/β) · T_rep/(T_rep + T_eff);
* uptake plus washout, R = c (e^(−λ_w t) − e^(−λ_u t)) with λ_u > λ_w (Dale 1996).

EQDX = BED / (1 + X/(α/β)); EQD2 uses X = 2 Gy. Several cycles far apart compared with the
repair time add their BEDs (no interaction between cycles; repopulation ignored).

Units: doses in Gy, times in h, α/β in Gy.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from .errors import InputError

LN2 = math.log(2.0)


@dataclass(frozen=True)
class TissueParameters:
    """LQ parameters of a tissue (``theranostics/data/tissue_radiobiology.json``).

    Attributes:
        name: tissue key (``"kidney"``).
        alpha_beta_Gy: α/β, Gy.
        repair_half_time_h: repair half-time T_rep, h.
        limits: literature limits, e.g. ``{"BED_Gy_with_risk_factors": 28.0}``.
        references: where the numbers come from.
    """

    name: str
    alpha_beta_Gy: float
    repair_half_time_h: float
    limits: dict
    references: tuple


@cache
def _table() -> dict:
    text = (resources.files("theranostics") / "data" / "tissue_radiobiology.json").read_text()
    return json.loads(text)["tissues"]


def tissue_parameters(name: str) -> TissueParameters:
    """LQ parameters of a tissue from the referenced table.

    Raises:
        InputError: unknown tissue (the message lists the known ones).
    """
    table = _table()
    key = name.strip().lower().replace(" ", "_")
    if key not in table:
        raise InputError(
            f"no radiobiology parameters for tissue {name!r}",
            path="theranostics/data/tissue_radiobiology.json",
            tag="tissues",
            fix=f"use one of {sorted(table)} or pass alpha_beta_Gy and repair_half_time_h",
        )
    t = table[key]
    return TissueParameters(
        name=key,
        alpha_beta_Gy=float(t["alpha_beta_Gy"]),
        repair_half_time_h=float(t["repair_half_time_h"]),
        limits=dict(t.get("limits", {})),
        references=tuple(t.get("references", ())),
    )


def _positive(value, name: str) -> float:
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise InputError(f"{name} = {value} must be positive and finite", tag=name, fix="check it")
    return v


def _dose(dose_Gy) -> np.ndarray:
    d = np.asarray(dose_Gy, dtype=float)
    if not np.all(np.isfinite(d)) or np.any(d < 0):
        raise InputError(
            "absorbed dose has NaN, infinite or negative values",
            tag="dose_Gy",
            fix="mask undefined voxels and clip negative noise before computing BED",
        )
    return d


def sum_of_exponentials_g(amplitudes, rates_per_h, repair_half_time_h: float) -> float:
    """The double integral ∫∫ R(t) R(w) e^(−µ(t−w)) over 0 ≤ w ≤ t divided by D².

    For R(t) = Σ a_i e^(−k_i t): Σ_ij a_i a_j / ((k_i + k_j)(k_i + µ)) / D², D = Σ a_i/k_i.
    Dimension 1/h (multiply by D²·2/(α/β) for the BED excess). Amplitude units cancel.
    """
    a = np.asarray(amplitudes, dtype=float)
    k = np.asarray(rates_per_h, dtype=float)
    mu = LN2 / _positive(repair_half_time_h, "repair_half_time_h")
    if np.any(k <= 0):
        raise InputError("rates must be positive", tag="rates_per_h", fix="check half-lives")
    total = float(np.sum(a / k))
    double = float(
        np.sum(a[:, None] * a[None, :] / ((k[:, None] + k[None, :]) * (k[:, None] + mu)))
    )
    return double / total**2


def bed_monoexponential_Gy(
    dose_Gy, effective_half_life_h: float, alpha_beta_Gy: float, repair_half_time_h: float
):
    """BED (Gy) for a dose delivered at an exponentially decreasing rate (Dale 1985).

    BED = D + D²/(α/β) · T_rep/(T_rep + T_eff). Works voxel-wise on arrays.

    Args:
        dose_Gy: absorbed dose (scalar or array), Gy.
        effective_half_life_h: effective half-life of the dose rate, h.
        alpha_beta_Gy: α/β, Gy.
        repair_half_time_h: repair half-time, h.
    """
    d = _dose(dose_Gy)
    t_eff = _positive(effective_half_life_h, "effective_half_life_h")
    ab = _positive(alpha_beta_Gy, "alpha_beta_Gy")
    t_rep = _positive(repair_half_time_h, "repair_half_time_h")
    return d + d * d / ab * t_rep / (t_rep + t_eff)


def bed_map_Gy(dose_Gy, effective_half_life_h, alpha_beta_Gy, repair_half_time_h) -> np.ndarray:
    """Voxel-wise BED (Gy) when the effective half-life and the tissue parameters vary from
    voxel to voxel (Dale 1985, as :func:`bed_monoexponential_Gy`).

    Every argument may be a scalar or an array broadcastable to the dose: a map of effective
    half-lives from a voxel-wise fit, and α/β and T_rep maps painted from the structures.

    Raises:
        InputError: negative or non-finite doses, non-positive or non-finite half-lives,
            α/β or repair half-times (the message says which and how many voxels).
    """
    d = _dose(dose_Gy)
    arrays = {}
    for name, value in (
        ("effective_half_life_h", effective_half_life_h),
        ("alpha_beta_Gy", alpha_beta_Gy),
        ("repair_half_time_h", repair_half_time_h),
    ):
        a = np.asarray(value, dtype=float)
        bad = ~(np.isfinite(a) & (a > 0))
        if bad.any():
            raise InputError(
                f"{name} has {int(bad.sum())} non-positive or non-finite value(s)",
                tag=name,
                fix="give every voxel a positive value (fill fit failures with a fallback)",
            )
        arrays[name] = a
    t_eff = arrays["effective_half_life_h"]
    t_rep = arrays["repair_half_time_h"]
    return d + d * d / arrays["alpha_beta_Gy"] * t_rep / (t_rep + t_eff)


def bed_uptake_washout_Gy(
    dose_Gy,
    uptake_half_time_h: float,
    effective_half_life_h: float,
    alpha_beta_Gy: float,
    repair_half_time_h: float,
):
    """BED (Gy) for a dose rate with exponential uptake and washout (Dale 1996).

    R(t) = c (e^(−λ_w t) − e^(−λ_u t)), λ_u = ln2/T_uptake > λ_w = ln2/T_eff. Closed form via
    :func:`sum_of_exponentials_g`: BED = D + (2/(α/β)) D² g. Works voxel-wise on arrays.
    """
    d = _dose(dose_Gy)
    lam_u = LN2 / _positive(uptake_half_time_h, "uptake_half_time_h")
    lam_w = LN2 / _positive(effective_half_life_h, "effective_half_life_h")
    if not lam_u > lam_w:
        raise InputError(
            "the uptake half-time must be shorter than the effective (washout) half-life",
            tag="uptake_half_time_h",
            fix="swap the two, or use bed_monoexponential_Gy for instantaneous uptake",
        )
    ab = _positive(alpha_beta_Gy, "alpha_beta_Gy")
    g = sum_of_exponentials_g([1.0, -1.0], [lam_w, lam_u], repair_half_time_h)
    return d + 2.0 / ab * d * d * g


def eqdx_Gy(bed_Gy, alpha_beta_Gy: float, fraction_dose_Gy: float = 2.0):
    """Equivalent dose in X-Gy fractions: EQDX = BED / (1 + X/(α/β))."""
    ab = _positive(alpha_beta_Gy, "alpha_beta_Gy")
    return np.asarray(bed_Gy, dtype=float) / (1.0 + fraction_dose_Gy / ab)


def eqd2_Gy(bed_Gy, alpha_beta_Gy: float):
    """EQD2 = BED / (1 + 2/(α/β)), Gy."""
    return eqdx_Gy(bed_Gy, alpha_beta_Gy, 2.0)


def accumulate_cycles_bed_Gy(cycle_beds_Gy) -> np.ndarray:
    """Total BED of several therapy cycles: the sum of the cycle BEDs (cycles far apart
    compared with the repair half-time; repopulation between cycles ignored)."""
    beds = [np.asarray(b, dtype=float) for b in cycle_beds_Gy]
    if not beds:
        raise InputError("no cycles given", tag="cycle_beds_Gy", fix="pass one BED per cycle")
    return np.sum(np.stack(np.broadcast_arrays(*beds)), axis=0)


@dataclass(frozen=True)
class StructureBED:
    """BED summary of one structure (Gy).

    Attributes:
        mean_dose_Gy: mean absorbed dose.
        mean_bed_Gy: mean of the voxel BEDs (accounts for dose non-uniformity).
        bed_of_mean_dose_Gy: BED of the mean dose (the organ-level approach).
        eqd2_Gy: EQD2 of the mean voxel BED.
    """

    mean_dose_Gy: float
    mean_bed_Gy: float
    bed_of_mean_dose_Gy: float
    eqd2_Gy: float


def structure_bed(
    dose_Gy,
    mask,
    *,
    effective_half_life_h: float,
    alpha_beta_Gy: float,
    repair_half_time_h: float,
    uptake_half_time_h: float | None = None,
) -> StructureBED:
    """BED of a structure (boolean ``mask``) from a dose map, voxel-wise then averaged.

    Raises:
        InputError: empty mask or shapes that differ.
    """
    d = _dose(dose_Gy)
    m = np.asarray(mask, dtype=bool)
    if m.shape != d.shape:
        raise InputError(
            f"mask shape {m.shape} differs from dose shape {d.shape}",
            tag="mask",
            fix="resample the structure onto the dose grid",
        )
    if not m.any():
        raise InputError("the structure mask is empty", tag="mask", fix="check the segment")

    def bed(x):
        if uptake_half_time_h is None:
            return bed_monoexponential_Gy(
                x, effective_half_life_h, alpha_beta_Gy, repair_half_time_h
            )
        return bed_uptake_washout_Gy(
            x, uptake_half_time_h, effective_half_life_h, alpha_beta_Gy, repair_half_time_h
        )

    voxels = d[m]
    mean_bed = float(np.mean(bed(voxels)))
    return StructureBED(
        mean_dose_Gy=float(voxels.mean()),
        mean_bed_Gy=mean_bed,
        bed_of_mean_dose_Gy=float(bed(voxels.mean())),
        eqd2_Gy=float(eqd2_Gy(mean_bed, alpha_beta_Gy)),
    )
