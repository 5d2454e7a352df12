"""The partition model of 90Y radioembolisation: compartments, activity fractions, dose per GBq.

A compartment is a region that traps microspheres: one or more tumours, the normal perfused
tissue (normal liver = perfused liver minus tumours), the lung (shunted spheres), and any other
region (e.g. stomach). The fraction ``f_i`` of the administered 90Y activity that lodges in
compartment ``i`` is taken from the 99mTc-MAA SPECT counts ``C_i`` in it, assuming MAA and
microspheres distribute alike and that every sphere lodges in some compartment:

    f_i = C_i / Σ_j C_j                              (sum over all compartments)
    LSF = C_lung / (C_lung + C_tumours + C_normal)   (liver counts include the tumours)
    T/N = (C_T / V_T) / (C_N / V_N)                  (count densities, tumours pooled)
    d_i = K · f_i / m_i                              (Gy per GBq, m_i in kg)

with K = :func:`~.sirt_methods.y90_dose_constant_Gy_kg_per_GBq` (MIRD local deposition, all
beta energy absorbed where the spheres lodge). References: Ho et al. 1996 (Eur J Nucl Med
23:947), Gulec et al. 2006 (J Nucl Med 47:1209), Dezarn et al. 2011 (AAPM TG-144, Med Phys
38:4824). Fractions may also be given directly (calculator mode) instead of counts.

Uncertainty (when counts are raw detected counts): binomial counting statistics,
var(f_i) = f_i (1 − f_i) / Σ C (first-order propagation of independent Poisson counts; a lower
bound for reconstructed SPECT, whose voxels are correlated), and the mass standard deviation
given with each compartment; they add in quadrature in d_i.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import InputError
from .sirt_methods import y90_dose_constant_Gy_kg_per_GBq

#: Tissue kinds of a compartment.
TISSUES = ("tumor", "normal", "lung", "other")
#: Pooled groups reported besides each compartment ("perfused" = tumours + normal).
POOLS = ("tumor", "normal", "lung", "other", "perfused")


def _finite(value, name: str, what: str, *, allow_none: bool = False, lower: float = 0.0):
    if value is None and allow_none:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not math.isfinite(v) or v < lower:
        raise InputError(
            f"compartment {name!r}: {what} is {value!r}; it must be a finite number >= {lower:g}",
            tag=what,
            fix=f"give a valid {what} for {name!r}",
        )
    return v


@dataclass(frozen=True)
class Compartment:
    """One partition-model compartment.

    Attributes:
        name: unique name (e.g. the ROI name).
        tissue: one of :data:`TISSUES`.
        mass_g: mass in g (> 0), from CT or given.
        counts: MAA counts in the compartment (any unit proportional to activity: counts,
            cps, MBq); give either ``counts`` for every compartment or ``fraction`` for every one.
        fraction: activity fraction in [0, 1] (calculator mode).
        volume_mL: volume in mL (needed for T/N and the BSA method).
        mass_sd_g: standard deviation of the mass, g, when known.
        poisson_counts: ``counts`` are detected counts, so counting statistics apply.
        source: where the numbers come from (free text, e.g. "RTSTRUCT ROI 'Tumor'").
    """

    name: str
    tissue: str
    mass_g: float
    counts: float | None = None
    fraction: float | None = None
    volume_mL: float | None = None
    mass_sd_g: float | None = None
    poisson_counts: bool = False
    source: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InputError("a compartment has no name", tag="name", fix="name every compartment")
        if self.tissue not in TISSUES:
            raise InputError(
                f"compartment {self.name!r}: unknown tissue {self.tissue!r}",
                tag="tissue",
                fix=f"use one of {', '.join(TISSUES)}",
            )
        if self.mass_g is None:
            raise InputError(
                f"compartment {self.name!r}: mass missing",
                tag="mass_g",
                fix="give the mass in g, or a CT so that it can be measured",
            )
        mass = _finite(self.mass_g, self.name, "mass_g")
        if mass <= 0:
            raise InputError(
                f"compartment {self.name!r}: mass is {mass:g} g (empty compartment?)",
                tag="mass_g",
                fix="check the mask/ROI of this compartment",
            )
        if (self.counts is None) == (self.fraction is None):
            raise InputError(
                f"compartment {self.name!r}: give exactly one of counts and fraction",
                tag="counts/fraction",
                fix="counts from the MAA SPECT, or an activity fraction in calculator mode",
            )
        _finite(self.counts, self.name, "counts", allow_none=True)
        if self.fraction is not None and _finite(self.fraction, self.name, "fraction") > 1:
            raise InputError(
                f"compartment {self.name!r}: fraction {self.fraction} is above 1",
                tag="fraction",
                fix="give the fraction as a number in [0, 1]",
            )
        _finite(self.volume_mL, self.name, "volume_mL", allow_none=True)
        _finite(self.mass_sd_g, self.name, "mass_sd_g", allow_none=True)

    def to_json(self) -> dict:
        """The compartment's inputs as a JSON-ready dict."""
        return {
            "name": self.name,
            "tissue": self.tissue,
            "mass_g": self.mass_g,
            "counts": self.counts,
            "fraction": self.fraction,
            "volume_mL": self.volume_mL,
            "mass_sd_g": self.mass_sd_g,
            "poisson_counts": self.poisson_counts,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: dict) -> Compartment:
        """Inverse of :meth:`to_json` (validated like a new compartment)."""
        keys = ("name", "tissue", "mass_g", "counts", "fraction", "volume_mL", "mass_sd_g")
        extra = {k: data[k] for k in ("poisson_counts", "source") if k in data}
        return cls(**{k: data.get(k) for k in keys}, **extra)


