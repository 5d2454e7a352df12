"""Closed-form pieces of 90Y radioembolisation (SIRT) planning.

- :func:`y90_dose_constant_Gy_kg_per_GBq`: the MIRD local-deposition constant of 90Y, from the
  same ICRP 107 emission data as the dose engine.
- :func:`body_surface_area_m2`: DuBois & DuBois (1916) or Mosteller (1987).
- :func:`resin_lsf_reduction`: the lung-shunt reduction table of the resin-microsphere
  instructions for use (Sirtex SIR-Spheres IFU).
- :func:`bsa_activity_GBq`: the resin BSA method.
- :func:`round_down`: activity rounding that never goes in the unsafe direction.

References: Dezarn et al. 2011, AAPM TG-144, Med Phys 38:4824; Gulec, Mesoloras & Stabin 2006,
J Nucl Med 47:1209; Ho et al. 1996, Eur J Nucl Med 23:947; Sirtex Medical, SIR-Spheres
microspheres Instructions for Use (CR1728 and later revisions); DuBois & DuBois 1916, Arch
Intern Med 17:863; Mosteller 1987, N Engl J Med 317:1098.
"""

from __future__ import annotations

import math
from functools import cache

from ..errors import InputError

#: Joules per MeV (exact, SI 2019).
_J_PER_MEV = 1.602176634e-13
#: BSA formulas known to :func:`body_surface_area_m2`.
BSA_FORMULAS = ("dubois", "mosteller")
#: Resin LSF reduction table (Sirtex IFU): (upper LSF bound, exclusive, reduction fraction).
#: A value exactly on a bound takes the more conservative row (10 % -> 20 % reduction, 15 % ->
#: 40 %, 20 % -> do not treat).
RESIN_LSF_TABLE = ((0.10, 0.0), (0.15, 0.20), (0.20, 0.40))


@cache
def y90_dose_constant_Gy_kg_per_GBq() -> float:
    """Absorbed dose × mass per administered GBq of 90Y fully decaying in place, Gy·kg/GBq.

    K = E · (T½ / ln 2) · 1e9 Bq/GBq · J/MeV, with E the non-penetrating (electron) energy per
    decay and T½ the physical half-life from ICRP 107 (through
    :func:`theranostics.nuclide_data.get_emissions`, the dose engine's data). With ICRP 107
    (E = 0.9331 MeV, T½ = 64.1 h) K = 49.77 Gy·kg/GBq; the often-quoted 49.67 (Gulec et al.
    2006) comes from older decay data (0.2 % lower) and the glass IFU rounds to 50.
    """
    from ..nuclide_data import get_emissions

    em = get_emissions("Y-90")
    return em.nonpenetrating_energy_MeV * _J_PER_MEV * 1e9 * em.half_life_s / math.log(2.0)


