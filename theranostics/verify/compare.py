"""Planned-versus-delivered comparison: per-structure doses, dose-difference map, DVHs, and a
tolerance table that flags what deviates.

Sign convention everywhere: difference = delivered − planned (or b − a); relative
differences are in percent of the planned (a) value.

Uncertainty: the combined standard uncertainty of a difference of two independent values is
``u_c = sqrt(u_planned² + u_delivered²)`` (GUM, JCGM 100:2008, §5.1); a difference is
"within uncertainty" when ``|Δ| ≤ k·u_c`` with coverage factor k (default 2, ~95 %).

Default flag policy (:data:`DEFAULT_TOLERANCES` are checked; :data:`STRICT_TOLERANCES` are
checked with ``strict=True`` or when given in ``tolerances``; docs/verification.md has the
reasoning and the measured demo figures). They are meant for a like-with-like comparison
(both maps at the same spatial resolution, :mod:`theranostics.verify.resolution`); against a
raw comparison of a sharp plan with a SPECT-based map they flag the camera's resolution, not
the treatment.

Flagged by default, the quantities for which the literature gives an uncertainty or an
action level:

* structure mean absorbed dose, organs 10 %: about twice the combined standard uncertainty
  of a 177Lu organ absorbed dose from quantitative SPECT/CT (~5 % for kidneys in the worked
  examples of the EANM practical guidance on uncertainty analysis, Gear et al., EJNMMI
  2018;45:2456-2474, whose framework propagates uncertainties to the *mean absorbed dose in a
  VOI*), so a flag is a difference beyond what the measurement chain explains (k ≈ 2); the
  mean of the structure's DVH (``mean_Gy``, the same dose: one dose per structure) is
  checked with it;
* structure mean absorbed dose, lesions 20 %: lesion doses carry larger uncertainties
  (partial volume, recovery, segmentation; 10-30 % in the same guidance);
* gamma: pass rate ≥ 90 % at 3 %/3 mm global with a 10 % low-dose cutoff (the action limit
  of AAPM TG-218, Miften et al., Med Phys 2018;45:e53-e83, with the criteria of Low et al.
  1998) — the check of the spatial distribution. No gamma criterion specific to SPECT-based
  MRT dosimetry has been published; noise in the evaluated map lowers gamma (Low & Dempsey,
  Med Phys 2003;30:2455-2464), so the test is conservative there.

Reported but not flagged by default: the quantiles of the structure's voxel distribution,
D50 (median) and the near-minimum/near-maximum D98/D2 (ICRU Report 83, 2010, which introduced
them for external-beam IMRT because the minimum and maximum of a computed distribution are
not reproducible). Both DVHs of a comparison are at their structure dose, so a quantile's
difference beyond the mean's is a difference of the distribution's *shape*, and the shape of
a SPECT-based voxel dose distribution is set by the camera's resolution and the voxel noise
(D95/D50 lowered by 30-60 %/15-50 % by 6-12 mm blurring, Pacilio et al., Phys Med Biol
2015;60:1945-1964; sub-organ doses merged into one continuous distribution, Tran-Gia et al.,
J Nucl Med 2020;61:1178-1186); no tolerance for them is published for radiopharmaceutical
therapy (the EANM guidance of Stokke et al., EJNMMI 2024;51:1268-1286, lists voxel-map
cut-offs such as D98 as reported "if deemed relevant"). With ``strict=True`` they are
checked: D50 at the mean-dose tolerance and D98/D2 at twice it (organ 20 %, lesion 40 %; our
choice). The largest volume gap between the cumulative curves is reported, checked only when
``dvh_curve_volume_points`` is given (on a steep DVH a 2 % dose shift moves the curve by tens
of percentage points: it measures steepness, not agreement).

Structures the plan does not contain (``unplanned``) get their DVH rows reported with the note
"not in the plan" and are never flagged.

ICRU Report 96 (2017) asks that a dosimetry-guided therapy report the absorbed dose with its
uncertainty; the within-uncertainty test above is that comparison.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from ..errors import GeometryError, InputError

#: Tolerances checked by default (percent unless the key says otherwise): the structure mean
#: dose (plan comparison and the DVH mean) and gamma. See the module docstring.
DEFAULT_TOLERANCES: dict[str, float] = {
    "organ_mean_dose_percent": 10.0,
    "lesion_mean_dose_percent": 20.0,
    "organ_dvh_mean_percent": 10.0,
    "lesion_dvh_mean_percent": 20.0,
    "gamma_pass_rate_min_percent": 90.0,
}

#: Tolerances of the DVH quantiles, checked with ``strict=True`` (or each when given in
#: ``tolerances``): D_x with 10 < x < 90 (D50, the median) at the mean-dose tolerance, the
#: near-extreme D_x (x >= 90 or <= 10: D98, D2) at twice it (our choice; module docstring).
STRICT_TOLERANCES: dict[str, float] = {
    "organ_dvh_quantile_percent": 10.0,
    "lesion_dvh_quantile_percent": 20.0,
    "organ_dvh_near_extreme_percent": 20.0,
    "lesion_dvh_near_extreme_percent": 40.0,
}

#: Tolerances that are not applied unless given (see the module docstring).
OPTIONAL_TOLERANCES: tuple[str, ...] = ("dvh_curve_volume_points",)

#: Note of a DVH row that is reported, not checked, under the default policy.
REPORTED_NOTE = "reported, not flagged by default (docs/verification.md); strict=True checks it"


def is_near_extreme(key: str) -> bool:
    """A D-metric of the upper or lower tail (D_x with x >= 90 or x <= 10, such as D98, D95,
    D5, D2), checked against the near-extreme tolerance."""
    if not (key.startswith("D") and key.endswith("_Gy")):
        return False
    try:
        x = float(key[1:-3])
    except ValueError:
        return False
    return x >= 90.0 or x <= 10.0


def dvh_metric_kind(key: str) -> str:
    """Which tolerance a DVH metric key is checked against: ``"mean"`` (``mean_Gy``),
    ``"near_extreme"`` (:func:`is_near_extreme`) or ``"quantile"`` (other D_x, the median)."""
    if key == "mean_Gy":
        return "mean"
    return "near_extreme" if is_near_extreme(key) else "quantile"


def _number(entry: dict, key: str, structure: str, side: str, required: bool) -> float | None:
    value = entry.get(key)
    if value is None:
        if required:
            raise InputError(
                f"structure {structure!r} in the {side} values has no {key}",
                tag=key,
                fix=f"give {key} for every structure",
            )
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(
            f"structure {structure!r} ({side}): {key}={value!r} is not a finite number",
            tag=key,
            fix="give a number",
        )
    if key.endswith("uncertainty_Gy") and value < 0:
        raise InputError(
            f"structure {structure!r} ({side}): {key} is negative", tag=key, fix="give >= 0"
        )
    return float(value)


@dataclass(frozen=True)
class StructureComparison:
    """Rows of :func:`compare_structures` (one dict per structure) and the settings."""

    rows: list[dict]
    parameters: dict = field(default_factory=dict)

    @property
    def deviating(self) -> list[str]:
        """Structures outside tolerance or outside their uncertainty."""
        return [
            r["structure"]
            for r in self.rows
            if r["within_tolerance"] is False or r["within_uncertainty"] is False
        ]

    def to_json(self) -> dict:
        return {"parameters": dict(self.parameters), "rows": [dict(r) for r in self.rows]}


def compare_structures(
    planned: dict[str, dict],
    delivered: dict[str, dict],
    *,
    tolerance_percent: float | None = None,
    coverage_k: float = 2.0,
    tolerances: dict[str, float] | None = None,
) -> StructureComparison:
    """Per-structure planned-versus-delivered mean dose (and BED when both give it).

    Args:
        planned, delivered: ``{name: {"mean_dose_Gy": .., "mean_dose_uncertainty_Gy": ..
            (optional), "bed_Gy": .. (optional), "category": "organ"|"lesion" (optional)}}``
            (the ``structures`` block of results.json fits).
        tolerance_percent: one tolerance for every structure; default by category from
            ``tolerances`` (organ 10 %, lesion 20 %).
        coverage_k: coverage factor of the within-uncertainty test.
        tolerances: overrides of :data:`DEFAULT_TOLERANCES`.

    Returns:
        :class:`StructureComparison`; structures present on one side only get a row with a
        note and no flags (``None``).
    """
    tol = {**DEFAULT_TOLERANCES, **(tolerances or {})}
    if not (math.isfinite(coverage_k) and coverage_k > 0):
        raise InputError(f"coverage_k={coverage_k}", tag="coverage_k", fix="give k > 0")
    rows = []
    for name in list(planned) + [n for n in delivered if n not in planned]:
        p, d = planned.get(name), delivered.get(name)
        category = ((d or {}).get("category") or (p or {}).get("category") or "organ").lower()
        row = {"structure": name, "category": category}
        if p is None or d is None:
            row.update(
                within_uncertainty=None,
                within_tolerance=None,
                note="only in the delivered values" if p is None else "only in the plan",
            )
            rows.append(row)
            continue
        pg = _number(p, "mean_dose_Gy", name, "planned", True)
        dg = _number(d, "mean_dose_Gy", name, "delivered", True)
        up = _number(p, "mean_dose_uncertainty_Gy", name, "planned", False)
        ud = _number(d, "mean_dose_uncertainty_Gy", name, "delivered", False)
        diff = dg - pg
        uc = math.hypot(up or 0.0, ud or 0.0) if (up is not None or ud is not None) else None
        limit = tolerance_percent
        if limit is None:
            limit = tol[
                "lesion_mean_dose_percent" if category == "lesion" else "organ_mean_dose_percent"
            ]
        rel = 100.0 * diff / pg if pg != 0 else math.copysign(math.inf, diff) if diff else 0.0
        row.update(
            planned_Gy=pg,
            delivered_Gy=dg,
            difference_Gy=diff,
            relative_difference_percent=rel,
            planned_uncertainty_Gy=up,
            delivered_uncertainty_Gy=ud,
            combined_uncertainty_Gy=uc,
            within_uncertainty=None if uc is None else bool(abs(diff) <= coverage_k * uc),
            tolerance_percent=float(limit),
            within_tolerance=bool(abs(rel) <= limit),
            note="" if uc is not None else "no uncertainty given",
        )
        bp = _number(p, "bed_Gy", name, "planned", False)
        bd = _number(d, "bed_Gy", name, "delivered", False)
        if bp is not None and bd is not None:
            row.update(bed_planned_Gy=bp, bed_delivered_Gy=bd, bed_difference_Gy=bd - bp)
        rows.append(row)
    return StructureComparison(
        rows=rows,
        parameters={
            "coverage_k": coverage_k,
            "tolerance_percent": tolerance_percent,
            "tolerances": tol,
            "difference": "delivered - planned; relative to planned",
        },
    )


def dose_difference_map(
    planned: sitk.Image, delivered: sitk.Image, *, percent_of_Gy: float | None = None
) -> sitk.Image:
    """``delivered − planned`` on the delivered grid (Gy, or percent of ``percent_of_Gy``).

    ``planned`` is resampled onto the delivered grid by trilinear interpolation (LPS
    geometry of both images); voxels outside the planned grid are NaN.

    Raises:
        GeometryError: the grids do not overlap.
        InputError: ``percent_of_Gy`` not > 0.
    """
    from ._grid import check_dose_image

    check_dose_image(planned, "planned")
    d = check_dose_image(delivered, "delivered")
    resampled = sitk.Resample(
        sitk.Cast(planned, sitk.sitkFloat64),
        delivered,
        sitk.Transform(),
        sitk.sitkLinear,
        math.nan,
        sitk.sitkFloat64,
    )
    p = sitk.GetArrayFromImage(resampled)
    if np.all(np.isnan(p)):
        raise GeometryError(
            "the planned and delivered dose grids do not overlap",
            tag="planned",
            fix="check both doses are in the same patient coordinates (frame of reference)",
        )
    diff = d - p
    if percent_of_Gy is not None:
        if not (math.isfinite(percent_of_Gy) and percent_of_Gy > 0):
            raise InputError(
                f"percent_of_Gy={percent_of_Gy}", tag="percent_of_Gy", fix="give a dose > 0"
            )
        diff = 100.0 * diff / percent_of_Gy
    out = sitk.GetImageFromArray(diff.astype(np.float32))
    out.CopyInformation(delivered)
    out.SetMetaData("units", "%" if percent_of_Gy is not None else "Gy")
    return out


def compare_dvhs(dvh_a, dvh_b) -> dict:
    """Differences (b − a) of two :class:`~theranostics.dose.dvh.DVH` objects.

    Returns ``{"metrics": {key: {"a", "b", "difference", "relative_difference_percent"}},
    "max_volume_difference_percent": .., "at_dose_Gy": ..}``: the largest absolute difference
    of the cumulative curves (percentage points of each structure's own volume), evaluated
    exactly at every voxel dose of either structure (the curves are step functions).
    """
    metrics = {}
    for key in dvh_a.metrics:
        if key in dvh_b.metrics:
            a, b = float(dvh_a.metrics[key]), float(dvh_b.metrics[key])
            rel = 100.0 * (b - a) / a if a != 0 else None
            metrics[key] = {"a": a, "b": b, "difference": b - a, "relative_difference_percent": rel}
    levels = np.union1d(dvh_a._doses, dvh_b._doses)
    gap = dvh_b.volume_percent_at(levels) - dvh_a.volume_percent_at(levels)
    worst = int(np.argmax(np.abs(gap)))
    return {
        "metrics": metrics,
        "max_volume_difference_percent": float(gap[worst]),
        "at_dose_Gy": float(levels[worst]),
    }


@dataclass(frozen=True)
class ToleranceTable:
    """Checks against tolerances: rows of ``{"check", "structure", "value", "tolerance",
    "unit", "passed", "note"}`` (``passed`` None: reported, not checked), the tolerances
    applied and the flag policy (``strict``, which keys were checked, which reported only,
    the structures not in the plan)."""

    rows: list[dict]
    tolerances: dict
    policy: dict = field(default_factory=dict)

    @property
    def deviations(self) -> list[dict]:
        """Rows that failed."""
        return [r for r in self.rows if r["passed"] is False]

    @property
    def flagged_structures(self) -> dict[str, list[str]]:
        """Structure -> the checks it failed (structures with no failed check are absent)."""
        out: dict[str, list[str]] = {}
        for r in self.deviations:
            if r.get("structure"):
                out.setdefault(r["structure"], []).append(r["check"])
        return out

    def to_json(self) -> dict:
        return {
            "tolerances": dict(self.tolerances),
            "policy": dict(self.policy),
            "rows": [dict(r) for r in self.rows],
            "deviations": len(self.deviations),
            "flagged_structures": self.flagged_structures,
        }


def tolerance_table(
    structures: StructureComparison | None = None,
    dvhs: dict[str, dict] | None = None,
    gamma=None,
    *,
    categories: dict[str, str] | None = None,
    tolerances: dict[str, float] | None = None,
    strict: bool = False,
    unplanned: Iterable[str] = (),
) -> ToleranceTable:
    """One table of every comparison, flagging what deviates (policy: module docstring).

    Args:
        structures: from :func:`compare_structures` (mean dose: relative difference within
            tolerance, and within k·u_c when uncertainties were given).
        dvhs: ``{name: compare_dvhs(...)}``. The DVH mean is checked against the organ/lesion
            mean tolerance; the quantiles (D50/median, D98, D2, ...) are reported and checked
            only with ``strict`` or when their tolerance is given in ``tolerances``; the curve
            gap only when ``dvh_curve_volume_points`` is given.
        gamma: a :class:`~theranostics.verify.gamma.GammaResult` (or its ``to_json()``);
            pass rate against the minimum.
        categories: ``{name: "organ"|"lesion"}`` for the DVH rows (default organ).
        tolerances: overrides of :data:`DEFAULT_TOLERANCES`, or tolerances of
            :data:`STRICT_TOLERANCES` / :data:`OPTIONAL_TOLERANCES` to check.
        strict: check the DVH quantiles too, with :data:`STRICT_TOLERANCES` (overridable).
        unplanned: structures the plan does not contain: their DVH rows are reported with the
            note "not in the plan" and never flagged.

    Raises:
        InputError: an unknown tolerance key.
    """
    known = [*DEFAULT_TOLERANCES, *STRICT_TOLERANCES, *OPTIONAL_TOLERANCES]
    unknown = sorted(set(tolerances or {}) - set(known))
    if unknown:
        raise InputError(
            f"unknown tolerance(s) {unknown}", tag="tolerances", fix=f"use keys among {known}"
        )
    tol = {**DEFAULT_TOLERANCES, **(STRICT_TOLERANCES if strict else {}), **(tolerances or {})}
    unplanned = set(unplanned)
    rows: list[dict] = []
    for r in structures.rows if structures is not None else []:
        if r["within_tolerance"] is None:
            rows.append(
                {
                    "check": "mean dose",
                    "structure": r["structure"],
                    "value": None,
                    "tolerance": None,
                    "unit": "%",
                    "passed": None,
                    "note": r["note"],
                }
            )
            continue
        rows.append(
            {
                "check": "mean dose difference",
                "structure": r["structure"],
                "value": r["relative_difference_percent"],
                "tolerance": r["tolerance_percent"],
                "unit": "%",
                "passed": r["within_tolerance"],
                "note": "",
            }
        )
        if r["within_uncertainty"] is not None:
            k = structures.parameters["coverage_k"]
            rows.append(
                {
                    "check": f"mean dose within k={k:g} uncertainty",
                    "structure": r["structure"],
                    "value": r["difference_Gy"],
                    "tolerance": k * r["combined_uncertainty_Gy"],
                    "unit": "Gy",
                    "passed": r["within_uncertainty"],
                    "note": "",
                }
            )
    for name, comp in (dvhs or {}).items():
        cat = "lesion" if (categories or {}).get(name, "organ") == "lesion" else "organ"
        in_plan = name not in unplanned
        for key, m in comp["metrics"].items():
            if not (key.startswith("D") or key in ("mean_Gy", "median_Gy")):
                continue
            if key == "median_Gy" and "D50_Gy" in comp["metrics"]:
                continue  # the same quantity, reported once
            limit = tol.get(f"{cat}_dvh_{dvh_metric_kind(key)}_percent")
            rel = m["relative_difference_percent"]
            passed = None
            if rel is None:
                note = "reference value is 0"
            elif not in_plan:
                note = "not in the plan: reported, not flagged"
            elif limit is None:
                note = REPORTED_NOTE
            else:
                note, passed = "", bool(abs(rel) <= limit)
            rows.append(
                {
                    "check": f"DVH {key}",
                    "structure": name,
                    "value": rel,
                    "tolerance": limit if in_plan else None,
                    "unit": "%",
                    "passed": passed,
                    "note": note,
                }
            )
        curve = comp["max_volume_difference_percent"]
        curve_tol = tol.get("dvh_curve_volume_points") if in_plan else None
        rows.append(
            {
                "check": "DVH curve max volume difference",
                "structure": name,
                "value": curve,
                "tolerance": curve_tol,
                "unit": "percentage points",
                "passed": None if curve_tol is None else bool(abs(curve) <= curve_tol),
                "note": f"at {comp['at_dose_Gy']:.3g} Gy"
                + ("" if curve_tol is not None else "; reported, not checked (module docs)"),
            }
        )
    if gamma is not None:
        g = gamma.to_json() if hasattr(gamma, "to_json") else dict(gamma)
        p = g.get("parameters", {})
        crit = f"{p.get('dose_percent', '?')} %/{p.get('dta_mm', '?')} mm" + (
            " local" if p.get("local") else " global"
        )
        rows.append(
            {
                "check": f"gamma pass rate ({crit})",
                "structure": None,
                "value": g["pass_rate_percent"],
                "tolerance": tol["gamma_pass_rate_min_percent"],
                "unit": "% (minimum)",
                "passed": bool(g["pass_rate_percent"] >= tol["gamma_pass_rate_min_percent"]),
                "note": "",
            }
        )
    policy = {
        "strict": bool(strict),
        "flagged": sorted(k for k in tol if k not in OPTIONAL_TOLERANCES)
        + [k for k in OPTIONAL_TOLERANCES if k in tol],
        "reported_only": [k for k in STRICT_TOLERANCES if k not in tol],
        "not_in_plan": sorted(unplanned & set(dvhs or {})),
        "description": (
            "flagged: structure mean dose and gamma"
            + ("; DVH quantiles (strict)" if strict else "")
            + ("" if strict else "; D50/D98/D2 reported, not flagged (docs/verification.md)")
        ),
    }
    return ToleranceTable(rows=rows, tolerances=tol, policy=policy)
