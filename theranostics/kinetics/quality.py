"""EANM-style fit-quality flags of a time-activity fit.

Checks, each with a documented threshold (module constants, see ``docs/kinetics.md``):

* coefficient of variation of each fitted parameter, ``CV = sqrt(cov_ii) / |p_i|``: flagged
  above ``CV_LIMIT = 0.5`` (50 %), a parameter known to no better than a factor ~2;
* pairwise parameter correlation ``r_ij = cov_ij / sqrt(cov_ii cov_jj)``: flagged when
  ``|r| > CORRELATION_LIMIT = 0.8`` (strongly coupled parameters: the data cannot separate
  them; the TIA may still be well determined, its uncertainty accounts for the coupling);
* goodness of fit: reduced chi-square ``chi^2 / dof`` and the chi-square p-value, flagged when
  ``p < P_VALUE_LIMIT = 0.05`` (residuals larger than the assumed standard deviations);
* tail fraction: share of the TIA extrapolated after the last measurement, flagged above
  ``TAIL_FRACTION_LIMIT = 0.2`` (the last time point is too early for this clearance);
* parameters that ended at a bound (e.g. washout rate = physical decay) or that the curve no
  longer depends on (undetermined: CV reported as infinite).

The CV and correlation limits are the fit-acceptance criteria of the NUKFIT papers (Kletting P
et al., Med Phys 2013;40:102504); the use of CV, correlation and goodness of fit as fit-quality
indicators follows Gear JI et al., EANM practical guidance on uncertainty analysis for
molecular radiotherapy absorbed dose calculations, Eur J Nucl Med Mol Imaging
2018;45:2456-2474, and Sjögreen Gleisner K et al., Eur J Nucl Med Mol Imaging
2022;49:1778-1809. The tail-fraction limit is our choice, in line with the EANM advice that
the last measurement should be late enough for the extrapolated part to be minor.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

CV_LIMIT = 0.5
CORRELATION_LIMIT = 0.8
P_VALUE_LIMIT = 0.05
TAIL_FRACTION_LIMIT = 0.2


def quality_flags(
    parameter_names: tuple[str, ...],
    parameters: np.ndarray | None,
    covariance: np.ndarray | None,
    chi_square: float | None,
    dof: int,
    tail_fraction: float,
    at_bound: tuple[str, ...] = (),
    undetermined: tuple[str, ...] = (),
) -> dict:
    """The fit-quality flags as a JSON-ready dict (``issues`` lists what was flagged)."""
    issues: list[str] = []
    cv: dict[str, float] = {}
    max_corr = None
    if covariance is not None and parameters is not None:
        sd = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
        for name, p, s in zip(parameter_names, parameters, sd):
            cv[name] = float(s / abs(p)) if p != 0 and name not in undetermined else math.inf
            if cv[name] > CV_LIMIT:
                issues.append(f"CV of {name} is {100 * cv[name]:.0f} % (> {100 * CV_LIMIT:.0f} %)")
        if len(sd) > 1 and np.all(sd > 0) and not undetermined:
            corr = covariance / np.outer(sd, sd)
            off = np.abs(corr[~np.eye(len(sd), dtype=bool)])
            max_corr = float(np.max(off))
            i, j = np.unravel_index(np.argmax(np.abs(corr) - np.eye(len(sd)) * 2), corr.shape)
            if max_corr > CORRELATION_LIMIT:
                issues.append(
                    f"|correlation| of {parameter_names[i]} and {parameter_names[j]} is "
                    f"{max_corr:.2f} (> {CORRELATION_LIMIT})"
                )
    reduced = p_value = None
    if chi_square is not None and dof > 0:
        reduced = float(chi_square / dof)
        p_value = float(stats.chi2.sf(chi_square, dof))
        if p_value < P_VALUE_LIMIT:
            issues.append(
                f"poor goodness of fit: reduced chi-square {reduced:.2f} (p = {p_value:.3g})"
            )
    if tail_fraction > TAIL_FRACTION_LIMIT:
        issues.append(
            f"{100 * tail_fraction:.0f} % of the TIA is extrapolated after the last time point "
            f"(> {100 * TAIL_FRACTION_LIMIT:.0f} %)"
        )
    for name in undetermined:
        issues.append(f"{name} is not determined by the data (the curve does not depend on it)")
    for name in at_bound:
        issues.append(f"{name} ended at its bound (effective rate = physical decay?)")
    return {
        "parameter_cv": cv,
        "max_abs_correlation": max_corr,
        "reduced_chi_square": reduced,
        "chi_square_p_value": p_value,
        "tail_fraction": float(tail_fraction),
        "parameters_at_bound": list(at_bound),
        "parameters_undetermined": list(undetermined),
        "issues": issues,
        "ok": not issues,
        "thresholds": {
            "cv": CV_LIMIT,
            "abs_correlation": CORRELATION_LIMIT,
            "chi_square_p_value": P_VALUE_LIMIT,
            "tail_fraction": TAIL_FRACTION_LIMIT,
        },
    }
