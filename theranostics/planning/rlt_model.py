"""Closed forms of the multi-cycle activity prescription (177Lu radioligand therapy).

Per cycle of activity A (GBq) a structure receives D = A·d (d in Gy/GBq) and, for a
mono-exponential dose rate (Dale 1985, Br J Radiol 58:515; Wessels et al. 2008, MIRD
Pamphlet 20, J Nucl Med 49:1884)

    BED₁ = D + D²·G/(α/β),  G = T_rep/(T_rep + T_eff),

with G from :func:`theranostics.radiobiology.sum_of_exponentials_g` (G = 2g; it also covers the
uptake-plus-washout dose rate, Dale 1996). Cycles far apart compared with T_rep add their
BEDs (complete repair between cycles, no repopulation). N cycles on top of a delivered BED P
must satisfy P + N·BED₁ ≤ L; with x = A·d, κ = G/(α/β) and R = (L − P)/N this is the quadratic
κx² + x − R = 0, whose positive root is taken in the cancellation-free form

    x = 2R / (1 + √(1 + 4κR)).

An absorbed-dose limit (bone marrow) is linear: x = R. Units: Gy, GBq, h.
"""

from __future__ import annotations

import math

from ..radiobiology import LN2, sum_of_exponentials_g

#: Relative step of the central difference dG/dT_eff.
_REL_STEP = 1e-4


def bed_factor(
    effective_half_life_h: float, repair_half_time_h: float, uptake_half_life_h: float | None
) -> float:
    """G of BED₁ = D + D²·G/(α/β) (dimensionless, 0 < G < 1).

    Mono-exponential: G = T_rep/(T_rep + T_eff) (Dale 1985). With uptake: R(t) ∝
    e^(−λ_w t) − e^(−λ_u t) and G = 2·g of :func:`sum_of_exponentials_g` (Dale 1996).
    """
    lam_w = LN2 / effective_half_life_h
    if uptake_half_life_h is None:
        return 2.0 * sum_of_exponentials_g([1.0], [lam_w], repair_half_time_h)
    lam_u = LN2 / uptake_half_life_h
    return 2.0 * sum_of_exponentials_g([1.0, -1.0], [lam_w, lam_u], repair_half_time_h)


def bed_factor_slope_per_h(
    effective_half_life_h: float, repair_half_time_h: float, uptake_half_life_h: float | None
) -> float:
    """dG/dT_eff, 1/h, by a central difference (G is smooth in T_eff)."""
    h = _REL_STEP * effective_half_life_h
    up = bed_factor(effective_half_life_h + h, repair_half_time_h, uptake_half_life_h)
    down = bed_factor(effective_half_life_h - h, repair_half_time_h, uptake_half_life_h)
    return (up - down) / (2.0 * h)


def per_cycle_quantity_Gy(dose_Gy: float, kappa_per_Gy: float, quantity: str) -> float:
    """What one cycle adds to the limited quantity: BED₁ = D + κD² or the absorbed dose D."""
    return dose_Gy + kappa_per_Gy * dose_Gy * dose_Gy if quantity == "bed" else dose_Gy


def max_dose_per_cycle_Gy(
    remaining_Gy: float, cycles: int, kappa_per_Gy: float, quantity: str
) -> float:
    """Largest per-cycle absorbed dose x with N·q(x) ≤ remaining (0 when nothing remains)."""
    if remaining_Gy <= 0:
        return 0.0
    r = remaining_Gy / cycles
    if quantity != "bed":
        return r
    return 2.0 * r / (1.0 + math.sqrt(1.0 + 4.0 * kappa_per_Gy * r))


def max_activity_GBq(
    limit_Gy: float,
    previous_Gy: float,
    cycles: int,
    dose_per_activity_Gy_per_GBq: float,
    kappa_per_Gy: float,
    quantity: str,
) -> float:
    """Largest activity per cycle (GBq, unrounded, ≥ 0) keeping P + N·q(A·d) ≤ L."""
    x = max_dose_per_cycle_Gy(limit_Gy - previous_Gy, cycles, kappa_per_Gy, quantity)
    return x / dose_per_activity_Gy_per_GBq


def max_activity_sensitivities(
    limit_Gy: float,
    previous_Gy: float,
    cycles: int,
    d: float,
    kappa_per_Gy: float,
    dkappa_dT_per_Gy_h: float,
    quantity: str,
) -> dict[str, float]:
    """Partial derivatives of :func:`max_activity_GBq` (first-order uncertainty propagation).

    With x the per-cycle dose, A = x/d: ∂A/∂d = −A/d; for BED, ∂x/∂κ = −x²/(1 + 2κx) and
    ∂x/∂R = 1/(1 + 2κx) with R = (L − P)/N. Keys: ``d`` (GBq per Gy/GBq), ``T_eff`` (GBq/h),
    ``previous`` (GBq/Gy). All zero when the limit is already reached.
    """
    x = max_dose_per_cycle_Gy(limit_Gy - previous_Gy, cycles, kappa_per_Gy, quantity)
    if x <= 0:
        return {"d": 0.0, "T_eff": 0.0, "previous": 0.0}
    a = x / d
    if quantity != "bed":
        return {"d": -a / d, "T_eff": 0.0, "previous": -1.0 / (cycles * d)}
    denom = 1.0 + 2.0 * kappa_per_Gy * x
    return {
        "d": -a / d,
        "T_eff": (-(x * x) / denom) * dkappa_dT_per_Gy_h / d,
        "previous": -1.0 / (cycles * denom * d),
    }


def cycles_allowed(remaining_Gy: float, per_cycle_Gy: float) -> int:
    """Largest integer N with N·q ≤ remaining (rounded down; 0 if nothing remains)."""
    if remaining_Gy <= 0:
        return 0
    n = math.floor(remaining_Gy / per_cycle_Gy)
    while n > 0 and n * per_cycle_Gy > remaining_Gy:  # float division may round up
        n -= 1
    return n


def floor_to_step(value: float, step: float) -> float:
    """``value`` rounded DOWN to a multiple of ``step`` (never above ``value``)."""
    if value <= 0:
        return 0.0
    k = math.floor(value / step)
    while k > 0 and k * step > value:  # float division may round up
        k -= 1
    # Express with the step's decimals so that 7.4 prints as 7.4, checked to stay ≤ value.
    decimals = max(0, -math.floor(math.log10(step)) + 6)
    rounded = round(k * step, decimals)
    return rounded if rounded <= value else k * step