@dataclass(frozen=True)
class GroupResult:
    """Fraction, mass and dose per GBq of one compartment or pooled group.

    ``*_sd`` are standard deviations (``None`` when not determinable, e.g. calculator mode).
    """

    fraction: float
    mass_g: float
    volume_mL: float | None
    dose_Gy_per_GBq: float
    fraction_sd: float | None = None
    mass_sd_g: float | None = None
    dose_Gy_per_GBq_sd: float | None = None

    @property
    def dose_rel_sd(self) -> float | None:
        """Relative standard deviation of the dose per GBq, or ``None``."""
        if self.dose_Gy_per_GBq_sd is None or self.dose_Gy_per_GBq <= 0:
            return None
        return self.dose_Gy_per_GBq_sd / self.dose_Gy_per_GBq


@dataclass(frozen=True)
class PartitionResult:
    """Activity fractions and absorbed dose per GBq of every compartment and pooled group.

    Attributes:
        compartments: the inputs.
        by_compartment: name -> :class:`GroupResult`.
        pooled: tissue group (:data:`POOLS`, those present) -> :class:`GroupResult`.
        lung_shunt_fraction: LSF (0 when there is no lung compartment: flagged in ``notes``).
        lung_shunt_fraction_sd: its counting standard deviation, or ``None``.
        tumor_to_normal_ratio: T/N of count (or fraction) densities per mL, or ``None``.
        constant_Gy_kg_per_GBq: K used.
        unassigned_fraction: 1 − Σ f_i in calculator mode (0 with counts).
        notes: findings worth showing.
    """

    compartments: tuple[Compartment, ...]
    by_compartment: dict[str, GroupResult]
    pooled: dict[str, GroupResult]
    lung_shunt_fraction: float
    lung_shunt_fraction_sd: float | None
    tumor_to_normal_ratio: float | None
    constant_Gy_kg_per_GBq: float
    unassigned_fraction: float = 0.0
    notes: tuple[str, ...] = field(default=())


def _group(members: list[Compartment], fracs: dict[str, float], total: float | None, k: float):
    """Pooled fraction/mass/dose per GBq of ``members`` with first-order uncertainties."""
    f = sum(fracs[c.name] for c in members)
    m = sum(c.mass_g for c in members)
    vols = [c.volume_mL for c in members]
    vol = sum(vols) if all(v is not None for v in vols) else None
    f_sd = math.sqrt(f * (1 - f) / total) if total else None
    m_sds = [c.mass_sd_g for c in members]
    m_sd = math.sqrt(sum(s * s for s in m_sds)) if all(s is not None for s in m_sds) else None
    dose = k * f / (m / 1000.0)
    # Components that are known add in quadrature; an unknown one is left out (the plan's
    # notes say which), and with none known the uncertainty is not determinable.
    dose_sd = None
    if (f_sd is not None or m_sd is not None) and f > 0:
        dose_sd = dose * math.hypot((f_sd or 0.0) / f, (m_sd or 0.0) / m)
    return GroupResult(f, m, vol, dose, f_sd, m_sd, dose_sd)