def _positive(value, name: str, unit: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not math.isfinite(v) or v <= 0:
        raise InputError(
            f"{name} must be a positive number in {unit}, got {value!r}",
            tag=name,
            fix=f"give {name} in {unit}",
        )
    return v


def body_surface_area_m2(height_m: float, weight_kg: float, formula: str = "dubois") -> float:
    """Body surface area, m².

    DuBois & DuBois (1916): BSA = 0.007184 · W^0.425 · H^0.725 (W in kg, H in cm);
    Mosteller (1987): BSA = sqrt(H · W / 3600) (H in cm).

    Raises:
        InputError: missing/non-positive height or weight, height given in cm instead of m,
            or an unknown formula.
    """
    h = _positive(height_m, "height_m", "m")
    w = _positive(weight_kg, "weight_kg", "kg")
    if h > 3.0:
        raise InputError(
            f"height {h} m is not plausible (given in cm?)",
            tag="height_m",
            fix="give the height in metres, e.g. 1.75",
        )
    if formula not in BSA_FORMULAS:
        raise InputError(
            f"unknown BSA formula {formula!r}", tag="bsa_formula", fix="use 'dubois' or 'mosteller'"
        )
    h_cm = 100.0 * h
    if formula == "dubois":
        return 0.007184 * w**0.425 * h_cm**0.725
    return math.sqrt(h_cm * w / 3600.0)


def resin_lsf_reduction(lung_shunt_fraction: float) -> float:
    """Fraction by which the resin BSA activity is reduced for a lung shunt fraction.

    Sirtex SIR-Spheres IFU: LSF < 10 %: none; 10-15 %: 20 %; 15-20 %: 40 %; > 20 %: do not
    treat. Bounds are taken on the conservative side (see :data:`RESIN_LSF_TABLE`).

    Raises:
        InputError: LSF outside [0, 1] or NaN; LSF >= 20 % (do not treat with resin spheres).
    """
    lsf = float(lung_shunt_fraction)
    if not math.isfinite(lsf) or lsf < 0 or lsf > 1:
        raise InputError(
            f"lung shunt fraction {lung_shunt_fraction!r} is not in [0, 1]",
            tag="lung_shunt_fraction",
            fix="give the LSF as a fraction (0.08 for 8 %)",
        )
    for upper, reduction in RESIN_LSF_TABLE:
        if lsf < upper:
            return reduction
    raise InputError(
        f"lung shunt fraction {lsf:.1%} is 20 % or more: the resin-microsphere instructions "
        "(Sirtex IFU) say do not treat",
        tag="lung_shunt_fraction",
        fix="do not treat with the BSA method; reduce the shunt (e.g. embolise the shunting "
        "vessel) and repeat the MAA study, or plan by the partition model with lung limits",
    )


def bsa_activity_GBq(
    bsa_m2: float, tumor_volume_mL: float, liver_volume_mL: float, lung_shunt_fraction: float
) -> tuple[float, float, float]:
    """Resin BSA-method activity, GBq (Sirtex IFU; Kennedy et al. 2007, IJROBP 68:13).

    A = (BSA − 0.2 + V_tumour / V_liver) · (1 − reduction(LSF)), V_liver the total (perfused)
    liver volume including tumours.

    Returns:
        (activity after the LSF reduction, activity before it, the reduction fraction).

    Raises:
        InputError: non-positive volumes, tumour volume above the liver volume, LSF >= 20 %.
    """
    bsa = _positive(bsa_m2, "bsa_m2", "m²")
    vt = float(tumor_volume_mL)
    vl = _positive(liver_volume_mL, "liver_volume_mL", "mL")
    if not math.isfinite(vt) or vt < 0 or vt > vl:
        raise InputError(
            f"tumour volume {tumor_volume_mL!r} mL must be in [0, liver volume {vl:g} mL]",
            tag="tumor_volume_mL",
            fix="the liver volume includes the tumours; check the masks",
        )
    reduction = resin_lsf_reduction(lung_shunt_fraction)
    base = bsa - 0.2 + vt / vl
    if base <= 0:
        raise InputError(
            f"BSA formula gives a non-positive activity ({base:.3f} GBq)",
            tag="bsa_m2",
            fix="check height and weight",
        )
    return base * (1.0 - reduction), base, reduction


def round_down(activity_GBq: float, step_GBq: float = 0.01) -> float:
    """``activity_GBq`` rounded down to a multiple of ``step_GBq`` (never up: the unsafe way).

    A value within 1e-9 of a step below a multiple counts as that multiple, so that floating
    point noise (1.9999999999 for 2) does not lose a whole step; the excess is < 1e-9 step.
    """
    step = _positive(step_GBq, "rounding_GBq", "GBq")
    a = float(activity_GBq)
    if not math.isfinite(a) or a < 0:
        raise InputError(f"activity {activity_GBq!r} GBq is not a non-negative number")
    n = math.floor(a / step + 1e-9)
    return round(n * step, 12)
