"""Lesion segmentation on PET (SUVbw) or quantitative SPECT (Bq/mL).

Methods (references and discussion in docs/lesions.md):

- ``"fixed"``: every voxel at or above ``threshold`` (default SUVbw 3; a value in Bq/mL is
  required for SPECT);
- ``"percist"``: threshold 1.5 × liver mean + 2 SD in a 3 cm sphere inside the liver (Wahl et
  al. J Nucl Med 2009;50:122S), see :mod:`.thresholds`;
- ``"percent-max"``: each lesion its own threshold, ``percent`` % (default 41) of its maximum
  (EANM, Boellaard et al. 2015), grown from its maximum, see :mod:`.growing`;
- ``"adaptive"``: each lesion its own background-corrected threshold
  B + ``percent`` % (default 50) × (SUVpeak − B) (Frings et al. 2014), see :mod:`.growing`.

Then: voxels of excluded organs removed (before growing), 26-connected components, lesions
below ``min_volume_mL`` dropped, include/exclude seeds applied (:mod:`.components`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..image import QuantitativeImage
from ..progress import ProgressCallback, report
from .components import (
    SEED_SEARCH_RADIUS_MM,
    apply_rules,
    hottest_near,
    seed_indices,
    threshold_components,
)
from .exclusion import exclusion_mask, mask_on_grid
from .growing import grow_all, grow_lesion
from .quantity import uptake
from .thresholds import liver_reference

METHODS = ("fixed", "percist", "percent-max", "adaptive")
#: Default threshold (fixed) or detection floor (per-lesion methods) in SUVbw.
DEFAULT_SUV_THRESHOLD = 3.0
DEFAULT_PERCENT = {"percent-max": 41.0, "adaptive": 50.0}
#: Half-width (mm) of the crop an include seed may grow a lesion in.
SEED_GROWTH_HALF_WIDTH_MM = 60.0


@dataclass(frozen=True)
class LesionSegmentation:
    """Individual lesions on the image grid.

    Attributes:
        labels: uint16 image on the input image's grid (LPS): 0 background, n = lesion n.
        names: ``names[n - 1]`` is the name of label n (``lesion_001`` ...), lesions ordered
            by decreasing maximum uptake.
        notes: what happened, in words (resampled masks, dropped candidates, no lesion ...).
        method: the method used (one of :data:`METHODS`).
        parameters: the parameters actually used (threshold with its unit, liver reference,
            percent, floor, prominence, min volume, margin ...).
        unit: unit of the thresholds and of the segmentation quantity (``SUVbw``, ``Bq/mL``).
        lesion_thresholds: per lesion (same order as ``names``): ``threshold``, ``max`` and
            for the per-lesion methods ``reference``, ``background``, ``clamped``.
    """

    labels: sitk.Image
    names: tuple[str, ...]
    notes: tuple[str, ...]
    method: str
    parameters: dict
    unit: str
    lesion_thresholds: tuple[dict, ...] = field(default_factory=tuple)

    @property
    def count(self) -> int:
        """Number of lesions."""
        return len(self.names)

    def masks(self) -> dict[str, sitk.Image]:
        """One uint8 mask (1 inside) per lesion, by name, on the image grid."""
        result = {}
        for label, name in enumerate(self.names, start=1):
            mask = sitk.Cast(self.labels == label, sitk.sitkUInt8)
            result[name] = mask
        return result

    def to_json(self) -> dict:
        """A JSON-ready summary (no voxels): names with their labels, method, parameters,
        unit, per-lesion thresholds and notes."""
        return {
            "method": self.method,
            "unit": self.unit,
            "parameters": self.parameters,
            "labels": {str(i): n for i, n in enumerate(self.names, start=1)},
            "lesion_thresholds": {
                n: t for n, t in zip(self.names, self.lesion_thresholds, strict=False)
            },
            "notes": list(self.notes),
        }


def _fail(message: str, tag: str, fix: str) -> InputError:
    return InputError(message, tag=tag, fix=fix)


def _global_threshold(method, threshold, unit, values, reference, liver_mask, exclude, notes):
    """Threshold and liver reference (or None) of the fixed/PERCIST methods."""
    if method == "fixed":
        if threshold is None:
            if unit != "SUVbw":
                raise _fail(
                    f"a fixed threshold in {unit} is needed",
                    "threshold",
                    "give threshold= in Bq/mL (CLI --threshold), or segment a PET in SUV",
                )
            threshold = DEFAULT_SUV_THRESHOLD
        return float(threshold), None
    liver = liver_mask
    if liver is None and exclude:
        named = [k for k in exclude if "liver" in k.lower()]
        if named:
            liver = exclude[named[0]]
            notes.append(f"PERCIST liver reference taken from the exclusion mask {named[0]!r}")
    if liver is None:
        raise _fail(
            "the PERCIST threshold needs a liver mask",
            "liver_mask",
            "give liver_mask= (CLI --liver-mask) or an exclusion mask named 'liver'",
        )
    array, note = mask_on_grid(liver, reference, "liver")
    if note:
        notes.append(note)
    ref = liver_reference(values, array, reference, unit)
    notes.append(
        f"PERCIST liver reference: 3 cm sphere at LPS ({ref.centre_lps_mm[0]:.1f}, "
        f"{ref.centre_lps_mm[1]:.1f}, {ref.centre_lps_mm[2]:.1f}) mm, {ref.depth_mm:.1f} mm "
        f"deep, mean {ref.mean:.3g} SD {ref.sd:.3g} {unit}, threshold {ref.threshold:.3g} {unit}"
    )
    if ref.depth_mm < ref.diameter_mm / 2:
        notes.append("the liver is thinner than the 3 cm sphere: the sphere is clipped to it")
    return ref.threshold, ref


def segment_lesions(
    image: QuantitativeImage,
    *,
    method: str = "fixed",
    threshold: float | None = None,
    percent: float | None = None,
    prominence: float | None = None,
    liver_mask: sitk.Image | None = None,
    exclude: dict[str, sitk.Image] | None = None,
    exclusion_margin_mm: float = 0.0,
    min_volume_mL: float = 1.0,
    include_seeds_lps: Sequence[Sequence[float]] = (),
    exclude_seeds_lps: Sequence[Sequence[float]] = (),
    quantity: str = "auto",
    progress: ProgressCallback | None = None,
) -> LesionSegmentation:
    """Segment individual lesions.

    Args:
        image: PET in Bq/mL (segmented in SUVbw) or SPECT in Bq/mL.
        method: one of :data:`METHODS`.
        threshold: ``fixed``: the threshold; ``percent-max``/``adaptive``: the detection
            floor a lesion maximum must reach. In the segmentation unit (SUVbw for PET, Bq/mL
            for SPECT); default SUVbw 3, required in Bq/mL. Ignored by ``percist``.
        percent: percentage of the maximum (``percent-max``, default 41) or of the
            background-corrected SUVpeak (``adaptive``, default 50).
        prominence: smallest height of a maximum above the saddle to a hotter one for it to
            be a lesion of its own (default threshold / 3), same unit.
        liver_mask: liver mask (``percist``), any grid.
        exclude: organ masks whose voxels are not lesions (any grid; resampled with a note).
        exclusion_margin_mm: dilation of the exclusion masks (mm).
        min_volume_mL: smallest lesion kept (include seeds override it).
        include_seeds_lps, exclude_seeds_lps: points (LPS, mm), see :mod:`.components`.
        quantity: ``"auto"``, ``"SUVbw"`` or ``"Bq/mL"`` (see :func:`.quantity.uptake`).
        progress: optional callback.

    Returns:
        A :class:`LesionSegmentation`; with no lesion, empty labels and a note saying why.

    Raises:
        MissingTagError: SUV needed but the weight (or activity, times) is missing.
        UnitsError: the image is in counts.
        InputError: empty image, unknown method, missing threshold or liver mask, bad seeds.
    """
    if method not in METHODS:
        raise _fail(f"unknown method {method!r}", "method", f"use one of {', '.join(METHODS)}")
    if min_volume_mL < 0:
        raise _fail(f"min_volume_mL {min_volume_mL} < 0", "min_volume_mL", "give 0 or more")
    report(progress, 0.0, "lesions: reading uptake")
    u = uptake(image, quantity)
    values, reference, unit = u.values, image.image, u.unit
    notes: list[str] = []
    excluded, exclusion_notes = exclusion_mask(exclude, reference, margin_mm=exclusion_margin_mm)
    notes += exclusion_notes
    allowed = ~excluded
    include = seed_indices(include_seeds_lps, reference, "include_seeds_lps")
    drop = seed_indices(exclude_seeds_lps, reference, "exclude_seeds_lps")
    parameters: dict = {
        "method": method,
        "unit": unit,
        "min_volume_mL": float(min_volume_mL),
        "exclusion_margin_mm": float(exclusion_margin_mm),
        "excluded_organs": sorted(exclude or {}),
        "connectivity": "full (26-neighbourhood)",
        "include_seeds_lps_mm": [list(map(float, p)) for p in include_seeds_lps],
        "exclude_seeds_lps_mm": [list(map(float, p)) for p in exclude_seeds_lps],
    }
    report(progress, 0.1, f"lesions: {method}")
    if method in ("fixed", "percist"):
        t, liver_ref = _global_threshold(
            method, threshold, unit, values, reference, liver_mask, exclude, notes
        )
        parameters["threshold"] = t
        if liver_ref is not None:
            parameters["liver_reference"] = liver_ref.to_json()
        labels = threshold_components((values >= t) & allowed)
        infos = [{"threshold": t} for _ in range(int(labels.max()))]
        growth = None
        why_none = f"no voxel at or above {t:.4g} {unit} outside the excluded organs"
    else:
        fraction = (percent if percent is not None else DEFAULT_PERCENT[method]) / 100.0
        if not 0.0 < fraction < 1.0:
            raise _fail(f"percent {fraction * 100:g} is not in (0, 100)", "percent", "e.g. 41")
        if threshold is None and unit != "SUVbw":
            raise _fail(
                f"the detection floor of {method} needs a threshold in {unit}",
                "threshold",
                "give threshold= (CLI --threshold) in Bq/mL: the least maximum of a lesion",
            )
        floor = float(threshold if threshold is not None else DEFAULT_SUV_THRESHOLD)
        h = float(prominence if prominence is not None else floor / 3.0)
        parameters.update(percent=fraction * 100.0, floor=floor, prominence=h)
        labels, infos, skipped = grow_all(
            values, allowed, u.spacing_mm, rule=method, fraction=fraction, floor=floor,
            prominence=h,
        )  # fmt: skip
        if skipped:
            notes.append(f"{skipped} maxima inside excluded organs ignored")
        growth = {"rule": method, "fraction": fraction, "floor": floor}
        why_none = f"no maximum of at least {floor:.4g} {unit} outside the excluded organs"
    report(progress, 0.8, "lesions: seeds and minimum volume")
    _grow_from_seeds(values, labels, allowed, include, u.spacing_mm, growth, infos, notes)
    labels, old_ids, rule_notes = apply_rules(
        labels, values, u.voxel_volume_mL, min_volume_mL=min_volume_mL, include=include,
        exclude=drop,
    )  # fmt: skip
    notes += rule_notes
    thresholds = tuple(_clean(infos[i - 1]) for i in old_ids)
    if not old_ids:
        notes.append(f"no lesion found: {why_none} (of at least {min_volume_mL:g} mL)")
    clamped = [i + 1 for i, t in enumerate(thresholds) if t.get("clamped")]
    if clamped:
        notes.append(
            f"threshold raised to the local background + 2 SD for lesion label(s) {clamped}"
        )
    out = sitk.GetImageFromArray(labels.astype(np.uint16))
    out.CopyInformation(reference)
    report(progress, 1.0, f"lesions: {len(old_ids)} found")
    return LesionSegmentation(
        labels=out,
        names=tuple(f"lesion_{n:03d}" for n in range(1, len(old_ids) + 1)),
        notes=tuple(notes),
        method=method,
        parameters=parameters,
        unit=unit,
        lesion_thresholds=thresholds,
    )


def _clean(info: dict) -> dict:
    out = {}
    for key, value in info.items():
        if key == "start":
            continue
        out[key] = float(value) if isinstance(value, (float, np.floating)) else value
    return out


def _grow_from_seeds(values, labels, allowed, include, spacing, growth, infos, notes) -> None:
    """Give every include seed that is in no lesion a lesion of its own where possible."""
    for index in include:
        if labels[index]:
            continue
        if growth is None:
            notes.append(
                f"include seed at voxel {index[::-1]} is below the threshold; nothing to keep"
            )
            continue
        free = allowed & (labels == 0)
        start = hottest_near(values, index, spacing, free, SEED_SEARCH_RADIUS_MM)
        if start is None:
            notes.append(f"include seed at voxel {index[::-1]} lies in excluded/taken voxels")
            continue
        half = [int(np.ceil(SEED_GROWTH_HALF_WIDTH_MM / s)) for s in tuple(spacing)[::-1]]
        box = tuple(
            slice(max(0, c - h), min(n, c + h + 1)) for c, h, n in zip(start, half, values.shape)
        )
        region, info = grow_lesion(
            values, free[box], allowed, box, start, spacing,
            rule=growth["rule"], fraction=growth["fraction"], floor=growth["floor"],
        )  # fmt: skip
        labels[box][region] = len(infos) + 1
        infos.append(info)
        notes.append(f"lesion grown from the include seed at voxel {index[::-1]}")