def partition_model(compartments) -> PartitionResult:
    """Fractions, LSF, T/N and dose per GBq of 90Y for each compartment (module docstring).

    Args:
        compartments: :class:`Compartment` objects with unique names; all with counts, or all
            with fractions.

    Raises:
        InputError: no compartment, duplicate names, counts mixed with fractions, fractions
            summing over 1, zero total counts.
    """
    comps = tuple(compartments)
    if not comps:
        raise InputError("no compartments given", tag="compartments", fix="give at least one")
    names = [c.name for c in comps]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"duplicate compartment names: {dupes}", tag="name", fix="rename them")
    with_counts = [c.counts is not None for c in comps]
    if any(with_counts) and not all(with_counts):
        raise InputError(
            "some compartments give MAA counts and others activity fractions: inconsistent units",
            tag="counts/fraction",
            fix="give counts for every compartment, or fractions for every one",
        )
    notes: list[str] = []
    k = y90_dose_constant_Gy_kg_per_GBq()
    total_counts: float | None = None
    if all(with_counts):
        s = sum(c.counts for c in comps)
        if s <= 0:
            raise InputError(
                "the compartments hold no MAA counts",
                tag="counts",
                fix="check that the masks lie on the SPECT activity",
            )
        fracs = {c.name: c.counts / s for c in comps}
        if all(c.poisson_counts for c in comps):
            total_counts = s
        unassigned = 0.0
    else:
        fracs = {c.name: float(c.fraction) for c in comps}
        total = sum(fracs.values())
        if total > 1.0 + 1e-9:
            raise InputError(
                f"activity fractions sum to {total:.6g} > 1",
                tag="fraction",
                fix="fractions are shares of the administered activity; correct them",
            )
        unassigned = max(0.0, 1.0 - total)
        if unassigned > 1e-9:
            notes.append(
                f"fractions sum to {total:.4g}: {unassigned:.2%} of the activity is assigned to "
                "no compartment and gives no dose in this plan"
            )
    by_comp = {c.name: _group([c], fracs, total_counts, k) for c in comps}
    pooled: dict[str, GroupResult] = {}
    for pool in POOLS:
        members = [
            c
            for c in comps
            if c.tissue == pool or (pool == "perfused" and c.tissue in ("tumor", "normal"))
        ]
        if members:
            pooled[pool] = _group(members, fracs, total_counts, k)
    f_lung = pooled["lung"].fraction if "lung" in pooled else 0.0
    f_liver = pooled["perfused"].fraction if "perfused" in pooled else 0.0
    if "lung" not in pooled:
        notes.append("no lung compartment: lung shunt taken as 0 and lung limits not checked")
    lsf = f_lung / (f_lung + f_liver) if f_lung + f_liver > 0 else 0.0
    lsf_sd = None
    if total_counts is not None and "lung" in pooled:
        n = total_counts * (f_lung + f_liver)
        lsf_sd = math.sqrt(lsf * (1 - lsf) / n) if n > 0 else None
    no_mass_sd = [c.name for c in comps if c.mass_sd_g is None]
    if no_mass_sd and total_counts is not None:
        notes.append(
            "mass uncertainty unknown for " + ", ".join(no_mass_sd) + ": their dose uncertainty "
            "is from counting statistics only"
        )
    tn = None
    t, nrm = pooled.get("tumor"), pooled.get("normal")
    if t and nrm and t.volume_mL and nrm.volume_mL and nrm.fraction > 0:
        tn = (t.fraction / t.volume_mL) / (nrm.fraction / nrm.volume_mL)
    return PartitionResult(
        compartments=comps,
        by_compartment=by_comp,
        pooled=pooled,
        lung_shunt_fraction=lsf,
        lung_shunt_fraction_sd=lsf_sd,
        tumor_to_normal_ratio=tn,
        constant_Gy_kg_per_GBq=k,
        unassigned_fraction=unassigned,
        notes=tuple(notes),
    )
