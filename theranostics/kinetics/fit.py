"""Fitting a time-activity curve (TAC) and integrating it: :func:`fit_tac` -> :class:`TacFit`.

Weighted least squares (``scipy.optimize.least_squares``, trust-region reflective, bounded):
minimise ``sum ((f(t_i; p) - A_i) / sigma_i)^2`` with ``sigma_i = relative_sd * A_i``
(default 10 % of each measured activity, floored at 1 % of the largest) or an absolute
``sd_MBq``. Effective rates are bounded below by physical decay. Starting values come from
log-linear regressions (several starts for the 3- and 4-parameter models; the best is kept).

Covariance: ``C = (J^T J)^-1`` with ``J`` the Jacobian of the weighted residuals at the
solution, multiplied by the reduced chi-square ``chi^2 / dof`` when ``dof > 0`` and
``covariance_scaling="reduced-chi-square"`` (default: the data's own scatter sets the scale,
as when the assumed relative SD is only a guess). Then the 95 % interval uses Student's t with
``dof`` degrees of freedom, which is what gives it its nominal coverage with few points. With
``covariance_scaling="none"`` (SDs known) or ``dof = 0`` the covariance is not scaled and the
interval uses the normal quantile. TIA standard uncertainty by the delta method:
``u^2 = g^T C g`` with ``g`` the analytic gradient of the TIA with respect to the parameters
(JCGM 100:2008, GUM, section 5.1; Gear JI et al., Eur J Nucl Med Mol Imaging
2018;45:2456-2474). For trapezoid models the TIA is (nearly) linear in the activities and
``u^2 = sum (dTIA/dA_i)^2 sigma_i^2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats

from theranostics.errors import InputError, TimingError

from . import inputs
from .models import EXPONENTIAL_MODELS, MODEL_NAMES, MODELS, ExponentialModel
from .models import effective_half_life_h as _t_half
from .quality import quality_flags
from .selection import aicc, aicc_defined, akaike_weights
from .trapezoid import trapezoid_curve, trapezoid_tia

MIN_POINTS = {
    "mono-exp": 2,
    "uptake-washout": 3,
    "bi-exp": 4,
    "trapezoid-physical": 1,
    "trapezoid-fitted-tail": 2,
}
MAX_RATE_PER_H = 50.0  # upper bound of fitted rates: a 50 s half-life, far beyond any imaging
COVARIANCE_SCALINGS = ("reduced-chi-square", "none")


@dataclass(frozen=True, eq=False)
class TacFit:
    """A fitted and integrated time-activity curve. Units: h, MBq, MBq·h, 1/h.

    ``parameters`` are named with units (``A0_MBq``, ``lambda_per_h`` ...); ``covariance`` is
    in that order (``None`` for trapezoids); ``tia_uncertainty_MBq_h`` is the standard
    uncertainty from the fit alone (see :func:`.uncertainty.tia_uncertainty` for the full
    budget); ``tail_fraction`` is the share of the TIA after the last time point;
    ``effective_half_life_h`` is ln2 over the terminal (slowest) rate, the physical
    half-life for ``trapezoid-physical``; ``notes`` say what was assumed or changed.
    """

    model: str
    parameters: dict[str, float]
    covariance: np.ndarray | None
    tia_MBq_h: float
    tia_uncertainty_MBq_h: float
    times_h: np.ndarray
    activities_MBq: np.ndarray
    aicc: float | None
    candidates: list[dict]
    flags: dict
    tail_fraction: float
    effective_half_life_h: float | None
    physical_half_life_h: float = math.nan
    sigma_MBq: np.ndarray | None = None
    chi_square: float | None = None
    dof: int = 0
    covariance_scaling: str = "none"
    weighting: str = ""
    notes: tuple[str, ...] = ()
    _tail_rate_per_h: float = field(default=math.nan, repr=False)

    def curve_MBq(self, t_h) -> np.ndarray:
        """The fitted curve (MBq) at times ``t_h`` (h after administration)."""
        t = np.atleast_1d(np.asarray(t_h, dtype=float))
        if self.model in MODELS:
            p = np.array(list(self.parameters.values()))
            return MODELS[self.model].curve(p, t)
        return trapezoid_curve(t, self.times_h, self.activities_MBq, self._tail_rate_per_h)

    def coverage_factor(self, level: float = 0.95) -> float:
        """Multiplier of the standard uncertainty for a two-sided interval at ``level``:
        Student's t with ``dof`` when the covariance was scaled, else normal."""
        q = 0.5 + level / 2.0
        if self.covariance_scaling == "reduced-chi-square" and self.dof > 0:
            return float(stats.t.ppf(q, self.dof))
        return float(stats.norm.ppf(q))

    def tia_interval_MBq_h(self, level: float = 0.95) -> tuple[float, float]:
        """Two-sided interval (MBq·h) of the TIA at confidence ``level`` (fit only)."""
        half = self.coverage_factor(level) * self.tia_uncertainty_MBq_h
        return self.tia_MBq_h - half, self.tia_MBq_h + half

    def to_json(self) -> dict:
        """A JSON-ready summary (lists instead of arrays)."""
        return {
            "model": self.model,
            "parameters": dict(self.parameters),
            "covariance": None if self.covariance is None else self.covariance.tolist(),
            "tia_MBq_h": self.tia_MBq_h,
            "tia_uncertainty_MBq_h": self.tia_uncertainty_MBq_h,
            "tia_95_interval_MBq_h": list(self.tia_interval_MBq_h(0.95)),
            "times_h": self.times_h.tolist(),
            "activities_MBq": self.activities_MBq.tolist(),
            "sigma_MBq": None if self.sigma_MBq is None else self.sigma_MBq.tolist(),
            "physical_half_life_h": self.physical_half_life_h,
            "effective_half_life_h": self.effective_half_life_h,
            "aicc": self.aicc,
            "candidates": list(self.candidates),
            "flags": self.flags,
            "tail_fraction": self.tail_fraction,
            "chi_square": self.chi_square,
            "dof": self.dof,
            "covariance_scaling": self.covariance_scaling,
            "weighting": self.weighting,
            "notes": list(self.notes),
        }


