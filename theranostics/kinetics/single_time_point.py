"""Single-time-point (STP) estimates of the time-integrated activity (TIA).

* Hänscheid: ``TIA ≈ A(t) · 2 t / ln 2`` (Hänscheid H, Lapa C, Buck AK, Lassmann M,
  Werner RA. Dose mapping after endoradiotherapy with 177Lu-DOTATATE/DOTATOC by a single
  measurement after 4 days. J Nucl Med 2018;59:75-81). For a mono-exponential curve with
  effective half-life T the ratio to the true TIA is ``2 x e^(-x) / ln 2`` with
  ``x = ln 2 · t / T``: exact at t = T and t = 2 T, largest over-estimate +6.1 % at
  t = T / ln 2, and between -12 % and +6.1 % for 0.75 T ≤ t ≤ 2.5 T
  (:func:`hanscheid_relative_error`).
* Madsen: ``TIA = A(t) · e^(λ t) / λ`` with ``λ = ln 2 / T_pop`` a population effective
  half-life (Madsen MT, Menda Y, O'Dorisio TM, O'Dorisio MS. Technical note: single time
  point dose estimate for exponential clearance. Med Phys 2018;45:2318-2324). Its sensitivity
  to the half-life, ``dTIA/dT = TIA (1 - λ t) / T``, vanishes at ``t = T / ln 2``: the
  optimal imaging time; :func:`madsen_tia_with_uncertainty` propagates the population SD.

Population half-lives are read from ``theranostics/data/population_half_lives.json`` (each
entry with its source) or from a user file of the same schema. Units: MBq, h, MBq·h.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from theranostics.errors import InputError, TimingError

LN2 = math.log(2.0)
DEFAULT_TABLE = Path(__file__).resolve().parent.parent / "data" / "population_half_lives.json"


def _check(activity_MBq, time_h):
    a = np.asarray(activity_MBq, dtype=float)
    t = np.asarray(time_h, dtype=float)
    if np.any(~np.isfinite(t)) or np.any(t <= 0):
        raise TimingError(
            f"time_h must be positive hours after administration, got {t.tolist()}",
            tag="time_h",
            fix="give the imaging time in hours after administration (> 0)",
        )
    if np.any(~np.isfinite(a)) or np.any(a < 0):
        raise InputError(
            f"activity_MBq must be finite and >= 0, got {a.tolist()}", tag="activity_MBq"
        )
    return a, t


def _check_half_life(effective_half_life_h):
    h = np.asarray(effective_half_life_h, dtype=float)
    if np.any(~np.isfinite(h)) or np.any(h <= 0):
        raise InputError(
            f"effective_half_life_h must be positive hours, got {h.tolist()}",
            tag="effective_half_life_h",
        )
    return h


def hanscheid_tia_MBq_h(activity_MBq, time_h):
    """Hänscheid's STP estimate ``A(t) · 2 t / ln 2`` (MBq·h); arrays broadcast."""
    a, t = _check(activity_MBq, time_h)
    out = a * 2.0 * t / LN2
    return float(out) if out.ndim == 0 else out


def hanscheid_relative_error(time_h, effective_half_life_h):
    """Relative error of Hänscheid's estimate for a mono-exponential curve:
    ``2 x e^(-x) / ln 2 - 1`` with ``x = ln 2 t / T``."""
    _, t = _check(1.0, time_h)
    x = LN2 * t / _check_half_life(effective_half_life_h)
    out = 2.0 * x * np.exp(-x) / LN2 - 1.0
    return float(out) if out.ndim == 0 else out


def madsen_tia_MBq_h(activity_MBq, time_h, effective_half_life_h):
    """Madsen's STP estimate ``A(t) e^(λ t) / λ`` with ``λ = ln 2 / T_eff`` (MBq·h)."""
    a, t = _check(activity_MBq, time_h)
    lam = LN2 / _check_half_life(effective_half_life_h)
    out = a * np.exp(lam * t) / lam
    return float(out) if out.ndim == 0 else out


def madsen_tia_with_uncertainty(
    activity_MBq: float, time_h: float, effective_half_life_h: float, half_life_sd_h: float
) -> tuple[float, float]:
    """Madsen's TIA and its standard uncertainty (MBq·h) from the SD of the population
    half-life, to first order: ``u = |TIA (1 - λ t) / T| · sd_T``."""
    tia = madsen_tia_MBq_h(activity_MBq, time_h, effective_half_life_h)
    lam = LN2 / effective_half_life_h
    return tia, abs(tia * (1.0 - lam * time_h) / effective_half_life_h) * float(half_life_sd_h)


@dataclass(frozen=True)
class PopulationHalfLife:
    """One entry of the population half-life table (hours) and its source."""

    radiopharmaceutical: str
    structure: str
    effective_half_life_h: float
    sd_h: float | None
    statistic: str
    range_h: tuple[float, float] | None
    n: str | None
    reference: str
    verified: bool
    verification_note: str


@lru_cache(maxsize=8)
def _load(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the half-life table: {exc}", path=path) from exc


def _key(text: str) -> str:
    return text.strip().lower().replace(" ", "_")


def population_half_life(
    radiopharmaceutical: str, structure: str, *, table_path: str | Path | None = None
) -> PopulationHalfLife:
    """The table entry for ``radiopharmaceutical`` and ``structure`` (aliases accepted:
    ``"psma"``, ``"kidney_left"``, ``"parotid"``, ``"lesion"`` ...)."""
    path = str(table_path or DEFAULT_TABLE)
    table = _load(path)
    aliases = table.get("aliases", {})
    rp = aliases.get("radiopharmaceutical", {}).get(_key(radiopharmaceutical), radiopharmaceutical)
    entries = table.get("radiopharmaceuticals", {})
    if rp not in entries:
        raise InputError(
            f"no population half-lives for radiopharmaceutical {radiopharmaceutical!r}",
            path=path,
            tag="radiopharmaceutical",
            fix=f"use one of {sorted(entries)} or pass table_path= with your own table",
        )
    st = _key(structure)
    st = aliases.get("structure", {}).get(st, st)
    if st.startswith("lesion"):
        st = "tumour"
    if st not in entries[rp]:
        raise InputError(
            f"no population half-life for {structure!r} with {rp}",
            path=path,
            tag="structure",
            fix=f"available: {sorted(entries[rp])}; pass effective_half_life_h yourself or "
            "table_path= with your own population data",
        )
    e = entries[rp][st]
    return PopulationHalfLife(
        radiopharmaceutical=rp,
        structure=st,
        effective_half_life_h=float(e["effective_half_life_h"]),
        sd_h=None if e.get("sd_h") is None else float(e["sd_h"]),
        statistic=e.get("statistic", ""),
        range_h=None if e.get("range_h") is None else tuple(e["range_h"]),
        n=e.get("n"),
        reference=e["reference"],
        verified=bool(e.get("verified", False)),
        verification_note=e.get("verification_note", ""),
    )


def population_effective_half_life_h(
    radiopharmaceutical: str, structure: str, *, table_path: str | Path | None = None
) -> float:
    """Population effective half-life (h) of ``structure`` for ``radiopharmaceutical``;
    :func:`population_half_life` gives the SD, statistic and reference."""
    return population_half_life(
        radiopharmaceutical, structure, table_path=table_path
    ).effective_half_life_h
