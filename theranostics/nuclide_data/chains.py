"""Decay chains: which progeny decay, and how often, per decay of a parent.

Branching fractions and progeny come from the package ``radioactivedecay`` (Malins & Lemoine
2022, J. Open Source Softw. 7(71) 3318; decay data from ICRP 107). A daughter is followed when
it is radioactive and shorter-lived than the parent, so that in a time integral over the
whole decay its number of decays per parent decay equals the product of branching fractions
along the path (whatever the equilibrium factor at a given time). Longer-lived or stable
daughters end the chain (e.g. 209Bi after 225Ac; 131mXe after 131I is not followed).
"""

from __future__ import annotations

from functools import cache


@cache
def progeny_decays_per_parent_decay(key: str, parent_half_life_s: float) -> list[tuple[str, float]]:
    """Short-lived progeny of ``key`` with their decays per parent decay.

    Args:
        key: parent nuclide key (``"Ac-225"``).
        parent_half_life_s: parent half-life in s (the cut: progeny with a half-life at
            least this long are not followed).

    Returns:
        ``[(daughter key, decays per parent decay), ...]`` in chain order; empty for a
        nuclide whose daughters are stable or long-lived, or when ``radioactivedecay`` does
        not know the nuclide.

    Raises:
        ModuleNotFoundError: ``radioactivedecay`` is not installed. An empty chain would
            silently drop the daughters' dose (e.g. 225Ac without 221Fr, 217At, 213Bi ...),
            so a missing package is an error naming the fix, never an empty list.
    """
    try:
        import radioactivedecay as rd
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"decay chain of {key}: the Python package 'radioactivedecay' is not installed; "
            "it gives the progeny and branching fractions. Fix: pip install radioactivedecay "
            "(in 3D Slicer: press 'Install missing dependencies' in the Theranostic Planning "
            "or Dose Mapping panel)",
            name="radioactivedecay",
        ) from exc
    out: dict[str, float] = {}
    stack = [(key, 1.0)]
    while stack:
        nuc, weight = stack.pop()
        try:
            entry = rd.Nuclide(nuc)
        except Exception:  # radioactivedecay raises ValueError for unknown nuclides
            continue
        for daughter, fraction in zip(entry.progeny(), entry.branching_fractions()):
            if fraction <= 0:
                continue
            try:
                half_life = rd.Nuclide(daughter).half_life("s")
            except Exception:
                continue
            if not (half_life < parent_half_life_s):  # stable (inf) or long-lived
                continue
            out[daughter] = out.get(daughter, 0.0) + weight * fraction
            stack.append((daughter, weight * fraction))
    return list(out.items())
