"""Quality figures of a CT-to-CT registration and the warnings derived from them.

Figures (all computed on the working images the registration used, with every voxel of the
fixed body mask sampled, so they are deterministic):

* ``mutual_information_before`` / ``_after``: Mattes mutual information (nats, Mattes et al.
  2003) between the fixed CT and the moving CT mapped with the identity (scanner coordinates
  taken as they are) and with the result. Higher is better.
* ``body_dice_before`` / ``_after``: Dice coefficient 2|A∩B| / (|A| + |B|) of the fixed body
  mask and the moving body mask mapped onto the fixed grid.
* ``body_centroid_residual_before_mm`` / ``_after_mm``: distance between the moving body's
  centroid and the image of the fixed body's centroid, a landmark that needs no annotation
  (meaningful when both CTs cover the same body region).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

#: Warning thresholds (see docs/registration.md).
THRESHOLDS = {
    "min_body_dice_after": 0.90,
    "max_rotation_deg": 10.0,
    "max_translation_mm": 50.0,
    "max_centroid_residual_mm": 10.0,
    "mutual_information_tolerance": 1e-3,
}


def mattes_mutual_information(
    fixed: sitk.Image,
    moving: sitk.Image,
    transform: sitk.Transform,
    *,
    fixed_mask: sitk.Image | None = None,
    bins: int = 50,
) -> float:
    """Mattes mutual information (nats, ≥ 0) of ``moving ∘ transform`` and ``fixed``,
    sampled at every voxel of ``fixed_mask`` (or of ``fixed``)."""
    method = sitk.ImageRegistrationMethod()
    method.SetNumberOfThreads(1)  # one thread: the same sum order, bit-identical reruns
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=bins)
    method.SetMetricSamplingStrategy(method.NONE)
    method.SetInterpolator(sitk.sitkLinear)
    if fixed_mask is not None:
        method.SetMetricFixedMask(fixed_mask)
    method.SetInitialTransform(transform)
    # ITK minimises the negative mutual information.
    return -float(method.MetricEvaluate(fixed, moving))


def body_dice(fixed_mask: sitk.Image, moving_mask: sitk.Image, transform: sitk.Transform) -> float:
    """Dice of the fixed body mask and the moving body mask resampled onto the fixed grid
    through ``transform`` (nearest neighbour)."""
    mapped = sitk.Resample(moving_mask, fixed_mask, transform, sitk.sitkNearestNeighbor, 0)
    a = sitk.GetArrayViewFromImage(fixed_mask) > 0
    b = sitk.GetArrayViewFromImage(mapped) > 0
    total = int(a.sum()) + int(b.sum())
    return 2.0 * float(np.logical_and(a, b).sum()) / total if total else 0.0


def centroid_residual_mm(
    fixed_centroid: np.ndarray, moving_centroid: np.ndarray, transform: sitk.Transform
) -> float:
    """|T(c_fixed) − c_moving| in mm."""
    mapped = np.array(transform.TransformPoint(tuple(map(float, fixed_centroid))))
    return float(np.linalg.norm(mapped - moving_centroid))


def quality_warnings(quality: dict, parameters: dict, stop_conditions: list[str]) -> list[str]:
    """Plain-language warnings when the figures look wrong (thresholds in :data:`THRESHOLDS`)."""
    t = THRESHOLDS
    warnings = []
    mi0, mi1 = quality["mutual_information_before"], quality["mutual_information_after"]
    if mi1 < mi0 - t["mutual_information_tolerance"]:
        warnings.append(
            f"mutual information decreased ({mi0:.4f} -> {mi1:.4f}): the registration made "
            "the alignment worse; inspect it and correct the transform by hand"
        )
    dice0, dice1 = quality["body_dice_before"], quality["body_dice_after"]
    if dice1 < t["min_body_dice_after"]:
        warnings.append(
            f"body-mask Dice after registration is {dice1:.3f} (< {t['min_body_dice_after']}): "
            "the bodies do not match; different body regions, large deformation or a failure"
        )
    elif dice1 < dice0 - 0.01:
        warnings.append(f"body-mask Dice decreased ({dice0:.3f} -> {dice1:.3f})")
    residual = quality.get("body_centroid_residual_after_mm")
    if residual is not None and residual > t["max_centroid_residual_mm"]:
        warnings.append(
            f"body centroids are {residual:.1f} mm apart after registration (> "
            f"{t['max_centroid_residual_mm']} mm): check that both CTs cover the same region"
        )
    angle = parameters["rotation_angle_deg"]
    if angle > t["max_rotation_deg"]:
        warnings.append(
            f"rotation of {angle:.1f} degrees (> {t['max_rotation_deg']}): unusual between "
            "SPECT/CT sessions of one patient lying on a couch; check the result"
        )
    shift = float(np.linalg.norm(parameters["translation_mm"]))
    if shift > t["max_translation_mm"]:
        warnings.append(
            f"translation of {shift:.1f} mm (> {t['max_translation_mm']} mm): check the result "
            "(sessions with other couch positions can need it, but so can a failure)"
        )
    for stage, condition in stop_conditions:
        if "maximum number of iterations" in condition.lower():
            warnings.append(
                f"{stage} optimiser stopped at its maximum number of iterations before "
                "converging; the result may be incomplete"
            )
    return warnings
