"""Uncertainty budget of a time-integrated activity, after Gear et al. 2018.

The corrected TIA is ``TIA = TIA_fit(p) / (c · RC(V))`` up to constants, where ``c`` is the
calibration factor (relative SD ``u_c``, common to all time points), ``RC`` the recovery
coefficient (relative SD ``u_RC``) and ``V`` the volume (relative SD ``u_V``) that sets RC.
First-order propagation (JCGM 100:2008 GUM, eq. 10; Gear JI, Cox MG, Gustafsson J, et al.
EANM practical guidance on uncertainty analysis for molecular radiotherapy absorbed dose
calculations. Eur J Nucl Med Mol Imaging 2018;45:2456-2474) with independent inputs:

    (u_TIA / TIA)^2 = (u_fit / TIA)^2 + u_c^2 + u_RC^2 + (s · u_V)^2

with ``u_fit^2 = g^T C g`` (the fit covariance, see :mod:`.fit`) and the volume sensitivity
``s = d ln TIA / d ln V = - d ln RC / d ln V`` (from the recovery table's log-slope at V, or
given; ``s = 1`` for an activity computed as concentration x volume without recovery).

:func:`monte_carlo_tia` samples the same inputs (seeded): new activities around the fitted
curve with the fit's standard deviations (scaled like the covariance), refitted with the same
model, times sampled calibration, recovery and volume factors; it checks the first-order
result where the model is non-linear.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from theranostics.errors import InputError

from .fit import TacFit, fit_tac
from .recovery import RecoveryTable


@dataclass(frozen=True)
class UncertaintyBudget:
    """Standard uncertainty of a TIA (MBq·h) and its components (MBq·h each)."""

    tia_MBq_h: float
    standard_uncertainty_MBq_h: float
    components: dict[str, float]
    method: str
    volume_sensitivity: float
    n_samples: int | None = None
    details: dict = field(default_factory=dict)

    @property
    def relative(self) -> float:
        """Relative standard uncertainty ``u / TIA``."""
        return self.standard_uncertainty_MBq_h / self.tia_MBq_h

    def to_json(self) -> dict:
        return {
            "tia_MBq_h": self.tia_MBq_h,
            "standard_uncertainty_MBq_h": self.standard_uncertainty_MBq_h,
            "relative": self.relative,
            "components_MBq_h": dict(self.components),
            "method": self.method,
            "volume_sensitivity": self.volume_sensitivity,
            "n_samples": self.n_samples,
            **self.details,
        }


def _inputs(recovery_rel_sd, volume_rel_sd, volume_sensitivity, recovery_table, volume_mL):
    if recovery_table is not None and volume_mL is None:
        raise InputError(
            "recovery_table given without volume_mL",
            tag="volume_mL",
            fix="pass the structure volume in mL",
        )
    if recovery_rel_sd is None:
        recovery_rel_sd = recovery_table.relative_sd(volume_mL) if recovery_table else 0.0
    if volume_sensitivity is None:
        if recovery_table is not None:
            volume_sensitivity = -recovery_table.log_slope(volume_mL)
        elif volume_rel_sd > 0:
            raise InputError(
                "volume_rel_sd given but no way to know how the activity depends on volume",
                tag="volume_sensitivity",
                fix="pass recovery_table= and volume_mL=, or volume_sensitivity= "
                "(d ln A / d ln V; 1 for concentration x volume)",
            )
        else:
            volume_sensitivity = 0.0
    for name, val in (("recovery_rel_sd", recovery_rel_sd), ("volume_rel_sd", volume_rel_sd)):
        if not math.isfinite(val) or val < 0:
            raise InputError(f"{name} must be >= 0, got {val!r}", tag=name)
    return float(recovery_rel_sd), float(volume_rel_sd), float(volume_sensitivity)


def tia_uncertainty(
    fit: TacFit,
    *,
    calibration_rel_sd: float = 0.0,
    recovery_rel_sd: float | None = None,
    volume_rel_sd: float = 0.0,
    volume_sensitivity: float | None = None,
    recovery_table: RecoveryTable | None = None,
    volume_mL: float | None = None,
) -> UncertaintyBudget:
    """First-order (Jacobian) uncertainty budget of ``fit.tia_MBq_h`` (see module docstring).

    ``recovery_rel_sd=None`` takes the table's relative SD at ``volume_mL`` (0 without a
    table); ``volume_sensitivity=None`` takes ``-d ln RC / d ln V`` from the table.
    """
    if not math.isfinite(calibration_rel_sd) or calibration_rel_sd < 0:
        raise InputError("calibration_rel_sd must be >= 0", tag="calibration_rel_sd")
    rc_sd, v_sd, s = _inputs(
        recovery_rel_sd, volume_rel_sd, volume_sensitivity, recovery_table, volume_mL
    )
    tia = fit.tia_MBq_h
    components = {
        "fit": fit.tia_uncertainty_MBq_h,
        "calibration": tia * calibration_rel_sd,
        "recovery": tia * rc_sd,
        "volume": tia * abs(s) * v_sd,
    }
    total = math.sqrt(sum(c * c for c in components.values()))
    return UncertaintyBudget(tia, total, components, "analytic", s)


def _volume_factor(eps_v, s, table, volume_mL):
    """Factor on the TIA when the true volume is V (1 + eps): RC(V) / RC(V (1 + eps))."""
    if table is None:
        return np.power(np.clip(1.0 + eps_v, 1e-6, None), s)
    lo, hi = table.volumes_mL[0], table.volumes_mL[-1]
    v = np.clip(volume_mL * (1.0 + eps_v), lo, hi)
    return table.coefficient(volume_mL) / table._interp(np.log(v))


def monte_carlo_tia(
    fit: TacFit,
    *,
    calibration_rel_sd: float = 0.0,
    recovery_rel_sd: float | None = None,
    volume_rel_sd: float = 0.0,
    volume_sensitivity: float | None = None,
    recovery_table: RecoveryTable | None = None,
    volume_mL: float | None = None,
    n_samples: int = 1000,
    seed: int = 0,
) -> UncertaintyBudget:
    """Monte Carlo cross-check of :func:`tia_uncertainty` (same inputs, seeded).

    Each sample: activities = fitted curve + normal noise with the fit's SDs (times
    ``sqrt(chi^2/dof)`` when the covariance was scaled), clipped at 0, refitted with
    ``fit.model``; multiplied by ``1/(1+e_c)``, ``1/(1+e_RC)`` and the volume factor.
    The components are the SDs of each factor alone, times the TIA.
    """
    rc_sd, v_sd, s = _inputs(
        recovery_rel_sd, volume_rel_sd, volume_sensitivity, recovery_table, volume_mL
    )
    rng = np.random.default_rng(seed)
    t = fit.times_h
    mean_curve = fit.curve_MBq(t)
    scale = 1.0
    if fit.covariance_scaling == "reduced-chi-square" and fit.dof > 0 and fit.chi_square:
        scale = math.sqrt(fit.chi_square / fit.dof)
    sigma = fit.sigma_MBq * scale
    tia_fit = np.empty(n_samples)
    for i in range(n_samples):
        a = np.clip(mean_curve + sigma * rng.standard_normal(len(t)), 0.0, None)
        if not np.any(a > 0):
            a = mean_curve
        tia_fit[i] = fit_tac(
            t,
            a,
            physical_half_life_h=fit.physical_half_life_h,
            model=fit.model,
            sd_MBq=fit.sigma_MBq,
        ).tia_MBq_h
    f_cal = 1.0 / np.clip(1.0 + calibration_rel_sd * rng.standard_normal(n_samples), 1e-6, None)
    f_rc = 1.0 / np.clip(1.0 + rc_sd * rng.standard_normal(n_samples), 1e-6, None)
    f_vol = _volume_factor(v_sd * rng.standard_normal(n_samples), s, recovery_table, volume_mL)
    samples = tia_fit * f_cal * f_rc * f_vol
    tia = fit.tia_MBq_h
    components = {
        "fit": float(np.std(tia_fit, ddof=1)),
        "calibration": tia * float(np.std(f_cal, ddof=1)),
        "recovery": tia * float(np.std(f_rc, ddof=1)),
        "volume": tia * float(np.std(f_vol, ddof=1)),
    }
    details = {
        "sample_mean_MBq_h": float(np.mean(samples)),
        "percentile_2.5_MBq_h": float(np.percentile(samples, 2.5)),
        "percentile_97.5_MBq_h": float(np.percentile(samples, 97.5)),
        "seed": seed,
    }
    return UncertaintyBudget(
        tia, float(np.std(samples, ddof=1)), components, "monte-carlo", s, n_samples, details
    )