def _log_linear(t: np.ndarray, a: np.ndarray, w: np.ndarray | None = None) -> tuple[float, float]:
    """(amplitude, rate) of a weighted regression of ln A on t (positive A only)."""
    keep = a > 0
    t, y = t[keep], np.log(a[keep])
    w = np.ones_like(t) if w is None else w[keep]
    if len(t) < 2:
        return float(np.exp(y[0])) if len(y) else 1.0, 0.0
    tm = np.sum(w * t) / np.sum(w)
    ym = np.sum(w * y) / np.sum(w)
    slope = np.sum(w * (t - tm) * (y - ym)) / np.sum(w * (t - tm) ** 2)
    return float(np.exp(ym - slope * tm)), float(-slope)


def _starts(name: str, t: np.ndarray, a: np.ndarray, lam_phys: float) -> list[np.ndarray]:
    """Starting values from log-linear regressions (see module docstring)."""
    floor = lam_phys * 1.05
    if name == "mono-exp":
        amp, lam = _log_linear(t, a)
        return [np.array([amp, max(lam, floor)])]
    late = max(2, len(t) // 2)
    amp, lam = _log_linear(t[-late:], a[-late:])
    lam = min(max(lam, floor), MAX_RATE_PER_H / 10)
    amp = max(amp, float(np.max(a)))
    if name == "uptake-washout":
        return [np.array([amp, lam, lam * f]) for f in (3.0, 10.0, 30.0, 100.0)]
    early = a[:2] - amp * np.exp(-lam * t[:2])
    starts = []
    if np.all(early > 0):
        a1, l1 = _log_linear(t[:2], early)
        if l1 > lam:
            starts.append(np.array([a1, l1, amp, lam]))
    for f in (3.0, 10.0, 30.0):
        starts.append(np.array([amp, lam * f, amp * 0.5, lam]))
    return starts


def _fit_exponential(model: ExponentialModel, t, a, sigma, lam_phys) -> dict:
    lo, hi = model.bounds(lam_phys)
    hi[list(model.rate_index)] = MAX_RATE_PER_H
    best = None
    for p0 in _starts(model.name, t, a, lam_phys):
        p0 = np.clip(p0, lo + 1e-9 * (np.abs(lo) + 1e-9), hi * (1 - 1e-9))
        res = optimize.least_squares(
            lambda p: (model.curve(p, t) - a) / sigma,
            p0,
            jac=lambda p: model.jacobian(p, t) / sigma[:, None],
            bounds=(lo, hi),
            method="trf",
            x_scale="jac",
            xtol=1e-12,
            ftol=1e-12,
            gtol=1e-12,
            max_nfev=5000,
        )
        if best is None or res.cost < best.cost:
            best = res
    p = best.x.copy()
    at_bound = [model.parameter_names[i] for i in np.flatnonzero(best.active_mask)]
    if model.name == "bi-exp" and p[1] < p[3]:  # order the phases: 1 = fast, 2 = slow
        p = p[[2, 3, 0, 1]]
    jac = model.jacobian(p, t) / sigma[:, None]
    return {"p": p, "chi2": float(2.0 * best.cost), "jac": jac, "at_bound": tuple(at_bound)}


def _exponential_fit(name, t, a, sigma, lam_phys, scaling, weighting, notes) -> TacFit:
    model = MODELS[name]
    r = _fit_exponential(model, t, a, sigma, lam_phys)
    p, k, n = r["p"], model.n_parameters, len(t)
    dof = n - k
    jac = r["jac"]
    norms = np.linalg.norm(jac, axis=0)
    # a parameter the curve no longer depends on (e.g. an uptake rate run off to infinity)
    # is undetermined: its CV is reported as infinite, the rest from the others' covariance
    free = norms > 1e-8 * norms.max()
    undetermined = tuple(nm for nm, f in zip(model.parameter_names, free) if not f)
    cov = np.zeros((k, k))
    jf = jac[:, free]
    try:
        cov[np.ix_(free, free)] = np.linalg.inv(jf.T @ jf)
    except np.linalg.LinAlgError:
        cov[np.ix_(free, free)] = np.linalg.pinv(jf.T @ jf)
        notes = (*notes, "singular Jacobian: covariance from the pseudo-inverse")
    used_scaling = "none"
    if scaling == "reduced-chi-square" and dof > 0:
        cov = cov * (r["chi2"] / dof)
        used_scaling = "reduced-chi-square"
    tia = model.tia(p)
    g = model.tia_gradient(p)
    u = float(math.sqrt(max(g @ cov @ g, 0.0)))
    tail = model.integral_after(p, float(t[-1]))
    tail_fraction = tail / tia if tia > 0 else math.nan
    flags = quality_flags(
        model.parameter_names, p, cov, r["chi2"], dof, tail_fraction, r["at_bound"], undetermined
    )
    return TacFit(
        model=name,
        parameters={nm: float(v) for nm, v in zip(model.parameter_names, p)},
        covariance=cov,
        tia_MBq_h=tia,
        tia_uncertainty_MBq_h=u,
        times_h=t,
        activities_MBq=a,
        aicc=aicc(r["chi2"], n, k),
        candidates=[],
        flags=flags,
        tail_fraction=float(tail_fraction),
        effective_half_life_h=_t_half(model.terminal_rate(p)),
        physical_half_life_h=math.log(2.0) / lam_phys,
        sigma_MBq=sigma,
        chi_square=r["chi2"],
        dof=dof,
        covariance_scaling=used_scaling,
        weighting=weighting,
        notes=tuple(notes),
    )


def _trapezoid_fit(name, t, a, sigma, lam_phys, weighting, notes) -> TacFit:
    res = trapezoid_tia(t, a, lam_phys, fitted_tail=name == "trapezoid-fitted-tail")
    notes = [*notes, "trapezoid from A(0) = 0 at administration through the measured points"]
    if name == "trapezoid-fitted-tail":
        if res.clamped:
            fitted = "n/a" if res.fitted_rate_per_h is None else f"{res.fitted_rate_per_h:.4g}/h"
            notes.append(
                f"tail rate fitted on the last {res.tail_points} points ({fitted}) was slower "
                "than physical decay or not computable: tail uses physical decay"
            )
        else:
            notes.append(f"tail rate fitted on the last {res.tail_points} points")
    tia = res.tia_MBq_h
    u = float(math.sqrt(np.sum((res.gradient * sigma) ** 2)))
    tail_fraction = res.tail_MBq_h / tia
    flags = quality_flags((), None, None, None, 0, tail_fraction)
    params = {
        "area_MBq_h": res.area_MBq_h,
        "tail_MBq_h": res.tail_MBq_h,
        "tail_rate_per_h": res.tail_rate_per_h,
    }
    return TacFit(
        model=name,
        parameters=params,
        covariance=None,
        tia_MBq_h=tia,
        tia_uncertainty_MBq_h=u,
        times_h=t,
        activities_MBq=a,
        aicc=None,
        candidates=[],
        flags=flags,
        tail_fraction=float(tail_fraction),
        effective_half_life_h=_t_half(res.tail_rate_per_h),
        physical_half_life_h=math.log(2.0) / lam_phys,
        sigma_MBq=sigma,
        weighting=weighting,
        notes=tuple(notes),
        _tail_rate_per_h=res.tail_rate_per_h,
    )


def _too_few(name: str, n: int) -> TimingError:
    return TimingError(
        f"model {name!r} needs at least {MIN_POINTS[name]} time points, got {n}",
        tag="times_h",
        fix="add time points, choose a simpler model, or pass allow_fallback=True to use "
        "'trapezoid-physical' (trapezoid with a physical-decay tail)",
    )


def fit_tac(
    times_h,
    activities_MBq,
    *,
    physical_half_life_h: float,
    model: str = "auto",
    relative_sd: float = 0.1,
    sd_MBq=None,
    allow_fallback: bool = False,
    covariance_scaling: str = "reduced-chi-square",
) -> TacFit:
    """Fit and integrate one time-activity curve.

    Args:
        times_h: acquisition times in hours after administration (increasing, >= 0).
        activities_MBq: activity of the region at each time (MBq, >= 0, not all zero).
        physical_half_life_h: physical half-life of the nuclide (h); lower bound of rates.
        model: one of :data:`MODEL_NAMES` or ``"auto"`` (the exponential models the number of
            points allows, lowest AICc wins; with 2-3 points mono-exp without comparison).
        relative_sd: relative standard deviation of each activity (weights), default 10 %.
        sd_MBq: absolute standard deviation(s) in MBq; overrides ``relative_sd``.
        allow_fallback: with too few points for ``model``, use ``trapezoid-physical`` (with a
            note) instead of raising :class:`~theranostics.errors.TimingError`.
        covariance_scaling: ``"reduced-chi-square"`` (default) or ``"none"``.

    Returns:
        A :class:`TacFit`; ``candidates`` lists each model tried (model, aicc, Akaike weight,
        tia_MBq_h).
    """
    lam_phys = inputs.physical_rate_per_h(physical_half_life_h)
    t = inputs.validate_times(times_h)
    a = inputs.validate_activities(activities_MBq, len(t))
    sigma, weighting = inputs.validate_sigma(a, relative_sd, sd_MBq)
    if covariance_scaling not in COVARIANCE_SCALINGS:
        raise InputError(
            f"covariance_scaling must be one of {COVARIANCE_SCALINGS}, got {covariance_scaling!r}",
            tag="covariance_scaling",
        )
    if model != "auto" and model not in MODEL_NAMES:
        raise InputError(
            f"unknown model {model!r}",
            tag="model",
            fix=f"choose 'auto' or one of {', '.join(MODEL_NAMES)}",
        )
    n, notes = len(t), []
    if model == "auto":
        names = [m for m in EXPONENTIAL_MODELS if aicc_defined(n, MODELS[m].n_parameters)]
        skipped = [m for m in EXPONENTIAL_MODELS if m not in names]
        if skipped:
            notes.append(f"not compared (too few points for AICc): {', '.join(skipped)}")
        if not names:
            if n >= MIN_POINTS["mono-exp"]:
                names = ["mono-exp"]
                notes.append(f"{n} points: mono-exp without model selection")
            elif allow_fallback:
                names = ["trapezoid-physical"]
                notes.append(f"fallback to trapezoid-physical: {n} point(s) cannot be fitted")
            else:
                raise _too_few("mono-exp", n)
    elif n < MIN_POINTS[model]:
        if not allow_fallback:
            raise _too_few(model, n)
        notes.append(f"fallback to trapezoid-physical: {model} needs {MIN_POINTS[model]} points")
        names = ["trapezoid-physical"]
    else:
        names = [model]
    fits = []
    for name in names:
        if name in MODELS:
            fits.append(
                _exponential_fit(name, t, a, sigma, lam_phys, covariance_scaling, weighting, notes)
            )
        else:
            fits.append(_trapezoid_fit(name, t, a, sigma, lam_phys, weighting, notes))
    weights = akaike_weights([f.aicc for f in fits])
    candidates = [
        {"model": f.model, "aicc": f.aicc, "akaike_weight": w, "tia_MBq_h": f.tia_MBq_h}
        for f, w in zip(fits, weights)
    ]
    if len(fits) > 1:
        best = min(fits, key=lambda f: f.aicc if f.aicc is not None else math.inf)
        chosen_note = f"model chosen by lowest AICc among {', '.join(names)}"
        return _replace(best, candidates=candidates, notes=(*best.notes, chosen_note))
    return _replace(fits[0], candidates=candidates)


def _replace(fit: TacFit, **changes) -> TacFit:
    import dataclasses

    return dataclasses.replace(fit, **changes)
