"""Time-activity curves of the phantom's regions: sums of exponentials with exact integrals.

Every region of the phantom follows an *uptake-washout* curve built from effective rate
constants (biology and physical decay together)::

    A(t) = A0 * sum_i f_i * [exp(-mu_i t) - exp(-mu_u t)]          (organs, lesions)
    A(t) = A0 * sum_i f_i * exp(-mu_i t)                            (blood/soft tissue: no uptake)

with ``mu_i = ln2 / T_eff,i`` (washout, effective) and ``mu_u = ln2 / T_up + lambda_phys``
(uptake, the physical decay constant added so that the uptake phase also decays). ``f_i`` are
fractions of the administered activity ``A0`` (MBq) and ``t`` is hours after administration.
A curve is stored as its exponential terms ``c_k exp(-mu_k t)``, so its values, integrals over
any interval and the time-integrated activity (TIA) ``sum c_k / mu_k`` are exact closed forms.

Effective half-lives and uptake fractions are set per region in :mod:`.presets`, chosen inside
the ranges reported for 177Lu-PSMA-617 and 177Lu-DOTATATE (see ``docs/phantom.md``).
Units: activity MBq, time h, TIA MBq·h.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LN2 = math.log(2.0)


@dataclass(frozen=True)
class ExpTerm:
    """One term ``coefficient_MBq * exp(-rate_per_h * t)``."""

    coefficient_MBq: float
    rate_per_h: float


@dataclass(frozen=True)
class Washout:
    """One washout component: a fraction of the administered activity and its effective
    half-life in hours (biology and physical decay together)."""

    fraction: float
    t_eff_h: float


@dataclass(frozen=True)
class RegionKinetics:
    """Kinetic parameters of one region.

    Attributes:
        washout: the washout components (fractions of the administered activity).
        uptake_half_life_h: biological uptake half-time in hours; ``None`` means the region
            holds its activity from t = 0 (no uptake phase), as blood and soft tissue do.
    """

    washout: tuple[Washout, ...]
    uptake_half_life_h: float | None = None

    @property
    def plateau_fraction(self) -> float:
        """Sum of the washout fractions: the fraction of A0 the region would hold with
        instant uptake and no washout."""
        return float(sum(w.fraction for w in self.washout))

    def to_json(self) -> dict:
        return {
            "model": "uptake-washout" if self.uptake_half_life_h else "washout",
            "uptake_half_life_h": self.uptake_half_life_h,
            "washout": [{"fraction": w.fraction, "t_eff_h": w.t_eff_h} for w in self.washout],
        }


@dataclass(frozen=True)
class TimeActivityCurve:
    """A(t) = sum_k c_k exp(-mu_k t) in MBq, t in hours after administration."""

    terms: tuple[ExpTerm, ...]

    def activity_MBq(self, t_h):
        """Activity (MBq) at time(s) ``t_h`` (hours after administration, >= 0)."""
        t = np.asarray(t_h, dtype=float)
        out = np.zeros_like(t)
        for term in self.terms:
            out = out + term.coefficient_MBq * np.exp(-term.rate_per_h * t)
        return out if out.ndim else float(out)

    def integral_MBq_h(self, t0_h: float, t1_h: float) -> float:
        """Exact integral of A(t) from ``t0_h`` to ``t1_h`` (``math.inf`` allowed), MBq·h."""
        total = 0.0
        for term in self.terms:
            mu = term.rate_per_h
            upper = 0.0 if math.isinf(t1_h) else math.exp(-mu * t1_h)
            total += term.coefficient_MBq / mu * (math.exp(-mu * t0_h) - upper)
        return total

    @property
    def tia_MBq_h(self) -> float:
        """Time-integrated activity from administration to infinity (MBq·h), exact."""
        return self.integral_MBq_h(0.0, math.inf)

    def to_json(self) -> list[dict]:
        return [
            {"coefficient_MBq": t.coefficient_MBq, "rate_per_h": t.rate_per_h} for t in self.terms
        ]


def curve_for(
    kinetics: RegionKinetics,
    administered_MBq: float,
    physical_half_life_h: float,
    *,
    t_eff_nuclide_half_life_h: float | None = None,
) -> TimeActivityCurve:
    """The :class:`TimeActivityCurve` of a region for an administration of
    ``administered_MBq`` MBq of a nuclide with physical half-life ``physical_half_life_h``.

    The effective half-lives of ``kinetics`` refer to the nuclide with half-life
    ``t_eff_nuclide_half_life_h`` (default: the same nuclide). For another nuclide with the
    same biology (e.g. the 68Ga-labelled planning tracer of a 177Lu therapy), the biological
    rate ``ln2/T_eff - lambda_ref`` is kept and the new physical decay constant added.

    Raises ``ValueError`` when an effective half-life is longer than the reference physical
    half-life (it would imply a negative biological clearance).
    """
    ref_h = t_eff_nuclide_half_life_h or physical_half_life_h
    lam_ref = LN2 / ref_h
    lam_p = LN2 / physical_half_life_h
    terms: list[ExpTerm] = []
    for w in kinetics.washout:
        lam_bio = LN2 / w.t_eff_h - lam_ref if w.t_eff_h > 0 else -1.0
        if lam_bio < -1e-12:
            raise ValueError(f"effective half-life {w.t_eff_h} h must be in (0, {ref_h}] h")
        terms.append(ExpTerm(administered_MBq * w.fraction, max(lam_bio, 0.0) + lam_p))
    if kinetics.uptake_half_life_h:
        mu_u = LN2 / kinetics.uptake_half_life_h + lam_p
        terms.append(ExpTerm(-administered_MBq * kinetics.plateau_fraction, mu_u))
    return TimeActivityCurve(tuple(terms))


def total_curve(curves) -> TimeActivityCurve:
    """The sum of several curves (e.g. the whole-body retention)."""
    return TimeActivityCurve(tuple(term for c in curves for term in c.terms))
