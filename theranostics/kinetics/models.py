"""Time-activity models: curves, Jacobians and analytic time-integrated activity (TIA).

Times ``t`` are hours after administration, activities MBq, rates 1/h, TIA MBq·h. All rates
are *effective* (biological clearance and physical decay together), so a washout rate can
never be slower than physical decay: ``lambda >= lambda_phys`` (bounds of the fit).

Exponential models (TIA = integral from 0 to infinity, closed form):

* ``mono-exp``        A(t) = A0 exp(-lam t);                       TIA = A0 / lam
* ``uptake-washout``  A(t) = A (exp(-lam_w t) - exp(-lam_u t)),    TIA = A (1/lam_w - 1/lam_u)
  with lam_u > lam_w >= lam_phys (the curve starts at 0 at administration);
* ``bi-exp``          A(t) = A1 exp(-lam1 t) + A2 exp(-lam2 t),    TIA = A1/lam1 + A2/lam2
  (two washout phases, lam1 >= lam2 >= lam_phys after ordering).

Trapezoid models (see :mod:`.trapezoid`): ``trapezoid-physical`` and ``trapezoid-fitted-tail``.

References: MIRD Pamphlet 21 (Bolch WE et al., J Nucl Med 2009;50:477-484) for the TIA
definition; Sjögreen Gleisner K et al., EANM dosimetry committee recommendations for
dosimetry of 177Lu-labelled somatostatin-receptor- and PSMA-targeting ligands, Eur J Nucl Med
Mol Imaging 2022;49:1778-1809, for the model families used in 177Lu dosimetry.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

LN2 = math.log(2.0)

MODEL_NAMES = (
    "mono-exp",
    "uptake-washout",
    "bi-exp",
    "trapezoid-physical",
    "trapezoid-fitted-tail",
)
EXPONENTIAL_MODELS = ("mono-exp", "uptake-washout", "bi-exp")
TRAPEZOID_MODELS = ("trapezoid-physical", "trapezoid-fitted-tail")


@dataclass(frozen=True)
class ExponentialModel:
    """One sum-of-exponentials model: parameter names, curve, Jacobian and analytic TIA.

    ``curve(p, t)`` (MBq), ``jacobian(p, t)`` (shape ``(len(t), k)``), ``tia(p)`` (MBq·h),
    ``tia_gradient(p)`` (d TIA / d p, shape ``(k,)``), ``rate_index``: the parameters that
    are rates (lower bound lambda_phys), ``terminal_rate(p)``: the slowest rate (1/h).
    """

    name: str
    parameter_names: tuple[str, ...]
    rate_index: tuple[int, ...]
    curve: Callable[[np.ndarray, np.ndarray], np.ndarray]
    jacobian: Callable[[np.ndarray, np.ndarray], np.ndarray]
    tia: Callable[[np.ndarray], float]
    tia_gradient: Callable[[np.ndarray], np.ndarray]
    terminal_rate: Callable[[np.ndarray], float]

    @property
    def n_parameters(self) -> int:
        return len(self.parameter_names)

    def bounds(self, lam_phys: float) -> tuple[np.ndarray, np.ndarray]:
        """Box bounds: amplitudes >= 0, rates >= ``lam_phys`` (1/h)."""
        lo = np.zeros(self.n_parameters)
        lo[list(self.rate_index)] = lam_phys
        return lo, np.full(self.n_parameters, np.inf)

    def integral_after(self, p: np.ndarray, t0_h: float) -> float:
        """Integral of the curve from ``t0_h`` to infinity (MBq·h): the extrapolated tail."""
        return _integral_after(self.name, p, t0_h)


def _mono_curve(p, t):
    return p[0] * np.exp(-p[1] * t)


def _mono_jac(p, t):
    e = np.exp(-p[1] * t)
    return np.column_stack([e, -p[0] * t * e])


def _uw_curve(p, t):
    return p[0] * (np.exp(-p[1] * t) - np.exp(-p[2] * t))


def _uw_jac(p, t):
    ew, eu = np.exp(-p[1] * t), np.exp(-p[2] * t)
    return np.column_stack([ew - eu, -p[0] * t * ew, p[0] * t * eu])


def _bi_curve(p, t):
    return p[0] * np.exp(-p[1] * t) + p[2] * np.exp(-p[3] * t)


def _bi_jac(p, t):
    e1, e2 = np.exp(-p[1] * t), np.exp(-p[3] * t)
    return np.column_stack([e1, -p[0] * t * e1, e2, -p[2] * t * e2])


def _integral_after(name: str, p: np.ndarray, t0: float) -> float:
    if name == "mono-exp":
        return float(p[0] / p[1] * math.exp(-p[1] * t0))
    if name == "uptake-washout":
        return float(p[0] * (math.exp(-p[1] * t0) / p[1] - math.exp(-p[2] * t0) / p[2]))
    return float(p[0] / p[1] * math.exp(-p[1] * t0) + p[2] / p[3] * math.exp(-p[3] * t0))


MODELS: dict[str, ExponentialModel] = {
    "mono-exp": ExponentialModel(
        name="mono-exp",
        parameter_names=("A0_MBq", "lambda_per_h"),
        rate_index=(1,),
        curve=_mono_curve,
        jacobian=_mono_jac,
        tia=lambda p: float(p[0] / p[1]),
        tia_gradient=lambda p: np.array([1.0 / p[1], -p[0] / p[1] ** 2]),
        terminal_rate=lambda p: float(p[1]),
    ),
    "uptake-washout": ExponentialModel(
        name="uptake-washout",
        parameter_names=("A_MBq", "lambda_washout_per_h", "lambda_uptake_per_h"),
        rate_index=(1, 2),
        curve=_uw_curve,
        jacobian=_uw_jac,
        tia=lambda p: float(p[0] * (1.0 / p[1] - 1.0 / p[2])),
        tia_gradient=lambda p: np.array(
            [1.0 / p[1] - 1.0 / p[2], -p[0] / p[1] ** 2, p[0] / p[2] ** 2]
        ),
        terminal_rate=lambda p: float(p[1]),
    ),
    "bi-exp": ExponentialModel(
        name="bi-exp",
        parameter_names=("A1_MBq", "lambda1_per_h", "A2_MBq", "lambda2_per_h"),
        rate_index=(1, 3),
        curve=_bi_curve,
        jacobian=_bi_jac,
        tia=lambda p: float(p[0] / p[1] + p[2] / p[3]),
        tia_gradient=lambda p: np.array(
            [1.0 / p[1], -p[0] / p[1] ** 2, 1.0 / p[3], -p[2] / p[3] ** 2]
        ),
        terminal_rate=lambda p: float(min(p[1], p[3])),
    ),
}


def effective_half_life_h(rate_per_h: float) -> float:
    """``ln 2 / rate`` in hours (the effective half-life of a rate in 1/h)."""
    return LN2 / rate_per_h if rate_per_h > 0 else math.inf
