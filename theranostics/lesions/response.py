"""Response assessment between a baseline and a follow-up PET (or quantitative SPECT).

1. **Mapping.** ``transform`` maps baseline physical points (LPS mm) to follow-up points
   (ITK convention with the baseline as the fixed image: what
   ``sitk.Resample(followup, baseline, transform)`` wants, and what
   :func:`theranostics.registration.register_ct` returns as ``.transform`` for
   ``fixed=baseline CT, moving=follow-up CT``). ``None`` means both images share one patient
   coordinate system (same frame of reference, no motion).
2. **Matching**, one to one: the follow-up labels are resampled onto the baseline grid
   (nearest neighbour) and pairs are taken greedily by decreasing Dice while Dice >=
   ``min_dice``; lesions still unpaired are then paired greedily by centroid distance
   (baseline centroid mapped by ``transform``) below ``match_distance_mm``. Baseline lesions
   left are *disappeared*, follow-up lesions left are *new*. Splits and merges are not
   modelled: the larger overlap wins, the rest counts as new/disappeared.
3. **Classification**:

   - **PERCIST 1.0** (Wahl RL et al. J Nucl Med 2009;50(Suppl 1):122S-150S), on the single
     hottest lesion at each time point (not necessarily the same lesion): CMR no lesion left;
     PMR peak down by >= 30 % *and* >= 0.8 units; PMD peak up by >= 30 % and >= 0.8 units, or
     any new lesion; SMD otherwise. PERCIST uses SULpeak: SUL is used when both studies know
     height and sex (lean body mass, Janmahasatian 2005), otherwise SUVbw peaks with the same
     normalisation at both time points and a note (the 0.8 rule is then in SUVbw units). For
     Bq/mL images only the 30 % rule applies. The optional 75 % TLG rule and the measurability
     limit (1.5 × liver + 2 SD) are not applied.
   - **RECIP 1.0** (Gafita A et al. J Nucl Med 2022;63:1651-1658), PSMA PET: on the total
     tumour volume (TTV, sum of lesion volumes) and new lesions: CR no lesion left; PR TTV down
     by >= 30 % without new lesions; PD TTV up by >= 20 % with new lesions; SD otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from ..image import QuantitativeImage
from .biomarkers import BiomarkerTable, lesion_biomarkers
from .segmentation import LesionSegmentation

PERCIST_RELATIVE = 0.30
PERCIST_ABSOLUTE = 0.8
RECIP_DECLINE = 0.30
RECIP_INCREASE = 0.20


@dataclass(frozen=True)
class ResponseAssessment:
    """Lesion-by-lesion table and the overall classification per framework.

    Attributes:
        rows: one dict per lesion pair: ``status`` (matched/new/disappeared), names, peaks,
            volumes, their changes in %, ``dice``, ``distance_mm``, ``matched_by``.
        percist: ``{"category": CMR|PMR|SMD|PMD|NE, "peak_unit", "baseline_peak",
            "followup_peak", "change_percent", "change_absolute", "new_lesions", "reasons"}``.
        recip: ``{"category": CR|PR|SD|PD|NE, "baseline_ttv_mL", "followup_ttv_mL",
            "ttv_change_percent", "new_lesions", "reasons"}``.
        baseline, followup: the biomarker tables.
        notes: what the caller should know.
    """

    rows: list[dict]
    percist: dict
    recip: dict
    baseline: BiomarkerTable
    followup: BiomarkerTable
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict:
        """A JSON-ready dict with the table, both classifications and both tables."""
        return {
            "rows": self.rows,
            "percist": self.percist,
            "recip": self.recip,
            "baseline": self.baseline.to_json(),
            "followup": self.followup.to_json(),
            "notes": list(self.notes),
        }


def _labels(seg: LesionSegmentation | sitk.Image) -> sitk.Image:
    return seg.labels if isinstance(seg, LesionSegmentation) else seg


def _percent(before, after):
    if before is None or after is None or before == 0:
        return None
    return 100.0 * (after - before) / before


def match_lesions(
    baseline_labels: sitk.Image,
    followup_labels: sitk.Image,
    baseline: BiomarkerTable,
    followup: BiomarkerTable,
    *,
    transform: sitk.Transform | None = None,
    min_dice: float = 0.1,
    match_distance_mm: float = 15.0,
) -> list[tuple[int | None, int | None, float, float | None, str]]:
    """One-to-one matching (see module docstring).

    Returns:
        ``(baseline_label | None, followup_label | None, dice, distance_mm, matched_by)``
        tuples: pairs first, then disappeared and new lesions.
    """
    tx = transform if transform is not None else sitk.Transform()
    moved = sitk.Resample(
        followup_labels, baseline_labels, tx, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt16
    )
    b = sitk.GetArrayViewFromImage(baseline_labels).astype(np.int64)
    f = sitk.GetArrayViewFromImage(moved).astype(np.int64)
    nb = max([r["label"] for r in baseline.lesions], default=0)
    nf = max([r["label"] for r in followup.lesions], default=0)
    either = (b > 0) | (f > 0)
    joint = np.bincount(b[either] * (nf + 1) + f[either], minlength=(nb + 1) * (nf + 1))
    joint = joint.reshape(nb + 1, nf + 1)
    size_b, size_f = joint.sum(axis=1), joint.sum(axis=0)
    pairs, used_b, used_f = [], set(), set()
    candidates = []
    for i in range(1, nb + 1):
        for j in range(1, nf + 1):
            if joint[i, j]:
                candidates.append((2.0 * joint[i, j] / (size_b[i] + size_f[j]), i, j))
    for dice, i, j in sorted(candidates, reverse=True):
        if dice >= min_dice and i not in used_b and j not in used_f:
            pairs.append([i, j, float(dice), None, "overlap"])
            used_b.add(i)
            used_f.add(j)
    centre_b = {r["label"]: tx.TransformPoint(r["centroid_lps_mm"]) for r in baseline.lesions}
    centre_f = {r["label"]: r["centroid_lps_mm"] for r in followup.lesions}
    for pair in pairs:
        pair[3] = float(np.linalg.norm(np.subtract(centre_b[pair[0]], centre_f[pair[1]])))
    distances = sorted(
        (float(np.linalg.norm(np.subtract(centre_b[i], centre_f[j]))), i, j)
        for i in centre_b
        for j in centre_f
        if i not in used_b and j not in used_f
    )
    for distance, i, j in distances:
        if distance < match_distance_mm and i not in used_b and j not in used_f:
            dice = 2.0 * joint[i, j] / (size_b[i] + size_f[j]) if size_b[i] + size_f[j] else 0.0
            pairs.append([i, j, float(dice), distance, "distance"])
            used_b.add(i)
            used_f.add(j)
    result = [tuple(p) for p in pairs]
    result += [(i, None, 0.0, None, "") for i in sorted(centre_b) if i not in used_b]
    result += [(None, j, 0.0, None, "") for j in sorted(centre_f) if j not in used_f]
    return result


def _peak_key(baseline: BiomarkerTable, followup: BiomarkerTable, notes: list[str]) -> str:
    if baseline.unit != followup.unit:
        notes.append(f"baseline in {baseline.unit}, follow-up in {followup.unit}")
    if baseline.unit == "Bq/mL" or followup.unit == "Bq/mL":
        return "concentration_peak_Bq_per_mL"
    tables = [t for t in (baseline, followup) if t.lesions]
    if tables and all("sul_peak" in t.lesions[0] for t in tables):
        return "sul_peak"
    notes.append("SUL unknown (height or sex missing): PERCIST applied to SUVbw peaks")
    return "suv_peak"


def classify_percist(baseline_peak, followup_peak, new_lesions: int, *, absolute_rule: bool):
    """PERCIST 1.0 category from the hottest-lesion peaks (None when a study has no lesion)."""
    reasons = []
    if new_lesions:
        reasons.append(f"{new_lesions} new lesion(s)")
    if baseline_peak is None:
        category = "PMD" if new_lesions else "NE"
        reasons.append("no lesion at baseline")
        return category, None, None, reasons
    if followup_peak is None:
        return "CMR", -100.0, -baseline_peak, ["no lesion left at follow-up"]
    change = (followup_peak - baseline_peak) / baseline_peak
    delta = followup_peak - baseline_peak
    big_abs = abs(delta) >= PERCIST_ABSOLUTE or not absolute_rule
    if new_lesions:
        category = "PMD"
    elif change >= PERCIST_RELATIVE and big_abs:
        category = "PMD"
        reasons.append("hottest-lesion peak up by >= 30 %")
    elif change <= -PERCIST_RELATIVE and big_abs:
        category = "PMR"
        reasons.append("hottest-lesion peak down by >= 30 %")
    else:
        category = "SMD"
        reasons.append("peak change within the PERCIST limits")
    return category, 100.0 * change, delta, reasons


def classify_recip(
    baseline_ttv_mL: float, followup_ttv_mL: float, new_lesions: int, followup_count: int
):
    """RECIP 1.0 category from the total tumour volumes (mL) and new lesions."""
    if baseline_ttv_mL <= 0:
        return ("PD" if new_lesions else "NE"), None, ["no tumour volume at baseline"]
    change = (followup_ttv_mL - baseline_ttv_mL) / baseline_ttv_mL
    if followup_count == 0:
        return "CR", -100.0, ["no PSMA-positive lesion left"]
    if change <= -RECIP_DECLINE and not new_lesions:
        return "PR", 100.0 * change, ["TTV down by >= 30 %, no new lesion"]
    if change >= RECIP_INCREASE and new_lesions:
        return "PD", 100.0 * change, ["TTV up by >= 20 % with new lesion(s)"]
    return "SD", 100.0 * change, ["neither PR nor PD"]


def assess_response(
    baseline_image: QuantitativeImage,
    baseline_seg: LesionSegmentation | sitk.Image,
    followup_image: QuantitativeImage,
    followup_seg: LesionSegmentation | sitk.Image,
    *,
    transform: sitk.Transform | None = None,
    min_dice: float = 0.1,
    match_distance_mm: float = 15.0,
    quantity: str = "auto",
) -> ResponseAssessment:
    """Compare a follow-up with a baseline (see module docstring for every rule).

    Args:
        baseline_image, followup_image: PET (SUVbw) or SPECT (Bq/mL) images.
        baseline_seg, followup_seg: lesion segmentations (or label images) on those grids.
        transform: baseline LPS -> follow-up LPS (ITK, baseline = fixed); None: same frame.
        min_dice: smallest Dice for an overlap match.
        match_distance_mm: largest centroid distance for a distance match.
        quantity: as in :func:`.quantity.uptake`.

    Raises:
        MissingTagError: SUV needed without weight.
    """
    notes: list[str] = []
    if transform is None:
        notes.append("no transform: both studies assumed in one patient coordinate system")
    base = lesion_biomarkers(baseline_image, baseline_seg, quantity=quantity)
    follow = lesion_biomarkers(followup_image, followup_seg, quantity=quantity)
    pairs = match_lesions(
        _labels(baseline_seg), _labels(followup_seg), base, follow,
        transform=transform, min_dice=min_dice, match_distance_mm=match_distance_mm,
    )  # fmt: skip
    key = _peak_key(base, follow, notes)
    by_b = {r["label"]: r for r in base.lesions}
    by_f = {r["label"]: r for r in follow.lesions}
    rows = []
    for i, j, dice, distance, how in pairs:
        rb, rf = by_b.get(i), by_f.get(j)
        status = "matched" if rb and rf else ("disappeared" if rb else "new")
        pb, pf = (rb or {}).get(key), (rf or {}).get(key)
        vb, vf = (rb or {}).get("volume_mL"), (rf or {}).get("volume_mL")
        rows.append({
            "status": status,
            "baseline_lesion": rb["name"] if rb else None,
            "followup_lesion": rf["name"] if rf else None,
            f"baseline_{key}": pb,
            f"followup_{key}": pf,
            "peak_change_percent": _percent(pb, pf),
            "baseline_volume_mL": vb,
            "followup_volume_mL": vf,
            "volume_change_percent": _percent(vb, vf),
            "dice": dice if rb and rf else None,
            "distance_mm": distance,
            "matched_by": how or None,
        })  # fmt: skip
    new = sum(r["status"] == "new" for r in rows)
    peak_b = max((r[key] for r in base.lesions), default=None)
    peak_f = max((r[key] for r in follow.lesions), default=None)
    absolute = key != "concentration_peak_Bq_per_mL"
    cat, change, delta, reasons = classify_percist(peak_b, peak_f, new, absolute_rule=absolute)
    if not absolute:
        notes.append("Bq/mL images: the PERCIST 0.8-unit rule is not applicable; 30 % rule only")
    ttv_b, ttv_f = base.total["volume_mL"], follow.total["volume_mL"]
    rcat, rchange, rreasons = classify_recip(ttv_b, ttv_f, new, len(follow.lesions))
    return ResponseAssessment(
        rows=rows,
        percist={
            "category": cat,
            "framework": "PERCIST 1.0 (Wahl et al. 2009)",
            "peak_unit": key,
            "baseline_peak": peak_b,
            "followup_peak": peak_f,
            "change_percent": change,
            "change_absolute": delta,
            "new_lesions": new,
            "reasons": reasons,
        },
        recip={
            "category": rcat,
            "framework": "RECIP 1.0 (Gafita et al. 2022)",
            "baseline_ttv_mL": ttv_b,
            "followup_ttv_mL": ttv_f,
            "ttv_change_percent": rchange,
            "new_lesions": new,
            "reasons": rreasons,
        },
        baseline=base,
        followup=follow,
        notes=tuple(notes),
    )
