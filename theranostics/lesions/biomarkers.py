"""Lesion biomarkers, per lesion and in total.

Keys carry their units:

- ``volume_mL``: metabolic tumour volume (voxels × voxel volume);
- ``suv_max``, ``suv_peak``, ``suv_mean`` (SUVbw, g/mL): maximum voxel, PERCIST peak (highest
  1 mL sphere mean with its centre in the lesion, :mod:`.suv_peak`), mean;
- ``total_lesion_uptake_mL`` (SUVbw × mL): ``suv_mean × volume_mL``, the total lesion
  glycolysis (TLG) of FDG and "total lesion PSMA" (TL-PSMA) of PSMA PET (Larson SM et al.,
  Clin Positron Imaging 1999;2:159-171; Seifert R et al. Eur Urol 2018;73:e116);
- ``sul_peak`` (SUL, g/mL): ``suv_peak`` × lean body mass / weight (Janmahasatian 2005), when
  height and sex are known (PERCIST is defined on SUL);
- in Bq/mL images (PET or quantitative SPECT): ``activity_MBq`` (sum of concentration ×
  voxel volume), ``concentration_mean_Bq_per_mL``, ``concentration_max_Bq_per_mL``,
  ``concentration_peak_Bq_per_mL``;
- ``centroid_lps_mm``, ``peak_centre_lps_mm``: LPS points (mm).

Totals: ``lesion_count``, summed ``volume_mL``, ``total_lesion_uptake_mL``, ``activity_MBq``;
``suv_max``/``suv_peak`` of the hottest lesion; voxel-weighted ``suv_mean`` and mean
concentration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..errors import InputError
from ..image import QuantitativeImage
from .exclusion import same_grid
from .quantity import uptake
from .segmentation import LesionSegmentation
from .suv_peak import lesion_peaks, sphere_kernel


@dataclass(frozen=True)
class BiomarkerTable:
    """Biomarkers of every lesion (``lesions``, one dict per lesion in label order) and of
    all lesions together (``total``); ``unit`` is the uptake unit (``SUVbw`` or ``Bq/mL``);
    ``notes`` what the caller should know (resampled labels, discrete peak sphere size)."""

    lesions: list[dict]
    total: dict
    unit: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict:
        """A JSON-ready dict: ``{"unit", "lesions", "total", "notes"}``."""
        return {
            "unit": self.unit,
            "lesions": self.lesions,
            "total": self.total,
            "notes": list(self.notes),
        }

    def rows(self) -> list[dict]:
        """One flat dict per lesion (LPS points split into ``_x/_y/_z`` columns), for CSV
        files and table nodes."""
        out = []
        for lesion in self.lesions:
            row = {}
            for key, value in lesion.items():
                if isinstance(value, (list, tuple)):
                    stem = key.removesuffix("_lps_mm")
                    for axis, v in zip("xyz", value):
                        row[f"{stem}_{axis}_lps_mm"] = v
                else:
                    row[key] = value
            out.append(row)
        return out


def _labels_on_grid(labels: sitk.Image, reference: sitk.Image, notes: list[str]) -> np.ndarray:
    if same_grid(labels, reference):
        return sitk.GetArrayFromImage(labels).astype(np.int32)
    notes.append("lesion labels were on another grid; resampled (nearest neighbour)")
    moved = sitk.Resample(
        labels, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt16
    )
    return sitk.GetArrayFromImage(moved).astype(np.int32)


def _lps(image: sitk.Image, index_kji) -> list[float]:
    return [
        float(c)
        for c in image.TransformContinuousIndexToPhysicalPoint([float(v) for v in index_kji[::-1]])
    ]


def lesion_biomarkers(
    image: QuantitativeImage,
    segmentation: LesionSegmentation | sitk.Image,
    *,
    names: list[str] | None = None,
    quantity: str = "auto",
    peak_volume_mL: float = 1.0,
) -> BiomarkerTable:
    """Biomarkers of each lesion and in total.

    Args:
        image: the PET/SPECT the lesions were drawn on (Bq/mL, or SUVbw).
        segmentation: a :class:`LesionSegmentation` or a label image (0 background).
        names: lesion names for a plain label image (default ``lesion_<label>``).
        quantity: as in :func:`.quantity.uptake`.
        peak_volume_mL: peak sphere volume (1 mL in PERCIST).

    Raises:
        MissingTagError: SUV requested without weight (see :func:`.quantity.uptake`).
        InputError: names do not match the labels.
    """
    u = uptake(image, quantity)
    notes: list[str] = []
    if isinstance(segmentation, LesionSegmentation):
        label_image, names = segmentation.labels, list(segmentation.names)
    else:
        label_image = segmentation
    labels = _labels_on_grid(label_image, image.image, notes)
    ids = [int(i) for i in np.unique(labels) if i > 0]
    if names is None:
        names = [f"lesion_{i:03d}" for i in range(1, (max(ids) if ids else 0) + 1)]
    if ids and max(ids) > len(names):
        raise InputError(
            f"label {max(ids)} has no name ({len(names)} names given)",
            tag="names",
            fix="give one name per label value 1..n",
        )
    kernel = sphere_kernel(u.spacing_mm, peak_volume_mL)
    notes.append(
        f"peak sphere: {int(kernel.sum())} voxels = {kernel.sum() * u.voxel_volume_mL:.3f} mL "
        f"(nominal {peak_volume_mL:g} mL; voxel centres within the radius)"
    )
    values, vv = u.values, u.voxel_volume_mL
    where = labels > 0
    lab, val = labels[where], values[where].astype(np.float64)
    n = max(ids) if ids else 0
    counts = np.bincount(lab, minlength=n + 1)
    sums = np.bincount(lab, weights=val, minlength=n + 1)
    maxima = ndimage.maximum(val, lab, np.arange(n + 1)) if n else []
    coords = np.argwhere(where)
    centroids = [np.bincount(lab, weights=coords[:, a], minlength=n + 1) for a in range(3)]
    peaks = lesion_peaks(values, labels, u.spacing_mm, volume_mL=peak_volume_mL)
    suv = u.unit == "SUVbw"
    to_bq = u.to_bq_per_mL
    lesions = []
    for label in ids:
        count = int(counts[label])
        mean, vmax = float(sums[label] / count), float(maxima[label])
        peak, peak_at = peaks[label]
        row = {
            "name": names[label - 1],
            "label": label,
            "voxels": count,
            "volume_mL": count * vv,
            "centroid_lps_mm": _lps(image.image, [c[label] / count for c in centroids]),
            "peak_centre_lps_mm": _lps(image.image, peak_at),
        }
        if suv:
            row.update(
                suv_max=vmax,
                suv_peak=peak,
                suv_mean=mean,
                total_lesion_uptake_mL=mean * count * vv,
            )
            if u.sul_per_suv is not None:
                row["sul_peak"] = peak * u.sul_per_suv
        if to_bq is not None:
            row.update(
                activity_MBq=float(sums[label]) * to_bq * vv / 1e6,
                concentration_mean_Bq_per_mL=mean * to_bq,
                concentration_max_Bq_per_mL=vmax * to_bq,
                concentration_peak_Bq_per_mL=peak * to_bq,
            )
        lesions.append(row)
    total = _total(lesions, counts, sums, vv, suv, to_bq)
    return BiomarkerTable(lesions=lesions, total=total, unit=u.unit, notes=tuple(notes))


def _total(lesions, counts, sums, vv, suv, to_bq) -> dict:
    voxels = int(np.sum(counts[1:])) if len(counts) > 1 else 0
    total: dict = {"lesion_count": len(lesions), "voxels": voxels, "volume_mL": voxels * vv}
    mean = float(np.sum(sums[1:]) / voxels) if voxels else None
    if suv:
        total.update(
            suv_max=max((r["suv_max"] for r in lesions), default=None),
            suv_peak=max((r["suv_peak"] for r in lesions), default=None),
            suv_mean=mean,
            total_lesion_uptake_mL=float(sum(r["total_lesion_uptake_mL"] for r in lesions)),
        )
        if lesions and "sul_peak" in lesions[0]:
            total["sul_peak"] = max(r["sul_peak"] for r in lesions)
    if to_bq is not None:
        total.update(
            activity_MBq=float(sum(r["activity_MBq"] for r in lesions)),
            concentration_mean_Bq_per_mL=None if mean is None else mean * to_bq,
            concentration_max_Bq_per_mL=max(
                (r["concentration_max_Bq_per_mL"] for r in lesions), default=None
            ),
        )
    return total
