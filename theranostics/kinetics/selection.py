"""Model selection by the corrected Akaike information criterion (AICc).

With weighted least squares and standard deviations taken as known (the documented
weighting), -2 ln L = chi^2 + const, so for a model with ``k`` fitted parameters and ``n``
points

    AIC  = chi^2 + 2 k
    AICc = AIC + 2 k (k + 1) / (n - k - 1)        (defined when n > k + 1)

and the model with the lowest AICc is chosen; Akaike weights ``exp(-Δ_i/2) / Σ exp(-Δ_j/2)``
say how strongly. References: Burnham KP, Anderson DR, Model Selection and Multimodel
Inference, 2nd ed., Springer 2002 (AICc, Akaike weights); Glatting G, Kletting P, Reske SN,
Hohl K, Ring C, Choosing the optimal fit function: comparison of the Akaike information
criterion and the F-test, Med Phys 2007;34:4285-4292; Kletting P et al., Molecular
radiotherapy: the NUKFIT software for calculating the time-integrated activity coefficient,
Med Phys 2013;40:102504 (AICc for TIA in dosimetry).
"""

from __future__ import annotations

import math


def aicc_defined(n_points: int, n_parameters: int) -> bool:
    """True when AICc exists: ``n > k + 1``."""
    return n_points > n_parameters + 1


def aicc(chi_square: float, n_points: int, n_parameters: int) -> float | None:
    """AICc of a weighted least-squares fit (see module docstring); ``None`` if undefined."""
    if not aicc_defined(n_points, n_parameters):
        return None
    k = n_parameters
    return float(chi_square + 2 * k + 2 * k * (k + 1) / (n_points - k - 1))


def akaike_weights(values: list[float | None]) -> list[float | None]:
    """Akaike weights of a list of AICc values (``None`` entries get ``None``)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return [None for _ in values]
    best = min(finite)
    raw = [
        math.exp(-(v - best) / 2.0) if v is not None and math.isfinite(v) else None for v in values
    ]
    total = sum(r for r in raw if r is not None)
    return [r / total if r is not None else None for r in raw]
